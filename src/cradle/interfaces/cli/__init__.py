"""The ``cradle`` command line (Typer + Rich)."""
