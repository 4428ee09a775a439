"""One check that two sets of item ids match, reporting counts and a few examples of each side.

Scoring (predictions against gold posts or dialogue turns), ensembles (runs against the first
run), annotator agreement (one annotation file against another) and training-set building
(texts against votes) all need the same thing: every id expected present on the other side,
nothing else there, nothing repeated, and, when not, a message that counts each kind of problem
and shows a few ids, so that a whole file's worth of mistakes is seen at once. Each caller keeps
its own wording through message templates with ``{n}`` (the count) and ``{ids}`` (examples).

Examples
--------
>>> c = compare_ids(["a", "b", "c"], ["b", "c", "c", "z"])
>>> c.missing, c.extra, c.repeated
(['a'], ['z'], ['c'])
>>> [i.reason for i in id_issues(c, "run.jsonl", missing="{n} item(s) have no prediction, e.g. {ids}")]
["1 item(s) have no prediction, e.g. ['a']"]
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Optional

from cradle.data.errors import DataError, RowIssue

__all__ = ["EXAMPLES_SHOWN", "IdComparison", "compare_ids", "repeated_ids", "id_issues", "check_ids"]

#: How many example ids an issue shows.
EXAMPLES_SHOWN = 5


def repeated_ids(ids: Iterable[Hashable]) -> list[Hashable]:
    """Every occurrence of an id after its first, in order.

    Examples
    --------
    >>> repeated_ids(["a", "b", "a", "a"])
    ['a', 'a']
    """
    seen: set[Hashable] = set()
    out = []
    for i in ids:
        if i in seen:
            out.append(i)
        seen.add(i)
    return out


@dataclass(frozen=True)
class IdComparison:
    """How the ids ``found`` on one side match the ids ``expected`` on the other.

    Attributes
    ----------
    missing : list
        Expected ids absent from ``found``, in expected order (each once).
    extra : list
        Ids of ``found`` that are not expected, in their order (each once; ``None`` excluded).
    repeated : list
        Ids met again in ``found`` after their first occurrence (``None`` excluded).
    unnamed : int
        Entries of ``found`` whose id is ``None``.
    """

    missing: list[Hashable] = field(default_factory=list)
    extra: list[Hashable] = field(default_factory=list)
    repeated: list[Hashable] = field(default_factory=list)
    unnamed: int = 0

    @property
    def matches(self) -> bool:
        """True when both sides hold the same ids, each once, all named."""
        return not (self.missing or self.extra or self.repeated or self.unnamed)


def compare_ids(expected: Iterable[Hashable], found: Iterable[Optional[Hashable]]) -> IdComparison:
    """Compare the ids ``found`` with the ids ``expected``.

    Parameters
    ----------
    expected : iterable
        The reference ids (gold items, the first run, ...).
    found : iterable
        The ids to check (predictions, another run, ...); ``None`` counts as an unnamed entry.

    Returns
    -------
    IdComparison
    """
    expected_list = list(dict.fromkeys(expected))
    found_list = list(found)
    named = [i for i in found_list if i is not None]
    have = set(named)
    reference = set(expected_list)
    return IdComparison(
        missing=[i for i in expected_list if i not in have],
        extra=[i for i in dict.fromkeys(named) if i not in reference],
        repeated=repeated_ids(named),
        unnamed=len(found_list) - len(named),
    )


def _issue(file: str, template: str, n: int, ids: list[Hashable]) -> RowIssue:
    # replace, not str.format: a template may hold a file name with braces in it
    return RowIssue(file, 0, "id", template.replace("{n}", str(n)).replace("{ids}", str(ids[:EXAMPLES_SHOWN])))


def id_issues(
    comparison: IdComparison,
    file: str,
    *,
    missing: str | None = None,
    extra: str | None = None,
    repeated: str | None = None,
    unnamed: str | None = None,
) -> list[RowIssue]:
    """The problems of a comparison as issues, in the order repeated, unnamed, missing, extra.

    Parameters
    ----------
    comparison : IdComparison
    file : str
        The file the issues name.
    missing, extra, repeated, unnamed : str, optional
        Message templates; ``{n}`` is replaced by the count, ``{ids}`` by a list of at most
        :data:`EXAMPLES_SHOWN` ids (plain replacement, so other braces stay as they are). A
        kind without a template is not reported.

    Returns
    -------
    list of RowIssue
    """
    out = []
    if repeated is not None and comparison.repeated:
        out.append(_issue(file, repeated, len(comparison.repeated), comparison.repeated))
    if unnamed is not None and comparison.unnamed:
        out.append(_issue(file, unnamed, comparison.unnamed, []))
    if missing is not None and comparison.missing:
        out.append(_issue(file, missing, len(comparison.missing), comparison.missing))
    if extra is not None and comparison.extra:
        out.append(_issue(file, extra, len(comparison.extra), comparison.extra))
    return out


def check_ids(
    expected: Iterable[Hashable],
    found: Iterable[Optional[Hashable]],
    file: str,
    *,
    missing: str | None = None,
    extra: str | None = None,
    repeated: str | None = None,
    unnamed: str | None = None,
) -> IdComparison:
    """:func:`compare_ids`, raising when a kind with a template is found.

    Returns
    -------
    IdComparison
        When no reported kind of problem is present.

    Raises
    ------
    DataError
        With one issue per kind of problem (see :func:`id_issues`).

    Examples
    --------
    >>> check_ids(["a"], ["a", "b"], "preds.jsonl", extra="{n} prediction(s) match no item, e.g. {ids}")
    Traceback (most recent call last):
    ...
    cradle.data.errors.DataError: 1 problem in the data:
      preds.jsonl:id: 1 prediction(s) match no item, e.g. ['b']
    """
    comparison = compare_ids(expected, found)
    issues = id_issues(comparison, file, missing=missing, extra=extra, repeated=repeated, unnamed=unnamed)
    if issues:
        raise DataError(issues)
    return comparison
