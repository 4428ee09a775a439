"""Readers and writers for labelled posts: CRADLE Bench CSV, generic CSV and JSON Lines.

The CRADLE Bench files have the columns ``question_id``, ``question_text`` and
``final_labels`` (comma-separated labels in several spellings). Their texts end with a fixed
instruction to the annotator that starts "For any crisis present, mark whether it is Ongoing
or Past"; :func:`strip_instruction` removes it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cradle.data._text import describe_columns, read_json_objects, read_utf8
from cradle.data.errors import DataError, RowIssue
from cradle.data.types import Post
from cradle.labels import POST_LABELS, PostLabel, UnknownLabelError, parse_post_labels

__all__ = [
    "BENCH_COLUMNS",
    "strip_instruction",
    "read_posts",
    "read_posts_csv",
    "read_posts_jsonl",
    "write_posts_csv",
    "write_posts_jsonl",
]

#: Column names of the CRADLE Bench CSV files: id, text, labels.
BENCH_COLUMNS = ("question_id", "question_text", "final_labels")

_INSTRUCTION = re.compile(r"\s*For any crisis present,\s*mark whether it is\s*ongoing\s*or\s*past\b.*\Z", re.I | re.S)
csv.field_size_limit(1 << 28)


def strip_instruction(text: str) -> str:
    """Remove the benchmark's trailing annotation instruction, if present.

    Examples
    --------
    >>> strip_instruction("I feel fine.  For any crisis present, mark whether it is Ongoing or Past. Etc.")
    'I feel fine.'
    """
    return _INSTRUCTION.sub("", text).strip()


def _labels_from(value: Any, file: str, row: int, field: str, issues: list[RowIssue]) -> tuple[PostLabel, ...] | None:
    try:
        if isinstance(value, list):
            labels = parse_post_labels(",".join(str(v) for v in value))
        else:
            labels = parse_post_labels(str(value))
    except UnknownLabelError as exc:
        issues.append(RowIssue(file, row, field, str(exc)))
        return None
    if not labels:
        issues.append(RowIssue(file, row, field, "no label (an item needs at least one, e.g. no_crisis)"))
        return None
    return tuple(x for x in POST_LABELS if x in labels)


def _build(
    records: Iterable[tuple[int, dict[str, Any]]],
    file: str,
    id_field: str,
    text_field: str,
    labels_field: str | None,
    strip: bool,
) -> list[Post]:
    issues: list[RowIssue] = []
    seen: dict[str, int] = {}
    posts: list[Post] = []
    for row, rec in records:
        pid = rec.get(id_field)
        pid = "" if pid is None else str(pid).strip()
        text = rec.get(text_field)
        if not pid:
            issues.append(RowIssue(file, row, id_field, "empty id"))
        elif pid in seen:
            issues.append(RowIssue(file, row, id_field, f"duplicate id {pid!r} (first at row {seen[pid]})"))
        else:
            seen[pid] = row
        if not isinstance(text, str):
            issues.append(RowIssue(file, row, text_field, "text is missing or not a string"))
            continue
        text = strip_instruction(text) if strip else text.strip()
        if not text:
            issues.append(RowIssue(file, row, text_field, "empty text"))
        labels = None
        if labels_field is not None:
            value = rec.get(labels_field)
            if value is None:
                issues.append(RowIssue(file, row, labels_field, "labels are missing"))
            else:
                labels = _labels_from(value, file, row, labels_field, issues)
        meta = {k: v for k, v in rec.items() if k not in (id_field, text_field, labels_field)}
        posts.append(Post(pid, text, labels, meta))
    if issues:
        raise DataError(issues)
    return posts


def read_posts_csv(
    path: str | Path,
    *,
    id_field: str = "question_id",
    text_field: str = "question_text",
    labels_field: str | None = "final_labels",
    strip: bool = True,
) -> list[Post]:
    """Read posts from a CSV file (by default the CRADLE Bench layout).

    Parameters
    ----------
    path : path
    id_field, text_field : str
        Column names of the id and the text.
    labels_field : str or None
        Column of comma-separated labels; ``None`` reads unlabelled posts.
    strip : bool, default=True
        Remove the benchmark's trailing instruction sentence.

    Returns
    -------
    list of Post

    Raises
    ------
    DataError
        Listing every bad row as ``file:row:field: reason`` (missing column, empty text,
        unknown label with a suggestion, duplicate id, non-UTF-8 byte).
    """
    file = str(path)
    text = read_utf8(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = reader.fieldnames or []
    wanted = [c for c in (id_field, text_field, labels_field) if c]
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise DataError.single(file, f"missing column(s) {missing}; the file has {describe_columns(columns)}", row=1)
    records = ((i + 2, rec) for i, rec in enumerate(reader))
    return _build(records, file, id_field, text_field, labels_field, strip)


def read_posts_jsonl(
    path: str | Path,
    *,
    id_field: str = "id",
    text_field: str = "text",
    labels_field: str | None = "labels",
    strip: bool = True,
) -> list[Post]:
    """Read posts from JSON Lines; labels may be a list or a comma-separated string.

    Raises
    ------
    DataError
        As :func:`read_posts_csv`, plus lines that are not JSON objects.
    """
    return _build(read_json_objects(path), str(path), id_field, text_field, labels_field, strip)


def read_posts(path: str | Path, **kwargs: Any) -> list[Post]:
    """Read posts from ``.csv`` or ``.jsonl``/``.json`` by the file suffix.

    Keyword arguments go to :func:`read_posts_csv` or :func:`read_posts_jsonl`.
    """
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return read_posts_jsonl(path, **kwargs)
    if suffix in (".csv", ".tsv", ""):
        return read_posts_csv(path, **kwargs)
    raise DataError.single(path, f"unknown post file type {suffix!r}: use .csv or .jsonl")


def write_posts_csv(posts: Iterable[Post], path: str | Path) -> None:
    """Write posts in the CRADLE Bench CSV layout (canonical labels, comma-separated)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(BENCH_COLUMNS)
        for p in posts:
            w.writerow([p.id, p.text, ", ".join(x.value for x in p.labels or ())])


def write_posts_jsonl(posts: Iterable[Post], path: str | Path) -> None:
    """Write posts as JSON Lines ``{"id", "text", "labels"}`` (plus any meta fields)."""
    with open(path, "w", encoding="utf-8") as fh:
        for p in posts:
            rec = {"id": p.id, "text": p.text, "labels": [x.value for x in p.labels or ()], **p.meta}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
