"""Check one annotator's warning-sign vote file against its shard (``WARNING_GUIDE.md``).

Reports, with line numbers: lines that are not JSON objects, answers other than ``warning``,
``explicit`` and ``none``, repeated ids, ids not in the shard and shard ids with no vote. Exits 1
when anything is wrong.

    python scripts/check_warning_votes.py corpus/real/warning/shards/shard-11.jsonl corpus/real/warning/votes/a/shard-11.jsonl
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ANSWERS = ("warning", "explicit", "none")


def check(shard: Path, votes: Path) -> list[str]:
    """Return the problems found in ``votes`` (empty when the file is complete and valid)."""
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
            problems.append(f'{where}: expected {{"id": str, "answer": str}}')
            continue
        seen[rec["id"]] += 1
        if rec["id"] not in wanted:
            problems.append(f"{where}: id {rec['id']!r} is not in {shard}")
        if rec.get("answer") not in ANSWERS:
            problems.append(f"{where}: answer {rec.get('answer')!r} is not one of {', '.join(ANSWERS)}")
    problems += [f"{votes}: id {i!r} appears {k} times" for i, k in seen.items() if k > 1]
    missing = [i for i in expected if i not in seen]
    if missing:
        problems.append(f"{votes}: {len(missing)} ids have no vote, first {missing[0]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    problems = check(Path(args[0]), Path(args[1]))
    for p in problems:
        print(p)
    if not problems:
        print(f"ok: {args[1]} covers {args[0]} with valid answers")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
