"""One checker every public metric calls first: label sets or indicator matrices -> bool arrays."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Union

import numpy as np

__all__ = ["ZeroDivision", "check_zero_division", "label_matrix", "check_targets"]

ZeroDivision = Union[str, float]


def check_zero_division(zero_division: ZeroDivision) -> float:
    """Map scikit-learn's ``zero_division`` options to the value used on 0/0.

    ``"warn"`` behaves as 0.0 (scikit-learn's default, minus the warning).
    """
    if isinstance(zero_division, str):
        if zero_division == "warn":
            return 0.0
        raise ValueError(f"zero_division must be 'warn', 0.0, 1.0 or nan; got {zero_division!r}")
    value = float(zero_division)
    if np.isnan(value) or value in (0.0, 1.0):
        return value
    raise ValueError(f"zero_division must be 'warn', 0.0, 1.0 or nan; got {zero_division!r}")


def label_matrix(label_sets: Iterable[Iterable[Any]], labels: Sequence[Any]) -> np.ndarray:
    """Build a boolean indicator matrix of shape ``(n_items, len(labels))``.

    Parameters
    ----------
    label_sets : iterable of iterables
        One collection of labels per item (any hashable values comparable with ``labels``).
    labels : sequence
        The columns, in order.

    Raises
    ------
    ValueError
        When an item carries a label that is not a column.

    Examples
    --------
    >>> label_matrix([["a"], [], ["b", "a"]], ["a", "b"]).astype(int).tolist()
    [[1, 0], [0, 0], [1, 1]]
    """
    index = {str(lab): j for j, lab in enumerate(labels)}
    rows = list(label_sets)
    out = np.zeros((len(rows), len(index)), dtype=bool)
    for i, row in enumerate(rows):
        for lab in row:
            j = index.get(str(lab))
            if j is None:
                raise ValueError(f"item {i}: label {str(lab)!r} is not one of the {len(index)} columns")
            out[i, j] = True
    return out


def check_targets(y_true: Any, y_pred: Any, labels: Sequence[Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate a gold/prediction pair and return two boolean matrices of one shape.

    Accepts indicator matrices (anything ``numpy.asarray`` turns into 2-D 0/1 or bool)
    or, when ``labels`` is given, sequences of label collections.
    """
    if labels is not None and not _is_matrix(y_true):
        yt = label_matrix(y_true, labels)
        yp = label_matrix(y_pred, labels)
    else:
        yt = _as_indicator(y_true, "y_true")
        yp = _as_indicator(y_pred, "y_pred")
    if yt.shape != yp.shape:
        raise ValueError(f"y_true has shape {yt.shape} but y_pred has shape {yp.shape}")
    if yt.shape[0] == 0:
        raise ValueError("no items to score")
    return yt, yp


def _is_matrix(y: Any) -> bool:
    return isinstance(y, np.ndarray)


def _as_indicator(y: Any, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D indicator matrix; got {arr.ndim} dimension(s)")
    if arr.dtype != bool:
        if not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} must hold only 0 and 1")
        arr = arr.astype(bool)
    return arr
