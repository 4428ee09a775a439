"""Turn the annotators' votes into the real-text training corpus (issue 11, step 2).

Reads ``pool.jsonl`` and ``votes/<annotator>/shard-NN.jsonl`` (see ``ANNOTATION_GUIDE.md``);
only shards that every annotator finished are used. Then, with the package's own code:

1. one run per annotator (``runs/<annotator>/predictions.jsonl``, the standard predictions
   format), so that ``cradle ensemble runs/a runs/b runs/c`` and ``cradle trainset ...``
   reproduce the vote from the command line;
2. the whole-label-set majority vote (:func:`cradle.pipelines.labelling.trainset.build_training_set`):
   the consensus subset (>= 2 of 3 agree) and the unanimous subset; full disagreement dropped;
3. agreement between every pair of annotators (sample Jaccard, exact agreement, Cohen's kappa
   and Gwet's AC1 per label) with :func:`cradle.metrics.agreement.annotator_agreement`;
4. fixed splits of the consensus subset, stratified by label set: train 70%, dev 15%, test 15%
   (``splits/{train,dev,test}.csv`` in the CRADLE Bench layout; the unanimous subset of train as
   ``splits/train_unanimous.csv``);
5. ``provenance.jsonl``: per post its source, licence, origin, every vote, agreement, decision
   and split; ``stats.json``: every table of the datasheet.

    python scripts/build_real_corpus.py [--corpus corpus/real]
    python scripts/build_real_corpus.py --corpus corpus/real/short   # the short-text round

In the short-text round (``scripts/build_real_excerpts.py``) every pool record names its split
(an excerpt keeps its parent post's split), so step 4 takes those splits instead of drawing them.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
from pathlib import Path

from cradle.data import Post, Prediction, write_posts_csv, write_predictions
from cradle.labels import POST_LABELS
from cradle.metrics.agreement import annotator_agreement
from cradle.pipelines.labelling.ensemble import Run
from cradle.pipelines.labelling.trainset import build_training_set, label_distribution

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_real_pool import read_jsonl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261203
SHARES = (("test", 0.15), ("dev", 0.15))
LABELS = [x.value for x in POST_LABELS]



def complete_shards(corpus: Path, annotators: list[str]) -> list[str]:
    done = []
    for shard in sorted((corpus / "shards").glob("shard-*.jsonl")):
        n = len(read_jsonl(shard))
        if all((corpus / "votes" / a / shard.name).is_file() and len(read_jsonl(corpus / "votes" / a / shard.name)) == n for a in annotators):
            done.append(shard.name)
    return done


def split_key(labels: tuple[str, ...]) -> str:
    return labels[0] if len(labels) == 1 else "multi:" + labels[0]


def stratified_split(posts: list[Post], seed: int = SEED) -> dict[str, list[Post]]:
    groups: dict[str, list[Post]] = collections.defaultdict(list)
    for p in posts:
        groups[split_key(tuple(x.value for x in p.labels))].append(p)
    rng = random.Random(seed)
    out: dict[str, list[Post]] = {"train": [], "dev": [], "test": []}
    carry = {name: 0.0 for name, _ in SHARES}
    for key in sorted(groups):
        g = sorted(groups[key], key=lambda p: p.id)
        rng.shuffle(g)
        start = 0
        for name, share in SHARES:
            want = len(g) * share + carry[name]
            k = int(round(want))
            carry[name] = want - k
            out[name] += g[start : start + k]
            start += k
        out["train"] += g[start:]
    for v in out.values():
        v.sort(key=lambda p: p.id)
    return out


def _norm(text: str) -> str:
    return " ".join("".join(c.lower() if c.isalnum() else " " for c in text).split())


def given_split(posts: list[Post], pool: dict[str, dict]) -> tuple[dict[str, list[Post]], dict[str, str]]:
    """Splits fixed by the pool itself (``split`` of each record), e.g. an excerpt's parent's split.

    Two parents can share a sentence: a text that also occurs (after lower-casing and dropping
    punctuation) in test is dropped from dev and train, one that occurs in dev from train, so that
    no split holds another's text. Returns the splits and ``{dropped id: id kept}``.
    """
    out: dict[str, list[Post]] = {"train": [], "dev": [], "test": []}
    kept: dict[str, str] = {}
    dropped: dict[str, str] = {}
    for split in ("test", "dev", "train"):
        for p in sorted((p for p in posts if pool[p.id]["split"] == split), key=lambda p: p.id):
            key = _norm(p.text)
            if key in kept and pool[kept[key]]["split"] != split:
                dropped[p.id] = kept[key]
                continue
            kept.setdefault(key, p.id)
            out[split].append(p)
    return out, dropped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus" / "real")
    ap.add_argument("--annotators", default="a,b,c")
    args = ap.parse_args(argv)
    corpus: Path = args.corpus
    annotators = args.annotators.split(",")
    shards = complete_shards(corpus, annotators)
    if not shards:
        print(f"no shard has votes from every annotator ({', '.join(annotators)}) under {corpus / 'votes'}", file=sys.stderr)
        return 1
    pool = {r["id"]: r for r in read_jsonl(corpus / "pool.jsonl")}
    ids = [r["id"] for s in shards for r in read_jsonl(corpus / "shards" / s)]
    runs: list[Run] = []
    for a in annotators:
        preds: dict[str, Prediction] = {}
        for s in shards:
            for rec in read_jsonl(corpus / "votes" / a / s):
                preds[rec["id"]] = Prediction(tuple(rec["labels"]), id=rec["id"])
        run_dir = corpus / "runs" / a
        run_dir.mkdir(parents=True, exist_ok=True)
        write_predictions([preds[i] for i in ids], run_dir / "predictions.jsonl")
        runs.append(Run(a, str(run_dir / "predictions.jsonl"), {i: preds[i] for i in ids}))
    texts = [Post(i, pool[i]["text"]) for i in ids]
    consensus, result = build_training_set(runs, texts, subset="consensus", texts_name=str(corpus / "pool.jsonl"))
    unanimous, _ = build_training_set(runs, texts, subset="unanimous", texts_name=str(corpus / "pool.jsonl"))
    given = [pool[p.id].get("split") for p in consensus.posts]
    duplicates: dict[str, str] = {}
    if any(x is not None for x in given):
        bad = sorted({p.id for p, x in zip(consensus.posts, given) if x not in ("train", "dev", "test")})
        if bad:
            print(f"{len(bad)} pool records name no split (train, dev or test), e.g. {bad[:3]}: a pool gives every split or none", file=sys.stderr)
            return 1
        splits, duplicates = given_split(consensus.posts, pool)  # the short-text round: every excerpt keeps its parent's split
    else:
        splits = stratified_split(consensus.posts)
    unanimous_ids = {p.id for p in unanimous.posts}
    split_dir = corpus / "splits"
    split_dir.mkdir(exist_ok=True)
    for name, posts in splits.items():
        write_posts_csv(posts, split_dir / f"{name}.csv")
    write_posts_csv([p for p in splits["train"] if p.id in unanimous_ids], split_dir / "train_unanimous.csv")
    split_of = {p.id: name for name, posts in splits.items() for p in posts}
    with (corpus / "provenance.jsonl").open("w", encoding="utf-8") as fh:
        for pred, item in zip(result.predictions, result.items, strict=True):
            src = pool[item.id]
            fh.write(json.dumps({
                "id": item.id, "source": src["source"], "licence": src["licence"], "origin": src["origin"],
                "community": src["community"], **{k: src[k] for k in ("kind", "parent") if k in src}, "votes": {k: list(v or ()) for k, v in item.votes.items()},
                "agreement": item.agreement, "decision": item.decision, "labels": list(pred.labels),
                "split": split_of.get(item.id, "dropped"), "unanimous": item.id in unanimous_ids,
                **({"duplicate_of": duplicates[item.id]} if item.id in duplicates else {}),
            }, ensure_ascii=False) + "\n")
    pairs = {}
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            a, b = runs[i], runs[j]
            r = annotator_agreement([a.predictions[k].labels for k in ids], [b.predictions[k].labels for k in ids], labels=LABELS)
            pairs[f"{a.name}-{b.name}"] = r
    mean = {k: sum(p[k] for p in pairs.values()) / len(pairs) for k in ("sample_jaccard", "exact_agreement", "mean_kappa", "mean_ac1")}
    per_label = {lab: {m: sum(p["per_label"][lab][m] for p in pairs.values()) / len(pairs) for m in ("kappa", "ac1")} for lab in LABELS}
    source_counts = collections.Counter(pool[p.id]["source"] for p in consensus.posts)
    stats = {
        "shards": shards,
        "posts_voted": len(ids),
        "consensus": consensus.stats() if hasattr(consensus, "stats") else len(consensus.posts),
        "unanimous_posts": len(unanimous.posts),
        "agreement_summary": result.summary,
        "pairwise": {k: {m: v[m] for m in ("n", "sample_jaccard", "exact_agreement", "mean_kappa", "mean_ac1")} for k, v in pairs.items()},
        "mean_pairwise": mean,
        "per_label_agreement": per_label,
        "splits": {name: label_distribution(posts) for name, posts in splits.items()},
        "sources_in_consensus": dict(source_counts),
        "duplicates_dropped": duplicates,
    }
    (corpus / "stats.json").write_text(json.dumps(stats, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"shards {len(shards)}; posts voted {len(ids)}; consensus {len(consensus.posts)}; unanimous {len(unanimous.posts)}; dropped {consensus.dropped}")
    if duplicates:
        print(f"dropped as duplicates of a text in a later split: {duplicates}")
    print(f"agreement: {result.summary}")
    print("mean pairwise: " + ", ".join(f"{k} {v:.3f}" for k, v in mean.items()))
    counts = {name: collections.Counter(x.value for p in posts for x in p.labels) for name, posts in splits.items()}
    print("\n| label | train | dev | test | all | kappa | AC1 |\n|---|---|---|---|---|---|---|")
    for lab in LABELS:
        c = [counts[n][lab] for n in ("train", "dev", "test")]
        print(f"| {lab} | {c[0]} | {c[1]} | {c[2]} | {sum(c)} | {per_label[lab]['kappa']:.2f} | {per_label[lab]['ac1']:.2f} |")
    print(f"| posts | {len(splits['train'])} | {len(splits['dev'])} | {len(splits['test'])} | {len(consensus.posts)} | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
