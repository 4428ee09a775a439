"""Compare local detector designs on the real-text corpus (the choice of ``local:default``).

Every model folder given is scored on the real dev splits (posts, short texts and hard cases: where its
settings were chosen) and on the real test splits (reported only), with the published metrics plus the figures issue 11 asks
for: micro F1 at the 15-label and at the 7-type level (time frame ignored), macro F1, exact
match, the no-crisis false-positive rate (share of gold ``no_crisis`` posts given a crisis
label), and batch speed on the test posts. A cascade row (the TF-IDF folder screening for the
encoder folder) is added when ``--screen`` is given; its level is chosen on dev as the highest
that keeps the encoder's dev micro F1 within 0.005.

    python benchmarks/local_variants_real.py /tmp/v-tfidf /tmp/v-k0 /tmp/v-k2 --screen /tmp/v-tfidf --encoder /tmp/v-k2

Folders come from ``scripts/train_default.py --out DIR`` (TF-IDF) and
``scripts/train_encoder.py --out DIR [--train-layers K]`` (encoders).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cradle.data import load_dataset
from cradle.detectors.local import EncoderDetector, LocalDetector
from cradle.labels import POST_LABELS
from cradle.pipelines.runs.scoring import score_posts

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ROOT / "corpus" / "real" / "splits"
SHORT = ROOT / "corpus" / "real" / "short" / "splits"
HARD = ROOT / "corpus" / "real" / "hard" / "splits"
LABELS = [x.value for x in POST_LABELS]
LEVELS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6)


def type_of(label: str) -> str:
    return label if label == "no_crisis" else label.rsplit("_", 1)[0]


def figures(det, posts) -> dict[str, float]:
    t0 = time.perf_counter()
    preds = det.predict([p.text for p in posts])
    rate = len(posts) / (time.perf_counter() - t0)
    preds = [p.with_id(post.id) for p, post in zip(preds, posts)]
    s = score_posts(posts, preds, zero_division=0.0)["all_samples"]
    tp = fp = fn = 0
    fpr_n = fpr_d = 0
    for post, pred in zip(posts, preds):
        gold = {type_of(x.value) for x in post.labels}
        got = {type_of(x) for x in pred.labels}
        tp += len(gold & got)
        fp += len(got - gold)
        fn += len(gold - got)
        if gold == {"no_crisis"}:
            fpr_d += 1
            fpr_n += got != {"no_crisis"}
    return {
        "micro_f1": s["micro_f1"], "macro_f1": s["macro_f1"], "exact_match": s["exact_match"],
        "type_micro_f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "no_crisis_fpr": fpr_n / fpr_d if fpr_d else float("nan"), "posts_per_s": rate,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--screen", type=Path, help="TF-IDF folder for the cascade row")
    ap.add_argument("--encoder", type=Path, help="encoder folder for the cascade row")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    dev = load_dataset(str(SPLITS / "dev.csv")).posts
    test = load_dataset(str(SPLITS / "test.csv")).posts
    sets = {"dev": dev, "test": test, **{f"{name} {split}": load_dataset(str(folder / f"{split}.csv")).posts for name, folder in (("short", SHORT), ("hard", HARD)) for split in ("dev", "test")}}
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for folder in args.folders:
        det = LocalDetector.load(str(folder))
        meta = json.loads((folder / "model.json").read_text())
        name = f"{folder.name}: {meta.get('variant', '')}"
        rows[name] = {split: figures(det, posts) for split, posts in sets.items()}
    if args.screen and args.encoder:
        enc = LocalDetector.load(str(args.encoder))
        screen = LocalDetector.load(str(args.screen))
        base = figures(enc, dev)["micro_f1"]
        chosen = 0.0
        for level in LEVELS:
            cas = EncoderDetector(enc.model, "cascade", screen=screen, screen_level=level)  # type: ignore[arg-type]
            if figures(cas, dev)["micro_f1"] >= base - 0.005:
                chosen = level
        cas = EncoderDetector(enc.model, "cascade", screen=screen, screen_level=chosen)  # type: ignore[arg-type]
        share = float((cas.screen_levels([p.text for p in test]) < chosen).mean())
        rows[f"cascade: {args.screen.name} screen (level {chosen}, screens out {share:.0%} of test) + {args.encoder.name}"] = {
            **{split: figures(cas, posts) for split, posts in sets.items()}, "level": chosen}  # type: ignore[dict-item]
    keys = ("micro_f1", "type_micro_f1", "macro_f1", "exact_match", "no_crisis_fpr", "posts_per_s")
    print(", ".join(f"real {k} {len(v)} texts" for k, v in sets.items()) + "\n")
    print("| variant | split | " + " | ".join(keys) + " |\n|---|---|" + "---|" * len(keys))
    for name, r in rows.items():
        for split in sets:
            print(f"| {name} | {split} | " + " | ".join(f"{r[split][k]:.3f}" if k != "posts_per_s" else f"{r[split][k]:.0f}" for k in keys) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
