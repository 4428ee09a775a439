"""Readers and writers for dialogues in the CRADLE-Dialogue layout (parquet, CSV, JSON Lines).

The released layout is one row per message with three columns:

- ``turn_id``: integer that restarts at 0 for each dialogue (there is no dialogue id column;
  dialogues read this way get the ids ``d0``, ``d1``, ... in file order);
- ``text``: starts with ``User:`` or ``Listener:``; a row with neither prefix continues the
  previous message (joined with a newline);
- ``labels``: labels separated by ``"; "``; empty or ``none`` means no label.

JSON Lines files may also hold one dialogue per line:
``{"id": ..., "turns": [{"speaker": "user"|"listener", "text": ..., "labels": [...]}]}``.
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
from cradle.data.types import Dialogue, Turn
from cradle.labels import DIALOGUE_LABELS, DialogueLabel, UnknownLabelError, parse_dialogue_labels

__all__ = [
    "DIALOGUE_COLUMNS",
    "read_dialogues",
    "dialogues_from_rows",
    "dialogue_rows",
    "write_dialogues",
    "write_dialogues_nested",
]

DIALOGUE_COLUMNS = ("turn_id", "text", "labels")
_PREFIX = re.compile(r"^\s*(user|listener)\s*:\s?", re.I)


def dialogues_from_rows(rows: Iterable[tuple[int, dict[str, Any]]], file: str) -> list[Dialogue]:
    """Assemble dialogues from ``(row number, {turn_id, text, labels})`` records.

    Raises
    ------
    DataError
        For every row with a bad turn_id, a first message without a speaker prefix, an unknown
        label, a label on a listener turn, or a label repeated within one dialogue.
    """
    issues: list[RowIssue] = []
    dialogues: list[Dialogue] = []
    turns: list[dict[str, Any]] = []
    last_tid: int | None = None

    def close() -> None:
        if turns:
            dialogues.append(_finish(turns, f"d{len(dialogues)}", file, issues))
            turns.clear()

    for row, rec in rows:
        raw_tid = rec.get("turn_id")
        try:
            if isinstance(raw_tid, bool) or raw_tid is None or (isinstance(raw_tid, float) and raw_tid != int(raw_tid)):
                raise ValueError
            tid = int(str(raw_tid).strip()) if isinstance(raw_tid, str) else int(raw_tid)
        except (TypeError, ValueError):
            issues.append(RowIssue(file, row, "turn_id", f"not an integer: {raw_tid!r}"))
            continue
        if tid == 0:
            close()
        elif last_tid is None:
            issues.append(RowIssue(file, row, "turn_id", f"the first row must have turn_id 0, not {tid}"))
        elif tid <= last_tid:
            issues.append(RowIssue(file, row, "turn_id", f"turn_id {tid} after {last_tid} (must increase; 0 starts a dialogue)"))
        last_tid = tid
        text = rec.get("text")
        if not isinstance(text, str) or not text.strip():
            issues.append(RowIssue(file, row, "text", "empty text"))
            continue
        try:
            labels = parse_dialogue_labels(rec.get("labels") if rec.get("labels") is None else str(rec.get("labels")))
        except UnknownLabelError as exc:
            issues.append(RowIssue(file, row, "labels", str(exc)))
            labels = []
        m = _PREFIX.match(text)
        if m and not text[m.end() :].strip():
            issues.append(RowIssue(file, row, "text", "empty message after the speaker prefix"))
            continue
        if m:
            turns.append({"turn_id": tid, "speaker": m.group(1).lower(), "text": text[m.end() :].strip(), "labels": labels, "row": row})
        elif turns:
            prev = turns[-1]
            prev["text"] = f"{prev['text']}\n{text.strip()}"
            prev["labels"] = prev["labels"] + [x for x in labels if x not in prev["labels"]]
        else:
            issues.append(RowIssue(file, row, "text", "a dialogue's first message must start with 'User:' or 'Listener:'"))
    close()
    if issues:
        raise DataError(issues)
    return dialogues


def _finish(turns: list[dict[str, Any]], did: str, file: str, issues: list[RowIssue]) -> Dialogue:
    seen: dict[DialogueLabel, int] = {}
    out: list[Turn] = []
    for t in turns:
        labels = t["labels"]
        if labels and t["speaker"] != "user":
            issues.append(RowIssue(file, t["row"], "labels", "labels on a listener turn (only user turns carry labels)"))
            labels = []
        for lab in labels:
            if lab in seen:
                issues.append(RowIssue(file, t["row"], "labels", f"{lab.value} already raised at row {seen[lab]} of this dialogue"))
            else:
                seen[lab] = t["row"]
        ordered = tuple(x for x in DIALOGUE_LABELS if x in labels)
        out.append(Turn(t["turn_id"], t["speaker"], t["text"], ordered))
    return Dialogue(did, tuple(out))


def _nested_dialogues(records: list[tuple[int, dict[str, Any]]], file: str) -> list[Dialogue]:
    issues: list[RowIssue] = []
    out: list[Dialogue] = []
    seen: dict[str, int] = {}
    for row, rec in records:
        did = str(rec.get("id") or f"d{len(out)}")
        if did in seen:
            issues.append(RowIssue(file, row, "id", f"duplicate id {did!r} (first at line {seen[did]})"))
        seen[did] = row
        raw_turns = rec.get("turns")
        if not isinstance(raw_turns, list) or not raw_turns:
            issues.append(RowIssue(file, row, "turns", "a dialogue needs a non-empty list of turns"))
            continue
        rows: list[tuple[int, dict[str, Any]]] = []
        for k, t in enumerate(raw_turns):
            speaker = str(t.get("speaker", "")).lower() if isinstance(t, dict) else ""
            if speaker not in ("user", "listener"):
                issues.append(RowIssue(file, row, f"turns[{k}].speaker", f"must be 'user' or 'listener', not {speaker!r}"))
                continue
            labels = t.get("labels") or []
            rows.append(
                (row, {"turn_id": k, "text": f"{speaker.title()}: {t.get('text') or ''}", "labels": "; ".join(map(str, labels)) if isinstance(labels, list) else str(labels)})
            )
        try:
            (d,) = dialogues_from_rows(rows, file)
        except DataError as exc:
            issues.extend(exc.issues)
            continue
        meta = {k: v for k, v in rec.items() if k not in ("id", "turns")}
        out.append(Dialogue(did, d.turns, meta))
    if issues:
        raise DataError(issues)
    return out


def read_dialogues(path: str | Path) -> list[Dialogue]:
    """Read dialogues from ``.parquet`` (needs ``pyarrow``), ``.csv`` or ``.jsonl``.

    Returns
    -------
    list of Dialogue
        Ids ``d0``, ``d1``, ... in file order for the row layout; the given ids for the
        one-dialogue-per-line JSON layout.

    Raises
    ------
    DataError
        Naming file, row and field of every bad record.
    """
    file = str(path)
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise DataError.single(file, "reading parquet needs pyarrow: pip install 'cradle-risk[parquet]'") from None
        if not Path(path).is_file():
            raise DataError.single(file, "file not found")
        table = pq.read_table(path)
        missing = [c for c in DIALOGUE_COLUMNS if c not in table.column_names]
        if missing:
            raise DataError.single(file, f"missing column(s) {missing}; the file has {describe_columns(table.column_names)}")
        cols = {c: table.column(c).to_pylist() for c in DIALOGUE_COLUMNS}
        rows = ((i + 1, {c: cols[c][i] for c in DIALOGUE_COLUMNS}) for i in range(table.num_rows))
        return dialogues_from_rows(rows, file)
    if suffix in (".jsonl", ".json", ".ndjson"):
        records = read_json_objects(path)
        if records and "turns" in records[0][1]:
            return _nested_dialogues(records, file)
        return dialogues_from_rows(records, file)
    text = read_utf8(path)
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        missing = [c for c in DIALOGUE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError.single(file, f"missing column(s) {missing}; the file has {describe_columns(reader.fieldnames)}", row=1)
        return dialogues_from_rows(((i + 2, r) for i, r in enumerate(reader)), file)
    raise DataError.single(file, f"unknown dialogue file type {suffix!r}: use .parquet, .csv or .jsonl")


def dialogue_rows(dialogues: Iterable[Dialogue]) -> list[dict[str, Any]]:
    """Flatten dialogues into released-layout rows ``{turn_id, text, labels}``."""
    rows: list[dict[str, Any]] = []
    for d in dialogues:
        for t in d.turns:
            prefix = "User" if t.is_user else "Listener"
            rows.append({"turn_id": t.turn_id, "text": f"{prefix}: {t.text}", "labels": "; ".join(x.value for x in t.labels)})
    return rows


def write_dialogues(dialogues: Iterable[Dialogue], path: str | Path) -> None:
    """Write dialogues in the released row layout, as ``.parquet``, ``.csv`` or ``.jsonl``.

    Dialogue ids are not stored in this layout: the file order is the identity, as in the
    released files. Use :func:`write_dialogues_nested` to keep ids.
    """
    rows = dialogue_rows(dialogues)
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(
            {
                "turn_id": pa.array([r["turn_id"] for r in rows], pa.int64()),
                "text": pa.array([r["text"] for r in rows], pa.string()),
                "labels": pa.array([r["labels"] for r in rows], pa.string()),
            }
        )
        pq.write_table(table, path)
    elif suffix == ".csv":
        with open(path, "w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(DIALOGUE_COLUMNS))
            w.writeheader()
            w.writerows(rows)
    elif suffix in (".jsonl", ".ndjson"):
        with open(path, "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    else:
        raise DataError.single(path, f"unknown dialogue file type {suffix!r}: use .parquet, .csv or .jsonl")


def write_dialogues_nested(dialogues: Iterable[Dialogue], path: str | Path) -> None:
    """Write one dialogue per JSON line, keeping ids and meta."""
    with open(path, "w", encoding="utf-8") as fh:
        for d in dialogues:
            rec = {
                "id": d.id,
                **d.meta,
                "turns": [{"speaker": t.speaker, "text": t.text, "labels": [x.value for x in t.labels]} for t in d.turns],
            }
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")

