"""``local:default``, ``local:fast`` and ``local:DIR``: the private CPU detectors.

Two engines share one decision rule. ``local:default`` is the fine-tuned encoder
(:class:`EncoderDetector`, :mod:`cradle.detectors.local.encoder`); ``local:fast`` is the
TF-IDF linear model (:class:`LocalDetector`), about twenty times faster and much weaker on real
text. ``local:DIR`` loads either kind of folder (``model.json`` says which).

For the TF-IDF model, long texts are cut into overlapping windows of words; a crisis label takes its highest score
over the windows and the whole text (a crisis disclosed in one paragraph is not diluted by
the rest), ``no_crisis`` its lowest. Labels are the crisis labels whose calibrated score
reaches the label's threshold, made consistent by the clinical rules; ``no_crisis`` when none
does.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from cradle.data import Prediction, Status
from cradle.detectors.base import DetectorSpec, SpecError
from cradle.detectors.local.encoder import EncoderModel, is_encoder_folder
from cradle.detectors.local.model import LocalModel, ModelFormatError
from cradle.labels import PostLabel, apply_clinical_rules

__all__ = ["LocalDetector", "EncoderDetector", "decide_labels", "default_model_path", "fast_model_path", "from_spec", "MAX_CHARS"]

#: Texts longer than this many characters get status ``invalid`` instead of a guess.
MAX_CHARS = 100_000


def default_model_path() -> Path:
    """Folder of the encoder model shipped inside the package (``local:default``)."""
    return Path(str(resources.files("cradle.resources").joinpath("models", "default")))


def fast_model_path() -> Path:
    """Folder of the TF-IDF model shipped inside the package (``local:fast``)."""
    return Path(str(resources.files("cradle.resources").joinpath("models", "fast")))


_SHIPPED = {"default": default_model_path, "fast": fast_model_path}


def _windows(text: str, size: int, stride: int, min_words: int) -> list[str]:
    words = text.split()
    if len(words) <= min_words:
        return [text]
    out = [text]
    for start in range(0, max(1, len(words) - size + stride), stride):
        out.append(" ".join(words[start : start + size]))
    return out


def decide_labels(proba: np.ndarray, labels: Sequence[str], thresholds: np.ndarray) -> tuple[str, ...]:
    """Crisis labels whose score reaches their threshold, made consistent; else ``no_crisis``.

    Examples
    --------
    >>> decide_labels(np.array([0.9, 0.2]), ["selfharm_past", "no_crisis"], np.array([0.5, 0.5]))
    ('selfharm_past',)
    """
    fired = [lab for lab, p, t in zip(labels, proba, thresholds) if lab != PostLabel.NO_CRISIS.value and p >= t]
    if not fired:
        return (PostLabel.NO_CRISIS.value,)
    return tuple(x.value for x in apply_clinical_rules(fired).labels)


class LocalDetector:
    """A linear TF-IDF + cue model, run with NumPy on the CPU, offline.

    Parameters
    ----------
    model : LocalModel
    spec : str
        The spec string it was loaded from.
    window_words, window_stride, window_min_words : int
        Texts longer than ``window_min_words`` words are also scored in windows of
        ``window_words`` words every ``window_stride`` words.

    Examples
    --------
    >>> det = LocalDetector.load("default")
    >>> det.predict(["this exam is killing me lol"])[0].labels
    ('no_crisis',)
    """

    def __init__(
        self,
        model: LocalModel,
        spec: str = "local:default",
        *,
        window_words: int = 120,
        window_stride: int = 80,
        window_min_words: int = 180,
    ) -> None:
        self.model = model
        self.spec = spec
        self.window_words = window_words
        self.window_stride = window_stride
        self.window_min_words = window_min_words
        self._crisis = np.array([lab != PostLabel.NO_CRISIS.value for lab in model.labels])

    @classmethod
    def load(cls, name_or_path: str = "default", **kwargs: Any) -> LocalDetector:
        """Load a shipped model (``"default"``, ``"fast"``) or a model folder.

        A folder holding an encoder model gives an :class:`EncoderDetector`; one written by
        ``cradle train`` gives a :class:`LocalDetector`.

        Raises
        ------
        SpecError
            When the folder is not a model folder (the message names the missing file).
        """
        path = _SHIPPED[name_or_path]() if name_or_path in _SHIPPED else Path(name_or_path).expanduser()
        try:
            if is_encoder_folder(path):
                return EncoderDetector(EncoderModel.load(path), f"local:{name_or_path}")
            model = LocalModel.load(path)
        except ModelFormatError as exc:
            raise SpecError(str(exc)) from None
        return cls(model, f"local:{name_or_path}", **kwargs)

    @property
    def labels(self) -> list[str]:
        """The label strings the model scores, in column order."""
        return self.model.labels

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated scores of every label, pooled over windows, shape ``(n, 15)``."""
        out = np.zeros((len(texts), len(self.model.labels)))
        for i, text in enumerate(texts):
            parts = _windows(text, self.window_words, self.window_stride, self.window_min_words)
            p = self.model.predict_proba(parts)
            out[i] = np.where(self._crisis, p.max(axis=0), p.min(axis=0))
        return out

    def decide(self, proba: np.ndarray) -> tuple[str, ...]:
        """Labels of one row of scores: thresholds, then the clinical rules."""
        return decide_labels(proba, self.model.labels, self.model.thresholds)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One prediction per text with labels and all 15 calibrated scores.

        An empty text or one over :data:`MAX_CHARS` characters gets status ``invalid`` with the
        reason; the other texts are scored as usual.
        """
        texts = list(texts)
        results: list[Prediction | None] = [None] * len(texts)
        todo: list[int] = []
        for i, t in enumerate(texts):
            if not isinstance(t, str) or not t.strip():
                results[i] = Prediction(status=Status.INVALID, reason="empty text")
            elif len(t) > MAX_CHARS:
                results[i] = Prediction(status=Status.INVALID, reason=f"text has {len(t)} characters; the limit is {MAX_CHARS}")
            else:
                todo.append(i)
        if todo:
            proba = self.predict_proba([texts[i] for i in todo])
            for row, i in enumerate(todo):
                scores = {lab: round(float(p), 6) for lab, p in zip(self.model.labels, proba[row])}
                results[i] = Prediction(labels=self.decide(proba[row]), status=Status.OK, scores=scores)
        return [r for r in results if r is not None]

    async def apredict(self, texts: Sequence[str]) -> list[Prediction]:
        """Async twin of :meth:`predict` (runs in a worker thread)."""
        import asyncio

        return await asyncio.to_thread(self.predict, list(texts))


class EncoderDetector(LocalDetector):
    """The fine-tuned encoder (ONNX Runtime, CPU, offline) behind the same decision rule.

    Long texts are chunked by tokens inside :meth:`EncoderModel.predict_proba
    <cradle.detectors.local.encoder.EncoderModel.predict_proba>`; word-window options do not
    apply.

    Parameters
    ----------
    model : EncoderModel
    spec : str

    Examples
    --------
    >>> det = LocalDetector.load("default")
    >>> det.predict(["my best friend told me she was raped, how do I support her?"])[0].labels
    ('no_crisis',)
    """

    def __init__(self, model: EncoderModel, spec: str = "local:default", **_: Any) -> None:  # type: ignore[override]
        self.model = model  # type: ignore[assignment]
        self.spec = spec
        self._crisis = np.array([lab != PostLabel.NO_CRISIS.value for lab in model.labels])

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated scores of every label, pooled over token chunks, shape ``(n, 15)``."""
        return self.model.predict_proba(list(texts))


def from_spec(spec: DetectorSpec, **options: Any) -> LocalDetector:
    """Factory used by :func:`cradle.detectors.load_detector` for ``local:...`` specs.

    Decoding options meant for language models (temperature, max_tokens, ...) do not apply
    and are ignored.
    """
    window = {k: options[k] for k in ("window_words", "window_stride", "window_min_words") if k in options}
    return LocalDetector.load(spec.model, **window)
