"""Build a pool of real short texts full of hard negatives for the fourth annotation round.

The first two rounds drew texts by crisis cues, so most of their ``no_crisis`` texts are posts
about mental health. What the detector still gets wrong on real text is the rest: figures of
speech ("I'm so stressed about finals, I could just die"), people supporting someone else,
someone else's crisis, news, games and fiction that use violent words. This round draws
GoEmotions comments (Apache-2.0, Reddit, 2005-2019) that neither earlier round drew, by the kind of
language they use (``stratum``, tried in this order):

- ``figurative_self``: a first-person death or harm phrase ("could die", "kill me", "I'm dead",
  "want to die", "kms"), which may be a figure of speech or a real thought;
- ``support``: advice or comfort for someone (therapy, hotlines, "reach out", "not alone");
- ``other_person``: a relative or friend together with a death, harm or abuse word;
- ``violence``: abuse, assault, beating, self-harm words;
- ``figurative_other``: any other death or killing word (news, games, sport, fiction).

With ``--rmhd`` the round also takes ``idiom`` excerpts: one sentence, or two adjacent
sentences, of a Reddit Mental Health Dataset post (CC BY 4.0) using a death or harm idiom
("the guilt is killing me", "dead tired", "scared me to death", "I just want someone to kill me"),
up to 30 words: the same words as a figure of speech and as a real wish to die. An excerpt of
a post in the first round keeps that post's split, so nothing of a dev or test post reaches
training; other posts are split like the comments. Posts sharing a shingle with the evaluation
files are dropped whole.

The strata only choose what is annotated; annotators never see them. Annotators label with
``corpus/real/ANNOTATION_GUIDE.md`` (section "Hard cases", which points back to "Short texts"), three of them
working alone, and ``scripts/build_real_corpus.py --corpus corpus/real/hard`` votes.
Comments are split 70/15/15 with a fixed seed (the split is part of the pool, so it survives the
vote). Texts sharing an 8-word shingle with the evaluation files in ``../shared/external`` are
dropped (decontamination only).

Outputs (``--out``, default ``corpus/real/hard``): ``pool.jsonl`` (id, text, source, licence,
origin, community, kind, parent (the first-round post of an excerpt, or null), split, stratum) and ``shards/shard-NN.jsonl`` (id and text only).

    python scripts/build_real_hard.py --goemotions DIR/train.tsv --goemotions DIR/dev.tsv --goemotions DIR/test.tsv

(GoEmotions' own test file is not evaluation data here; the first two rounds drew from train and dev only.)
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_real_excerpts import windows  # noqa: E402
from build_real_pool import (  # noqa: E402
    LICENCES,
    Candidate,
    add_round_options,
    clean,
    evaluation_shingles,
    read_goemotions,
    read_jsonl,
    read_rmhd,
    refuse_to_renumber,
    shingles,
    split_of,
    text_key,
    write_records,
)

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261205
MIN_WORDS, MAX_WORDS = 5, 60
_DEATH = r"die|died|dying|dead|death|kill|killed|killing|kills|murder\w*|suicid\w*|kms|kys|overdose|hang myself|slit"
_RELATIVE = (
    r"\b(my|his|her|their|our|your) (best friend|friend|sister|brother|mom|mum|mother|dad|father|son|daughter|cousin|"
    r"girlfriend|boyfriend|wife|husband|partner|coworker|roommate|uncle|aunt|grandma|grandpa|kid|child|niece|nephew)s?\b"
)
_HARM = r"abus\w+|rape\w*|assault\w*|beat|beats|beating|hit me|hurt (myself|herself|himself)|cutting|self.?harm\w*|molest\w*|harass\w*"
STRATA: list[tuple[str, re.Pattern[str]]] = [
    ("figurative_self", re.compile(
        r"\bi(?:'m| am|'d| would| could| will|'ll| might| just| literally| actually| almost|'m gonna|'m going to| wanna| want to)*"
        r"(?: just| literally)? (die|died|dying|dead)\b|\bkill(s|ing)? me\b|\bkill myself\b|\bkms\b|\bwant(ed)? to die\b|"
        r"\bi'?m (so |literally |actually )?(dead|dying)\b|\bshoot me\b|\bend me\b", re.I)),
    ("support", re.compile(
        r"\b(hotline|therap\w+|counsel\w+|reach out|talk to someone|you(?:'re| are) not alone|get help|stay safe|here for you|"
        r"hugs?|sending love|it (was|wasn't|isn't|is not) your fault)\b", re.I)),
    ("other_person", re.compile(rf"{_RELATIVE}.{{0,80}}\b({_DEATH}|{_HARM})\b|\b({_DEATH}|{_HARM})\b.{{0,80}}{_RELATIVE}", re.I | re.S)),
    ("violence", re.compile(rf"\b({_HARM})\b", re.I)),
    ("figurative_other", re.compile(rf"\b({_DEATH})\b", re.I)),
]
IDIOM = re.compile(
    r"\b(killing me|kills me|kill me|i'?m (so |literally |actually )?dead\b|dead (tired|inside)|could (just |literally )?die|"
    r"dying (to|of|for)|die of|died of|to death|(rather|would) die|died laughing|worried sick|murder (me|him|her|them)|"
    r"kill (him|her|them|you|someone)|i('ll| will| would|'d) kill)", re.I)
MAX_IDIOM_WORDS = 30
# Texts per stratum (before --scale); a stratum with fewer candidates gives all it has.
QUOTAS = {"figurative_self": 150, "support": 120, "other_person": 60, "violence": 140, "figurative_other": 150, "idiom": 260}


def stratum_of(text: str) -> str | None:
    for name, pattern in STRATA:
        if pattern.search(text):
            return name
    return None


def idiom_excerpts(folder: Path, banned: set[int], seen: set[str], first_round: dict[str, tuple[str, str]]) -> list[Candidate]:
    """One idiom window per RMHD post (the first, scanning in order); ``meta`` names the
    first-round post (``parent``) and its split where the post is in the first round."""
    out: list[Candidate] = []
    posts: set[str] = set()
    for c in read_rmhd(folder):
        text = clean(c.text)
        post_key = text_key(text)[:200]
        if post_key in posts or (banned and shingles(text) & banned):
            continue  # a post seen already (duplicate row) or one overlapping evaluation data
        posts.add(post_key)
        for w in windows(text):
            if IDIOM.search(w) and len(w.split()) <= MAX_IDIOM_WORDS and text_key(w) not in seen:
                seen.add(text_key(w))
                parent = first_round.get(post_key)
                out.append(Candidate(w, "rmhd", c.origin, c.community, "idiom", {"parent": parent[0], "split": parent[1]} if parent else {}))
                break
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--goemotions", type=Path, action="append", required=True, help="GoEmotions original train/dev .tsv")
    ap.add_argument("--rmhd", type=Path, help="construct_tracker/data folder of construct-tracker 1.0.16 (idiom excerpts)")
    ap.add_argument(
        "--earlier", type=Path, action="append", default=None,
        help="pool.jsonl of an earlier round whose texts are not drawn again, the first round first (default: the first two rounds)",
    )  # fmt: skip
    ap.add_argument("--external", type=Path, default=ROOT.parent / "shared" / "external", help="evaluation files to decontaminate against")
    add_round_options(ap, ROOT / "corpus" / "real" / "hard", shard_size=372, first_shard=13)
    args = ap.parse_args(argv)
    refuse_to_renumber(ap, args.out, args.force)
    earlier = args.earlier or [ROOT / "corpus" / "real" / "pool.jsonl", ROOT / "corpus" / "real" / "short" / "pool.jsonl"]
    pools = [read_jsonl(path) for path in earlier]
    seen = {text_key(r["text"]) for pool in pools for r in pool}
    banned = evaluation_shingles(args.external)
    groups: dict[str, list[Candidate]] = {}
    dropped: Counter[str] = Counter()
    for path in args.goemotions:
        for c in read_goemotions(path):
            c.text = clean(c.text)
            key = text_key(c.text)
            if not MIN_WORDS <= len(c.text.split()) <= MAX_WORDS:
                continue
            name = stratum_of(c.text)
            if name is None:
                continue
            if key in seen:
                dropped["drawn before or duplicate"] += 1
                continue
            seen.add(key)
            if banned and shingles(c.text) & banned:
                dropped["overlaps evaluation data"] += 1
                continue
            c.stratum = name
            groups.setdefault(name, []).append(c)
    if args.rmhd:  # the first --earlier pool is the first round; its provenance gives each post's split
        provenance = earlier[0].parent / "provenance.jsonl"
        splits = {r["id"]: r["split"] for r in read_jsonl(provenance)} if provenance.exists() else {}
        first_round = {text_key(r["text"])[:200]: (r["id"], splits[r["id"]]) for r in pools[0] if splits.get(r["id"]) in ("train", "dev", "test")}
        groups["idiom"] = idiom_excerpts(args.rmhd, banned, seen, first_round)
    rng = random.Random(SEED)
    chosen: list[Candidate] = []
    for name in QUOTAS:
        group = sorted(groups.get(name, []), key=lambda c: c.origin)
        rng.shuffle(group)
        chosen += group[: max(0, round(QUOTAS[name] * args.scale))]
    rng.shuffle(chosen)
    records = [
        {"id": f"hard-{k:05d}", "text": c.text, "source": c.source, "licence": LICENCES[c.source], "origin": c.origin,
         "community": c.community, "kind": "excerpt" if c.stratum == "idiom" else "comment", "parent": c.meta.get("parent"),
         "split": c.meta.get("split") or split_of(k), "stratum": c.stratum}
        for k, c in enumerate(chosen, 1)
    ]  # fmt: skip
    n_shards = write_records(records, args.out, args.shard_size, args.first_shard)
    print(f"{len(records)} texts in {n_shards} shards -> {args.out}")
    print("candidates per stratum:", {name: len(groups.get(name, [])) for name in QUOTAS})
    print("drawn per stratum:", dict(Counter(r["stratum"] for r in records)))
    print("splits:", dict(Counter(r["split"] for r in records)), "dropped:", dict(dropped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
