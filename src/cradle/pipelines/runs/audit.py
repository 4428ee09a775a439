"""Audit one run of post predictions against the clinical rules (and, with gold, the known errors).

What ``cradle audit RUN [--gold DATA]`` and the audit section of ``cradle report`` compute; the
counting itself lives in :mod:`cradle.metrics.audit`::

    from cradle.pipelines.runs.audit import audit_run
    result = audit_run("runs/gpt5", gold="cradle-bench:test")
    result["violations"]["any"], result["errors"]["childabuse_without_gold"]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cradle.data import DataError, Post, Prediction
from cradle.metrics.audit import error_classes, rule_violations

if TYPE_CHECKING:
    from cradle.data.datasets import Dataset

__all__ = ["audit_predictions", "audit_run"]


def audit_predictions(predictions: Sequence[Prediction], gold: Sequence[Post] | None = None) -> dict[str, Any]:
    """Count rule violations (and, with gold, error classes) of post predictions.

    Parameters
    ----------
    predictions : sequence of Prediction
        Post predictions; only ``ok`` ones carry labels (the others count as empty sets).
    gold : sequence of Post, optional
        Gold posts with labels, matched by id (every post must have one prediction and back).

    Returns
    -------
    dict
        ``{"n": int, "n_ok": int, "violations": {...}, "errors": {...} or None}`` with the
        counts of :func:`cradle.metrics.audit.rule_violations` and
        :func:`~cradle.metrics.audit.error_classes`.

    Raises
    ------
    DataError
        When gold posts lack labels or gold and predictions do not match one to one.

    Examples
    --------
    >>> from cradle.data import Prediction
    >>> r = audit_predictions([Prediction(("no_crisis", "selfharm_past"), id="a"), Prediction(("rape_past",), id="b")])
    >>> r["n"], r["violations"]["no_crisis_with_crisis"], r["errors"]
    (2, 1, None)
    """
    from cradle.pipelines.runs.scoring import align_predictions

    def labels(p: Prediction) -> tuple[str, ...]:
        return tuple(p.labels) if p.ok else ()

    result: dict[str, Any] = {
        "n": len(predictions),
        "n_ok": sum(1 for p in predictions if p.ok),
        "violations": rule_violations((str(p.id), labels(p)) for p in predictions),
        "errors": None,
    }
    if gold is not None:
        unlabelled = [p.id for p in gold if p.labels is None]
        if unlabelled:
            raise DataError.single(
                "gold", f"{len(unlabelled)} gold post(s) carry no labels, e.g. {unlabelled[:5]}", field="labels"
            )
        aligned = align_predictions([p.id for p in gold], predictions)
        result["errors"] = error_classes((g.id, g.labels or (), labels(p)) for g, p in zip(gold, aligned))
    return result


def audit_run(run: str | Path, gold: str | Dataset | None = None, *, data_dir: Path | None = None) -> dict[str, Any]:
    """Audit a run directory (or predictions file) of posts.

    Parameters
    ----------
    run : path
        A run directory holding ``predictions.jsonl``, or a predictions ``.jsonl`` file.
    gold : str or Dataset, optional
        Gold posts: a file, a dataset name (``cradle-bench:test``) or a loaded dataset.
    data_dir : Path, optional
        Where dataset names are looked up.

    Returns
    -------
    dict
        The object of :func:`audit_predictions` plus ``run`` (the predictions file) and
        ``gold`` (the gold dataset's name, or ``None``).

    Raises
    ------
    DataError
        For a run of dialogue labels, a dialogue gold set, or ids that do not match.
    """
    from cradle.data import load_dataset
    from cradle.pipelines.labelling.ensemble import read_run

    r = read_run(run)
    preds = list(r.predictions.values())
    if any(lab.startswith(("alert_", "confirm_")) for p in preds for lab in p.labels):
        raise DataError.single(r.path, "holds dialogue labels: the clinical-rule audit applies to post predictions")
    dataset = load_dataset(gold, data_dir) if isinstance(gold, str) else gold
    if dataset is not None and dataset.kind != "posts":
        raise DataError.single(dataset.path, "holds dialogues: the clinical-rule audit needs gold posts")
    result = audit_predictions(preds, dataset.posts if dataset is not None else None)  # type: ignore[union-attr]
    return {"run": r.path, "gold": dataset.name if dataset is not None else None, **result}
