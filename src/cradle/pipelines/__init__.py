"""Work built on the lower layers, in three packages and one module:

- :mod:`cradle.pipelines.runs`: evaluation runs (runner, run directories, response cache, limits,
  prices, work items, evaluate, scoring, Ray sharding, the clinical-rule audit);
- :mod:`cradle.pipelines.labelling`: ensembles, training sets from votes, annotator agreement,
  synthetic data;
- :mod:`cradle.pipelines.training`: the local detector's training, SFT export, fine-tuning,
  adapter merging, model cards;
- :mod:`cradle.pipelines.monitor`: the live conversation monitor.

Submodules are imported on use so that ``import cradle.pipelines`` stays cheap. The module paths
of before the split (``cradle.pipelines.runner``, ``cradle.pipelines.labelling.ensemble``, ...) still
import: they are the same module objects as the new paths.

Examples
--------
>>> import cradle.pipelines.rundir as old, cradle.pipelines.runs.rundir as new
>>> old is new
True
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

#: Where each module of the flat layout went.
MOVED = {
    **{m: "runs" for m in ("runner", "cache", "rundir", "limits", "pricing", "items", "evaluate", "scoring", "sharded", "audit")},
    **{m: "labelling" for m in ("ensemble", "trainset", "agreement", "synthesize")},
    **{m: "training" for m in ("train_local", "train_encoder", "sft_export", "finetune", "merge_adapter", "model_card")},
}


class _MovedModuleLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        # the import system reads sys.modules again after this: the old name becomes the module
        sys.modules[module.__name__] = importlib.import_module(self.target)


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Resolves ``cradle.pipelines.<old name>`` to the module's new place."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != __name__ or name not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _MovedModuleLoader(f"{__name__}.{MOVED[name]}.{name}"))


if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
    sys.meta_path.append(_MovedModuleFinder())
