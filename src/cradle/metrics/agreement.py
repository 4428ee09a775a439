"""Agreement between two annotators on multi-label data.

- sample Jaccard: mean over items of ``|A_i & B_i| / |A_i | B_i|`` (two empty sets agree: 1);
- Cohen's kappa per label: ``(p_o - p_e) / (1 - p_e)`` with ``p_e = p_A p_B + (1-p_A)(1-p_B)``,
  identical to ``sklearn.metrics.cohen_kappa_score`` on the binary column (NaN when undefined,
  i.e. both annotators give one constant value);
- Gwet's AC1 per label (Gwet 2008), for two raters and two categories:
  ``(p_o - p_e) / (1 - p_e)`` with ``p_e = 2 pi (1 - pi)`` and ``pi`` the mean of the two
  raters' positive rates. AC1 stays stable when a label is rare, where kappa swings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cradle.metrics._validation import check_targets

__all__ = ["cohen_kappa", "gwet_ac1", "sample_jaccard_agreement", "annotator_agreement"]


def _binary(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a).astype(bool).ravel()
    y = np.asarray(b).astype(bool).ravel()
    if x.shape != y.shape:
        raise ValueError(f"annotators rated {x.size} and {y.size} items")
    if x.size == 0:
        raise ValueError("no items to compare")
    return x, y


def cohen_kappa(a: Any, b: Any) -> float:
    """Cohen's kappa of two binary ratings of the same items.

    Examples
    --------
    >>> round(cohen_kappa([1, 1, 0, 0], [1, 0, 0, 0]), 4)
    0.5
    """
    x, y = _binary(a, b)
    po = float((x == y).mean())
    pa, pb = float(x.mean()), float(y.mean())
    pe = pa * pb + (1 - pa) * (1 - pb)
    if 1 - pe == 0:
        return float("nan")
    return (po - pe) / (1 - pe)


def gwet_ac1(a: Any, b: Any) -> float:
    """Gwet's first-order agreement coefficient (AC1) of two binary ratings.

    Examples
    --------
    >>> round(gwet_ac1([1, 1, 0, 0], [1, 0, 0, 0]), 4)
    0.5294
    """
    x, y = _binary(a, b)
    po = float((x == y).mean())
    pi = (float(x.mean()) + float(y.mean())) / 2
    pe = 2 * pi * (1 - pi)
    return (po - pe) / (1 - pe)


def sample_jaccard_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-item Jaccard between two annotators' label sets; two empty sets count as 1."""
    ya, yb = check_targets(a, b)
    inter = (ya & yb).sum(axis=1)
    union = (ya | yb).sum(axis=1)
    per_item = np.ones(ya.shape[0])
    np.divide(inter, union, out=per_item, where=union != 0)
    return float(per_item.mean())


def annotator_agreement(a: Any, b: Any, *, labels: Sequence[Any]) -> dict[str, Any]:
    """Every agreement figure between two annotators of the same items.

    Parameters
    ----------
    a, b : indicator matrices, or sequences of label sets
    labels : sequence
        The label columns.

    Returns
    -------
    dict
        ``n``, ``sample_jaccard``, ``exact_agreement``, ``mean_kappa`` (NaN-skipping),
        ``mean_ac1`` and ``per_label: {label: {kappa, ac1, positives_a, positives_b}}``.

    Examples
    --------
    >>> r = annotator_agreement([["x"], ["y"]], [["x"], ["x"]], labels=["x", "y"])
    >>> r["sample_jaccard"], r["per_label"]["x"]["positives_b"]
    (0.5, 2)
    """
    ya, yb = check_targets(a, b, labels)
    per: dict[str, dict[str, float]] = {}
    for j, lab in enumerate(labels):
        per[str(lab)] = {
            "kappa": cohen_kappa(ya[:, j], yb[:, j]),
            "ac1": gwet_ac1(ya[:, j], yb[:, j]),
            "positives_a": int(ya[:, j].sum()),
            "positives_b": int(yb[:, j].sum()),
        }
    kappas = np.array([v["kappa"] for v in per.values()], dtype=float)
    ac1s = np.array([v["ac1"] for v in per.values()], dtype=float)
    return {
        "n": int(ya.shape[0]),
        "sample_jaccard": sample_jaccard_agreement(ya, yb),
        "exact_agreement": float((ya == yb).all(axis=1).mean()),
        "mean_kappa": float(np.nanmean(kappas)) if (~np.isnan(kappas)).any() else float("nan"),
        "mean_ac1": float(np.mean(ac1s)),
        "per_label": per,
    }
