"""Turn the warning-sign votes into the alert model's corpus (``corpus/real/warning``).

Reads ``pool.jsonl`` and ``votes/<annotator>/shard-NN.jsonl`` (``WARNING_GUIDE.md``); only
shards every annotator finished (each id exactly once) are used. The answer chosen by a strict
majority of the annotators wins (two of three); otherwise the text is dropped (recorded as such). Splits are the pool's own (each
text keeps its parent post's split). Writes ``splits/{train,dev,test}.jsonl`` (id, text, answer,
votes, agreement), ``provenance.jsonl`` and ``stats.json`` (answer counts per split, pairwise
exact agreement and Cohen's kappa, scikit-learn's).

    python scripts/build_warning_corpus.py [--corpus corpus/real/warning]
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_real_pool import read_jsonl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ANSWERS = ("warning", "explicit", "none")



def main(argv: list[str] | None = None) -> int:
    from sklearn.metrics import cohen_kappa_score

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus" / "real" / "warning")
    ap.add_argument("--annotators", default="a,b,c")
    args = ap.parse_args(argv)
    corpus: Path = args.corpus
    annotators = args.annotators.split(",")
    pool = {r["id"]: r for r in read_jsonl(corpus / "pool.jsonl")}
    votes: dict[str, dict[str, str]] = collections.defaultdict(dict)
    shards = []
    for shard in sorted((corpus / "shards").glob("shard-*.jsonl")):
        ids = [r["id"] for r in read_jsonl(shard)]
        files = [corpus / "votes" / a / shard.name for a in annotators]
        if not all(f.is_file() for f in files):
            continue
        rows = {a: read_jsonl(f) for a, f in zip(annotators, files)}
        got = {a: {r["id"]: r.get("answer") for r in rs} for a, rs in rows.items()}
        if not all(len(rs) == len(got[a]) == len(ids) and set(got[a]) == set(ids) and all(x in ANSWERS for x in got[a].values()) for a, rs in rows.items()):
            print(f"{shard.name}: votes incomplete, repeated, extra or invalid (run scripts/check_warning_votes.py); skipped", file=sys.stderr)
            continue
        shards.append(shard.name)
        for i in ids:
            for a in annotators:
                votes[i][a] = got[a][i]
    if not votes:
        print(f"no shard has valid votes from every annotator under {corpus / 'votes'}", file=sys.stderr)
        return 1
    splits: dict[str, list[dict]] = {"train": [], "dev": [], "test": []}
    provenance = []
    agreement = collections.Counter()
    for i in sorted(votes):
        counts = collections.Counter(votes[i].values())
        answer, top = counts.most_common(1)[0]
        majority = top * 2 > len(annotators)  # a strict majority (two of three)
        kind = "all" if top == len(annotators) else "partial" if majority else "none"
        agreement[kind] += 1
        src = pool[i]
        row = {"id": i, "text": src["text"], "answer": answer if majority else None, "votes": votes[i], "agreement": kind}
        split = src["split"] if majority else "dropped"
        provenance.append({**{k: src[k] for k in ("source", "licence", "origin", "community", "kind", "parent")}, **row, "split": split})
        if majority:
            splits[split].append(row)
    out = corpus / "splits"
    out.mkdir(exist_ok=True)
    for name, rows in splits.items():
        (out / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    with (corpus / "provenance.jsonl").open("w", encoding="utf-8") as fh:
        for r in provenance:
            fh.write(json.dumps({"id": r["id"], **{k: v for k, v in r.items() if k not in ("id", "text")}}, ensure_ascii=False) + "\n")
    ids = sorted(votes)
    pairs = {}
    for a, b in itertools.combinations(annotators, 2):
        xa, xb = [votes[i][a] for i in ids], [votes[i][b] for i in ids]
        binary = lambda xs: [x != "none" for x in xs]  # noqa: E731 - risk signal or not
        pairs[f"{a}-{b}"] = {
            "exact": round(sum(p == q for p, q in zip(xa, xb)) / len(ids), 4),
            "kappa": round(float(cohen_kappa_score(xa, xb, labels=list(ANSWERS))), 4),
            "kappa_signal_vs_none": round(float(cohen_kappa_score(binary(xa), binary(xb))), 4),
        }
    stats = {
        "shards": shards,
        "texts_voted": len(ids),
        "agreement": dict(agreement),
        "pairwise": pairs,
        "mean_pairwise": {k: round(sum(p[k] for p in pairs.values()) / len(pairs), 4) for k in ("exact", "kappa", "kappa_signal_vs_none")},
        "answers": {name: dict(collections.Counter(r["answer"] for r in rows)) for name, rows in splits.items()},
    }
    (corpus / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: stats[k] for k in ("texts_voted", "agreement", "mean_pairwise", "answers")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
