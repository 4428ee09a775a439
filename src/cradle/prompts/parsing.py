"""Turn a model's reply into labels: :func:`parse_reply` returns a :class:`ParsedReply`.

The reply may wrap its JSON in prose or code fences, or open with a reasoning block
(``<think>...</think>``); all of that is tolerated. The labels are normalised with
:mod:`cradle.labels`. A reply is ``invalid`` (with a reason, and the raw text kept) when it holds
no JSON with a labels field, when a label is unknown, or when a post reply lists no label at all
(a post always gets at least one label, ``no_crisis`` included). An empty list is a valid answer
for a dialogue turn (no label at that turn).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from cradle.labels import (
    DIALOGUE_LABELS,
    EMPTY_LABEL_MARKERS,
    POST_LABELS,
    UnknownLabelError,
    normalize_dialogue_label,
    normalize_post_label,
)

__all__ = ["Schema", "ParsedReply", "strip_reasoning", "extract_answer", "parse_reply"]

Schema = Literal["post", "dialogue"]


@dataclass(frozen=True)
class ParsedReply:
    """The labels read from one reply.

    Attributes
    ----------
    labels : tuple of str
        Canonical label strings in schema order (empty when ``status`` is ``"invalid"``).
    status : {"ok", "invalid"}
    reason : str or None
        Why the reply is invalid.
    raw : str or None
        The reply as received.
    """

    labels: tuple[str, ...]
    status: Literal["ok", "invalid"]
    reason: str | None
    raw: str | None

    @property
    def ok(self) -> bool:
        """True when labels were read."""
        return self.status == "ok"


_THINK_BLOCK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.S | re.I)
_THINK_CLOSE = re.compile(r"^.*</(?:think|thinking|reasoning)>", re.S | re.I)
_THINK_OPEN = re.compile(r"<(?:think|thinking|reasoning)>", re.I)
_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.S)
_LABEL_KEYS = ("labels", "label", "final_labels", "crisis_labels")


def strip_reasoning(text: str) -> str:
    """Remove reasoning blocks such as ``<think>...</think>``.

    A reply that only closes a block (its template opened it) loses everything up to the
    closing tag; a block that is never closed loses everything after the opening tag.

    Examples
    --------
    >>> strip_reasoning('<think>maybe rape?</think>{"labels": ["no_crisis"]}')
    '{"labels": ["no_crisis"]}'
    >>> strip_reasoning('hmm, past or ongoing...</think> {"labels": []}')
    '{"labels": []}'
    """
    out = _THINK_BLOCK.sub("", text)
    out = _THINK_CLOSE.sub("", out)
    m = _THINK_OPEN.search(out)
    if m:
        out = out[: m.start()]
    return out.strip()


def _match_end(text: str, i: int) -> int:
    """Index of the bracket closing the one at ``i`` (double-quoted strings respected), or -1."""
    depth, in_str, j, n = 0, False, i, len(text)
    while j < n:
        c = text[j]
        if in_str:
            if c == "\\":
                j += 1  # skip the escaped character
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return -1


def _values(text: str) -> Iterator[Any]:
    """Parsed top-level JSON (or Python-literal) objects and arrays, left to right.

    A span that parses is taken whole (its inner brackets are not tried again); one that does
    not is skipped by one character, so that spans nested in prose or broken JSON are found.
    """
    i, n = 0, len(text)
    while i < n:
        if text[i] not in "{[":
            i += 1
            continue
        end = _match_end(text, i)
        value = _load(text[i : end + 1]) if end >= 0 else None
        if isinstance(value, (dict, list)):
            yield value
            i = end + 1
        else:
            i += 1


def _load(span: str) -> Any:
    try:
        return json.loads(span)
    except (ValueError, RecursionError):  # RecursionError: brackets nested too deep
        pass
    try:
        return ast.literal_eval(span)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _labels_field(obj: dict[Any, Any]) -> tuple[bool, Any]:
    lowered = {str(k).strip().lower(): v for k, v in obj.items()}
    for key in _LABEL_KEYS:
        if key in lowered:
            return True, lowered[key]
    return False, None


def extract_answer(text: str) -> tuple[Any, str | None]:
    """Find the labels value in a reply.

    Code fences are tried first, then every balanced JSON (or Python-literal) object or array in
    the text; the last object with a ``labels`` field wins, else the last array of strings.

    Parameters
    ----------
    text : str
        The reply, reasoning blocks already removed.

    Returns
    -------
    (value, None) or (None, reason)
        The raw value of the labels field, or why none was found.

    Examples
    --------
    >>> extract_answer('Sure! ```json\\n{"labels": ["rape_past"]}\\n``` Hope that helps.')
    (['rape_past'], None)
    >>> extract_answer("I cannot decide.")
    (None, 'no JSON object with a "labels" field in the reply')
    """
    chunks: list[str] = [m.group(1).strip() for m in _FENCE.finditer(text)]
    chunks.append(text.strip())
    objects: list[dict[Any, Any]] = []
    arrays: list[list[Any]] = []
    for chunk in chunks:
        for value in _values(chunk):
            if isinstance(value, dict):
                objects.append(value)
            elif all(isinstance(v, str) for v in value):
                arrays.append(value)
    with_labels = [o for o in objects if _labels_field(o)[0]]
    if with_labels:
        return _labels_field(with_labels[-1])[1], None
    if arrays:
        return arrays[-1], None
    if objects:
        return None, 'the JSON object in the reply has no "labels" field'
    return None, 'no JSON object with a "labels" field in the reply'


def _invalid(raw: str | None, reason: str) -> ParsedReply:
    return ParsedReply(labels=(), status="invalid", reason=reason, raw=raw)


def parse_reply(raw: str | None, schema: Schema = "post") -> ParsedReply:
    """Parse a model reply into a prediction of the given label schema.

    Parameters
    ----------
    raw : str or None
        The reply as received (kept in the prediction).
    schema : {"post", "dialogue"}, default="post"

    Returns
    -------
    ParsedReply
        ``ok`` with canonical labels in schema order, or ``invalid`` with a reason.

    Examples
    --------
    >>> parse_reply('<think>past</think> Answer: {"labels": ["Rape_Past", "rape_past"]}').labels
    ('rape_past',)
    >>> p = parse_reply('{"labels": ["burnout"]}')
    >>> p.status, p.reason
    ('invalid', "unknown post label 'burnout'")
    >>> parse_reply('{"labels": []}', "dialogue").status
    'ok'
    """
    if raw is None or not raw.strip():
        return _invalid(raw, "empty reply")
    text = strip_reasoning(raw)
    if not text:
        return _invalid(raw, "the reply holds only a reasoning block")
    value, problem = extract_answer(text)
    if problem is not None:
        return _invalid(raw, problem)
    if value is None:
        items: list[Any] = []
    elif isinstance(value, str):
        items = re.split(r"[,;]", value)
    elif isinstance(value, list):
        items = value
    else:
        return _invalid(raw, f'"labels" must be a list of strings, not {type(value).__name__}')
    if not all(isinstance(x, str) for x in items):
        return _invalid(raw, '"labels" must be a list of strings')
    items = [x.strip() for x in items if x.strip()]
    normalize = normalize_post_label if schema == "post" else normalize_dialogue_label
    order = POST_LABELS if schema == "post" else DIALOGUE_LABELS
    found: set[str] = set()
    for item in items:
        if schema == "dialogue" and item.lower() in EMPTY_LABEL_MARKERS:
            continue
        try:
            found.add(normalize(item).value)
        except UnknownLabelError as exc:
            return _invalid(raw, str(exc))
    if schema == "post" and not found:
        return _invalid(raw, "empty label list: a post needs at least one label (no_crisis when no crisis applies)")
    return ParsedReply(labels=tuple(x.value for x in order if x.value in found), status="ok", reason=None, raw=raw)
