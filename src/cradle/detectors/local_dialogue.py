"""The local detector over conversations: turn by turn, with a constant-size context.

:class:`LocalTurnDetector` wraps a :class:`~cradle.detectors.local.LocalDetector` and labels
the user turns of a dialogue with the 16 Alert-Confirm labels. The post model is linear, so
the score of a weighted sum of texts is the same weighted sum of their linear scores
(:meth:`LocalModel.linear_scores <cradle.detectors.local.LocalModel.linear_scores>`). The
context is therefore one vector with one number per model head, updated at every turn:

``c_t = decay * c_{t-1} + w_t * x_t``

where ``x_t`` is the linear score of turn ``t`` and ``w_t`` is 1 for a user turn and
``listener_weight`` for a listener turn. At each user turn the calibrated label scores are
``p_t = calibrate(c_t)`` (:meth:`LocalModel.calibrate <cradle.detectors.local.LocalModel.calibrate>`)
and:

- **confirm** ``confirm_T_f`` is raised when the score of the post label ``T_f`` reaches its
  post threshold moved by ``confirm_shift`` on the logit scale, unless the clinical rules
  (:func:`cradle.labels.apply_clinical_rules`) applied to everything raised so far drop it
  (an ``_ongoing`` confirm already raised blocks the ``_past`` one of the same type; active
  ideation blocks passive ideation of the same time frame);
- **alert** ``alert_f`` is raised, before any confirm and at most once, at a turn with no
  confirm where some crisis label of time frame ``f`` comes within ``alert_threshold`` of its
  confirm threshold: ``max_j p_j / t_j >= alert_threshold`` over the labels ``j`` of frame
  ``f`` (``t_j`` the confirm threshold). The type is not yet clear, but the conversation is
  heading towards one.

Each label is raised at most once per dialogue, at the turn where it first appears. Encoding a
turn costs the same whatever the length of the conversation, and the state is one vector and
the labels raised so far. With ``history_window=N`` the context holds only the current turn and
the ``N`` turns before it (the state then keeps those ``N`` vectors).

The settings (``decay``, ``listener_weight``, ``confirm_shift``, ``alert_threshold``) live in
``dialogue.json`` beside the model files; ``scripts/tune_dialogue.py`` writes them, tuned on
``synthetic:dialogues-dev``. A model folder without the file gets :data:`DEFAULT_SETTINGS`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cradle.data import Dialogue, Prediction, Status, Turn
from cradle.detectors.local.detector import MAX_CHARS, LocalDetector, default_model_path, fast_model_path
from cradle.labels import DIALOGUE_LABELS, PostLabel, TimeFrame, apply_clinical_rules, post_to_confirm

__all__ = [
    "SETTINGS_NAME",
    "SETTINGS_FORMAT",
    "DEFAULT_SETTINGS",
    "DialogueSettings",
    "LocalTurnState",
    "LocalTurnDetector",
    "model_fingerprint",
]

#: File name of the dialogue settings inside a model folder.
SETTINGS_NAME = "dialogue.json"
#: ``format`` field of that file.
SETTINGS_FORMAT = "cradle-local-dialogue"
_SETTINGS_VERSION = 1
_STATE_FORMAT = "cradle-local-turn-state"
_ORDER = {x.value: k for k, x in enumerate(DIALOGUE_LABELS)}
_POST_OF_CONFIRM = {post_to_confirm(x).value: x.value for x in PostLabel if post_to_confirm(x) is not None}  # type: ignore[union-attr]


def read_settings_file(path: Path) -> dict[str, Any] | None:
    """The JSON object of a ``dialogue.json``, or ``None`` when there is no such file.

    Raises
    ------
    ValueError
        Naming the file, when it cannot be read or does not hold one JSON object.
    """
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold one JSON object")
    return data


@dataclass(frozen=True)
class DialogueSettings:
    """The few numbers that turn per-turn post scores into Alert-Confirm labels.

    Parameters
    ----------
    decay : float, default=0.5
        Share of the context carried from one turn (of either speaker) to the next, in [0, 1);
        0 scores every user turn on its own.
    listener_weight : float, default=0.0
        Weight of a listener turn's linear scores in the context (0: listener turns only age
        the context and are not even encoded).
    confirm_shift : float, default=0.0
        Added to the logit of every post label's threshold to get its confirm threshold
        (positive: stricter).
    alert_threshold : float, default=0.5
        Share of its confirm threshold that a crisis label's score must reach to raise an
        alert, in (0, 1]; 1 never raises one (the label would be confirmed instead).
    meta : dict
        Provenance written by the tuning script (data, fingerprints, figures); not compared.

    Raises
    ------
    ValueError
        For a number out of its range.

    Examples
    --------
    >>> s = DialogueSettings(decay=0.25)
    >>> DialogueSettings.from_dict(s.to_dict()) == s
    True
    """

    decay: float = 0.5
    listener_weight: float = 0.0
    confirm_shift: float = 0.0
    alert_threshold: float = 0.5
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        checks = (
            ("decay", 0.0 <= self.decay < 1.0, "in [0, 1)"),
            ("listener_weight", self.listener_weight >= 0.0, ">= 0"),
            ("confirm_shift", math.isfinite(self.confirm_shift), "finite"),
            ("alert_threshold", 0.0 < self.alert_threshold <= 1.0, "in (0, 1]"),
        )
        for name, ok, rule in checks:
            if not ok:
                raise ValueError(f"dialogue setting {name} must be {rule}; got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``dialogue.json``."""
        out: dict[str, Any] = {"format": SETTINGS_FORMAT, "format_version": _SETTINGS_VERSION}
        out.update(asdict(self))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "dialogue settings") -> DialogueSettings:
        """Read the object written by :meth:`to_dict`.

        Raises
        ------
        ValueError
            Naming ``source`` and the problem (other format or version, missing or bad number).
        """
        if data.get("format") != SETTINGS_FORMAT or data.get("format_version") != _SETTINGS_VERSION:
            raise ValueError(
                f"{source} has format {data.get('format')!r} version {data.get('format_version')!r}; "
                f"this package reads {SETTINGS_FORMAT!r} version {_SETTINGS_VERSION}"
            )
        values: dict[str, float] = {}
        for name in ("decay", "listener_weight", "confirm_shift", "alert_threshold"):
            if name not in data:
                raise ValueError(f"{source} has no {name!r}")
            try:
                values[name] = float(data[name])
            except (TypeError, ValueError):
                raise ValueError(f"{source}: {name} must be a number, not {data[name]!r}") from None
        try:
            return cls(**values, meta=dict(data.get("meta") or {}))
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, folder: str | Path) -> DialogueSettings:
        """The settings of a model folder: its ``dialogue.json``, or :data:`DEFAULT_SETTINGS`.

        Raises
        ------
        ValueError
            When the file exists but cannot be read as settings.
        """
        path = Path(folder) / SETTINGS_NAME
        data = read_settings_file(path)
        return DEFAULT_SETTINGS if data is None else cls.from_dict(data, str(path))

    def save(self, folder: str | Path) -> Path:
        """Write ``dialogue.json`` into ``folder`` and return its path."""
        path = Path(folder) / SETTINGS_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path


#: Settings used for a model folder without ``dialogue.json``.
DEFAULT_SETTINGS = DialogueSettings()


def model_fingerprint(folder: str | Path) -> str:
    """SHA-256 (hex, 16 characters) of a model folder's ``model.json`` and ``weights.npz``.

    ``dialogue.json`` records it, so that a retrained model can be told from the one its
    dialogue settings were tuned for.
    """
    h = hashlib.sha256()
    for name in ("model.json", "weights.npz"):
        h.update((Path(folder) / name).read_bytes())
    return h.hexdigest()[:16]


@dataclass
class LocalTurnState:
    """What the detector carries from one turn to the next (one conversation).

    Attributes
    ----------
    context : ndarray of shape (n_heads,)
        The decayed sum of the turns' weighted linear scores.
    recent : list of ndarray
        With a history window: the weighted linear scores of the last turns, oldest first.
    raised : list of str
        Dialogue labels raised so far, in order.
    """

    context: np.ndarray
    recent: list[np.ndarray] = field(default_factory=list)
    raised: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (JSON keeps every float exactly)."""
        return {
            "format": _STATE_FORMAT,
            "context": [float(x) for x in self.context],
            "recent": [[float(x) for x in v] for v in self.recent],
            "raised": list(self.raised),
        }


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(q / (1 - q))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _text_problem(text: str) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return "empty text"
    if len(text) > MAX_CHARS:
        return f"text has {len(text)} characters; the limit is {MAX_CHARS}"
    return None


def _confirm_of(post: str) -> str:
    confirm = post_to_confirm(post)
    if confirm is None:
        raise ValueError(f"{post!r} has no confirm label")
    return confirm.value


def _model_folder(spec: str) -> Path:
    name = spec.split(":", 1)[1] if spec.startswith("local:") else "fast"
    shipped = {"default": default_model_path, "fast": fast_model_path}
    return shipped[name]() if name in shipped else Path(name).expanduser()


def raise_new_labels(
    raised: list[str], scores: Mapping[str, float], thresholds: np.ndarray, confirms: list[str], level: float, alert_threshold: float
) -> Prediction:
    """The labels a user turn newly raises, shared by the local turn detectors (updates ``raised``).

    A confirm fires when its score reaches its threshold and the clinical rules, applied to
    everything raised so far, keep it; each label is raised once. An alert (the frame with the
    higher alert score) is raised once, before any confirm, when ``level`` reaches
    ``alert_threshold`` (below 1) on a turn that confirms nothing.

    Parameters
    ----------
    raised : list of str
        Labels raised so far in the conversation, in order; extended in place.
    scores : mapping
        The 16 dialogue label scores of the turn.
    thresholds : ndarray
        Confirm threshold of each label in ``confirms``.
    confirms : list of str
        The confirm labels, in the order of ``thresholds``.
    level, alert_threshold : float

    Returns
    -------
    Prediction
        The new labels (in schema order) and the scores rounded to 6 decimals.
    """
    done = set(raised)
    fired = [c for c, t in zip(confirms, thresholds, strict=True) if scores[c] >= t]
    new: list[str] = []
    if fired:
        post_of = {c: _POST_OF_CONFIRM[c] for c in confirms}
        before = [post_of[x] for x in raised if x in post_of]
        kept = {x.value for x in apply_clinical_rules([*before, *(post_of[c] for c in fired)]).labels}
        new = [c for c in fired if post_of[c] in kept and c not in done]
    confirmed = bool(new) or any(x.startswith("confirm_") for x in done)
    alerted = any(x.startswith("alert_") for x in done)
    if not confirmed and not alerted and alert_threshold < 1.0 and level >= alert_threshold:
        new.append("alert_ongoing" if scores["alert_ongoing"] >= scores["alert_past"] else "alert_past")
    new.sort(key=_ORDER.__getitem__)
    raised.extend(new)
    return Prediction(labels=tuple(new), status=Status.OK, scores={k: round(v, 6) for k, v in scores.items()})


class ConfirmTurnDetector:
    """What the two local turn detectors share: confirm thresholds and the manifest record.

    Subclasses set ``spec``, ``settings``, ``history_window``, ``_confirm`` (the confirm labels)
    and ``_thresholds`` (their thresholds, in the same order).
    """

    spec: str
    settings: Any
    history_window: int | None
    _confirm: list[str]
    _thresholds: np.ndarray

    @property
    def confirm_thresholds(self) -> dict[str, float]:
        """The score each confirm label must reach, by label."""
        return {c: float(t) for c, t in zip(self._confirm, self._thresholds, strict=True)}

    def describe(self, kind: str = "turn") -> dict[str, Any]:
        """What a run manifest records about this detector (compared when a run resumes)."""
        return {
            "spec": self.spec,
            "dialogue_settings": {k: v for k, v in self.settings.to_dict().items() if k != "meta"},
            "history_window": self.history_window,
        }


class LocalTurnDetector(ConfirmTurnDetector):
    """Alert-Confirm labels for the user turns of a dialogue, from the local post model.

    Satisfies :class:`cradle.detectors.TurnDetector` and the incremental interface of the
    dialogue monitor (:meth:`start`, :meth:`step`, :meth:`restore`).

    Parameters
    ----------
    detector : LocalDetector
        The post detector whose model scores every turn.
    settings : DialogueSettings, optional
        Defaults to the ``dialogue.json`` of the model folder named by the detector's spec
        (``local:fast``: the packaged TF-IDF model), else :data:`DEFAULT_SETTINGS`.
    history_window : int, optional
        When given, the context holds only the current turn and the ``history_window`` turns
        (of either speaker) before it.

    Raises
    ------
    ValueError
        For a negative or non-integer ``history_window``, or an unreadable ``dialogue.json``.

    Examples
    --------
    >>> from cradle.data import Dialogue, Turn
    >>> det = LocalTurnDetector(LocalDetector.load("fast"))
    >>> d = Dialogue("d0", (Turn(0, "user", "hey, got a minute?"), Turn(1, "listener", "of course, what's up"),
    ...                     Turn(2, "user", "I cut my arm again last night, I can't stop doing it")))
    >>> [p.labels for p in det.predict_dialogue(d)]
    [(), ('confirm_SH_ongoing',)]
    """

    def __init__(
        self, detector: LocalDetector, settings: DialogueSettings | None = None, *, history_window: int | None = None
    ) -> None:
        if history_window is not None and (
            isinstance(history_window, bool) or not isinstance(history_window, int) or history_window < 0
        ):
            raise ValueError(f"history_window must be a non-negative integer or None; got {history_window!r}")
        self.detector = detector
        self.model = detector.model
        self.spec = detector.spec
        self.history_window = history_window
        self.settings = settings if settings is not None else DialogueSettings.load(_model_folder(detector.spec))
        labels = list(self.model.labels)
        self._crisis = [j for j, lab in enumerate(labels) if lab != PostLabel.NO_CRISIS.value]
        self._post = [labels[j] for j in self._crisis]
        self._confirm = [_confirm_of(lab) for lab in self._post]
        self._ongoing = np.array([PostLabel(lab).time_frame is TimeFrame.ONGOING for lab in self._post])
        thresholds = np.asarray(self.model.thresholds, dtype=float)[self._crisis]
        self._thresholds = _sigmoid(_logit(thresholds) + self.settings.confirm_shift)
        self._n_heads = int(self.model.coef.shape[1])

    def __repr__(self) -> str:
        return f"LocalTurnDetector({self.spec!r}, {self.settings!r}, history_window={self.history_window})"

    # -- incremental interface ----------------------------------------------------------------

    def start(self) -> LocalTurnState:
        """The state of a conversation that has not started."""
        return LocalTurnState(np.zeros(self._n_heads))

    def restore(self, data: Mapping[str, Any]) -> LocalTurnState:
        """Rebuild a state from :meth:`LocalTurnState.to_dict`.

        Raises
        ------
        ValueError
            When ``data`` is no state of this model (other format, other number of heads, an
            unknown label).
        """
        if not isinstance(data, Mapping) or data.get("format") != _STATE_FORMAT:
            raise ValueError(f"not a local turn state (expected format {_STATE_FORMAT!r})")
        try:
            context = np.array([float(x) for x in data["context"]])
            recent = [np.array([float(x) for x in v]) for v in data.get("recent", [])]
            raised = [str(x) for x in data.get("raised", [])]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed local turn state: {exc!r}") from None
        if context.shape != (self._n_heads,) or any(v.shape != (self._n_heads,) for v in recent):
            raise ValueError(f"the state holds vectors of another model (this model has {self._n_heads} heads)")
        unknown = [x for x in raised if x not in _ORDER]
        if unknown:
            raise ValueError(f"the state names unknown dialogue label(s) {unknown}")
        return LocalTurnState(context, recent, raised)

    def step(self, state: LocalTurnState, turn: Turn) -> Prediction | None:
        """Advance ``state`` by one turn.

        Parameters
        ----------
        state : LocalTurnState
            Updated in place.
        turn : Turn

        Returns
        -------
        Prediction or None
            ``None`` for a listener turn; for a user turn, the labels newly raised and the
            scores of the 16 dialogue labels. An empty or over-long user turn gets status
            ``invalid`` and leaves the state unchanged.
        """
        if not turn.is_user:
            weight = self.settings.listener_weight
            if weight and not _text_problem(turn.text):
                self._push(state, weight * self.model.linear_scores([turn.text])[0])
            else:
                self._push(state, np.zeros(self._n_heads))
            return None
        problem = _text_problem(turn.text)
        if problem:
            return Prediction(status=Status.INVALID, reason=problem)
        self._push(state, self.model.linear_scores([turn.text])[0])
        return self._decide(state)

    def predict_dialogue(self, dialogue: Dialogue) -> list[Prediction]:
        """One prediction per user turn, each from the turns up to it.

        Returns
        -------
        list of Prediction
            In order, with ids ``"<dialogue id>:<turn_id>"``; the labels are those newly raised
            at the turn.
        """
        state = self.start()
        out: list[Prediction] = []
        for turn in dialogue.turns:
            pred = self.step(state, turn)
            if pred is not None:
                out.append(pred.with_id(dialogue.item_id(turn)))
        return out

    def scores(self, context: np.ndarray) -> dict[str, float]:
        """The 16 dialogue label scores of a context vector.

        A confirm label scores the calibrated probability of its post label. ``alert_f``
        scores ``min(1, max_j p_j / t_j)`` over the crisis labels ``j`` of time frame ``f``:
        how close the nearest confirm of that frame is to its threshold ``t_j``.
        """
        p = self.model.calibrate(np.asarray(context, dtype=float)[None, :])[0]
        crisis = p[self._crisis]
        approach = crisis / self._thresholds
        out = {
            "alert_ongoing": min(1.0, float(approach[self._ongoing].max())),
            "alert_past": min(1.0, float(approach[~self._ongoing].max())),
        }
        out.update({c: float(x) for c, x in zip(self._confirm, crisis, strict=True)})
        return {x.value: out[x.value] for x in DIALOGUE_LABELS}

    # -- internals ----------------------------------------------------------------------------

    def _push(self, state: LocalTurnState, vec: np.ndarray) -> None:
        decay = self.settings.decay
        if self.history_window is None:
            state.context = decay * state.context + vec
            return
        state.recent.append(vec)
        del state.recent[: max(0, len(state.recent) - (self.history_window + 1))]
        context = np.zeros(self._n_heads)
        for v in state.recent:  # oldest first: the same recurrence, over the window only
            context = decay * context + v
        state.context = context

    def _decide(self, state: LocalTurnState) -> Prediction:
        scores = self.scores(state.context)
        level = max(scores["alert_ongoing"], scores["alert_past"])
        return raise_new_labels(state.raised, scores, self._thresholds, self._confirm, level, self.settings.alert_threshold)
