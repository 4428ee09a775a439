"""Choose an encoder model folder's per-label thresholds again on the real dev splits, without retraining.

    python scripts/retune_thresholds.py [--model-dir DIR] [--objective micro_macro|micro] [--dry-run]

The dev texts are those ``scripts/train_encoder.py`` uses by default (the three real rounds' dev
splits); :func:`cradle.pipelines.training.train_encoder.retune_thresholds` does the work and
writes the thresholds and a ``thresholds_retuned`` record (objective, dev files, dev figures before
and after) into ``model.json``. Only dev data is read. Rerun ``scripts/tune_encoder_dialogue.py``
afterwards: the conversation settings were tuned on the old thresholds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cradle.data import load_dataset
from cradle.pipelines.training.train_encoder import retune_thresholds

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
    dev = [p for spec in specs for p in load_dataset(spec).posts]
    record = retune_thresholds(
        args.model_dir, dev, objective=args.objective, min_positives=args.min_positives, write=not args.dry_run,
        provenance={"dev": [repo_relative(s) for s in specs]},
    )  # fmt: skip
    print(json.dumps({k: v for k, v in record.items() if k != "thresholds"}, indent=1))
    if not args.dry_run:
        print(f"wrote {args.model_dir / 'model.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
