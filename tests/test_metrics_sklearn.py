"""Every metric equals scikit-learn's on random multi-label matrices (scikit-learn is the oracle)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import accuracy_score, jaccard_score, precision_recall_fscore_support

from cradle.metrics import exact_match, jaccard, multilabel_scores, per_label_scores, precision_recall_f1

ZEROS = ["warn", 0.0, 1.0, np.nan]


@st.composite
def pairs(draw):
    n = draw(st.integers(1, 12))
    k = draw(st.integers(2, 6))  # scikit-learn reads one column as binary, not multi-label
    a = draw(arrays(bool, (n, k)))
    b = draw(arrays(bool, (n, k)))
    return a, b


def close(x, y):
    if np.isnan(y):
        return np.isnan(x)
    return abs(x - y) <= 1e-12


def sk(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kw)


@settings(max_examples=300, deadline=None)
@given(pairs(), st.sampled_from(ZEROS))
def test_all_metrics_match_sklearn(pair, zd):
    yt, yp = pair
    labels = [f"l{j}" for j in range(yt.shape[1])]
    ours = multilabel_scores(yt, yp, labels=labels, zero_division=zd)
    assert close(ours["exact_match"], accuracy_score(yt, yp))
    if not (isinstance(zd, float) and np.isnan(zd)):  # jaccard_score takes no nan option
        assert close(ours["jaccard"], sk(jaccard_score, yt, yp, average="samples", zero_division=zd))
    for avg in ("micro", "macro"):
        p, r, f, _ = sk(precision_recall_fscore_support, yt, yp, average=avg, zero_division=zd)
        assert close(ours[f"{avg}_precision"], p), avg
        assert close(ours[f"{avg}_recall"], r), avg
        assert close(ours[f"{avg}_f1"], f), avg
    p, r, f, s = sk(precision_recall_fscore_support, yt, yp, average=None, zero_division=zd)
    for j, lab in enumerate(labels):
        v = ours["per_label"][lab]
        assert close(v["precision"], p[j]) and close(v["recall"], r[j]) and close(v["f1"], f[j])
        assert v["support"] == s[j]


def test_edge_cases_empty_rows_empty_columns_single_item():
    yt = np.array([[0, 0, 1]], dtype=bool)
    yp = np.array([[0, 0, 0]], dtype=bool)
    ours = multilabel_scores(yt, yp, labels=["a", "b", "c"])
    assert ours["micro_recall"] == 0.0 and ours["macro_f1"] == 0.0
    both_empty = np.zeros((2, 3), dtype=bool)
    assert multilabel_scores(both_empty, both_empty, labels=["a", "b", "c"], zero_division=1.0)["jaccard"] == sk(
        jaccard_score, both_empty, both_empty, average="samples", zero_division=1.0
    )


def test_label_set_inputs_and_functions():
    gold = [["a"], ["a", "b"], []]
    pred = [["a"], ["b"], ["b"]]
    labels = ["a", "b"]
    assert exact_match(gold, pred, labels=labels) == pytest.approx(1 / 3)
    assert jaccard(gold, pred, labels=labels) == pytest.approx((1 + 0.5 + 0) / 3)
    assert precision_recall_f1(gold, pred, labels=labels, average="macro")[1] == pytest.approx(0.75)
    assert per_label_scores(gold, pred, labels=labels)["b"]["support"] == 1


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="shape"):
        multilabel_scores(np.zeros((2, 2), bool), np.zeros((3, 2), bool), labels=["a", "b"])
    with pytest.raises(ValueError, match="not one of the 2 columns"):
        exact_match([["a"]], [["z"]], labels=["a", "b"])
    with pytest.raises(ValueError, match="zero_division"):
        multilabel_scores(np.zeros((1, 1), bool), np.zeros((1, 1), bool), labels=["a"], zero_division=0.5)
