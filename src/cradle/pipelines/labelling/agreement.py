"""Agreement between two annotators' files: sample Jaccard, Cohen's kappa and Gwet's AC1.

An annotation file is either a dataset file (anything :func:`cradle.data.load_dataset` reads:
CRADLE Bench CSV, post JSONL, dialogue parquet/CSV/JSONL, or a dataset name) or predictions: a
JSONL of ``{"id", "labels", "status"}`` lines, or a run directory holding ``predictions.jsonl``. Items are matched by id: post ids, or
``"<dialogue id>:<turn_id>"`` for dialogue user turns (dialogues in the released row layout get
the ids ``d0``, ``d1``, ... in file order, so two annotations of one file line up).

Both files must hold the same item ids. A prediction whose status is not ``ok`` has no label
set to compare: its item is left out and counted as ``excluded``.

The per-label columns are, by default, the labels that at least one annotator used, in schema
order: a label neither used adds a NaN kappa and an AC1 of 1.0, which would only move the means.
``all_labels=True`` keeps every label of the schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cradle.data import DataError, load_dataset, read_predictions
from cradle.data._text import first_json_object
from cradle.data.alignment import check_ids
from cradle.labels import DIALOGUE_LABELS, POST_LABELS
from cradle.metrics import annotator_agreement
from cradle.pipelines.runs.rundir import PREDICTIONS_NAME

__all__ = ["Annotations", "read_annotations", "compare_annotators"]

Schema = Literal["post", "dialogue"]


@dataclass(frozen=True)
class Annotations:
    """One annotator's label sets.

    Attributes
    ----------
    source : str
        The file or dataset name.
    schema : {"post", "dialogue"} or None
        ``None`` when nothing in the file tells (a predictions file without any label).
    labels : dict
        Item id -> tuple of canonical label strings, in file order.
    excluded : tuple of str
        Ids of predictions whose status is not ``ok``.
    """

    source: str
    schema: Schema | None
    labels: dict[str, tuple[str, ...]]
    excluded: tuple[str, ...] = ()


def _is_predictions_file(path: Path) -> bool:
    if path.suffix.lower() not in (".jsonl", ".ndjson", ".json") or not path.is_file():
        return False
    rec = first_json_object(path)
    return rec is not None and "text" not in rec and "turns" not in rec and "turn_id" not in rec


def read_annotations(spec: str, schema: Schema | None = None, data_dir: str | Path | None = None) -> Annotations:
    """Read one annotator's labels from a dataset file or a predictions JSONL.

    Parameters
    ----------
    spec : str
        A path (dataset file, predictions JSONL or run directory) or a dataset name.
    schema : {"post", "dialogue"} or None
        The schema the labels must belong to; ``None`` detects it.
    data_dir : path, optional
        Local folder laid out like the hub repositories (for dataset names).

    Returns
    -------
    Annotations

    Raises
    ------
    DataError
        For unreadable files, unlabelled posts, or labels of the other schema.
    """
    path = Path(spec).expanduser()
    if path.is_dir() and (path / PREDICTIONS_NAME).is_file():
        path = path / PREDICTIONS_NAME
    if _is_predictions_file(path):
        preds = read_predictions(path, schema)
        labels = {str(p.id): tuple(p.labels) for p in preds if p.ok}
        found = next((lab for p in preds for lab in p.labels), None)
        detected: Schema | None = schema or (None if found is None else ("dialogue" if found.startswith(("alert_", "confirm_")) else "post"))
        return Annotations(str(path), detected, labels, tuple(str(p.id) for p in preds if not p.ok))
    dataset = load_dataset(spec, data_dir)
    kind: Schema = "dialogue" if dataset.kind == "dialogues" else "post"
    if schema is not None and schema != kind:
        raise DataError.single(dataset.path, f"--labels {schema} was asked but the file holds {dataset.kind}")
    if dataset.kind == "dialogues":
        turns = {d.item_id(t): tuple(x.value for x in t.labels) for d in dataset.dialogues for t in d.user_turns}
        return Annotations(str(dataset.path), "dialogue", turns)
    unlabelled = [p.id for p in dataset.posts if p.labels is None]
    if unlabelled:
        raise DataError.single(dataset.path, f"{len(unlabelled)} post(s) carry no labels, e.g. {unlabelled[:5]}", field="labels")
    return Annotations(str(dataset.path), "post", {p.id: tuple(x.value for x in p.labels or ()) for p in dataset.posts})


def compare_annotators(a: Annotations, b: Annotations, *, all_labels: bool = False) -> dict[str, Any]:
    """Agreement between two annotators of the same items.

    Parameters
    ----------
    a, b : Annotations
    all_labels : bool, default=False
        Report every label of the schema instead of the labels used by either annotator.

    Returns
    -------
    dict
        The object of :func:`cradle.metrics.annotator_agreement` (``n``, ``sample_jaccard``,
        ``exact_agreement``, ``mean_kappa``, ``mean_ac1``, ``per_label``) plus ``schema``,
        ``a``, ``b`` (the sources), ``excluded`` (items left out for a non-ok prediction) and
        ``labels`` (the label columns).

    Raises
    ------
    DataError
        When the two annotations are of different schemas or do not cover the same ids.

    Examples
    --------
    >>> a = Annotations("a", "post", {"1": ("rape_past",), "2": ("no_crisis",)})
    >>> b = Annotations("b", "post", {"1": ("rape_past",), "2": ("selfharm_past",)})
    >>> r = compare_annotators(a, b)
    >>> r["sample_jaccard"], r["labels"]
    (0.5, ['selfharm_past', 'rape_past', 'no_crisis'])
    """
    if a.schema and b.schema and a.schema != b.schema:
        raise DataError.single(b.source, f"holds {b.schema} labels but {a.source} holds {a.schema} labels")
    schema: Schema = a.schema or b.schema or "post"
    excluded = set(a.excluded) | set(b.excluded)
    ids_a = [i for i in a.labels if i not in excluded]
    check_ids(
        [*a.labels, *a.excluded],
        [*b.labels, *b.excluded],
        b.source,
        missing=f"{{n}} item(s) of {a.source} are missing here, e.g. {{ids}}",
        extra=f"{{n}} item(s) here are missing from {a.source}, e.g. {{ids}}",
    )
    if not ids_a:
        raise DataError.single(a.source, "no item left to compare (every item has a non-ok prediction in one of the files)")
    sets_a = [a.labels[i] for i in ids_a]
    sets_b = [b.labels[i] for i in ids_a]
    order = [x.value for x in (DIALOGUE_LABELS if schema == "dialogue" else POST_LABELS)]
    if all_labels:
        columns = order
    else:
        used = {lab for s in (*sets_a, *sets_b) for lab in s}
        columns = [lab for lab in order if lab in used]
    if not columns:
        columns = order
    result = annotator_agreement(sets_a, sets_b, labels=columns)
    return {"schema": schema, "a": a.source, "b": b.source, "excluded": len(excluded), "labels": columns, **result}
