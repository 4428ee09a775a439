"""Tune the dialogue settings of ``local:fast`` (the TF-IDF model) on ``synthetic:dialogues-dev`` and write them.

    python scripts/tune_dialogue.py [--model-dir DIR] [--dev NAME] [--report NAME ...] [--dry-run]

Grid search over the four numbers of
:class:`cradle.detectors.local_dialogue.DialogueSettings` (``decay``, ``listener_weight``,
``confirm_shift``, ``alert_threshold``), maximising the turn-level micro F1 on the dev split
only; ties go to the tolerance F1 (+/- 1 user turn), then to the setting nearest the defaults.
Alerts are part of the design, so the grid only holds alert thresholds below 1 (1 would never
raise one); the best setting without alerts is printed beside it for comparison.
Writes ``dialogue.json`` beside the model (``src/cradle/resources/models/default`` by default)
with the dev figures, the data and model fingerprints and the grid. ``--report`` scores other
splits with the chosen settings (printed only, never used for the choice): pass
``synthetic:dialogues-test`` for the held-out figures.

Rerun it whenever the default model is retrained or the synthetic dialogues change.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from cradle.data import Dialogue, DialogueDataset, load_dataset
from cradle.detectors.local import LocalDetector, LocalModel
from cradle.detectors.local_dialogue import DEFAULT_SETTINGS, DialogueSettings, LocalTurnDetector, model_fingerprint
from cradle.metrics.dialogue import align_dialogue_predictions, score_dialogues, timing_scores, turn_level_scores

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / "src" / "cradle" / "resources" / "models" / "fast"

GRID: dict[str, tuple[float, ...]] = {
    "decay": (0.0, 0.25, 0.5, 0.75),
    "listener_weight": (0.0, 0.25, 0.5),
    "confirm_shift": (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0),
    "alert_threshold": (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
}


class _MemoModel:
    """The model with each text's linear scores computed once (the grid reuses them)."""

    def __init__(self, model: LocalModel) -> None:
        self._model = model
        self._memo: dict[str, np.ndarray] = {}

    def linear_scores(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self._memo]
        if missing:
            for t, row in zip(missing, self._model.linear_scores(missing), strict=True):
                self._memo[t] = row
        return np.stack([self._memo[t] for t in texts])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


class _Detector:
    def __init__(self, model: Any, spec: str) -> None:
        self.model = model
        self.spec = spec


class _MemoTurnDetector(LocalTurnDetector):
    """Label scores of a context computed once per (confirm shift, context) across the grid."""

    memo: dict[tuple[float, bytes], dict[str, float]] = {}

    def scores(self, context: np.ndarray) -> dict[str, float]:
        key = (self.settings.confirm_shift, np.asarray(context, dtype=float).tobytes())
        hit = self.memo.get(key)
        if hit is None:
            hit = self.memo[key] = super().scores(context)
        return hit


def _predict(detector: Any, settings: DialogueSettings, dialogues: list[Dialogue]) -> list[Any]:
    turn = _MemoTurnDetector(detector, settings)
    return [p for d in dialogues for p in turn.predict_dialogue(d)]


def _distance(s: DialogueSettings) -> float:
    d = DEFAULT_SETTINGS
    return (
        abs(s.decay - d.decay)
        + abs(s.listener_weight - d.listener_weight)
        + abs(s.confirm_shift - d.confirm_shift) / 4
        + abs(s.alert_threshold - d.alert_threshold)
    )


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    keep = ("micro_f1", "macro_f1", "micro_precision", "micro_recall", "exact_match")
    out: dict[str, Any] = {"n_dialogues": result["n_dialogues"], "n_user_turns": result["n_user_turns"]}
    for setting in ("turn_level", "dialogue_level", "confirm_only"):
        out[setting] = {k: round(result[setting][k], 4) for k in keep}
    out["timing"] = {
        k: (round(v, 4) if isinstance(v, float) else v) for k, v in result["timing"].items() if not isinstance(v, dict)
    }
    return out


def _load(name: str) -> DialogueDataset:
    dataset = load_dataset(name, kind="dialogues")
    if not isinstance(dataset, DialogueDataset):
        raise SystemExit(f"{name} holds no dialogues")
    return dataset


def _search(detector: Any, dialogues: list[Dialogue], grid: dict[str, tuple[float, ...]]) -> DialogueSettings:
    """The grid point with the best (turn micro F1, tolerance F1, -distance to the defaults)."""
    best: tuple[tuple[float, float, float], DialogueSettings] | None = None
    names = list(grid)
    for values in itertools.product(*(grid[n] for n in names)):
        settings = DialogueSettings(**dict(zip(names, values, strict=True)))
        aligned = align_dialogue_predictions(dialogues, _predict(detector, settings, dialogues))
        key = (turn_level_scores(aligned)["micro_f1"], timing_scores(aligned)["tolerance_f1"], -_distance(settings))
        if best is None or key > best[0]:
            best = (key, settings)
    if best is None:
        raise ValueError("the grid is empty")
    return best[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_DIR, help="Model folder (default: the packaged local:fast).")
    ap.add_argument("--dev", default="synthetic:dialogues-dev", help="Dialogues to tune on.")
    ap.add_argument(
        "--report", nargs="*", default=[], help="Other dialogue sets to score with the chosen settings (not used for tuning)."
    )
    ap.add_argument("--dry-run", action="store_true", help="Print the choice without writing dialogue.json.")
    args = ap.parse_args(argv)

    spec = "local:fast" if args.model_dir.resolve() == DEFAULT_DIR.resolve() else f"local:{args.model_dir}"
    base = LocalDetector.load(str(args.model_dir) if spec != "local:fast" else "fast")
    detector = _Detector(_MemoModel(base.model), spec)
    dev = _load(args.dev)
    dialogues = dev.dialogues
    started = time.monotonic()
    chosen = _search(detector, dialogues, GRID)
    n_combos = int(np.prod([len(v) for v in GRID.values()]))
    print(f"searched {n_combos} settings on {args.dev} ({dev.n_user_turns} user turns) in {time.monotonic() - started:.1f} s")
    figures = _summary(score_dialogues(dialogues, _predict(detector, chosen, dialogues)))
    without = _search(detector, dialogues, {**GRID, "alert_threshold": (1.0,)})
    figures_without = _summary(score_dialogues(dialogues, _predict(detector, without, dialogues)))
    names = list(GRID)
    print("chosen:", json.dumps({n: getattr(chosen, n) for n in names}))
    print(f"{args.dev}:", json.dumps(figures, indent=2))
    print("best without alerts (not chosen):", json.dumps({n: getattr(without, n) for n in names}))
    print(f"{args.dev} without alerts:", json.dumps(figures_without, indent=2))
    for name in args.report:
        other = _load(name).dialogues
        print(f"{name}:", json.dumps(_summary(score_dialogues(other, _predict(detector, chosen, other))), indent=2))
    if args.dry_run:
        return 0
    meta = {
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tuned_on": args.dev,
        "data_fingerprint": dev.fingerprint,
        "model_fingerprint": model_fingerprint(args.model_dir),
        "objective": "turn-level micro F1; ties: tolerance F1 (k=1), then nearest the defaults",
        "grid": {k: list(v) for k, v in GRID.items()},
        "dev_metrics": figures,
        "dev_metrics_without_alerts": {"settings": {n: getattr(without, n) for n in names}, **figures_without},
    }
    path = DialogueSettings(**{n: getattr(chosen, n) for n in names}, meta=meta).save(args.model_dir)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
