"""Watch a live conversation and raise Alert-Confirm labels as they appear.

:class:`DialogueMonitor` takes one turn at a time (:meth:`DialogueMonitor.observe`) and returns
the :class:`Event` objects raised at that turn: each label at most once per conversation, at
the user turn where it first appears (an alert may come first and a confirm later). Listener
turns are context and never raise anything. The monitor's state is a small JSON object
(:meth:`DialogueMonitor.state_dict`) from which :meth:`DialogueMonitor.from_state` rebuilds
it, e.g. in another process of a service.

What a turn costs depends on the engine (:func:`turn_detector_for` picks the turn detector):

- ``local:default`` (:class:`~cradle.detectors.encoder_dialogue.EncoderTurnDetector`): each
  user turn is encoded once, on its own, and scored first on its own words, with a recency
  weighted summary of earlier user turns (a vector of 15 numbers) as context (alerts from the
  same scores, or from a small warning-sign model where ``dialogue.json`` says so);
  ``local:fast``
  (:class:`~cradle.detectors.local_dialogue.LocalTurnDetector`) folds each turn into a context
  vector of fixed size. Either way the cost of a turn and the size of the state do not grow with
  the conversation, and the state holds no text.
- LLM engines (:class:`HistoryTurnDetector` around an
  :class:`~cradle.detectors.llm.LLMDetector`): every user turn is one request whose prompt is
  the engine's turn-level template (``--prompt-file`` included) filled with the conversation so
  far. The prompt, hence the price and latency of a turn, grows linearly with the number of
  earlier messages, and a whole conversation costs quadratically in its length; the state
  keeps those messages (raw text: store it as carefully as the conversation).
  ``history_window=N`` keeps only the ``N`` latest earlier messages, which bounds both.
- Any other detector: through its ``predict_dialogue`` (the window is given as the dialogue,
  and its last prediction is kept) or, with only ``predict(texts)``, one post prediction per
  user turn whose crisis labels become confirms.

Replaying a recorded dialogue through a monitor yields exactly the labels of
``turn_detector_for(detector).predict_dialogue(dialogue)`` (the batch path), because both run
the same steps; for an LLM this holds whenever the model answers the same request the same way
(temperature 0 and the response cache).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from cradle.data import Dialogue, Prediction, Status, Turn
from cradle.labels import DIALOGUE_LABELS, UnknownLabelError, normalize_dialogue_label, normalize_post_label, post_to_confirm

__all__ = [
    "Event",
    "StepTurnDetector",
    "HistoryState",
    "HistoryTurnDetector",
    "DialogueMonitor",
    "MonitorStateError",
    "turn_detector_for",
    "first_mentions",
]

_STATE_FORMAT = "cradle-monitor"
_STATE_VERSION = 1
_HISTORY_FORMAT = "cradle-history-state"
_ORDER = {x.value: k for k, x in enumerate(DIALOGUE_LABELS)}


class MonitorStateError(ValueError):
    """A monitor state that cannot be restored (other format, other detector, malformed)."""


@dataclass(frozen=True)
class Event:
    """One label raised by a monitor.

    Attributes
    ----------
    label : str
        A dialogue label, e.g. ``"alert_ongoing"`` or ``"confirm_SH_past"``.
    turn : int
        The ``turn_id`` of the user turn where it was raised.
    score : float or None
        The engine's score of the label at that turn, when it has one.

    Examples
    --------
    >>> Event.from_dict(Event("confirm_DV_ongoing", 4, 0.93).to_dict())
    Event(label='confirm_DV_ongoing', turn=4, score=0.93)
    """

    label: str
    turn: int
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"label", "turn", "score"}``."""
        return {"label": self.label, "turn": self.turn, "score": self.score}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """Rebuild an event from :meth:`to_dict`."""
        score = data.get("score")
        return cls(str(data["label"]), int(data["turn"]), None if score is None else float(score))


@runtime_checkable
class StepTurnDetector(Protocol):
    """A turn detector that can be driven one turn at a time.

    ``start`` makes the state of a new conversation (an object with ``to_dict()``), ``step``
    advances it by one turn in place and returns the prediction of a user turn (``None`` for
    a listener turn) whose labels are those newly raised, ``restore`` rebuilds a state from
    ``to_dict()``, and ``predict_dialogue`` is the batch path over a recorded dialogue.
    """

    spec: str

    def start(self) -> Any: ...

    def step(self, state: Any, turn: Turn) -> Prediction | None: ...

    def restore(self, data: Mapping[str, Any]) -> Any: ...

    def predict_dialogue(self, dialogue: Dialogue) -> list[Prediction]: ...


def first_mentions(predictions: Sequence[Prediction], raised: Sequence[str] = ()) -> list[Prediction]:
    """Keep each label only at its first appearance in a dialogue's turn predictions.

    Parameters
    ----------
    predictions : sequence of Prediction
        The user-turn predictions of one dialogue, in order.
    raised : sequence of str
        Labels already raised before the first of them.

    Returns
    -------
    list of Prediction
        Copies whose labels drop everything raised by an earlier turn; non-``ok`` predictions
        are kept as they are and raise nothing.

    Examples
    --------
    >>> ps = [Prediction(labels=("alert_past",)), Prediction(labels=("alert_past", "confirm_RA_past"))]
    >>> [p.labels for p in first_mentions(ps)]
    [('alert_past',), ('confirm_RA_past',)]
    """
    seen = set(raised)
    out: list[Prediction] = []
    for p in predictions:
        if not p.ok:
            out.append(p)
            continue
        new = tuple(x for x in p.labels if x not in seen)
        seen.update(new)
        out.append(p if new == p.labels else _with_labels(p, new))
    return out


def _with_labels(p: Prediction, labels: tuple[str, ...]) -> Prediction:
    return Prediction(
        labels=labels, status=p.status, scores=p.scores, raw=p.raw, reason=p.reason, usage=p.usage, id=p.id, extra=dict(p.extra)
    )


@dataclass
class HistoryState:
    """The state of a :class:`HistoryTurnDetector`: the messages it keeps and the labels raised.

    Attributes
    ----------
    turns : list of Turn
        Earlier messages (the latest ``history_window`` of them when a window is set; none for a
        detector that does not read the history).
    raised : list of str
        Labels raised so far, in order.
    """

    turns: list[Turn] = field(default_factory=list)
    raised: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (holds the kept messages' text)."""
        return {
            "format": _HISTORY_FORMAT,
            "turns": [{"turn_id": t.turn_id, "speaker": t.speaker, "text": t.text} for t in self.turns],
            "raised": list(self.raised),
        }


def _as_dialogue_labels(labels: Sequence[str], schema: str) -> tuple[str, ...]:
    """Canonical dialogue labels in schema order; for ``schema="post"`` crisis labels become
    confirms and ``no_crisis`` is dropped.

    Raises
    ------
    UnknownLabelError
        For a string that is no label of ``schema``.
    """
    out: set[str] = set()
    for lab in labels:
        if schema == "dialogue":
            out.add(normalize_dialogue_label(lab).value)
        else:
            confirm = post_to_confirm(normalize_post_label(lab))
            if confirm is not None:
                out.add(confirm.value)
    return tuple(sorted(out, key=_ORDER.__getitem__))


class HistoryTurnDetector:
    """Turn labels from any detector that reads a conversation's history, one request per turn.

    Parameters
    ----------
    detector : object
        An :class:`~cradle.detectors.llm.LLMDetector` (anything with ``request_for_turn`` and
        ``aresolve``), a detector with ``predict_dialogue``, or a post detector with
        ``predict(texts)`` (each user turn is then labelled alone; its crisis labels become
        confirm labels and ``no_crisis`` raises nothing).
    history_window : int, optional
        Most earlier messages shown with a user turn (``None``: all of them).

    Raises
    ------
    TypeError
        When ``detector`` can label neither turns nor posts.
    ValueError
        For a negative ``history_window``.
    """

    def __init__(self, detector: Any, *, history_window: int | None = None) -> None:
        if history_window is not None and (
            isinstance(history_window, bool) or not isinstance(history_window, int) or history_window < 0
        ):
            raise ValueError(f"history_window must be a non-negative integer or None; got {history_window!r}")
        if callable(getattr(detector, "request_for_turn", None)) and callable(getattr(detector, "aresolve", None)):
            self.mode = "llm"
        elif callable(getattr(detector, "predict_dialogue", None)):
            self.mode = "dialogue"
        elif callable(getattr(detector, "predict", None)):
            self.mode = "post"
        else:
            raise TypeError(
                f"{type(detector).__name__} has neither predict_dialogue(dialogue) nor predict(texts): it cannot label dialogue turns"
            )
        self.detector = detector
        self.spec: str = getattr(detector, "spec", type(detector).__name__)
        self.history_window = history_window

    def __repr__(self) -> str:
        return f"HistoryTurnDetector({self.spec!r}, mode={self.mode!r}, history_window={self.history_window})"

    def describe(self, kind: str = "turn") -> dict[str, Any]:
        """What a run manifest records about this detector."""
        inner = self.detector.describe(kind) if callable(getattr(self.detector, "describe", None)) else {"spec": self.spec}
        return {**inner, "history_window": self.history_window, "first_mentions": True}

    def start(self) -> HistoryState:
        """The state of a conversation that has not started."""
        return HistoryState()

    def restore(self, data: Mapping[str, Any]) -> HistoryState:
        """Rebuild a state from :meth:`HistoryState.to_dict`.

        Raises
        ------
        ValueError
            When ``data`` is not such a state.
        """
        if not isinstance(data, Mapping) or data.get("format") != _HISTORY_FORMAT:
            raise ValueError(f"not a history state (expected format {_HISTORY_FORMAT!r})")
        try:
            turns = [Turn(int(t["turn_id"]), _speaker(t["speaker"]), str(t["text"])) for t in data.get("turns", [])]
            raised = [normalize_dialogue_label(str(x)).value for x in data.get("raised", [])]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed history state: {exc}") from None
        return HistoryState(turns, raised)

    def _window(self, earlier: Sequence[Turn]) -> list[Turn]:
        if self.history_window is None:
            return list(earlier)
        return list(earlier[len(earlier) - self.history_window :]) if self.history_window else []

    def step(self, state: HistoryState, turn: Turn) -> Prediction | None:
        """Advance ``state`` by one turn; one model call for a user turn, none for a listener turn.

        Returns
        -------
        Prediction or None
            ``None`` for a listener turn; else the turn's prediction with only the labels not
            raised before. A failed call gives a non-``ok`` prediction that raises nothing.
        """
        raw = self._raw_step(state, turn)
        if raw is None:
            return None
        pred = first_mentions([raw], state.raised)[0]
        if pred.ok:
            state.raised.extend(pred.labels)
        return pred

    def predict_dialogue(self, dialogue: Dialogue) -> list[Prediction]:
        """One prediction per user turn, as :meth:`step` would give them one by one.

        LLM requests of one dialogue are sent concurrently (they do not depend on each other)
        with the detector's own concurrency and response cache.
        """
        users = dialogue.user_turns
        if self.mode == "llm":
            histories = [[*self._window(dialogue.history(t.turn_id)[:-1]), Turn(t.turn_id, t.speaker, t.text)] for t in users]
            raw = _run(self._llm_many(histories))
        else:
            state = self.start()
            raw = []
            for t in dialogue.turns:
                p = self._raw_step(state, t)
                if p is not None:
                    raw.append(p)
        return [p.with_id(dialogue.item_id(t)) for p, t in zip(first_mentions(raw), users, strict=True)]

    # -- internals ----------------------------------------------------------------------------

    def _raw_step(self, state: HistoryState, turn: Turn) -> Prediction | None:
        plain = Turn(turn.turn_id, turn.speaker, turn.text)
        pred = self._label([*self._window(state.turns), plain]) if turn.is_user else None
        if self.mode != "post":
            state.turns = self._window([*state.turns, plain])
        return pred

    def _label(self, history: list[Turn]) -> Prediction:
        if self.mode == "llm":
            return _run(self._llm_many([history]))[0]
        try:
            if self.mode == "dialogue":
                pred = self.detector.predict_dialogue(Dialogue("monitor", tuple(history)))[-1]
            else:
                pred = self.detector.predict([history[-1].text])[0]
        except Exception as exc:  # one failed turn is a prediction with status error, as in the runner
            return Prediction(status=Status.ERROR, reason=f"{type(exc).__name__}: {exc}")
        if not pred.ok:
            return pred
        try:
            labels = _as_dialogue_labels(pred.labels, "dialogue" if self.mode == "dialogue" else "post")
        except UnknownLabelError as exc:
            return Prediction(status=Status.INVALID, reason=str(exc), raw=pred.raw)
        return _with_labels(pred, labels)

    async def _llm_many(self, histories: Sequence[Sequence[Turn]]) -> list[Prediction]:
        from cradle.detectors.calls import SemaphoreGate

        det = self.detector
        requests = [det.request_for_turn(list(h)) for h in histories]
        gate = SemaphoreGate(max(1, int(getattr(det, "concurrency", 1))))
        async with det.open_client() as client:
            results = await asyncio.gather(
                *(det.aresolve(r, "dialogue", client=client, gate=gate, cache=det.cache) for r in requests)
            )
        return [r.prediction for r in results]


def _run(coro: Any) -> Any:
    from cradle.detectors.llm import run_sync

    return run_sync(coro)


def _speaker(value: Any) -> Any:
    s = str(value).strip().lower()
    if s not in ("user", "listener"):
        raise ValueError(f"speaker must be 'user' or 'listener', not {value!r}")
    return s


def turn_detector_for(detector: Any, *, history_window: int | None = None) -> StepTurnDetector:
    """The turn detector that runs ``detector`` over dialogues, for the monitor and batch runs.

    Parameters
    ----------
    detector : object
        Anything :func:`cradle.detectors.load_detector` returns, or a turn detector.
    history_window : int, optional
        Most earlier messages a user turn is labelled with (``None``: all).

    Returns
    -------
    StepTurnDetector
        :class:`~cradle.detectors.encoder_dialogue.EncoderTurnDetector` for the encoder
        (``local:default``), :class:`~cradle.detectors.local_dialogue.LocalTurnDetector` for the
        TF-IDF model (``local:fast``),
        the detector itself when it already is a step turn detector with that window, else a
        :class:`HistoryTurnDetector`.

    Raises
    ------
    TypeError
        When the detector can label neither turns nor posts.

    Examples
    --------
    >>> from cradle.detectors import load_detector
    >>> type(turn_detector_for(load_detector("local:default"))).__name__
    'EncoderTurnDetector'
    >>> type(turn_detector_for(load_detector("local:fast"))).__name__
    'LocalTurnDetector'
    """
    from cradle.detectors.encoder_dialogue import EncoderTurnDetector
    from cradle.detectors.local import EncoderDetector, LocalDetector
    from cradle.detectors.local_dialogue import LocalTurnDetector

    if isinstance(detector, EncoderTurnDetector):
        if detector.history_window == history_window:
            return detector
        return EncoderTurnDetector(detector.detector, detector.settings, history_window=history_window)
    if isinstance(detector, EncoderDetector):
        return EncoderTurnDetector(detector, history_window=history_window)
    if isinstance(detector, LocalTurnDetector):
        if detector.history_window == history_window:
            return detector
        return LocalTurnDetector(detector.detector, detector.settings, history_window=history_window)
    if isinstance(detector, LocalDetector):
        return LocalTurnDetector(detector, history_window=history_window)
    if isinstance(detector, HistoryTurnDetector):
        detector = detector.detector
    elif isinstance(detector, StepTurnDetector) and getattr(detector, "history_window", None) == history_window:
        return detector
    return HistoryTurnDetector(detector, history_window=history_window)


class DialogueMonitor:
    """Raise Alert-Confirm labels over a live conversation, one turn at a time.

    Parameters
    ----------
    detector : object
        Any detector from :func:`cradle.detectors.load_detector` (or a turn detector).
    history_window : int, optional
        Most earlier messages a user turn is judged with (see the module docstring for what it
        saves per engine); ``None`` keeps them all.

    Examples
    --------
    >>> from cradle.detectors import load_detector
    >>> m = DialogueMonitor(load_detector("local:default"))
    >>> m.observe_text("user", "hi, I just need to vent a bit")
    []
    >>> m.observe_text("listener", "sure, I'm here")
    []
    >>> [e.label for e in m.observe_text("user", "I burned my arm with a lighter again tonight, I keep doing it")]
    ['confirm_SH_ongoing']
    >>> again = DialogueMonitor.from_state(load_detector("local:default"), m.state_dict())
    >>> again.n_turns, [e.turn for e in again.events]
    (3, [2])
    """

    def __init__(self, detector: Any, *, history_window: int | None = None) -> None:
        self.detector = detector
        self.history_window = history_window
        self._turns = turn_detector_for(detector, history_window=history_window)
        self._state = self._turns.start()
        self._events: list[Event] = []
        self._n_turns = 0
        self._last_turn_id: int | None = None
        self.last_prediction: Prediction | None = None
        """The prediction of the latest user turn (its status tells a failed call from a quiet turn)."""

    def __repr__(self) -> str:
        return f"DialogueMonitor({self.spec!r}, n_turns={self._n_turns}, events={len(self._events)})"

    @property
    def spec(self) -> str:
        """The spec of the detector."""
        return self._turns.spec

    @property
    def events(self) -> list[Event]:
        """Every event raised so far, in order."""
        return list(self._events)

    @property
    def n_turns(self) -> int:
        """Turns observed so far (both speakers)."""
        return self._n_turns

    @property
    def raised(self) -> list[str]:
        """The labels raised so far, in order."""
        return [e.label for e in self._events]

    def observe(self, turn: Turn) -> list[Event]:
        """Take the next turn of the conversation.

        Parameters
        ----------
        turn : Turn
            Its ``turn_id`` must be greater than the previous one's; gold labels it may carry are
            ignored.

        Returns
        -------
        list of Event
            The labels raised at this turn (always empty for a listener turn).

        Raises
        ------
        TypeError
            When ``turn`` is not a :class:`~cradle.data.Turn`.
        ValueError
            When its ``turn_id`` does not follow the previous one's.
        """
        if not isinstance(turn, Turn):
            raise TypeError(f"observe takes a cradle.data.Turn, not {type(turn).__name__}; use observe_text(speaker, text)")
        if self._last_turn_id is not None and turn.turn_id <= self._last_turn_id:
            raise ValueError(f"turn_id {turn.turn_id} does not follow turn_id {self._last_turn_id}: turns must come in order")
        pred = self._turns.step(self._state, turn)
        self._n_turns += 1
        self._last_turn_id = turn.turn_id
        if pred is None:
            return []
        self.last_prediction = pred
        scores = pred.scores or {}
        events = [Event(lab, turn.turn_id, scores.get(lab)) for lab in pred.labels] if pred.ok else []
        self._events.extend(events)
        return events

    def observe_text(self, speaker: str, text: str) -> list[Event]:
        """Take the next message, numbered after the previous turn (the first gets ``turn_id`` 0).

        Parameters
        ----------
        speaker : {"user", "listener"}
        text : str

        Raises
        ------
        ValueError
            For another speaker.
        """
        turn_id = 0 if self._last_turn_id is None else self._last_turn_id + 1
        return self.observe(Turn(turn_id, _speaker(speaker), text))

    def replay(self, dialogue: Dialogue) -> list[Prediction]:
        """Observe every turn of a recorded dialogue; one prediction per user turn, like the batch path.

        Returns
        -------
        list of Prediction
            With ids ``"<dialogue id>:<turn_id>"`` and the labels raised at each user turn.
        """
        out: list[Prediction] = []
        for t in dialogue.turns:
            events = self.observe(t)
            if t.is_user:
                pred = self.last_prediction or Prediction()
                out.append(_with_labels(pred, tuple(e.label for e in events)).with_id(dialogue.item_id(t)))
        return out

    def state_dict(self) -> dict[str, Any]:
        """The monitor's state as a small JSON-serialisable dict.

        Holds the detector spec, the window, the turn count, the events and the engine's own
        state (a context vector for ``local:``; the kept messages for other engines).
        """
        return {
            "format": _STATE_FORMAT,
            "version": _STATE_VERSION,
            "detector": self.spec,
            "history_window": self.history_window,
            "n_turns": self._n_turns,
            "last_turn_id": self._last_turn_id,
            "events": [e.to_dict() for e in self._events],
            "engine": self._state.to_dict(),
        }

    @classmethod
    def from_state(cls, detector: Any, state: Mapping[str, Any]) -> DialogueMonitor:
        """Rebuild a monitor from :meth:`state_dict` and the same detector.

        Raises
        ------
        MonitorStateError
            When the state has another format or version, was made with another detector spec,
            or is malformed.
        """
        if not isinstance(state, Mapping) or state.get("format") != _STATE_FORMAT:
            raise MonitorStateError(f"not a monitor state (expected format {_STATE_FORMAT!r})")
        if state.get("version") != _STATE_VERSION:
            raise MonitorStateError(
                f"monitor state version {state.get('version')!r}; this package reads version {_STATE_VERSION}"
            )
        window = state.get("history_window")
        if window is not None and (isinstance(window, bool) or not isinstance(window, int)):
            raise MonitorStateError(f"history_window must be an integer or null, not {window!r}")
        monitor = cls(detector, history_window=window)
        if state.get("detector") != monitor.spec:
            raise MonitorStateError(f"the state was made with detector {state.get('detector')!r}, not {monitor.spec!r}")
        try:
            monitor._state = monitor._turns.restore(state["engine"])
            monitor._events = [Event.from_dict(e) for e in state.get("events", [])]
            monitor._n_turns = int(state["n_turns"])
            last = state.get("last_turn_id")
            monitor._last_turn_id = None if last is None else int(last)
        except (KeyError, TypeError, ValueError) as exc:
            raise MonitorStateError(f"malformed monitor state: {exc}") from None
        return monitor
