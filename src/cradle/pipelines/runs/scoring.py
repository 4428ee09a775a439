"""Score predictions against gold data: align by id, then compute the published metrics.

For posts the result is the object printed by ``cradle score --json``::

    {"n": int, "n_valid": int, "valid_only": M, "all_samples": M}

where ``M`` holds the keys of :data:`cradle.metrics.SCALAR_METRICS`, ``per_label`` (all 15
labels) and, with a bootstrap, ``ci``. "valid only" keeps the items whose prediction status is
``ok``; "all samples" keeps every item and counts any other status as an empty label set.
Dialogues are scored by :func:`cradle.metrics.dialogue.score_dialogues`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from cradle.data import DataError, Post, Prediction, RowIssue
from cradle.data.alignment import check_ids
from cradle.labels import POST_LABELS
from cradle.metrics import bootstrap_ci, label_matrix, multilabel_scores
from cradle.metrics._validation import ZeroDivision

__all__ = ["align_predictions", "score_posts", "json_safe"]


def align_predictions(gold_ids: Sequence[str], predictions: Sequence[Prediction], what: str = "gold") -> list[Prediction]:
    """Order predictions like ``gold_ids``; every id must be present on both sides, once.

    Raises
    ------
    DataError
        Counting the ids missing on each side, with a few examples of each.
    """
    check_ids(
        gold_ids,
        (p.id for p in predictions),
        "predictions",
        repeated="{n} repeated prediction id(s), e.g. {ids}",
        missing=f"{{n}} {what} item(s) have no prediction, e.g. {{ids}}",
        extra=f"{{n}} prediction(s) match no {what} item, e.g. {{ids}}",
    )
    by_id = {p.id: p for p in predictions}
    return [by_id[i] for i in gold_ids]


def json_safe(value: Any) -> Any:
    """Replace NaN and infinities by ``None`` so that the object is valid JSON."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _score_subset(
    yt: np.ndarray, yp: np.ndarray, labels: Sequence[str], bootstrap: int, seed: int, zero_division: ZeroDivision
) -> dict[str, Any]:
    if yt.shape[0] == 0:
        empty: dict[str, Any] = {k: float("nan") for k in ("exact_match", "jaccard", "micro_precision", "micro_recall", "micro_f1", "macro_precision", "macro_recall", "macro_f1")}
        empty["per_label"] = {lab: {"precision": float("nan"), "recall": float("nan"), "f1": float("nan"), "support": 0} for lab in labels}
        return empty
    out = multilabel_scores(yt, yp, labels=labels, zero_division=zero_division)
    if bootstrap:
        out["ci"] = bootstrap_ci(yt, yp, n_resamples=bootstrap, seed=seed, zero_division=zero_division)
    return out


def score_posts(
    posts: Sequence[Post],
    predictions: Sequence[Prediction],
    *,
    bootstrap: int = 0,
    seed: int = 0,
    zero_division: ZeroDivision = "warn",
) -> dict[str, Any]:
    """Score post predictions on the 15 labels, "valid only" and "all samples".

    Parameters
    ----------
    posts : sequence of Post
        Gold posts; each must carry labels.
    predictions : sequence of Prediction
        One per post, matched by id.
    bootstrap : int, default=0
        Number of bootstrap resamples for 95% percentile intervals (0: none).
    seed : int, default=0
    zero_division : as in scikit-learn

    Returns
    -------
    dict
        ``{"n", "n_valid", "valid_only", "all_samples"}``.
    """
    unlabelled = [p.id for p in posts if p.labels is None]
    if unlabelled:
        raise DataError([RowIssue("gold", 0, "labels", f"{len(unlabelled)} gold post(s) carry no labels, e.g. {unlabelled[:5]}")])
    preds = align_predictions([p.id for p in posts], predictions)
    labels = [x.value for x in POST_LABELS]
    yt = label_matrix([[x.value for x in p.labels or ()] for p in posts], labels)
    yp = label_matrix([list(p.labels) if p.ok else [] for p in preds], labels)
    valid = np.array([p.ok for p in preds], dtype=bool)
    return {
        "n": len(posts),
        "n_valid": int(valid.sum()),
        "valid_only": _score_subset(yt[valid], yp[valid], labels, bootstrap, seed, zero_division),
        "all_samples": _score_subset(yt, yp, labels, bootstrap, seed, zero_division),
    }
