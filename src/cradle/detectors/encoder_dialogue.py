"""The encoder detector over conversations: the current user turn first, history as context.

:class:`EncoderTurnDetector` labels the user turns of a dialogue with the 16 Alert-Confirm
labels from the post encoder (:class:`~cradle.detectors.local.EncoderDetector`). Each user turn
is encoded **alone** (a turn costs the same at turn 5 and turn 60) into calibrated post-label
probabilities ``p_t``. The context is one vector of 15 numbers, a recency-weighted maximum of
the earlier user turns' evidence ``q`` (the crisis probabilities, and in the ``no_crisis`` slot
the probability of some crisis, ``1 - p_no_crisis``):

``c_t = max(decay ** gap * c_prev, q_prev)``

where ``gap`` counts the messages (of either speaker) since. Listener turns are not encoded:
what a supporter says ("are you thinking of suicide?") is not the user's disclosure; they only
age the context. The score of slot ``j`` at turn ``t`` joins the current turn's evidence with the discounted
context (a noisy-or):

``s_j = 1 - (1 - q_j) (1 - context_weight * c_j)``

so two partial signals in nearby turns can together reach a threshold that neither reaches alone,
while history alone contributes at most ``context_weight * c_j``: an earlier disclosure fires its
label at its own turn, once, and does not fire labels on a later unrelated turn by itself.

- **confirm** ``confirm_T_f`` when ``s_j`` reaches the post threshold moved by ``confirm_shift``
  on the logit scale, unless the clinical rules applied to everything raised so far drop it;
- **alert** ``alert_f``, before any confirm and at most once, at a turn with no confirm where
  the alert level reaches ``alert_threshold`` (``alert_f`` takes the time frame with the larger
  crisis mass). The alert level is chosen by ``alert_level`` (tuned with the rest): the
  combined probability of some crisis (the ``no_crisis`` slot of ``s``), the highest combined
  crisis-label score, the current turn's probability from the encoder's own **warning head**
  (an extra output trained jointly with the label heads on real sentences annotated warning /
  explicit / none, ``warning`` in :func:`cradle.pipelines.training.train_encoder.train_encoder_model`;
  read from the same pass as the label scores), or from a separate **warning model** (``alert/``
  in the model folder: a small TF-IDF model trained on the same sentences,
  :mod:`cradle.pipelines.training.train_alert`).

Each label is raised at most once per dialogue. The state is the context vector, the gap and
the labels raised: no text. Settings live in ``dialogue.json`` beside the model, written by
``scripts/tune_encoder_dialogue.py`` (tuned on dev splits only).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cradle.data import Dialogue, Prediction, Status, Turn
from cradle.detectors.local.detector import EncoderDetector, default_model_path
from cradle.detectors.local.model import LocalModel
from cradle.detectors.local_dialogue import (
    SETTINGS_NAME,
    ConfirmTurnDetector,
    _logit,
    _text_problem,
    raise_new_labels,
    read_settings_file,
)
from cradle.labels import DIALOGUE_LABELS, PostLabel, TimeFrame, post_to_confirm

__all__ = ["ALERT_FOLDER", "ENCODER_DIALOGUE_FORMAT", "EncoderDialogueSettings", "EncoderTurnState", "EncoderTurnDetector"]

#: Sub-folder of an encoder model folder that holds its warning-sign model (a local model folder).
ALERT_FOLDER = "alert"

ENCODER_DIALOGUE_FORMAT = "cradle-encoder-dialogue"
_VERSION = 1
_STATE_FORMAT = "cradle-encoder-turn-state"
_ORDER = {x.value: k for k, x in enumerate(DIALOGUE_LABELS)}
_NUMBERS = ("decay", "context_weight", "confirm_shift", "alert_threshold")
#: The choices of :attr:`EncoderDialogueSettings.alert_level`.
ALERT_LEVELS = ("crisis", "max_label", "warning_model", "warning_head")


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (strict JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


@dataclass(frozen=True)
class EncoderDialogueSettings:
    """The numbers that turn per-turn post probabilities into Alert-Confirm labels.

    Parameters
    ----------
    decay : float, default=0.7
        Share of the context kept per message, in [0, 1).
    context_weight : float, default=0.3
        Discount of the context's evidence when joined with the current turn's, in [0, 1).
    confirm_shift : float, default=0.5
        Added to the logit of each post threshold to get the confirm threshold (positive: stricter).
    alert_threshold : float, default=0.6
        Alert level that raises an alert, in (0, 1]; 1 never raises one.
    alert_level : {"crisis", "max_label", "warning_model", "warning_head"}, default="crisis"
        What the alert level is: ``"crisis"`` the combined probability of some crisis (the
        ``no_crisis`` slot of ``s``), ``"max_label"`` the highest combined crisis-label score,
        ``"warning_model"`` the current turn's probability from the warning-sign model in
        ``alert/`` of the model folder, ``"warning_head"`` the current turn's probability from
        the encoder's ``warning`` head (a model trained with one).
    meta : dict
        Provenance written by the tuning script; not compared.

    Examples
    --------
    >>> s = EncoderDialogueSettings(decay=0.5)
    >>> EncoderDialogueSettings.from_dict(s.to_dict()) == s
    True
    """

    decay: float = 0.7
    context_weight: float = 0.3
    confirm_shift: float = 0.5
    alert_threshold: float = 0.6
    alert_level: str = "crisis"
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        checks = (
            ("decay", 0.0 <= self.decay < 1.0, "in [0, 1)"),
            ("context_weight", 0.0 <= self.context_weight < 1.0, "in [0, 1)"),
            ("confirm_shift", math.isfinite(self.confirm_shift), "finite"),
            ("alert_threshold", 0.0 < self.alert_threshold <= 1.0, "in (0, 1]"),
            ("alert_level", self.alert_level in ALERT_LEVELS, f"one of {', '.join(ALERT_LEVELS)}"),
        )
        for name, ok, rule in checks:
            if not ok:
                raise ValueError(f"dialogue setting {name} must be {rule}; got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``dialogue.json``."""
        return {"format": ENCODER_DIALOGUE_FORMAT, "format_version": _VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "dialogue settings") -> EncoderDialogueSettings:
        """Read the object written by :meth:`to_dict`.

        Raises
        ------
        ValueError
            Naming ``source`` and the problem.
        """
        if data.get("format") != ENCODER_DIALOGUE_FORMAT or data.get("format_version") != _VERSION:
            raise ValueError(
                f"{source} has format {data.get('format')!r} version {data.get('format_version')!r}; "
                f"this package reads {ENCODER_DIALOGUE_FORMAT!r} version {_VERSION}"
            )
        values: dict[str, float] = {}
        for name in _NUMBERS:
            if name not in data:
                raise ValueError(f"{source} has no {name!r}")
            try:
                values[name] = float(data[name])
            except (TypeError, ValueError):
                raise ValueError(f"{source}: {name} must be a number, not {data[name]!r}") from None
        level = data.get("alert_level", "crisis")  # files written before the field existed
        try:
            return cls(**values, alert_level=str(level), meta=dict(data.get("meta") or {}))
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, folder: str | Path) -> EncoderDialogueSettings:
        """The ``dialogue.json`` of a model folder, or the defaults when there is none."""
        path = Path(folder) / SETTINGS_NAME
        data = read_settings_file(path)
        return cls() if data is None else cls.from_dict(data, str(path))

    def save(self, folder: str | Path) -> Path:
        """Write ``dialogue.json`` into ``folder``."""
        path = Path(folder) / SETTINGS_NAME
        path.write_text(json.dumps(_finite(self.to_dict()), indent=2, allow_nan=False) + "\n", encoding="utf-8")
        return path


@dataclass
class EncoderTurnState:
    """What the detector carries between turns of one conversation (no text).

    Attributes
    ----------
    context : ndarray of shape (15,)
        Recency-weighted maximum of earlier user turns' post-label probabilities.
    raised : list of str
        Dialogue labels raised so far, in order.
    """

    context: np.ndarray
    raised: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"format": _STATE_FORMAT, "context": [float(x) for x in self.context], "raised": list(self.raised)}


class EncoderTurnDetector(ConfirmTurnDetector):
    """Alert-Confirm labels for user turns, from the encoder post detector.

    Satisfies :class:`cradle.detectors.TurnDetector` and the monitor's incremental interface
    (:meth:`start`, :meth:`step`, :meth:`restore`).

    Parameters
    ----------
    detector : EncoderDetector
    settings : EncoderDialogueSettings, optional
        Default: the ``dialogue.json`` of the detector's model folder.
    history_window : int, optional
        Accepted for interface compatibility; the context is already a fixed-size summary, so a
        window changes nothing but is recorded in :meth:`describe`.
    warning_model : LocalModel, optional
        The warning-sign model, for ``alert_level="warning_model"`` (default: read from
        ``alert/`` of the detector's model folder when the settings ask for it); ignored with
        any other alert level. ``alert_level="warning_head"`` reads the encoder's own
        ``warning`` output instead, and needs a model trained with one.

    Examples
    --------
    >>> from cradle.data import Dialogue, Turn
    >>> from cradle.detectors.local import LocalDetector
    >>> det = EncoderTurnDetector(LocalDetector.load("default"))
    >>> d = Dialogue("d0", (Turn(0, "user", "hey, got a minute?"), Turn(1, "listener", "of course, what's up"),
    ...                     Turn(2, "user", "I cut my arm again last night, I can't stop doing it")))
    >>> [p.labels for p in det.predict_dialogue(d)]
    [(), ('confirm_SH_ongoing',)]
    """

    def __init__(
        self,
        detector: EncoderDetector,
        settings: EncoderDialogueSettings | None = None,
        *,
        history_window: int | None = None,
        warning_model: LocalModel | None = None,
    ) -> None:
        self.detector = detector
        self.spec = detector.spec
        self.history_window = history_window
        folder = getattr(detector.model, "folder", None) or default_model_path()
        self.settings = settings if settings is not None else EncoderDialogueSettings.load(folder)
        if warning_model is None and self.settings.alert_level == "warning_model":
            alert_dir = Path(folder) / ALERT_FOLDER
            if not (alert_dir / "model.json").is_file():
                raise ValueError(f"the dialogue settings ask for a warning model, but {alert_dir} holds none (train one with scripts/train_warning.py)")
            warning_model = LocalModel.load(alert_dir)
        if warning_model is not None and list(warning_model.labels) != ["warning"]:
            raise ValueError(f"a warning model has the one output ['warning'], not {list(warning_model.labels)}")
        self.warning_model = warning_model if self.settings.alert_level == "warning_model" else None
        self.warning_head = self.settings.alert_level == "warning_head"
        if self.warning_head and "warning" not in getattr(detector.model, "extra_heads", ()):
            raise ValueError(f"the dialogue settings ask for the encoder's warning head, but the model in {folder} has none (train it with scripts/train_encoder.py --warning-head)")
        labels = list(detector.labels)
        self._labels = labels
        self._nc = labels.index(PostLabel.NO_CRISIS.value)
        self._crisis = [j for j, lab in enumerate(labels) if j != self._nc]
        self._post = [labels[j] for j in self._crisis]
        self._confirm = [post_to_confirm(lab).value for lab in self._post]  # type: ignore[union-attr]
        self._ongoing = np.array([PostLabel(lab).time_frame is TimeFrame.ONGOING for lab in self._post])
        post_thresholds = np.asarray(detector.model.thresholds, dtype=float)[self._crisis]
        self._thresholds = 1.0 / (1.0 + np.exp(-(_logit(post_thresholds) + self.settings.confirm_shift)))

    def __repr__(self) -> str:
        return f"EncoderTurnDetector({self.spec!r}, {self.settings!r})"

    def describe(self, kind: str = "turn") -> dict[str, Any]:
        """What a run manifest records (compared on resume), the warning model included."""
        out = super().describe(kind)
        m = self.warning_model
        out["warning_model"] = None if m is None else {"created": m.meta.get("created"), "n_texts": m.meta.get("training", {}).get("n_texts")}
        return out

    # -- incremental interface ----------------------------------------------------------------

    def start(self) -> EncoderTurnState:
        """The state of a conversation that has not started."""
        return EncoderTurnState(np.zeros(len(self._labels)))

    def restore(self, data: Mapping[str, Any]) -> EncoderTurnState:
        """Rebuild a state from :meth:`EncoderTurnState.to_dict`.

        Raises
        ------
        ValueError
            When ``data`` is not a state of this detector.
        """
        if not isinstance(data, Mapping) or data.get("format") != _STATE_FORMAT:
            raise ValueError(f"not an encoder turn state (expected format {_STATE_FORMAT!r})")
        try:
            context = np.array([float(x) for x in data["context"]])
            raised = [str(x) for x in data.get("raised", [])]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed encoder turn state: {exc!r}") from None
        if context.shape != (len(self._labels),):
            raise ValueError(f"the state holds a vector of {context.size} numbers; this model has {len(self._labels)} labels")
        unknown = [x for x in raised if x not in _ORDER]
        if unknown:
            raise ValueError(f"the state names unknown dialogue label(s) {unknown}")
        return EncoderTurnState(context, raised)

    @property
    def uses_warning(self) -> bool:
        """Whether alerts are raised from a warning probability (the warning model or head)."""
        return self.warning_model is not None or self.warning_head

    def turn_proba(self, text: str) -> np.ndarray:
        """Calibrated post-label probabilities of one user turn on its own."""
        return self.detector.predict_proba([text])[0]

    def turn_scores(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """Post-label probabilities of user turns and their warning probabilities (``None``
        when alerts do not use one), in one pass of the encoder when the warning is its head."""
        texts = list(texts)
        if self.warning_head:
            if not texts:
                return np.zeros((0, len(self._labels))), np.zeros(0)
            proba, extra = self.detector.model.predict_scores(texts)
            return proba, extra["warning"]
        proba = self.detector.predict_proba(texts) if texts else np.zeros((0, len(self._labels)))
        return proba, self.warning_proba(texts)

    def warning_proba(self, texts: list[str]) -> np.ndarray | None:
        """The warning probability of each text (warning model or head), or ``None`` when the
        alerts use neither."""
        if self.warning_head:
            return self.turn_scores(texts)[1]
        if self.warning_model is None:
            return None
        return self.warning_model.predict_proba(list(texts))[:, 0] if texts else np.zeros(0)

    def step(
        self, state: EncoderTurnState, turn: Turn, proba: np.ndarray | None = None, warning: float | None = None
    ) -> Prediction | None:
        """Advance ``state`` by one turn (in place).

        Parameters
        ----------
        state : EncoderTurnState
        turn : Turn
        proba : ndarray, optional
            The turn's :meth:`turn_proba`, when the caller has it already (tuning reuses them).
        warning : float, optional
            The turn's :meth:`warning_proba`, likewise (computed here when there is a warning
            model and it is not given).

        Returns
        -------
        Prediction or None
            ``None`` for a listener turn; for a user turn the labels newly raised and the 16
            dialogue scores. An empty or over-long user turn is ``invalid`` and changes nothing.
        """
        if not turn.is_user:
            state.context = self.settings.decay * state.context
            return None
        problem = _text_problem(turn.text)
        if problem:
            return Prediction(status=Status.INVALID, reason=problem)
        if proba is None:
            got, w = self.turn_scores([turn.text])
            p = got[0]
            if warning is None and w is not None:
                warning = float(w[0])
        else:
            p = np.asarray(proba, dtype=float)
            if warning is None and self.uses_warning:
                warning = float(self.warning_proba([turn.text])[0])  # type: ignore[index]
        pred = self.decide(state, p, warning)
        state.context = np.maximum(self.settings.decay * state.context, self.evidence(p))
        return pred

    def predict_dialogue(self, dialogue: Dialogue) -> list[Prediction]:
        """One prediction per user turn, each from the turns up to it (ids ``"<dialogue>:<turn>"``)."""
        users = [t for t in dialogue.turns if t.is_user and not _text_problem(t.text)]
        proba, warn = self.turn_scores([t.text for t in users])
        probas = dict(zip((t.turn_id for t in users), proba))
        warnings = {} if warn is None else dict(zip((t.turn_id for t in users), (float(w) for w in warn)))
        state = self.start()
        out: list[Prediction] = []
        for turn in dialogue.turns:
            pred = self.step(state, turn, probas.get(turn.turn_id), warnings.get(turn.turn_id))
            if pred is not None:
                out.append(pred.with_id(dialogue.item_id(turn)))
        return out

    def evidence(self, p: np.ndarray) -> np.ndarray:
        """The vector the context keeps: the crisis probabilities, and ``1 - p_no_crisis`` (the
        probability of some crisis) in the ``no_crisis`` slot."""
        q = np.array(p, dtype=float)
        q[self._nc] = 1.0 - q[self._nc]
        return q

    def combined(self, context: np.ndarray, p: np.ndarray) -> np.ndarray:
        """``s = 1 - (1 - q) (1 - context_weight * c)`` with ``q = evidence(p)``: the current turn's
        evidence, joined (noisy-or) with the earlier turns' evidence discounted by ``context_weight``."""
        q = self.evidence(p)
        return 1.0 - (1.0 - q) * (1.0 - self.settings.context_weight * context)

    def scores(self, context: np.ndarray, p: np.ndarray, warning: float | None = None) -> dict[str, float]:
        """The 16 dialogue label scores.

        A confirm label scores its post label's ``s_j``; ``alert_ongoing`` and ``alert_past``
        split the alert level (``settings.alert_level``; ``warning`` is the warning model's
        probability for this turn) by the crisis mass of each frame.
        """
        s = self.combined(context, p)
        crisis = s[self._crisis]
        how = self.settings.alert_level
        if how in ("warning_model", "warning_head"):
            if warning is None:
                raise ValueError(f"alert_level {how!r} needs the turn's warning probability")
            level = float(warning)
        else:
            level = float(crisis.max()) if how == "max_label" else float(s[self._nc])
        mass_now, mass_past = float(crisis[self._ongoing].sum()), float(crisis[~self._ongoing].sum())
        share_now = mass_now / (mass_now + mass_past) if mass_now + mass_past > 0 else 0.5
        out = {"alert_ongoing": level * share_now, "alert_past": level * (1.0 - share_now)}
        out.update({c: float(x) for c, x in zip(self._confirm, crisis, strict=True)})
        return {x.value: out[x.value] for x in DIALOGUE_LABELS}

    def decide(self, state: EncoderTurnState, p: np.ndarray, warning: float | None = None) -> Prediction:
        """Labels newly raised at a user turn with probabilities ``p`` and warning probability
        ``warning`` (updates ``state.raised``)."""
        scores = self.scores(state.context, p, warning)
        level = scores["alert_ongoing"] + scores["alert_past"]
        return raise_new_labels(state.raised, scores, self._thresholds, self._confirm, level, self.settings.alert_threshold)
