"""Build a pool of real sentences for the warning-sign (alert) annotation round.

CRADLE-Dialogue's *alert* is the user turn where early warning signs appear before any crisis
type can be named. Real warning signs sit beside disclosures in real posts: "I can't keep doing
this" a few sentences before "I have the pills ready". This pool collects, from the real-text
corpus:

- ``context``: sentences (one or two, 5 to 40 words) **without** any crisis cue of
  ``build_real_pool.py``, taken from first-round posts: from crisis posts (where warning signs
  are likely), from mental-health posts labelled ``no_crisis`` and from ordinary posts of control
  communities (where they are not);
- ``short``: the short-text round's texts whose vote was ``no_crisis`` (hints, figures of speech,
  other people's crises: what must and must not alert).

Each text keeps the split of the post it comes from, so nothing of a dev or test post reaches
training. Annotators label each text ``warning``, ``explicit`` or ``none`` (``WARNING_GUIDE.md``).

    python scripts/build_warning_pool.py [--corpus corpus/real] [--out corpus/real/warning]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_real_excerpts import cue_of, windows  # noqa: E402
from build_real_pool import MENTAL_HEALTH_SUBS, add_round_options, read_jsonl, refuse_to_renumber, write_records  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261205
#: Context sentences per split and kind of parent post.
QUOTAS = {"train": {"crisis": 330, "mh": 110, "control": 60}, "dev": {"crisis": 70, "mh": 25, "control": 15},
          "test": {"crisis": 70, "mh": 25, "control": 15}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus" / "real")
    add_round_options(ap, ROOT / "corpus" / "real" / "warning", shard_size=550, first_shard=11)
    args = ap.parse_args(argv)
    refuse_to_renumber(ap, args.out, args.force)
    rng = random.Random(SEED)
    pool = {r["id"]: r for r in read_jsonl(args.corpus / "pool.jsonl")}
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in sorted(read_jsonl(args.corpus / "provenance.jsonl"), key=lambda r: r["id"]):
        if r["split"] not in QUOTAS:
            continue
        src = pool[r["id"]]
        kind = "crisis" if r["labels"] != ["no_crisis"] else "mh" if src["community"] in MENTAL_HEALTH_SUBS else "control"
        quiet = [w for w in windows(src["text"]) if cue_of(w) is None]
        if not quiet:
            continue
        groups.setdefault((r["split"], kind), []).append(
            {"text": rng.choice(quiet), "source": src["source"], "licence": src["licence"], "origin": src["origin"],
             "community": src["community"], "kind": "context", "parent": r["id"], "split": r["split"]})
    chosen: list[dict] = []
    for (split, kind), items in sorted(groups.items()):
        rng.shuffle(items)
        chosen += items[: max(0, round(QUOTAS[split][kind] * args.scale))]
    short_dir = args.corpus / "short"
    if (short_dir / "provenance.jsonl").is_file():
        short_pool = {r["id"]: r for r in read_jsonl(short_dir / "pool.jsonl")}
        for r in read_jsonl(short_dir / "provenance.jsonl"):
            if r["split"] in QUOTAS and r["labels"] == ["no_crisis"]:
                src = short_pool[r["id"]]
                chosen.append({"text": src["text"], "source": src["source"], "licence": src["licence"], "origin": src["origin"],
                               "community": src["community"], "kind": "short", "parent": r["id"], "split": r["split"]})
    seen: set[str] = set()
    unique = []
    for rec in chosen:
        if rec["text"] not in seen:
            seen.add(rec["text"])
            unique.append(rec)
    rng.shuffle(unique)
    unique = [{"id": f"warn-{k:05d}", **rec} for k, rec in enumerate(unique, 1)]
    n_shards = write_records(unique, args.out, args.shard_size, args.first_shard)
    print(f"{len(unique)} texts in {n_shards} shards -> {args.out}")
    print(dict(Counter((r["split"], r["kind"]) for r in unique)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
