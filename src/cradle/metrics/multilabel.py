"""Multi-label scores with scikit-learn's semantics, computed from one shared count.

Every public function validates its inputs with :func:`check_targets`, reduces them to
:class:`LabelCounts` and derives its value from those counts. The bootstrap resamples the
counts (with item weights) instead of the items, so one resample costs a few matrix products.

Definitions (``Y`` gold, ``P`` prediction, both ``n x L`` indicator matrices):

- exact match (subset accuracy): share of items with ``Y_i == P_i``;
- Jaccard (sample average): mean over items of ``|Y_i & P_i| / |Y_i | P_i|``;
- per label: precision ``tp / (tp + fp)``, recall ``tp / (tp + fn)``,
  F1 ``2 tp / (2 tp + fp + fn)``;
- micro: the same formulas on counts summed over labels; macro: the unweighted mean of the
  per-label values over all ``L`` labels (labels absent from both sides included).

Every 0/0 takes the ``zero_division`` value, exactly as in ``sklearn.metrics``: ``"warn"`` and
``0.0`` give 0, ``1.0`` gives 1, ``nan`` gives NaN and NaN values are left out of macro means
(but not of the Jaccard mean, as in scikit-learn).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cradle.metrics._validation import ZeroDivision, check_targets, check_zero_division

__all__ = [
    "LabelCounts",
    "SCALAR_METRICS",
    "count_labels",
    "scores_from_counts",
    "exact_match",
    "jaccard",
    "precision_recall_f1",
    "per_label_scores",
    "multilabel_scores",
]

#: Keys of the scalar metrics, in report order.
SCALAR_METRICS: tuple[str, ...] = (
    "exact_match",
    "jaccard",
    "micro_precision",
    "micro_recall",
    "micro_f1",
    "macro_precision",
    "macro_recall",
    "macro_f1",
)


@dataclass(frozen=True)
class LabelCounts:
    """Sufficient statistics of a multi-label comparison.

    Attributes
    ----------
    tp, pred, true : ndarray of shape (n_labels,)
        True positives, predicted positives and gold positives per label.
    exact : ndarray of shape (n_items,)
        1.0 where an item's sets are equal.
    inter, union : ndarray of shape (n_items,)
        Per-item intersection and union sizes.
    """

    tp: np.ndarray
    pred: np.ndarray
    true: np.ndarray
    exact: np.ndarray
    inter: np.ndarray
    union: np.ndarray

    @property
    def n_items(self) -> int:
        """Number of items (rows) counted."""
        return int(self.exact.shape[0])


def count_labels(y_true: np.ndarray, y_pred: np.ndarray) -> LabelCounts:
    """Count per label and per item from two validated boolean matrices."""
    both = y_true & y_pred
    return LabelCounts(
        tp=both.sum(axis=0).astype(float),
        pred=y_pred.sum(axis=0).astype(float),
        true=y_true.sum(axis=0).astype(float),
        exact=(y_true == y_pred).all(axis=1).astype(float),
        inter=both.sum(axis=1).astype(float),
        union=(y_true | y_pred).sum(axis=1).astype(float),
    )


def _divide(num: np.ndarray, den: np.ndarray, zero: float) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, zero, dtype=float)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _nanmean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        valid = ~np.isnan(x)
        total = np.where(valid, x, 0.0).sum(axis=axis)
        count = valid.sum(axis=axis)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def scores_from_counts(
    tp: np.ndarray,
    pred: np.ndarray,
    true: np.ndarray,
    exact_sum: np.ndarray,
    jaccard_sum: np.ndarray,
    n: np.ndarray | float,
    zero_division: ZeroDivision = "warn",
) -> dict[str, np.ndarray]:
    """Scalar metrics from (possibly weighted, possibly batched) counts.

    ``tp``, ``pred`` and ``true`` have shape ``(..., n_labels)``; the other arguments have the
    leading shape ``(...)``. Returns arrays of that leading shape, keyed by
    :data:`SCALAR_METRICS`.
    """
    z = check_zero_division(zero_division)
    fp = pred - tp
    fn = true - tp
    p = _divide(tp, pred, z)
    r = _divide(tp, true, z)
    f = _divide(2 * tp, 2 * tp + fp + fn, z)
    stp, spred, strue = tp.sum(axis=-1), pred.sum(axis=-1), true.sum(axis=-1)
    return {
        "exact_match": _divide(exact_sum, n, np.nan),
        "jaccard": _divide(jaccard_sum, n, np.nan),
        "micro_precision": _divide(stp, spred, z),
        "micro_recall": _divide(stp, strue, z),
        "micro_f1": _divide(2 * stp, spred + strue, z),
        "macro_precision": _nanmean(p),
        "macro_recall": _nanmean(r),
        "macro_f1": _nanmean(f),
    }


def _item_jaccard(counts: LabelCounts, zero_division: ZeroDivision) -> np.ndarray:
    return _divide(counts.inter, counts.union, check_zero_division(zero_division))


def exact_match(y_true: Any, y_pred: Any, *, labels: Sequence[Any] | None = None) -> float:
    """Share of items whose predicted label set equals the gold set (subset accuracy).

    Equals ``sklearn.metrics.accuracy_score`` on indicator matrices.

    Examples
    --------
    >>> exact_match([["a"], ["a", "b"]], [["a"], ["a"]], labels=["a", "b"])
    0.5
    """
    yt, yp = check_targets(y_true, y_pred, labels)
    return float(count_labels(yt, yp).exact.mean())


def jaccard(
    y_true: Any, y_pred: Any, *, labels: Sequence[Any] | None = None, zero_division: ZeroDivision = "warn"
) -> float:
    """Sample-averaged Jaccard index, as ``jaccard_score(average="samples")``.

    Examples
    --------
    >>> jaccard([["a"], ["a", "b"]], [["a"], ["a"]], labels=["a", "b"])
    0.75
    """
    yt, yp = check_targets(y_true, y_pred, labels)
    return float(_item_jaccard(count_labels(yt, yp), zero_division).mean())


def precision_recall_f1(
    y_true: Any,
    y_pred: Any,
    *,
    average: str = "micro",
    labels: Sequence[Any] | None = None,
    zero_division: ZeroDivision = "warn",
) -> tuple[float, float, float]:
    """Precision, recall and F1 averaged ``"micro"`` or ``"macro"``.

    Equals ``precision_recall_fscore_support(..., average=average)[:3]`` with the same
    ``zero_division``.

    Examples
    --------
    >>> precision_recall_f1([["a"], ["b"]], [["a"], ["a"]], labels=["a", "b"])
    (0.5, 0.5, 0.5)
    """
    if average not in ("micro", "macro"):
        raise ValueError(f"average must be 'micro' or 'macro'; got {average!r}")
    yt, yp = check_targets(y_true, y_pred, labels)
    c = count_labels(yt, yp)
    s = scores_from_counts(c.tp, c.pred, c.true, c.exact.sum(), 0.0, c.n_items, zero_division)
    return (
        float(s[f"{average}_precision"]),
        float(s[f"{average}_recall"]),
        float(s[f"{average}_f1"]),
    )


def per_label_scores(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Sequence[Any],
    zero_division: ZeroDivision = "warn",
    matrix_input: bool = False,
) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support for every label, keyed by label string.

    Examples
    --------
    >>> per_label_scores([["a"], ["b"]], [["a"], ["a"]], labels=["a", "b"])["a"]
    {'precision': 0.5, 'recall': 1.0, 'f1': 0.6666666666666666, 'support': 1}
    """
    yt, yp = check_targets(y_true, y_pred, None if matrix_input else labels)
    return _per_label(count_labels(yt, yp), labels, zero_division)


def _per_label(c: LabelCounts, labels: Sequence[Any], zero_division: ZeroDivision) -> dict[str, dict[str, float]]:
    z = check_zero_division(zero_division)
    p = _divide(c.tp, c.pred, z)
    r = _divide(c.tp, c.true, z)
    f = _divide(2 * c.tp, c.pred + c.true, z)
    return {
        str(lab): {"precision": float(p[j]), "recall": float(r[j]), "f1": float(f[j]), "support": int(c.true[j])}
        for j, lab in enumerate(labels)
    }


def multilabel_scores(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    labels: Sequence[Any],
    zero_division: ZeroDivision = "warn",
    jaccard_zero_division: ZeroDivision | None = None,
) -> dict[str, Any]:
    """Every scalar metric plus ``per_label``, from two indicator matrices.

    Parameters
    ----------
    y_true, y_pred : ndarray of shape (n_items, n_labels)
        Boolean indicator matrices; columns follow ``labels``.
    labels : sequence
        Column names used as keys of ``per_label``.
    zero_division : {"warn", 0.0, 1.0, nan}
        Value of every 0/0, as in scikit-learn.
    jaccard_zero_division : optional
        Separate 0/0 value for items whose gold and predicted sets are both empty (defaults
        to ``zero_division``). Dialogue turn scoring sets it to 1.0: two empty sets agree.

    Returns
    -------
    dict
        Keys of :data:`SCALAR_METRICS` (floats) and ``per_label``.

    Examples
    --------
    >>> y = np.array([[1, 0], [0, 1]], dtype=bool)
    >>> multilabel_scores(y, y, labels=["a", "b"])["micro_f1"]
    1.0
    """
    yt, yp = check_targets(y_true, y_pred)
    if yt.shape[1] != len(labels):
        raise ValueError(f"matrices have {yt.shape[1]} columns but {len(labels)} labels were named")
    c = count_labels(yt, yp)
    jz = zero_division if jaccard_zero_division is None else jaccard_zero_division
    s = scores_from_counts(
        c.tp, c.pred, c.true, c.exact.sum(), _item_jaccard(c, jz).sum(), float(c.n_items), zero_division
    )
    out: dict[str, Any] = {k: float(s[k]) for k in SCALAR_METRICS}
    out["per_label"] = _per_label(c, labels, zero_division)
    return out
