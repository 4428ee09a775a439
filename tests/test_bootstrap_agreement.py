from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import cohen_kappa_score

from cradle.metrics import (
    annotator_agreement,
    bootstrap_ci,
    bootstrap_weights,
    cohen_kappa,
    gwet_ac1,
    multilabel_scores,
    paired_bootstrap,
)


def _data(seed=0, n=200, k=5):
    rng = np.random.default_rng(seed)
    yt = rng.random((n, k)) < 0.3
    noise = rng.random((n, k)) < 0.15
    return yt, yt ^ noise


def test_bootstrap_is_seeded_and_brackets_point():
    yt, yp = _data()
    a = bootstrap_ci(yt, yp, n_resamples=300, seed=7)
    b = bootstrap_ci(yt, yp, n_resamples=300, seed=7)
    c = bootstrap_ci(yt, yp, n_resamples=300, seed=8)
    assert a == b and a != c
    point = multilabel_scores(yt, yp, labels=list("abcde"))
    for k, (lo, hi) in a.items():
        assert lo <= point[k] <= hi, k


def test_weights_match_explicit_resampling():
    """A weighted resample equals scoring the explicitly resampled items."""
    yt, yp = _data(n=30)
    w = bootstrap_weights(30, 5, seed=3)
    rng = np.random.default_rng(3)
    draws = rng.integers(0, 30, size=(5, 30))
    for r in range(5):
        idx = draws[r]
        direct = multilabel_scores(yt[idx], yp[idx], labels=list("abcde"))
        assert np.bincount(idx, minlength=30).tolist() == w[r].astype(int).tolist()
        from cradle.metrics.bootstrap import _resampled_scores

        via = _resampled_scores(yt, yp, w[r : r + 1], "warn", 0.0)
        for k in ("micro_f1", "macro_f1", "exact_match", "jaccard"):
            assert via[k][0] == pytest.approx(direct[k], abs=1e-12)


def test_group_bootstrap_keeps_groups_whole():
    groups = ["d0"] * 3 + ["d1"] * 2 + ["d2"] * 4
    w = bootstrap_weights(9, 50, seed=1, groups=groups)
    assert (w[:, 0] == w[:, 2]).all() and (w[:, 3] == w[:, 4]).all() and (w[:, 5] == w[:, 8]).all()


def test_paired_bootstrap_detects_a_better_system():
    yt, weak = _data(n=300)
    strong = yt.copy()
    strong[:10] = ~strong[:10]
    r = paired_bootstrap(yt, weak, strong, n_resamples=500, seed=0)
    assert r["micro_f1"].delta > 0 and r["micro_f1"].ci[0] > 0 and r["micro_f1"].p_value < 0.01
    same = paired_bootstrap(yt, weak, weak, n_resamples=100)
    assert same["micro_f1"].delta == 0 and same["micro_f1"].p_value == 1.0


@settings(max_examples=200, deadline=None)
@given(arrays(bool, st.integers(1, 30)), st.data())
def test_kappa_equals_sklearn(a, data):
    b = data.draw(arrays(bool, a.shape))
    ours = cohen_kappa(a, b)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = cohen_kappa_score(a.astype(int), b.astype(int))
    if np.isnan(theirs):
        assert np.isnan(ours)
    else:
        assert ours == pytest.approx(theirs, abs=1e-12)


def test_ac1_on_gwet_worked_example():
    """Two raters, 125 items: 118 both positive, 5 A-only, 2 B-only, 0 both negative.

    The kappa paradox: percent agreement 0.944, kappa slightly negative, AC1 about 0.94
    (Gwet 2008; p_e = 2*pi*(1-pi) with pi = (0.984 + 0.96) / 2). The package irrCAC 0.4.4 gives
    0.94078 on the same table (checked once by hand; it is not a test dependency because it pins
    an old scipy).
    """
    a = np.array([1] * 118 + [1] * 5 + [0] * 2)
    b = np.array([1] * 118 + [0] * 5 + [1] * 2)
    assert gwet_ac1(a, b) == pytest.approx(0.94078, abs=5e-6)
    assert cohen_kappa(a, b) == pytest.approx(-0.0234, abs=1e-4)


def test_annotator_agreement_summary():
    a = [["x"], ["x", "y"], [], ["y"]]
    b = [["x"], ["x"], [], ["x"]]
    r = annotator_agreement(a, b, labels=["x", "y"])
    assert r["n"] == 4
    assert r["sample_jaccard"] == pytest.approx((1 + 0.5 + 1 + 0) / 4)
    assert r["per_label"]["x"]["kappa"] == pytest.approx(cohen_kappa_score([1, 1, 0, 0], [1, 1, 0, 1]))
