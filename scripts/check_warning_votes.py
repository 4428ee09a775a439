"""Check one annotator's warning-sign vote file against its shard (``WARNING_GUIDE.md``).

Reports, with line numbers: lines that are not JSON objects, answers other than ``warning``,
``explicit`` and ``none``, repeated ids, ids not in the shard and shard ids with no vote. Exits 1
when anything is wrong.

    python scripts/check_warning_votes.py corpus/real/warning/shards/shard-11.jsonl corpus/real/warning/votes/a/shard-11.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_votes import check_records, run_check  # noqa: E402

ANSWERS = ("warning", "explicit", "none")


def answer_problems(rec: dict, where: str) -> list[str]:
    """One of the three answers of ``WARNING_GUIDE.md``."""
    if rec.get("answer") not in ANSWERS:
        return [f"{where}: answer {rec.get('answer')!r} is not one of {', '.join(ANSWERS)}"]
    return []


def check(shard: Path, votes: Path) -> list[str]:
    """Return the problems found in ``votes`` (empty when the file is complete and valid)."""
    return check_records(shard, votes, answer_problems, '{"id": str, "answer": str}')


def main(argv: list[str] | None = None) -> int:
    return run_check(sys.argv[1:] if argv is None else argv, check, "valid answers", __doc__ or "")


if __name__ == "__main__":
    sys.exit(main())
