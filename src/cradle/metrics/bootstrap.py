"""Percentile bootstrap confidence intervals and paired comparisons for multi-label scores.

Resampling is done with item weights (how often each item is drawn), so one resample costs
a few matrix products over the shared counts of :mod:`cradle.metrics.multilabel`. With
``groups`` the unit of resampling is a group (e.g. all user turns of one dialogue), because
items inside a group are not independent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cradle.metrics._validation import ZeroDivision, check_targets, check_zero_division
from cradle.metrics.multilabel import SCALAR_METRICS, count_labels, scores_from_counts

__all__ = ["bootstrap_weights", "bootstrap_ci", "PairedComparison", "paired_bootstrap"]


def bootstrap_weights(
    n_items: int,
    n_resamples: int,
    seed: int | None = 0,
    groups: Sequence[Any] | None = None,
) -> np.ndarray:
    """Draw resampling weights of shape ``(n_resamples, n_items)``.

    Parameters
    ----------
    n_items : int
        Number of items.
    n_resamples : int
        Number of bootstrap resamples.
    seed : int or None
        Seed of ``numpy.random.default_rng``; the same seed gives the same weights.
    groups : sequence, optional
        One group key per item. Whole groups are drawn with replacement and every item of a
        drawn group gets the group's draw count.

    Examples
    --------
    >>> w = bootstrap_weights(4, 3, seed=1, groups=["a", "a", "b", "b"])
    >>> bool((w[:, 0] == w[:, 1]).all()), w.sum(axis=1).tolist()
    (True, [4.0, 4.0, 4.0])
    """
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    rng = np.random.default_rng(seed)
    if groups is None:
        group_index = np.arange(n_items)
        n_groups = n_items
    else:
        if len(groups) != n_items:
            raise ValueError(f"groups has {len(groups)} entries for {n_items} items")
        _, group_index = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)
        n_groups = int(group_index.max()) + 1 if n_items else 0
    draws = rng.integers(0, n_groups, size=(n_resamples, n_groups))
    flat = draws + (np.arange(n_resamples) * n_groups)[:, None]
    counts = np.bincount(flat.ravel(), minlength=n_resamples * n_groups).reshape(n_resamples, n_groups)
    return counts[:, group_index].astype(float)


def _resampled_scores(
    yt: np.ndarray, yp: np.ndarray, weights: np.ndarray, zero_division: ZeroDivision, jaccard_zero: float
) -> dict[str, np.ndarray]:
    c = count_labels(yt, yp)
    both = (yt & yp).astype(float)
    item_j = np.full(c.n_items, jaccard_zero)
    np.divide(c.inter, c.union, out=item_j, where=c.union != 0)
    return scores_from_counts(
        weights @ both,
        weights @ yp.astype(float),
        weights @ yt.astype(float),
        weights @ c.exact,
        weights @ item_j,
        weights.sum(axis=1),
        zero_division,
    )


def _interval(values: np.ndarray, confidence: float) -> list[float]:
    alpha = (1.0 - confidence) / 2.0
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return [float("nan"), float("nan")]
    lo, hi = np.percentile(finite, [100 * alpha, 100 * (1 - alpha)])
    return [float(lo), float(hi)]


def bootstrap_ci(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Sequence[Any] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    groups: Sequence[Any] | None = None,
    zero_division: ZeroDivision = "warn",
    jaccard_zero_division: ZeroDivision | None = None,
) -> dict[str, list[float]]:
    """Percentile bootstrap intervals for every scalar metric.

    Parameters
    ----------
    y_true, y_pred : indicator matrices, or label sets with ``labels``
    n_resamples : int, default=1000
    confidence : float, default=0.95
    seed : int or None, default=0
    groups : sequence, optional
        Resample whole groups (dialogues) instead of items.
    zero_division, jaccard_zero_division
        As in :func:`cradle.metrics.multilabel_scores`.

    Returns
    -------
    dict
        ``{metric: [low, high]}`` for each key of :data:`SCALAR_METRICS`.

    Examples
    --------
    >>> y = np.array([[1, 0], [0, 1], [1, 1]], dtype=bool)
    >>> bootstrap_ci(y, y, n_resamples=50)["micro_f1"]
    [1.0, 1.0]
    """
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    yt, yp = check_targets(y_true, y_pred, labels)
    jz = check_zero_division(zero_division if jaccard_zero_division is None else jaccard_zero_division)
    w = bootstrap_weights(yt.shape[0], n_resamples, seed, groups)
    scores = _resampled_scores(yt, yp, w, zero_division, jz)
    return {k: _interval(scores[k], confidence) for k in SCALAR_METRICS}


@dataclass(frozen=True)
class PairedComparison:
    """Result of a paired bootstrap of system B against system A on one metric.

    Attributes
    ----------
    metric : str
    a, b : float
        The metric of each system on the full data.
    delta : float
        ``b - a``.
    ci : list of float
        Percentile interval of ``b - a`` over resamples.
    p_value : float
        Two-sided: twice the smaller share of resamples whose difference is <= 0 or >= 0,
        capped at 1.
    """

    metric: str
    a: float
    b: float
    delta: float
    ci: list[float]
    p_value: float


def paired_bootstrap(
    y_true: Any,
    pred_a: Any,
    pred_b: Any,
    *,
    labels: Sequence[Any] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    groups: Sequence[Any] | None = None,
    zero_division: ZeroDivision = "warn",
    jaccard_zero_division: ZeroDivision | None = None,
) -> dict[str, PairedComparison]:
    """Compare two prediction sets on the same items with one shared set of resamples.

    Examples
    --------
    >>> y = np.array([[1, 0], [0, 1], [1, 1], [0, 1]], dtype=bool)
    >>> a = np.array([[1, 0], [1, 1], [1, 0], [0, 0]], dtype=bool)
    >>> r = paired_bootstrap(y, a, y, n_resamples=200)
    >>> r["micro_f1"].delta > 0
    True
    """
    yt, ya = check_targets(y_true, pred_a, labels)
    _, yb = check_targets(y_true, pred_b, labels)
    jz = check_zero_division(zero_division if jaccard_zero_division is None else jaccard_zero_division)
    n = yt.shape[0]
    full = np.ones((1, n))
    w = bootstrap_weights(n, n_resamples, seed, groups)
    point_a = _resampled_scores(yt, ya, full, zero_division, jz)
    point_b = _resampled_scores(yt, yb, full, zero_division, jz)
    sa = _resampled_scores(yt, ya, w, zero_division, jz)
    sb = _resampled_scores(yt, yb, w, zero_division, jz)
    out: dict[str, PairedComparison] = {}
    for k in SCALAR_METRICS:
        diff = sb[k] - sa[k]
        finite = diff[~np.isnan(diff)]
        if finite.size:
            p = min(1.0, 2 * min(float((finite <= 0).mean()), float((finite >= 0).mean())))
        else:
            p = float("nan")
        a_val, b_val = float(point_a[k][0]), float(point_b[k][0])
        out[k] = PairedComparison(k, a_val, b_val, b_val - a_val, _interval(diff, confidence), p)
    return out
