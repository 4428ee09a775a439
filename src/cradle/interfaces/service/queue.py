"""Build the review queue: the posts on which two or more runs disagree.

Two sources are accepted:

- two or more runs (run directories holding ``predictions.jsonl``, or predictions files) over
  the same posts: they vote with whole label sets as in :mod:`cradle.pipelines.labelling.ensemble`;
- one ensemble run directory written by ``cradle ensemble``: its ``votes.jsonl`` keeps every
  run's vote; without that file, the predictions whose status is ``disagreement`` are queued
  (without the individual votes).

``scope="any"`` queues every post on which the runs are not unanimous (a majority may exist);
``scope="full"`` only the full disagreements (no label set won the vote). By default several runs
use ``"any"`` and one ensemble run ``"full"`` (its disagreement items). Texts come from a dataset
(a file or a dataset name); every queued id must be found there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cradle.data import DataError, RowIssue, load_dataset
from cradle.data._text import read_utf8

__all__ = ["ReviewItem", "Scope", "queue_from_runs", "texts_from_dataset"]

Scope = Literal["any", "full"]


@dataclass(frozen=True)
class ReviewItem:
    """One post to adjudicate.

    Attributes
    ----------
    id : str
        The post id.
    text : str
    votes : dict
        Run name -> ``{"labels": [...] or None, "status": str}``; ``labels`` is ``None`` when
        the run gave no ``ok`` answer.
    vote : tuple of str or None
        The label set that won the vote, or ``None`` on full disagreement.
    agreement : {"partial", "none"}
        ``partial``: a majority exists but not every run agrees; ``none``: no majority.
    """

    id: str
    text: str
    votes: dict[str, dict[str, Any]]
    vote: tuple[str, ...] | None
    agreement: str


def texts_from_dataset(spec: str, data_dir: str | Path | None = None) -> dict[str, str]:
    """Post id -> text from a posts file or dataset name.

    Raises
    ------
    DataError
        When the data cannot be read or holds dialogues (the review page adjudicates posts).
    """
    dataset = load_dataset(spec, data_dir)
    if dataset.kind != "posts":
        raise DataError.single(spec, "holds dialogues; the review page adjudicates post labels, give the posts the runs labelled")
    return {p.id: p.text for p in dataset.posts}


def _wanted(agreement: str, scope: Scope) -> bool:
    return agreement == "none" if scope == "full" else agreement != "all"


def _from_votes_file(run_dir: Path, scope: Scope) -> list[tuple[str, dict[str, dict[str, Any]], tuple[str, ...] | None, str]]:
    path = run_dir / "votes.jsonl"
    issues: list[RowIssue] = []
    out = []
    for n, line in enumerate(read_utf8(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            item_id, agreement, decision, votes = str(rec["id"]), str(rec["agreement"]), str(rec["decision"]), rec["votes"]
            if not isinstance(votes, dict):
                raise TypeError
        except (json.JSONDecodeError, KeyError, TypeError):
            issues.append(
                RowIssue(
                    str(path),
                    n,
                    "",
                    "expected a JSON object with id, agreement, decision and votes (as written by cradle ensemble)",
                )
            )
            continue
        if not _wanted(agreement, scope):
            continue
        vote = tuple(rec.get("labels") or ()) if decision == "vote" else None
        clean = {str(name): {"labels": v.get("labels"), "status": str(v.get("status", "ok"))} for name, v in votes.items()}
        out.append((item_id, clean, vote, agreement))
    if issues:
        raise DataError(issues)
    return out


def _from_disagreement_statuses(run_dir: Path) -> list[tuple[str, dict[str, dict[str, Any]], tuple[str, ...] | None, str]]:
    from cradle.data import Status, read_predictions

    predictions = read_predictions(run_dir / "predictions.jsonl")
    return [(str(p.id), {}, None, "none") for p in predictions if p.status is Status.DISAGREEMENT]


def _from_runs(
    paths: Sequence[str | Path], scope: Scope, min_agree: int
) -> list[tuple[str, dict[str, dict[str, Any]], tuple[str, ...] | None, str]]:
    from cradle.pipelines.labelling.ensemble import ensemble_runs, read_runs, run_schema

    runs = read_runs(paths)
    for run in runs:
        if run_schema(run) == "dialogue":
            raise DataError.single(run.path, "holds dialogue labels; the review page adjudicates post labels")
    result = ensemble_runs(runs, min_agree=min_agree)
    out = []
    for pred, item in zip(result.predictions, result.items, strict=True):
        if not _wanted(item.agreement, scope):
            continue
        votes = {
            name: {"labels": list(v) if v is not None else None, "status": item.statuses[name]} for name, v in item.votes.items()
        }
        out.append((item.id, votes, tuple(pred.labels) if item.decision == "vote" else None, item.agreement))
    return out


def queue_from_runs(
    runs: Sequence[str | Path],
    texts: Mapping[str, str],
    *,
    scope: Scope | None = None,
    min_agree: int = 2,
) -> list[ReviewItem]:
    """The posts to adjudicate, in the order of the first run.

    Parameters
    ----------
    runs : sequence of path
        Two or more runs, or one ensemble run directory (with ``votes.jsonl``).
    texts : mapping
        Post id -> text (see :func:`texts_from_dataset`).
    scope : {"any", "full"} or None
        Queue every non-unanimous post, or only full disagreements; ``None``: ``"full"`` for one
        ensemble run, ``"any"`` for several runs.
    min_agree : int, default=2
        Votes a label set needs to win (for two or more runs).

    Returns
    -------
    list of ReviewItem

    Raises
    ------
    DataError
        For one run that is not an ensemble, a run with dialogue labels, runs over different
        posts, or queued ids missing from ``texts``.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name, labels in (("a", ["rape_past"]), ("b", ["sexualharassment_past"])):
    ...     _ = (d / f"{name}.jsonl").write_text(json.dumps({"id": "p1", "labels": labels}) + "\\n")
    >>> items = queue_from_runs([d / "a.jsonl", d / "b.jsonl"], {"p1": "..."})
    >>> items[0].agreement, items[0].vote, sorted(items[0].votes)
    ('none', None, ['a', 'b'])
    """
    if scope not in ("any", "full", None):
        raise ValueError(f"scope must be 'any' or 'full'; got {scope!r}")
    paths = [Path(p).expanduser() for p in runs]
    if not paths:
        raise DataError.single("runs", "no run given: name two or more runs, or one ensemble run directory")
    if len(paths) == 1:
        run_dir = paths[0]
        lonely = "one run cannot disagree with itself: name two or more runs, or one ensemble run directory (written by cradle ensemble)"
        if run_dir.is_dir() and (run_dir / "votes.jsonl").is_file():
            found = _from_votes_file(run_dir, scope or "full")
        elif run_dir.is_dir() and (run_dir / "predictions.jsonl").is_file():
            found = _from_disagreement_statuses(run_dir)
            if not found:
                raise DataError.single(
                    run_dir, f"{lonely}; this run has neither votes.jsonl nor predictions with status disagreement"
                )
        else:
            raise DataError.single(run_dir, lonely)
    else:
        found = _from_runs(paths, scope or "any", min_agree)
    missing = [item_id for item_id, *_ in found if item_id not in texts]
    if missing:
        raise DataError.single(
            "texts",
            f"{len(missing)} queued post id(s) are not in the texts, e.g. {missing[:5]}; pass the dataset the runs labelled",
        )
    return [ReviewItem(item_id, texts[item_id], votes, vote, agreement) for item_id, votes, vote, agreement in found]
