"""Predictions: the record every detector returns and the JSON Lines file runs write.

One object per item::

    {"id": "...", "labels": [...], "status": "ok"|"invalid"|"blocked"|"error",
     "scores": {label: float}, "raw": "...", "reason": "...", "usage": {...}}

``scores``, ``raw``, ``reason`` and ``usage`` are optional. ``labels`` hold canonical strings
of the post schema or of the dialogue schema. A prediction whose status is not ``ok`` counts
as an empty label set in "all samples" scoring and is left out of "valid only" scoring.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from cradle.data._text import read_utf8
from cradle.data.errors import DataError, RowIssue
from cradle.labels import (
    DIALOGUE_LABELS,
    POST_LABELS,
    UnknownLabelError,
    normalize_dialogue_label,
    normalize_post_label,
)

__all__ = ["Status", "Prediction", "read_predictions", "write_predictions", "append_prediction", "prediction_to_json"]

Schema = Literal["post", "dialogue"]


class Status(str, Enum):
    """Outcome of one detector call."""

    OK = "ok"
    INVALID = "invalid"  # the reply could not be parsed into valid labels
    BLOCKED = "blocked"  # a content filter or a refusal
    ERROR = "error"  # transport or server failure after retries
    DISAGREEMENT = "disagreement"  # ensembles: no set reached the vote threshold and no fallback

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Prediction:
    """What a detector says about one item.

    Attributes
    ----------
    labels : tuple of str
        Canonical label strings (empty unless ``status`` is ``ok``).
    status : Status
    scores : dict or None
        Per-label scores in [0, 1] where the engine has them.
    raw : str or None
        The model's raw reply, kept for audit.
    reason : str or None
        Why the status is not ``ok``.
    usage : dict or None
        Token counts, e.g. ``{"input_tokens": 812, "output_tokens": 9}``.
    id : str or None
        The item id, set by runners.
    """

    labels: tuple[str, ...] = ()
    status: Status = Status.OK
    scores: dict[str, float] | None = None
    raw: str | None = None
    reason: str | None = None
    usage: dict[str, int] | None = None
    id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        """True when ``status`` is ``ok``."""
        return self.status is Status.OK

    def with_id(self, item_id: str) -> Prediction:
        """A copy carrying ``item_id``."""
        return replace(self, id=item_id)


def prediction_to_json(p: Prediction) -> dict[str, Any]:
    """The JSON object of one prediction (optional fields left out when empty)."""
    rec: dict[str, Any] = {"id": p.id, "labels": list(p.labels), "status": p.status.value}
    if p.scores is not None:
        rec["scores"] = {k: round(float(v), 6) for k, v in p.scores.items()}
    if p.raw is not None:
        rec["raw"] = p.raw
    if p.reason:
        rec["reason"] = p.reason
    if p.usage:
        rec["usage"] = p.usage
    rec.update(p.extra)
    return rec


def append_prediction(fh: Any, p: Prediction) -> None:
    """Append one prediction line to an open text file and flush it to disk."""
    fh.write(json.dumps(prediction_to_json(p), ensure_ascii=False) + "\n")
    fh.flush()


def write_predictions(predictions: Iterable[Prediction], path: str | Path) -> None:
    """Write predictions as JSON Lines."""
    with open(path, "w", encoding="utf-8") as fh:
        for p in predictions:
            append_prediction(fh, p)


def _iter_lines(path: str | Path, tolerate_torn_tail: bool) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    lines = read_utf8(path).split("\n")
    last = max((i for i, s in enumerate(lines) if s.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            if tolerate_torn_tail and i == last:
                return  # a run killed mid-write leaves a torn last line; it is redone on resume
            yield i + 1, None, f"not valid JSON ({exc.msg} at column {exc.colno})"
            continue
        yield i + 1, rec if isinstance(rec, dict) else None, "" if isinstance(rec, dict) else "a line must hold one JSON object"


def read_predictions(
    path: str | Path,
    schema: Schema | None = None,
    *,
    tolerate_torn_tail: bool = False,
    allow_duplicates: bool = False,
) -> list[Prediction]:
    """Read and validate a predictions JSONL file.

    Parameters
    ----------
    path : path
    schema : {"post", "dialogue"} or None
        Which label schema the labels must belong to; ``None`` guesses from the first label seen.
    tolerate_torn_tail : bool
        Ignore an unparseable last line (left by a killed run).
    allow_duplicates : bool
        Keep the last record of a repeated id instead of failing.

    Raises
    ------
    DataError
        ``file:line:field`` for bad JSON, a missing id, an unknown status or label, a
        duplicate id.
    """
    file = str(path)
    issues: list[RowIssue] = []
    out: dict[str, Prediction] = {}
    first_line: dict[str, int] = {}
    statuses = {s.value for s in Status}
    for n, rec, problem in _iter_lines(path, tolerate_torn_tail):
        if rec is None:
            issues.append(RowIssue(file, n, "", problem))
            continue
        pid = rec.get("id")
        if pid is None or str(pid) == "":
            issues.append(RowIssue(file, n, "id", "missing id"))
            continue
        pid = str(pid)
        status = str(rec.get("status", "ok"))
        if status not in statuses:
            issues.append(RowIssue(file, n, "status", f"unknown status {status!r}; expected one of {sorted(statuses)}"))
            continue
        raw_labels = rec.get("labels", [])
        if isinstance(raw_labels, str):
            raw_labels = [x for x in raw_labels.replace(";", ",").split(",") if x.strip()]
        if not isinstance(raw_labels, list):
            issues.append(RowIssue(file, n, "labels", "labels must be a list of strings"))
            continue
        if schema is None and raw_labels:
            schema = "dialogue" if str(raw_labels[0]).lower().startswith(("alert", "confirm")) else "post"
        labels: list[str] = []
        try:
            for lab in raw_labels:
                canon = normalize_dialogue_label(lab) if schema == "dialogue" else normalize_post_label(lab)
                if canon.value not in labels:
                    labels.append(canon.value)
        except UnknownLabelError as exc:
            issues.append(RowIssue(file, n, "labels", str(exc)))
            continue
        order = DIALOGUE_LABELS if schema == "dialogue" else POST_LABELS
        labels = [x.value for x in order if x.value in labels]
        if pid in out and not allow_duplicates:
            issues.append(RowIssue(file, n, "id", f"duplicate id {pid!r} (first at line {first_line[pid]})"))
            continue
        first_line.setdefault(pid, n)
        scores = rec.get("scores")
        if scores is not None and not (
            isinstance(scores, dict) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in scores.values())
        ):
            issues.append(RowIssue(file, n, "scores", "scores must be an object of label -> number"))
            continue
        known = {"id", "labels", "status", "scores", "raw", "reason", "usage"}
        out[pid] = Prediction(
            labels=tuple(labels),
            status=Status(status),
            scores={str(k): float(v) for k, v in scores.items()} if isinstance(scores, dict) else None,
            raw=rec.get("raw"),
            reason=rec.get("reason"),
            usage=rec.get("usage"),
            id=pid,
            extra={k: v for k, v in rec.items() if k not in known},
        )
    if issues:
        raise DataError(issues)
    return list(out.values())
