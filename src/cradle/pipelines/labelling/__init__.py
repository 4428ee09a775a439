"""Labelling corpora with several runs: ensembles (votes), training sets from votes, annotator
agreement, synthetic data."""
