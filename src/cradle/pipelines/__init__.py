"""Work built on the lower layers: scoring, evaluation runs, ensembles, training, monitoring.

Submodules are imported on use so that ``import cradle.pipelines`` stays cheap.
"""
