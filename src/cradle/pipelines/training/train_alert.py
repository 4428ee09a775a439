"""Train the warning-sign model behind the conversation monitor's alerts.

An *alert* marks the user turn where early warning signs of a crisis appear, before its type can
be named. The encoder detector scores crisis types; it has no notion of "a sign, type unknown".
The warning model is a separate, small linear model over the same TF-IDF and cue features as
``local:fast`` (:func:`cradle.pipelines.training.train_local.fit_features`) with one output,
``warning``: the probability that a message shows a risk signal (a warning sign, or a crisis
stated outright). The monitor raises an alert when it reaches the alert threshold at a turn that
raises no confirm (:class:`cradle.detectors.encoder_dialogue.EncoderTurnDetector`).

Training data: real sentences annotated ``warning`` / ``explicit`` / ``none`` by three annotators
(``corpus/real/warning``, ``scripts/build_warning_corpus.py``); the script that ships the model is
``scripts/train_warning.py``.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

import numpy as np

from cradle import __version__
from cradle.detectors.local.model import LocalModel
from cradle.pipelines.training.train_local import TrainSettings, fit_features, fit_linear_heads

__all__ = ["WARNING_LABEL", "WARNING_SETTINGS", "train_warning_model"]

#: The one output of a warning model.
WARNING_LABEL = "warning"
#: The recipe: flat (one head), word and char TF-IDF plus the cue features, balanced classes.
WARNING_SETTINGS = TrainSettings(factored=False, C=2.0, min_df=2, word_max_features=20_000, char_max_features=30_000)


def _ranking_figures(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    if y.min() == y.max():
        return {"n": int(len(y)), "positives": int(y.sum())}
    return {"n": int(len(y)), "positives": int(y.sum()), "average_precision": round(float(average_precision_score(y, p)), 4),
            "roc_auc": round(float(roc_auc_score(y, p)), 4)}


def train_warning_model(
    texts: Sequence[str],
    targets: Sequence[bool],
    *,
    dev_texts: Sequence[str] | None = None,
    dev_targets: Sequence[bool] | None = None,
    settings: TrainSettings | None = None,
    c_grid: Sequence[float] = (0.5, 2.0, 8.0, 32.0),
    provenance: dict[str, Any] | None = None,
) -> LocalModel:
    """Fit a warning-sign model (one calibrated output, ``warning``).

    Parameters
    ----------
    texts : sequence of str
        Training messages.
    targets : sequence of bool
        Whether each message shows a risk signal.
    dev_texts, dev_targets : sequence, optional
        Held-out messages: the regularisation ``C`` is chosen among ``c_grid`` by average
        precision on them (without them, ``settings.C`` is used).
    settings : TrainSettings, optional
        Default :data:`WARNING_SETTINGS`; ``factored`` is always off (one head).
    c_grid : sequence of float
    provenance : dict, optional
        Stored under ``training`` in ``model.json``.

    Returns
    -------
    LocalModel
        ``labels == ["warning"]``; its threshold is 0.5 (the monitor's ``alert_threshold``
        decides).

    Raises
    ------
    ValueError
        With fewer than 10 texts, a length mismatch, or a single class.

    Examples
    --------
    >>> texts = ["I can't keep doing this anymore", "nice weather today", "what's the point of anything",
    ...          "I made pasta for dinner", "I don't feel safe at home", "the bus was late again"] * 4
    >>> model = train_warning_model(texts, [True, False] * 12)
    >>> model.labels
    ['warning']
    """
    from sklearn import __version__ as sklearn_version

    texts = list(texts)
    y = np.asarray([bool(t) for t in targets], dtype=float)
    if len(texts) != len(y):
        raise ValueError(f"{len(texts)} texts but {len(y)} targets")
    if len(texts) < 10:
        raise ValueError(f"need at least 10 training texts, got {len(texts)}")
    if y.min() == y.max():
        raise ValueError("the training texts are all of one class")
    base = replace(settings or WARNING_SETTINGS, factored=False)
    started = time.time()
    x, blocks, cue_mean, cue_scale = fit_features(texts, base)

    def fit(s: TrainSettings) -> LocalModel:
        head = fit_linear_heads(x, y[:, None], [WARNING_LABEL], s)
        return LocalModel(
            labels=[WARNING_LABEL], blocks=blocks, coef=head.coef, intercept=head.intercept, platt_a=head.platt_a,
            platt_b=head.platt_b, thresholds=np.array([0.5]), use_cues=s.use_cues, cue_mean=cue_mean, cue_scale=cue_scale,
        )

    chosen, choice = base, {}
    if (dev_texts is None) != (dev_targets is None):
        raise ValueError("give both dev_texts and dev_targets, or neither")
    if dev_texts is not None and dev_targets is not None:
        if len(dev_texts) != len(dev_targets):
            raise ValueError(f"{len(dev_texts)} dev texts but {len(dev_targets)} dev targets")
        if len(set(bool(t) for t in dev_targets)) < 2:
            raise ValueError("the dev texts are all of one class: C cannot be chosen on them")
    if dev_texts is not None and dev_targets is not None and len(dev_texts):
        dev_y = np.asarray([bool(t) for t in dev_targets], dtype=float)
        tried = {}
        for c in c_grid:
            m = fit(replace(base, C=float(c)))
            tried[c] = _ranking_figures(dev_y, m.predict_proba(list(dev_texts))[:, 0]).get("average_precision", 0.0)
        best = max(tried, key=lambda c: (tried[c], -abs(np.log(c / base.C))))
        chosen, choice = replace(base, C=float(best)), {"C_by_dev_average_precision": {str(c): v for c, v in tried.items()}}
    model = fit(chosen)
    dev_figures = {}
    if dev_texts is not None and dev_targets is not None and len(dev_texts):
        dev_figures = _ranking_figures(np.asarray([bool(t) for t in dev_targets], dtype=float), model.predict_proba(list(dev_texts))[:, 0])
    model.meta = {
        "cradle_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "variant": "warning-sign model: flat tfidf+cues, one output",
        "settings": asdict(chosen),
        "dev": dev_figures,
        "dev_note": "scored on the dev texts that chose C (a selection figure, not a held-out one)",
        **choice,
        "training": {
            "n_texts": len(texts), "positives": int(y.sum()), "seconds": round(time.time() - started, 2),
            "scikit_learn": sklearn_version, "python": platform.python_version(), **(provenance or {}),
        },
    }
    return model
