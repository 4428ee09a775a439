"""Collection settings for the whole repository (doctests under src/ included)."""

from __future__ import annotations

import importlib.util

# Modules that need an optional extra at import time: their doctests are skipped without it.
collect_ignore = []
if importlib.util.find_spec("inspect_ai") is None:
    collect_ignore.append("src/cradle/interfaces/inspect_tasks.py")
