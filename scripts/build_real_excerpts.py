"""Build a pool of short real texts (excerpts and comments) for a second annotation round.

The first round (``build_real_pool.py``) labelled whole posts of up to 220 words. The detector
trained on them misreads one-line texts, which is what a user of a support product often types
("my stepdad used to beat me with a belt"). This round adds short real texts, labelled the same
way (three annotators working alone, majority vote over whole label sets):

- ``excerpt``: one sentence, or two adjacent sentences, of a post already in the corpus, chosen
  among the sentences that carry a crisis cue (the cues of ``build_real_pool.py``), 5 to 40 words.
  Annotators label the excerpt on its own, without the rest of the post, so its labels can differ
  from the parent's (a past attempt in one sentence, a figure of speech in another).
  **An excerpt keeps its parent's split** (train, dev or test), so nothing of a dev or test post
  ever reaches training; the dev and test excerpts give a short-text dev and test set.
- ``comment``: GoEmotions comments (Apache-2.0) with crisis vocabulary that the first round did
  not draw; split 70/15/15 with a fixed seed.

Parents with rare labels are drawn first, so that rare types gain examples; parents labelled
``no_crisis`` supply figurative speech and other people's crises. The parents' labels only choose
what is annotated; annotators never see them.

Outputs (``--out``, default ``corpus/real/short``): ``pool.jsonl`` (id, text, source, licence,
origin, parent, split) and ``shards/shard-NN.jsonl`` (id and text only).

    python scripts/build_real_excerpts.py --goemotions /path/train.tsv --goemotions /path/dev.tsv
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_real_pool import (  # noqa: E402
    CUES,
    LICENCES,
    Candidate,
    add_round_options,
    clean,
    read_goemotions,
    read_jsonl,
    refuse_to_renumber,
    split_of,
    text_key,
    write_records,
)

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261204
MIN_WORDS, MAX_WORDS = 5, 40
_SENT = re.compile(r"(?<=[.!?])\s+|\s*\n+\s*")
RARE = (
    "suicideideation_passive_past", "selfharm_past", "domesticviolence_ongoing", "domesticviolence_past",
    "rape_ongoing", "rape_past", "sexualharassment_ongoing", "sexualharassment_past",
    "childabuse_endangerment_ongoing", "childabuse_endangerment_past", "suicideideation_active_past",
)
# Excerpts per split: every rare-label parent first, then the others up to the quota.
QUOTAS = {"train": {"rare": 10_000, "crisis": 230, "no_crisis": 110}, "dev": {"rare": 10_000, "crisis": 40, "no_crisis": 25},
          "test": {"rare": 10_000, "crisis": 40, "no_crisis": 25}}
COMMENTS = 150



def cue_of(text: str) -> str | None:
    for name, pattern in CUES:
        if pattern.search(text):
            return name
    return None


def windows(text: str) -> list[str]:
    """Every sentence and every pair of adjacent sentences of ``text`` of 5 to 40 words."""
    sents = [s.strip() for s in _SENT.split(text) if s.strip()]
    out = []
    for i, s in enumerate(sents):
        for w in (s, f"{s} {sents[i + 1]}" if i + 1 < len(sents) else None):
            if w and MIN_WORDS <= len(w.split()) <= MAX_WORDS:
                out.append(w)
    return out


def excerpt_of(text: str, rng: random.Random) -> tuple[str, str] | None:
    """A window with the strongest cue (crisis cues before violent words), or None."""
    by_cue: dict[str, list[str]] = {}
    for w in windows(text):
        cue = cue_of(w)
        if cue:
            by_cue.setdefault(cue, []).append(w)
    for name, _ in CUES:
        if name in by_cue:
            return rng.choice(by_cue[name]), name
    return None


def group_of(labels: list[str]) -> str:
    if any(x in RARE for x in labels):
        return "rare"
    return "no_crisis" if labels == ["no_crisis"] else "crisis"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus" / "real", help="the first round's corpus (pool.jsonl, provenance.jsonl)")
    ap.add_argument("--goemotions", type=Path, action="append", default=[], help="GoEmotions original train/dev .tsv")
    add_round_options(ap, ROOT / "corpus" / "real" / "short", shard_size=500, first_shard=9)
    args = ap.parse_args(argv)
    refuse_to_renumber(ap, args.out, args.force)
    rng = random.Random(SEED)
    pool = {r["id"]: r for r in read_jsonl(args.corpus / "pool.jsonl")}
    prov = [r for r in read_jsonl(args.corpus / "provenance.jsonl") if r["split"] in QUOTAS]
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in sorted(prov, key=lambda r: r["id"]):
        found = excerpt_of(pool[r["id"]]["text"], rng)
        if found is None or len(pool[r["id"]]["text"].split()) <= MAX_WORDS:
            continue  # no cue sentence, or the post is already short
        text, cue = found
        src = pool[r["id"]]
        groups.setdefault((r["split"], group_of(r["labels"])), []).append(
            {"text": text, "source": src["source"], "licence": src["licence"], "origin": src["origin"], "community": src["community"],
             "kind": "excerpt", "parent": r["id"], "split": r["split"], "cue": cue})
    chosen: list[dict] = []
    for (split, group), items in sorted(groups.items()):
        rng.shuffle(items)
        chosen += items[: max(0, round(QUOTAS[split][group] * args.scale))]
    # GoEmotions comments the first round did not draw.
    seen = {text_key(r["text"]) for r in pool.values()}
    comments: list[Candidate] = []
    for path in args.goemotions:
        for c in read_goemotions(path):
            c.text = clean(c.text)
            key = text_key(c.text)
            if key in seen or not (MIN_WORDS <= len(c.text.split()) <= MAX_WORDS) or cue_of(c.text) is None:
                continue
            seen.add(key)
            comments.append(c)
    comments.sort(key=lambda c: c.origin)
    rng.shuffle(comments)
    for k, c in enumerate(comments[: round(COMMENTS * args.scale)]):
        split = split_of(k)
        chosen.append({"text": c.text, "source": "goemotions", "licence": LICENCES["goemotions"], "origin": c.origin, "community": c.community,
                       "kind": "comment", "parent": None, "split": split, "cue": cue_of(c.text)})
    rng.shuffle(chosen)
    chosen = [{"id": f"short-{k:05d}", **{key: v for key, v in rec.items() if key != "cue"}, "stratum": rec["cue"]} for k, rec in enumerate(chosen, 1)]
    n_shards = write_records(chosen, args.out, args.shard_size, args.first_shard)
    print(f"{len(chosen)} short texts in {n_shards} shards -> {args.out}")
    print(dict(Counter((r["split"], r["kind"]) for r in chosen)))
    print(dict(Counter(r["stratum"] for r in chosen)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
