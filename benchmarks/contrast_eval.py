"""Who, when, figurative: contrast pairs that differ only in whose experience it is, its time
frame, literal versus figurative speech, support versus disclosure, questions, negation, news and
fiction (``tests/fixtures/contrast_pairs.jsonl``, written by us for this check and never used
for training or tuning).

For every class: the share of texts whose label set is exactly right, the share of pairs with
both members right, and the share of texts right at the crisis-type level (time frame ignored).

    python benchmarks/contrast_eval.py [--model local:default --model local:fast]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

from cradle.detectors import load_detector

PAIRS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "contrast_pairs.jsonl"


def types(labels: set[str]) -> set[str]:
    return {x.rsplit("_", 1)[0] for x in labels}


def evaluate(spec: str, pairs: list[dict]) -> dict[str, dict[str, float]]:
    det = load_detector(spec)
    texts = [p[k]["text"] for p in pairs for k in ("a", "b")]
    preds = det.predict(texts)
    per: dict[str, list[tuple[bool, bool, bool, bool]]] = collections.defaultdict(list)
    for i, p in enumerate(pairs):
        got_a, got_b = set(preds[2 * i].labels), set(preds[2 * i + 1].labels)
        want_a, want_b = set(p["a"]["labels"]), set(p["b"]["labels"])
        per[p["class"]].append((got_a == want_a, got_b == want_b, types(got_a) == types(want_a), types(got_b) == types(want_b)))
    out = {}
    for cls, rows in sorted(per.items()):
        n = len(rows)
        out[cls] = {
            "pairs": n,
            "texts_exact": sum(a + b for a, b, _, _ in rows) / (2 * n),
            "pairs_both_exact": sum(a and b for a, b, _, _ in rows) / n,
            "texts_type_level": sum(c + d for _, _, c, d in rows) / (2 * n),
        }
    allr = [r for rows in per.values() for r in rows]
    out["all"] = {
        "pairs": len(allr),
        "texts_exact": sum(a + b for a, b, _, _ in allr) / (2 * len(allr)),
        "pairs_both_exact": sum(a and b for a, b, _, _ in allr) / len(allr),
        "texts_type_level": sum(c + d for _, _, c, d in allr) / (2 * len(allr)),
    }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", help="detector spec (repeatable); default local:default and local:fast")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    pairs = [json.loads(x) for x in PAIRS.read_text(encoding="utf-8").splitlines() if x.strip()]
    results = {spec: evaluate(spec, pairs) for spec in (args.model or ["local:default", "local:fast"])}
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    for spec, res in results.items():
        print(f"\n{spec}\n| class | pairs | texts exact | pairs both exact | texts right at type level |\n|---|---|---|---|---|")
        for cls, r in res.items():
            print(f"| {cls} | {r['pairs']} | {r['texts_exact']:.2f} | {r['pairs_both_exact']:.2f} | {r['texts_type_level']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
