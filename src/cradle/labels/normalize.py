"""Turn any released or model-written spelling of a label into its canonical value.

Matching ignores case, spaces, underscores, hyphens and parentheses, so that
``suicideideation(active)_ongoing``, ``Suicideideation Active Ongoing`` and
``suicideideation_active_ongoing`` are one label. A few common paraphrases written by
models (``suicidal_ideation_...``, ``self_harm``, ``child_abuse_...``) are accepted too.
Anything else raises :class:`UnknownLabelError`, which names the string and the
nearest valid label.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import TypeVar

from cradle.labels.schema import DialogueLabel, PostLabel

__all__ = [
    "UnknownLabelError",
    "label_key",
    "normalize_post_label",
    "normalize_dialogue_label",
    "parse_post_labels",
    "parse_dialogue_labels",
    "EMPTY_LABEL_MARKERS",
]

#: Field values that mean "no label" in the dialogue files.
EMPTY_LABEL_MARKERS = frozenset({"", "none", "null", "nan", "[]"})

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
# Paraphrases seen in model outputs, applied to the squashed key (longest first).
_KEY_ALIASES: tuple[tuple[str, str], ...] = (
    ("suicidalideation", "suicideideation"),
    ("childabuseandendangerment", "childabuseendangerment"),
    ("sexualassault", "rape"),
    ("domesticabuse", "domesticviolence"),
    ("intimatepartnerviolence", "domesticviolence"),
    ("nonsuicidalselfinjury", "selfharm"),
)
_CHILDABUSE_SHORT = re.compile(r"^childabuse(ongoing|past)$")


#: Longest unknown value an error message quotes (the longest label has 31 characters).
_SHOWN_MAX = 48


class UnknownLabelError(ValueError):
    """A string that is not a label of the schema.

    Attributes
    ----------
    value : str
        The string as given.
    suggestion : str or None
        The nearest canonical label, when one is close enough.
    schema : str
        ``"post"`` or ``"dialogue"``.
    """

    def __init__(self, value: str, suggestion: str | None, schema: str) -> None:
        self.value = value
        self.suggestion = suggestion
        self.schema = schema
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        # A long value is not a misspelt label but text in the wrong place (a shifted CSV
        # column, a model echoing the post): name its length, never its words.
        shown = repr(value) if len(value) <= _SHOWN_MAX else f"of {len(value)} characters (not shown)"
        super().__init__(f"unknown {schema} label {shown}{hint}")


def label_key(value: str) -> str:
    """Squash a label spelling to lowercase letters and digits.

    Examples
    --------
    >>> label_key("Suicideideation(Active)_Ongoing")
    'suicideideationactiveongoing'
    """
    return _NON_ALNUM.sub("", value.lower())


_L = TypeVar("_L", PostLabel, DialogueLabel)


def _index(labels: Iterable[_L]) -> dict[str, _L]:
    return {label_key(x.value): x for x in labels}


_POST_INDEX = _index(PostLabel)
_DIALOGUE_INDEX = _index(DialogueLabel)


def _lookup(value: str, index: dict[str, _L], schema: str, aliases: bool) -> _L:
    if not isinstance(value, str):
        raise UnknownLabelError(repr(value), None, schema)
    key = label_key(value)
    found = index.get(key)
    if found is None and aliases:
        for old, new in _KEY_ALIASES:
            key = key.replace(old, new)
        key = _CHILDABUSE_SHORT.sub(r"childabuseendangerment\1", key)
        found = index.get(key)
    if found is not None:
        return found
    close = difflib.get_close_matches(key, list(index), n=1, cutoff=0.6)
    raise UnknownLabelError(value, index[close[0]].value if close else None, schema)


def normalize_post_label(value: str) -> PostLabel:
    """Return the canonical post label for a spelling.

    Parameters
    ----------
    value : str
        Any released or model-written spelling, e.g. ``"No crisis"`` or
        ``"childabuseendangerment_past"``.

    Returns
    -------
    PostLabel

    Raises
    ------
    UnknownLabelError
        When the string is no post label; the message suggests the nearest one.

    Examples
    --------
    >>> normalize_post_label("suicideideation(passive)_past").value
    'suicideideation_passive_past'
    >>> normalize_post_label("No crisis").value
    'no_crisis'
    """
    return _lookup(value, _POST_INDEX, "post", aliases=True)


def normalize_dialogue_label(value: str) -> DialogueLabel:
    """Return the canonical dialogue label for a spelling.

    Examples
    --------
    >>> normalize_dialogue_label("Confirm_si_active_ongoing").value
    'confirm_SI_active_ongoing'
    """
    return _lookup(value, _DIALOGUE_INDEX, "dialogue", aliases=False)


def _split(field: str, sep: str) -> list[str]:
    parts = [p.strip() for p in field.split(sep)]
    return [p for p in parts if p]


def parse_post_labels(field: str, sep: str = ",") -> list[PostLabel]:
    """Parse a separated label field into canonical post labels (order kept, duplicates removed).

    Raises
    ------
    UnknownLabelError
        For the first part that is no post label.

    Examples
    --------
    >>> [x.value for x in parse_post_labels("selfharm_ongoing, No crisis")]
    ['selfharm_ongoing', 'no_crisis']
    """
    out: list[PostLabel] = []
    for part in _split(field, sep):
        label = normalize_post_label(part)
        if label not in out:
            out.append(label)
    return out


def parse_dialogue_labels(field: str | None, sep: str = ";") -> list[DialogueLabel]:
    """Parse a dialogue label field; empty, ``none`` and missing values mean no label.

    Examples
    --------
    >>> parse_dialogue_labels("none")
    []
    >>> [x.value for x in parse_dialogue_labels("alert_ongoing; confirm_DV_ongoing")]
    ['alert_ongoing', 'confirm_DV_ongoing']
    """
    if field is None or field.strip().lower() in EMPTY_LABEL_MARKERS:
        return []
    out: list[DialogueLabel] = []
    for part in _split(field, sep):
        if part.lower() in EMPTY_LABEL_MARKERS:
            continue
        label = normalize_dialogue_label(part)
        if label not in out:
            out.append(label)
    return out
