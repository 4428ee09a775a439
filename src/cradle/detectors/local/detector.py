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


def _refused(text: Any) -> Prediction | None:
    """The ``invalid`` prediction of an empty or over-long text, else ``None``."""
    if not isinstance(text, str) or not text.strip():
        return Prediction(status=Status.INVALID, reason="empty text")
    if len(text) > MAX_CHARS:
        return Prediction(status=Status.INVALID, reason=f"text has {len(text)} characters; the limit is {MAX_CHARS}")
    return None


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
        ``cradle train`` gives a :class:`LocalDetector`. ``cascade=False`` loads the shipped
        encoder without its TF-IDF screen.

        Raises
        ------
        SpecError
            When the folder is not a model folder (the message names the missing file).
        """
        use_cascade = bool(kwargs.pop("cascade", True))
        path = _SHIPPED[name_or_path]() if name_or_path in _SHIPPED else Path(name_or_path).expanduser()
        try:
            if is_encoder_folder(path):
                model = EncoderModel.load(path)
                cascade = model.meta.get("cascade") or {}
                if cascade.get("screen") == "fast" and name_or_path == "default" and use_cascade:
                    screen = LocalDetector(LocalModel.load(fast_model_path()), "local:fast")
                    return EncoderDetector(model, f"local:{name_or_path}", screen=screen, screen_level=float(cascade["level"]))
                return EncoderDetector(model, f"local:{name_or_path}")
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
        results: list[Prediction | None] = [_refused(t) for t in texts]
        todo = [i for i, r in enumerate(results) if r is None]
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

    With a ``screen`` (a cascade), :meth:`predict` first scores every text with the fast TF-IDF
    model and sends to the encoder only the texts where some crisis label reaches
    ``screen_level`` times its fast threshold; the others are ``no_crisis`` with the fast
    model's scores and ``extra["stage"] == "screen"``. The level is chosen on the real-text dev
    split so that the cascade keeps the encoder's dev figures (``docs/local-detector.md``).
    :meth:`predict_proba` and conversations always use the encoder.

    Parameters
    ----------
    model : EncoderModel
    spec : str
    screen : LocalDetector, optional
    screen_level : float, default=0.0
        0 sends every text to the encoder.

    Examples
    --------
    >>> det = LocalDetector.load("default")
    >>> det.predict(["my best friend told me she was raped, how do I support her?"])[0].labels
    ('no_crisis',)
    """

    def __init__(self, model: EncoderModel, spec: str = "local:default", *, screen: LocalDetector | None = None, screen_level: float = 0.0, **_: Any) -> None:  # type: ignore[override]
        self.model = model  # type: ignore[assignment]
        self.spec = spec
        self.screen = screen
        self.screen_level = float(screen_level)
        self._crisis = np.array([lab != PostLabel.NO_CRISIS.value for lab in model.labels])

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated encoder scores of every label, pooled over token chunks, shape ``(n, 15)``."""
        return self.model.predict_proba(list(texts))

    def screen_levels(self, texts: Sequence[str]) -> np.ndarray:
        """Per text, the highest ratio of a crisis label's fast score to its fast threshold."""
        if self.screen is None:
            return np.full(len(texts), np.inf)
        p = self.screen.predict_proba(list(texts))
        crisis = self.screen._crisis
        return (p[:, crisis] / np.asarray(self.screen.model.thresholds)[crisis]).max(axis=1)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """As :meth:`LocalDetector.predict`, through the screen when there is one."""
        if self.screen is None or self.screen_level <= 0:
            return super().predict(texts)
        texts = list(texts)
        out: list[Prediction | None] = [_refused(t) for t in texts]
        ok = [i for i, r in enumerate(out) if r is None]
        if ok:
            levels = self.screen_levels([texts[i] for i in ok])
            send = [i for i, lv in zip(ok, levels) if lv >= self.screen_level]
            quiet = [i for i, lv in zip(ok, levels) if lv < self.screen_level]
            if quiet:
                assert self.screen is not None
                fast = self.screen.predict([texts[i] for i in quiet])
                for i, p in zip(quiet, fast):
                    out[i] = Prediction(labels=(PostLabel.NO_CRISIS.value,), status=Status.OK, scores=p.scores, extra={"stage": "screen"})
            if send:
                for i, p in zip(send, super().predict([texts[i] for i in send])):
                    out[i] = p
        return [p for p in out if p is not None]


def from_spec(spec: DetectorSpec, **options: Any) -> LocalDetector:
    """Factory used by :func:`cradle.detectors.load_detector` for ``local:...`` specs.

    Decoding options meant for language models (temperature, max_tokens, ...) do not apply
    and are ignored.
    """
    window = {k: options[k] for k in ("window_words", "window_stride", "window_min_words") if k in options}
    return LocalDetector.load(spec.model, **window)
