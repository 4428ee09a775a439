"""Compare two ways of choosing the encoder's per-label thresholds, on the dev splits only.

    python scripts/compare_threshold_tuning.py [--model-dir DIR] [--splits 4] [--bags 8]

The pooled dev texts (the three real rounds' dev splits) are cut in two halves, stratified by
label set, ``--splits`` times. On each cut, thresholds are chosen on one half and scored on the
other (both ways round), by the objective the training uses (mean of micro F1 and macro F1 over
the labels present):

- ``single``: :func:`cradle.pipelines.training.train_encoder.tune_thresholds` on the half;
- ``bagged``: the median over ``--bags`` bootstrap resamples of the half of the thresholds that
  the same search picks on each resample (steadier for labels with few positives).

Prints the held-out objective, micro and macro F1 of each, per cut and on average. No test data
is read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from cradle.data import load_dataset
from cradle.detectors.local.encoder import EncoderModel
from cradle.pipelines.training.train_encoder import LABELS, decision_matrix, threshold_objective, tune_thresholds
from cradle.pipelines.training.train_local import label_matrix


def f1s(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """Micro F1, and macro F1 over the labels with positives in ``y`` (scikit-learn)."""
    from sklearn.metrics import f1_score

    present = np.flatnonzero(y.sum(axis=0))
    return (float(f1_score(y, pred, average="micro", zero_division=0)),
            float(f1_score(y, pred, labels=present, average="macro", zero_division=0)))  # fmt: skip

ROOT = Path(__file__).resolve().parents[1]
DEV = [ROOT / "corpus" / "real" / "splits" / "dev.csv", ROOT / "corpus" / "real" / "short" / "splits" / "dev.csv", ROOT / "corpus" / "real" / "hard" / "splits" / "dev.csv"]


def bagged_thresholds(proba: np.ndarray, y: np.ndarray, bags: int, rng: np.random.Generator, min_positives: int = 5) -> np.ndarray:
    """Median of the thresholds chosen on ``bags`` bootstrap resamples of the rows."""
    picks = []
    for _ in range(bags):
        rows = rng.integers(0, len(y), len(y))
        t = tune_thresholds(proba[rows], y[rows], min_positives=min_positives)
        picks.append([t[lab] for lab in LABELS])
    return np.median(np.array(picks), axis=0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", type=Path, default=ROOT / "src" / "cradle" / "resources" / "models" / "default")
    ap.add_argument("--splits", type=int, default=4)
    ap.add_argument("--bags", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    posts = [p for path in DEV for p in load_dataset(str(path)).posts]
    y = label_matrix(posts).astype(bool)
    proba = EncoderModel.load(args.model_dir).predict_proba([p.text for p in posts])
    rng = np.random.default_rng(args.seed)
    keys = ["|".join(LABELS[j] for j in np.flatnonzero(row)) for row in y]
    results: dict[str, list[tuple[float, float, float]]] = {"single": [], "bagged": []}
    print("| cut | half tuned on | single: objective / micro / macro | bagged: objective / micro / macro |")
    print("|---|---|---|---|")
    for cut in range(args.splits):
        half = np.zeros(len(y), dtype=bool)
        for key in sorted(set(keys)):  # stratified by label set
            rows = np.flatnonzero(np.array(keys) == key)
            rng.shuffle(rows)
            half[rows[: len(rows) // 2 + int(rng.integers(0, 2)) * (len(rows) % 2)]] = True
        for side, (a, b) in enumerate(((half, ~half), (~half, half))):
            single = tune_thresholds(proba[a], y[a])
            t_single = np.array([single[lab] for lab in LABELS])
            t_bagged = bagged_thresholds(proba[a], y[a], args.bags, rng)
            row = []
            for name, t in (("single", t_single), ("bagged", t_bagged)):
                pred = decision_matrix(proba[b], t)
                fig = (threshold_objective(y[b], pred), *f1s(y[b], pred))
                results[name].append(fig)
                row.append(" / ".join(f"{x:.4f}" for x in fig))
            print(f"| {cut} | {'AB'[side]} | {row[0]} | {row[1]} |", flush=True)
    for name, figs in results.items():
        m = np.mean(np.array(figs), axis=0)
        print(f"{name}: mean held-out objective {m[0]:.4f}, micro F1 {m[1]:.4f}, macro F1 {m[2]:.4f} over {len(figs)} halves")
    diff = np.array([b[0] - a[0] for a, b in zip(results["single"], results["bagged"])])
    print(f"bagged - single, objective: mean {diff.mean():+.4f}, {int((diff > 0).sum())} of {len(diff)} halves better")
    return 0


if __name__ == "__main__":
    sys.exit(main())
