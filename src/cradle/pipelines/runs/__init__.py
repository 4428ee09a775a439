"""Evaluation runs: the resumable runner, its run directories, cache, limits, prices, items, scoring
and the clinical-rule audit of a run."""
