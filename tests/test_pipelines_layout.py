"""The pipelines layout: runs/, labelling/, training/, monitor; the old flat paths still import."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from cradle.pipelines import MOVED


@pytest.mark.parametrize("name", sorted(MOVED))
def test_old_module_paths_are_the_new_modules(name):
    old = importlib.import_module(f"cradle.pipelines.{name}")
    new = importlib.import_module(f"cradle.pipelines.{MOVED[name]}.{name}")
    assert old is new and new.__name__ == f"cradle.pipelines.{MOVED[name]}.{name}"


def test_old_from_imports_work_in_a_fresh_process():
    code = (
        "from cradle.pipelines.runner import run_items; from cradle.pipelines import ensemble; "
        "import cradle.pipelines.runs.runner as r, cradle.pipelines.labelling.ensemble as e; "
        "assert run_items is r.run_items and ensemble is e; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_unknown_names_still_fail():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("cradle.pipelines.no_such_module")
