"""Choose an encoder model folder's per-label thresholds again on the real dev splits, without retraining.

    python scripts/retune_thresholds.py [--model-dir DIR] [--objective micro_macro|micro] [--dry-run]

The folder's calibrated probabilities on the dev texts (the same ones ``scripts/train_encoder.py``
uses by default: the three real rounds' dev splits) go through
:func:`cradle.pipelines.training.train_encoder.tune_thresholds`; ``model.json`` gets the new
thresholds and a ``thresholds_retuned`` record (objective, dev figures before and after). Only
dev data is read. Rerun ``scripts/tune_encoder_dialogue.py`` afterwards: the conversation
settings were tuned on the old thresholds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from cradle.data import load_dataset
from cradle.detectors.local.encoder import EncoderModel
from cradle.pipelines.training.train_encoder import LABELS, _decide, _macro_f1, _micro_f1, tune_thresholds

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_encoder import HARD, OUT, REAL, SHORT, repo_relative  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", type=Path, default=OUT)
    ap.add_argument("--dev", action="append", help="dev data (repeatable); default: the three real rounds' dev splits")
    ap.add_argument("--objective", default="micro_macro", choices=("micro_macro", "micro"))
    ap.add_argument("--min-positives", type=int, default=5)
    ap.add_argument("--dry-run", action="store_true", help="print, do not write model.json")
    args = ap.parse_args(argv)
    specs = args.dev or [str(REAL / "dev.csv"), str(SHORT / "dev.csv"), str(HARD / "dev.csv")]
    posts = [p for spec in specs for p in load_dataset(spec).posts]
    model = EncoderModel.load(args.model_dir)
    proba = model.predict_proba([p.text for p in posts])
    y = np.array([[lab in {x.value for x in p.labels} for lab in LABELS] for p in posts])

    def figures(t: np.ndarray) -> dict[str, float]:
        pred = _decide(proba, t)
        return {"micro_f1": round(_micro_f1(y, pred), 4), "macro_f1_present": round(_macro_f1(y, pred), 4)}

    old = np.array([model.thresholds[model.labels.index(lab)] for lab in LABELS])
    new = tune_thresholds(proba, y, min_positives=args.min_positives, objective=args.objective)
    record = {
        "objective": args.objective, "dev": [repo_relative(s) for s in specs], "n_dev": len(posts),
        "before": figures(old), "after": figures(np.array([new[lab] for lab in LABELS])),
        "changed": {lab: [float(o), new[lab]] for lab, o in zip(LABELS, old) if abs(o - new[lab]) > 1e-9},
    }  # fmt: skip
    print(json.dumps(record, indent=1))
    if not args.dry_run:
        path = args.model_dir / "model.json"
        meta = json.loads(path.read_text(encoding="utf-8"))
        meta["thresholds"] = new
        meta["thresholds_retuned"] = record
        path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
