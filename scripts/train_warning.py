"""Train the warning-sign model of the conversation monitor and write it beside the encoder.

    python scripts/train_warning.py                      # -> src/cradle/resources/models/default/alert/
    python scripts/train_warning.py --out /tmp/alert --report corpus/real/warning/splits/test.jsonl

Positives are messages with a risk signal, negatives ordinary ones:

- ``corpus/real/warning/splits/train.jsonl``: real sentences voted ``warning`` or ``explicit``
  (positive) or ``none`` (negative) by three annotators (``scripts/build_warning_corpus.py``);
- ``corpus/real/short/splits/train.csv``: short real texts with a crisis label (positive; their
  ``no_crisis`` texts are in the warning round already);
- ``synthetic:dialogues-train``: user turns up to each dialogue's first gold label (the labelled
  turn positive, the earlier turns negative; later turns are left out, since a label sits only on
  the turn where it first appears).

``C`` is chosen on the dev splits of the first two (average precision); the alert threshold
itself is tuned with the other dialogue settings (``scripts/tune_encoder_dialogue.py``).

Order matters: ``scripts/train_encoder.py`` rewrites the whole model folder (``alert/`` and
``dialogue.json`` included), so train the encoder first, then this model, then tune.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cradle.pipelines.training.train_alert import train_warning_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_encoder import dialogue_turns, repo_relative, short_crisis, warning_rows  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WARN = ROOT / "corpus" / "real" / "warning" / "splits"
SHORT = ROOT / "corpus" / "real" / "short" / "splits"
OUT = ROOT / "src" / "cradle" / "resources" / "models" / "default" / "alert"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--warning", type=Path, default=WARN, help="splits folder of the warning round")
    ap.add_argument("--short", type=Path, default=SHORT, help="splits folder of the short-text round")
    ap.add_argument("--dialogues", default="synthetic:dialogues-train")
    ap.add_argument("--report", action="append", default=[], help="a warning-round .jsonl to score afterwards (printed only)")
    args = ap.parse_args(argv)
    texts, targets = warning_rows(args.warning / "train.jsonl")
    for extra in (short_crisis(args.short / "train.csv"), dialogue_turns(args.dialogues)):
        texts += extra[0]
        targets += extra[1]
    dev_texts, dev_targets = warning_rows(args.warning / "dev.jsonl")
    st, sy = short_crisis(args.short / "dev.csv")
    model = train_warning_model(
        texts, targets, dev_texts=dev_texts + st, dev_targets=dev_targets + sy,
        provenance={"data": [repo_relative(args.warning / "train.jsonl"), repo_relative(args.short / "train.csv"), args.dialogues],
                    "dev": [repo_relative(args.warning / "dev.jsonl"), repo_relative(args.short / "dev.csv")]},
    )  # fmt: skip
    model.save(args.out)
    print(json.dumps({"out": str(args.out), "train": model.meta["training"], "dev": model.meta["dev"], "C": model.meta.get("C_by_dev_average_precision")}, indent=1))
    from sklearn.metrics import average_precision_score, roc_auc_score

    for path in args.report:
        rt, ry = warning_rows(Path(path))
        p = model.predict_proba(rt)[:, 0]
        print(path, {"n": len(ry), "positives": sum(ry), "average_precision": round(float(average_precision_score(ry, p)), 4),
                     "roc_auc": round(float(roc_auc_score(ry, p)), 4)})  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
