"""Check one annotator's vote file against the shard it labels.

Reports, with line numbers: lines that are not JSON objects, unknown labels (with the
package's suggestion), empty label sets, label sets that break a clinical rule, repeated ids,
ids not in the shard, and shard ids with no vote. Exits 1 when anything is wrong.

    python scripts/check_votes.py corpus/real/shards/shard-01.jsonl corpus/real/votes/a/shard-01.jsonl
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from cradle.labels import UnknownLabelError, apply_clinical_rules, normalize_post_label


def check_records(shard: Path, votes: Path, record_problems: Callable[[dict, str], list[str]], shape: str) -> list[str]:
    """The checks every vote file shares: JSON lines, an ``id`` each, ids of the shard only, each
    exactly once; ``record_problems(record, where)`` checks the rest of one record, and ``shape``
    names what a line should look like."""
    expected = [json.loads(line)["id"] for line in shard.read_text(encoding="utf-8").splitlines() if line.strip()]
    wanted = set(expected)
    problems: list[str] = []
    seen: Counter = Counter()
    for n, line in enumerate(votes.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{votes}:{n}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not JSON ({exc.msg})")
            continue
        if not isinstance(rec, dict) or not isinstance(rec.get("id"), str):
            problems.append(f"{where}: expected {shape}")
            continue
        pid = rec["id"]
        seen[pid] += 1
        if pid not in wanted:
            problems.append(f"{where}: id {pid} is not in {shard.name}")
        problems += record_problems(rec, where)
    problems += [f"{votes}: id {pid} appears {k} times" for pid, k in seen.items() if k > 1]
    missing = [pid for pid in expected if pid not in seen]
    if missing:
        problems.append(f"{votes}: {len(missing)} ids have no vote, first {missing[0]}")
    return problems


def label_problems(rec: dict, where: str) -> list[str]:
    """An annotator's label set: a non-empty list of known labels that the clinical rules leave as it is."""
    pid = rec["id"]
    if not isinstance(rec.get("labels"), list):
        return [f'{where}: expected {{"id": str, "labels": [str, ...]}}']
    if not rec["labels"]:
        return [f"{where}: {pid} has no label (use no_crisis)"]
    try:
        labels = [normalize_post_label(x) for x in rec["labels"]]
    except UnknownLabelError as exc:
        return [f"{where}: {pid}: {exc}"]
    result = apply_clinical_rules(labels)
    return [f"{where}: {pid}: " + "; ".join(f.message for f in result.fired)] if result.changed else []


def check(shard: Path, votes: Path) -> list[str]:
    """Return the problems found in ``votes`` (empty when the file is complete and valid)."""
    return check_records(shard, votes, label_problems, '{"id": str, "labels": [str, ...]}')


def run_check(argv: list[str], check_files: Callable[[Path, Path], list[str]], valid: str, usage: str) -> int:
    """The command line of a vote checker: ``SHARD VOTES``; prints every problem (or one ``ok``
    line naming what is ``valid``); exit code 1 when anything is wrong, 2 for bad arguments."""
    if len(argv) != 2:
        print(usage, file=sys.stderr)
        return 2
    problems = check_files(Path(argv[0]), Path(argv[1]))
    for p in problems:
        print(p)
    if not problems:
        print(f"ok: {argv[1]} covers {argv[0]} with {valid}")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    return run_check(argv, check, "valid label sets", __doc__ or "")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
