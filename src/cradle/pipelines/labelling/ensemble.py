"""Majority vote of several runs over whole label sets (CRADLE Bench, section 4.3).

Each run labels the same items (posts, or dialogue user turns with ids ``"<dialogue>:<turn>"``).
For every item the runs vote with their *whole* label set; two sets are the same vote only when
they hold exactly the same labels.

Voting rules
------------
- A run whose prediction is ``ok`` casts one vote: its label set (an empty set is a vote too,
  the normal answer for a dialogue turn where nothing new appears).
- A run whose prediction is not ``ok`` (``blocked``, ``invalid``, ``error`` or
  ``disagreement``) casts **no vote**. The threshold stays absolute: with three runs and
  ``min_agree=2``, two agreeing runs win even when the third was blocked.
- The set with the most votes wins when it has at least ``min_agree`` votes and no other set
  has as many. Otherwise (no set reaches the threshold, or the top sets tie) the item is a
  **full disagreement**: it takes the fallback run's prediction when a fallback is given
  (the paper's evaluation protocol; the fallback's status is kept, so a blocked fallback answer
  stays ``blocked``), else it gets no label and the status ``disagreement`` (or, when no run
  cast a vote at all, the most frequent non-ok status of the runs).

Agreement categories
--------------------
``all``: every run voted and all votes are one set; ``partial``: a set won but not every run
voted for it; ``none``: full disagreement. The three shares sum to 100%.

Examples
--------
>>> from cradle.data import Prediction, Status
>>> runs = [
...     Run("a", "a.jsonl", {"p1": Prediction(("no_crisis",), id="p1")}),
...     Run("b", "b.jsonl", {"p1": Prediction(("no_crisis",), id="p1")}),
...     Run("c", "c.jsonl", {"p1": Prediction((), Status.BLOCKED, id="p1")}),
... ]
>>> result = ensemble_runs(runs)
>>> result.predictions[0].labels, result.items[0].agreement
(('no_crisis',), 'partial')
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cradle import __version__
from cradle.data import DataError, Prediction, RowIssue, Status, file_fingerprint, read_predictions, write_predictions
from cradle.data.alignment import compare_ids, id_issues
from cradle.pipelines.runs.rundir import MANIFEST_NAME, PREDICTIONS_NAME

__all__ = [
    "AGREEMENT_CATEGORIES",
    "Agreement",
    "Decision",
    "Run",
    "ItemVote",
    "EnsembleResult",
    "read_run",
    "read_runs",
    "run_schema",
    "vote_item",
    "ensemble_runs",
    "agreement_summary",
    "percentages",
    "write_ensemble",
]

Agreement = Literal["all", "partial", "none"]
Decision = Literal["vote", "fallback", "disagreement", "no_votes"]

#: The agreement categories in table order.
AGREEMENT_CATEGORIES: tuple[Agreement, ...] = ("all", "partial", "none")

#: Name of the predictions file inside a run directory.
PREDICTIONS_FILE = PREDICTIONS_NAME


@dataclass(frozen=True)
class Run:
    """The predictions of one run, by item id.

    Attributes
    ----------
    name : str
        A short unique name (the run directory's or the file's name).
    path : str
        The predictions file it was read from.
    predictions : dict
        Item id -> :class:`~cradle.data.Prediction`, in file order.
    """

    name: str
    path: str
    predictions: dict[str, Prediction]

    def __len__(self) -> int:
        return len(self.predictions)


@dataclass(frozen=True)
class ItemVote:
    """How one item was decided.

    Attributes
    ----------
    id : str
    agreement : {"all", "partial", "none"}
    decision : {"vote", "fallback", "disagreement", "no_votes"}
        ``vote``: a set won; ``fallback``: full disagreement answered by the fallback run;
        ``disagreement``: full disagreement without fallback; ``no_votes``: no run gave an ``ok``
        answer and there is no fallback.
    votes : dict
        Run name -> its label set, or ``None`` when the run cast no vote.
    statuses : dict
        Run name -> the status of its prediction.
    winner_votes : int
        Votes of the most voted set (0 when no run voted).
    """

    id: str
    agreement: Agreement
    decision: Decision
    votes: dict[str, tuple[str, ...] | None]
    statuses: dict[str, str]
    winner_votes: int

    def to_json(self, prediction: Prediction) -> dict[str, Any]:
        """The line of ``votes.jsonl`` for this item (labels, never text)."""
        return {
            "id": self.id,
            "agreement": self.agreement,
            "decision": self.decision,
            "labels": list(prediction.labels),
            "status": prediction.status.value,
            "winner_votes": self.winner_votes,
            "votes": {
                name: {"status": self.statuses[name], "labels": list(v) if v is not None else None} for name, v in self.votes.items()
            },
        }


@dataclass
class EnsembleResult:
    """The ensemble's predictions, how each item was decided, and the agreement summary.

    Attributes
    ----------
    predictions : list of Prediction
        One per item, in the order of the first run.
    items : list of ItemVote
        Parallel to ``predictions``.
    runs : list of str
        Names of the voting runs.
    fallback : str or None
        Name of the fallback run.
    min_agree : int
    summary : dict
        See :func:`agreement_summary`.
    """

    predictions: list[Prediction]
    items: list[ItemVote]
    runs: list[str]
    fallback: str | None
    min_agree: int
    summary: dict[str, Any] = field(default_factory=dict)


def _run_name(path: Path) -> str:
    if path.is_dir() or path.name == PREDICTIONS_FILE:
        return (path if path.is_dir() else path.parent).resolve().name or str(path)
    return path.stem


def read_run(path: str | Path, schema: Literal["post", "dialogue"] | None = None, name: str | None = None) -> Run:
    """Read a run: a directory holding ``predictions.jsonl``, or a predictions ``.jsonl`` file.

    Predictions inside a cradle run directory (a ``manifest.json`` beside them) are read as the
    run itself reads them: a torn last line is ignored and a repeated id keeps its last record.
    A plain predictions file must be clean.

    Parameters
    ----------
    path : path
        The run directory or the predictions file.
    schema : {"post", "dialogue"} or None
        The label schema the labels must belong to; ``None`` guesses from the labels.
    name : str or None
        The run's name; by default the directory name (or the file's stem).

    Returns
    -------
    Run

    Raises
    ------
    DataError
        When the path does not exist, the directory has no ``predictions.jsonl``, or the file
        has a bad record (``file:line:field``).
    """
    p = Path(path).expanduser()
    if p.is_dir():
        file = p / PREDICTIONS_FILE
        if not file.is_file():
            raise DataError.single(p, f"run directory has no {PREDICTIONS_FILE}")
    elif p.exists():
        file = p
    else:
        raise DataError.single(p, "run not found (expected a run directory or a predictions .jsonl file)")
    # A cradle run directory appends a superseded line when it retries an item and may hold a
    # torn last line after a crash; it reads them as RunDirectory does (the last record wins).
    in_run_dir = (file.parent / MANIFEST_NAME).is_file()
    preds = read_predictions(file, schema, tolerate_torn_tail=in_run_dir, allow_duplicates=in_run_dir)
    if not preds:
        raise DataError.single(file, "the run holds no predictions")
    return Run(name or _run_name(p), str(file), {str(x.id): x for x in preds})


def run_schema(run: Run) -> Literal["post", "dialogue"] | None:
    """The schema of a run's labels (``None`` when no prediction carries a label)."""
    for p in run.predictions.values():
        if p.labels:
            return "dialogue" if p.labels[0].startswith(("alert_", "confirm_")) else "post"
    return None


def read_runs(paths: Sequence[str | Path], schema: Literal["post", "dialogue"] | None = None) -> list[Run]:
    """Read several runs, giving them unique names and checking that they share one schema.

    Names repeated across runs get a suffix ``#2``, ``#3``, ... in order.

    Raises
    ------
    DataError
        For a bad run, or runs whose labels belong to different schemas.
    """
    runs: list[Run] = []
    seen: Counter[str] = Counter()
    for path in paths:
        run = read_run(path, schema)
        seen[run.name] += 1
        if seen[run.name] > 1:
            run = Run(f"{run.name}#{seen[run.name]}", run.path, run.predictions)
        runs.append(run)
    schemas = {r.path: run_schema(r) for r in runs}
    found = {s for s in schemas.values() if s}
    if len(found) > 1:
        detail = ", ".join(f"{path}: {s}" for path, s in schemas.items() if s)
        raise DataError([RowIssue(runs[-1].path, 0, "labels", f"runs mix post and dialogue labels ({detail})")])
    return runs


def vote_item(
    item_id: str,
    predictions: Mapping[str, Prediction],
    *,
    min_agree: int = 2,
    fallback: Prediction | None = None,
    fallback_name: str | None = None,
) -> tuple[Prediction, ItemVote]:
    """Decide one item from the predictions of the runs (see the module docstring).

    Parameters
    ----------
    item_id : str
    predictions : mapping
        Run name -> that run's prediction for the item.
    min_agree : int, default=2
        Votes a label set needs to win.
    fallback : Prediction or None
        The fallback run's prediction, used on full disagreement.
    fallback_name : str or None
        The fallback run's name, for the reason written on the prediction.

    Returns
    -------
    (Prediction, ItemVote)

    Examples
    --------
    >>> from cradle.data import Prediction
    >>> preds = {"a": Prediction(("rape_past",)), "b": Prediction(("no_crisis",)), "c": Prediction(("selfharm_past",))}
    >>> p, v = vote_item("x", preds)
    >>> p.status.value, v.agreement, v.decision
    ('disagreement', 'none', 'disagreement')
    >>> p, v = vote_item("x", preds, fallback=preds["b"], fallback_name="b")
    >>> p.labels, v.decision
    (('no_crisis',), 'fallback')
    """
    votes: dict[str, tuple[str, ...] | None] = {name: (tuple(p.labels) if p.ok else None) for name, p in predictions.items()}
    statuses = {name: p.status.value for name, p in predictions.items()}
    ballots = [v for v in votes.values() if v is not None]
    # a vote is a set: the order in which a run lists its labels does not matter
    first_seen: dict[frozenset[str], tuple[str, ...]] = {}
    for b in ballots:
        first_seen.setdefault(frozenset(b), b)
    tally = Counter(frozenset(b) for b in ballots).most_common()
    top = tally[0][1] if tally else 0
    leaders = [labels for labels, n in tally if n == top]
    if tally and top >= min_agree and len(leaders) == 1:
        unanimous = len(ballots) == len(votes) and len(tally) == 1
        item = ItemVote(item_id, "all" if unanimous else "partial", "vote", votes, statuses, top)
        return Prediction(labels=first_seen[leaders[0]], status=Status.OK, id=item_id), item
    why = f"no label set reached {min_agree} of {len(votes)} votes" if top < min_agree else f"{len(leaders)} label sets tie at {top} votes"
    if not ballots:
        why = "no run gave an ok answer"
    if fallback is not None:
        item = ItemVote(item_id, "none", "fallback", votes, statuses, top)
        reason = f"full disagreement ({why}): answer of fallback run {fallback_name!r}"
        if not fallback.ok and fallback.reason:
            reason += f", which was {fallback.status.value}: {fallback.reason}"
        return Prediction(labels=tuple(fallback.labels) if fallback.ok else (), status=fallback.status, reason=reason, id=item_id), item
    if not ballots:
        # the most frequent status; ties go to the status met first (Counter keeps insertion order)
        status = Counter(p.status for p in predictions.values()).most_common(1)[0][0]
        item = ItemVote(item_id, "none", "no_votes", votes, statuses, 0)
        detail = ", ".join(f"{name}: {s}" for name, s in statuses.items())
        return Prediction(status=status, reason=f"no run gave an ok answer ({detail})", id=item_id), item
    item = ItemVote(item_id, "none", "disagreement", votes, statuses, top)
    return Prediction(status=Status.DISAGREEMENT, reason=f"full disagreement: {why}", id=item_id), item


def _check_ids(runs: Sequence[Run], fallback: Run | None) -> list[str]:
    ids = list(runs[0].predictions)
    issues: list[RowIssue] = []
    for run in [*runs[1:], *([fallback] if fallback is not None else [])]:
        issues += id_issues(
            compare_ids(ids, run.predictions),
            run.path,
            missing=f"{{n}} item(s) of run {runs[0].name!r} have no prediction here, e.g. {{ids}}",
            extra=f"{{n}} prediction(s) match no item of run {runs[0].name!r} ({runs[0].path}), e.g. {{ids}}",
        )
    if issues:
        raise DataError(issues)
    return ids


def ensemble_runs(runs: Sequence[Run], *, min_agree: int = 2, fallback: Run | None = None) -> EnsembleResult:
    """Majority vote of ``runs`` over whole label sets.

    Parameters
    ----------
    runs : sequence of Run
        At least two runs over the same item ids.
    min_agree : int, default=2
        Votes a label set needs to win (1 <= min_agree <= number of runs).
    fallback : Run or None
        Answers the items of full disagreement. It may be one of ``runs`` (then it votes too)
        or a separate run (then it only answers disagreements).

    Returns
    -------
    EnsembleResult

    Raises
    ------
    ValueError
        For fewer than two runs or ``min_agree`` out of range.
    DataError
        When the runs (or the fallback) do not cover the same item ids.
    """
    if len(runs) < 2:
        raise ValueError(f"an ensemble needs at least 2 runs; got {len(runs)}")
    if not 1 <= min_agree <= len(runs):
        raise ValueError(f"min_agree must be between 1 and the number of runs ({len(runs)}); got {min_agree}")
    ids = _check_ids(runs, fallback)
    predictions: list[Prediction] = []
    items: list[ItemVote] = []
    for item_id in ids:
        pred, item = vote_item(
            item_id,
            {run.name: run.predictions[item_id] for run in runs},
            min_agree=min_agree,
            fallback=fallback.predictions[item_id] if fallback is not None else None,
            fallback_name=fallback.name if fallback is not None else None,
        )
        predictions.append(pred)
        items.append(item)
    result = EnsembleResult(predictions, items, [r.name for r in runs], fallback.name if fallback else None, min_agree)
    result.summary = agreement_summary(items)
    return result


def percentages(counts: Mapping[str, int], digits: int = 2) -> dict[str, float]:
    """Shares in percent, rounded by the largest-remainder method so that they sum to 100.

    Examples
    --------
    >>> percentages({"a": 1, "b": 1, "c": 1}, digits=1)
    {'a': 33.4, 'b': 33.3, 'c': 33.3}
    >>> percentages({"a": 0, "b": 0})
    {'a': 0.0, 'b': 0.0}
    """
    total = sum(counts.values())
    if total == 0:
        return {k: 0.0 for k in counts}
    scale = 10**digits
    exact = {k: 100 * scale * v / total for k, v in counts.items()}
    floors = {k: int(v) for k, v in exact.items()}
    short = 100 * scale - sum(floors.values())
    for k in sorted(exact, key=lambda k: (floors[k] - exact[k], list(exact).index(k)))[:short]:
        floors[k] += 1
    return {k: v / scale for k, v in floors.items()}


def agreement_summary(items: Sequence[ItemVote]) -> dict[str, Any]:
    """Counts and percentages of the agreement categories and of the decisions.

    Returns
    -------
    dict
        ``{"n", "counts": {all, partial, none}, "percent": {...}, "decisions": {vote,
        fallback, disagreement, no_votes}}``; the percentages sum to 100 (for ``n > 0``).
    """
    counts = {c: 0 for c in AGREEMENT_CATEGORIES}
    decisions: dict[str, int] = {"vote": 0, "fallback": 0, "disagreement": 0, "no_votes": 0}
    for it in items:
        counts[it.agreement] += 1
        decisions[it.decision] += 1
    return {"n": len(items), "counts": counts, "percent": percentages(counts), "decisions": decisions}


def _describe(run: Run) -> dict[str, str]:
    path = Path(run.path)
    return {"name": run.name, "path": run.path, "fingerprint": file_fingerprint(path) if path.is_file() else ""}


def write_ensemble(result: EnsembleResult, out_dir: str | Path, runs: Sequence[Run] = (), fallback: Run | None = None) -> dict[str, Path]:
    """Write an ensemble run directory.

    Files:

    - ``predictions.jsonl``: the standard predictions format;
    - ``agreement.json``: runs, settings and :func:`agreement_summary`;
    - ``votes.jsonl``: per item, the agreement category, the decision and every run's vote
      (labels and statuses only, never text).

    An existing ensemble directory is overwritten; a directory holding other predictions is
    refused.

    Returns
    -------
    dict
        File kind -> path written.

    Raises
    ------
    DataError
        When ``out_dir`` is a file, or holds predictions that no ensemble wrote.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError.single(out, "is a file; --out needs a directory")
    if (out / PREDICTIONS_FILE).exists() and not (out / "agreement.json").exists():
        raise DataError.single(out, f"holds a {PREDICTIONS_FILE} that no ensemble wrote (an evaluation run?); choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    paths = {"predictions": out / PREDICTIONS_FILE, "agreement": out / "agreement.json", "votes": out / "votes.jsonl"}
    write_predictions(result.predictions, paths["predictions"])
    with open(paths["votes"], "w", encoding="utf-8") as fh:
        for pred, item in zip(result.predictions, result.items, strict=True):
            fh.write(json.dumps(item.to_json(pred), ensure_ascii=False) + "\n")
    meta = {
        "cradle_version": __version__,
        "runs": [_describe(r) for r in runs] or [{"name": n} for n in result.runs],
        "fallback": _describe(fallback) if fallback else None,
        "min_agree": result.min_agree,
        "non_ok_votes": "a prediction whose status is not ok casts no vote",
        **result.summary,
    }
    paths["agreement"].write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return paths
