"""Reading text files strictly: UTF-8 (BOM tolerated), a bad byte named by line and column."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from cradle.data.errors import DataError, RowIssue

__all__ = ["read_utf8", "read_json_objects", "first_json_object", "csv_header", "describe_columns"]

_NAME_LIKE = re.compile(r"[\w .()\-]{1,32}")


def read_utf8(path: str | Path) -> str:
    """Return the file's text; raise :class:`DataError` naming the line of a non-UTF-8 byte."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise DataError.single(p, "file not found") from None
    except IsADirectoryError:
        raise DataError.single(p, "is a directory, not a file") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = raw[exc.start : exc.start + 1].hex()
        raise DataError.single(p, f"byte 0x{byte} at column {col} is not valid UTF-8", row=line) from None


def read_json_objects(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every non-blank line of a JSON Lines file.

    Raises
    ------
    DataError
        Naming every line that is not valid JSON or not a JSON object.
    """
    file = str(path)
    issues: list[RowIssue] = []
    records: list[tuple[int, dict[str, Any]]] = []
    for n, line in enumerate(read_utf8(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            issues.append(RowIssue(file, n, "", f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(rec, dict):
            issues.append(RowIssue(file, n, "", "a line must hold one JSON object"))
            continue
        records.append((n, rec))
    if issues:
        raise DataError(issues)
    return records


def first_json_object(path: str | Path) -> dict[str, Any] | None:
    """The first non-blank line of a JSON Lines file as an object, or ``None`` when it is none.

    Used to sniff a file's layout (posts, dialogues, predictions, chat examples): it reads only
    up to that line, and bad bytes there are left for the real reader to name.
    """
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for line in fh:
            if line.strip():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    return None
                return rec if isinstance(rec, dict) else None
    return None


def csv_header(path: str | Path) -> list[str]:
    """The header row of a CSV file, reading only its first line(s)."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        return next(csv.reader(fh), [])


def describe_columns(columns: Any) -> str:
    """The column names of a file for an error message; one that does not look like a name
    (long, or several words) is shown by its length only.

    A file without a header row makes its first record the column names: its text must not
    reach a message.

    Examples
    --------
    >>> describe_columns(["question_id", "final labels", "I have been feeling low for weeks"])
    "['question_id', 'final labels', <a 33-character value>]"
    """

    def shown(c: Any) -> str:
        c = str(c)
        return repr(c) if _NAME_LIKE.fullmatch(c) and c.count(" ") <= 2 else f"<a {len(c)}-character value>"

    return "[" + ", ".join(shown(c) for c in (columns or [])) + "]"
