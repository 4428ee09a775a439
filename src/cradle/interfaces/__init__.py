"""What people touch: the command line, the HTTP service, reports and the review page."""
