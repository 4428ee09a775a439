"""The JSON API: ``/v1/detect`` and ``/v1/conversations``, with its request and answer models.

Request models are built for the limits the service runs with (:func:`build_api_router`), so
that the OpenAPI schema states the same ``maxLength`` and ``maxItems`` that the service
enforces. Routes are plain functions: FastAPI runs them in its worker threads, which suits the
CPU-bound detectors. Turns of one conversation are processed one at a time (a lock per
conversation, plus a version check in :class:`~cradle.interfaces.service.storage.ConversationStore`
when several processes share the database).
"""

# No ``from __future__ import annotations`` here: FastAPI reads the route annotations at runtime,
# and the request models are local to build_api_router.

import threading
import zlib
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cradle.data import Prediction
from cradle.interfaces.service.auth import check_bearer
from cradle.interfaces.service.errors import ErrorResponse, ServiceError
from cradle.interfaces.service.storage import ConcurrentUpdateError, ConversationRecord, ConversationStore

__all__ = [
    "ServiceLimits",
    "DetectResult",
    "DetectResponse",
    "EventOut",
    "TurnResponse",
    "ConversationState",
    "CONVERSATION_ID_PATTERN",
    "build_api_router",
]

#: Conversation ids: 1 to 128 letters, digits, ``.``, ``_``, ``:`` or ``-``, not dots alone
#: (``.`` and ``..`` are path segments that URLs resolve away, so such a conversation could not be
#: addressed).
CONVERSATION_ID_PATTERN = r"^[A-Za-z0-9._:-]*[A-Za-z0-9_:-][A-Za-z0-9._:-]*$"
_STATUSES = Literal["ok", "invalid", "blocked", "error", "disagreement"]


@dataclass(frozen=True)
class ServiceLimits:
    """What one request may carry.

    Attributes
    ----------
    max_body_bytes : int, default=2 MiB
        Larger bodies get 413.
    max_text_chars : int, default=50,000
        Longer texts get 422.
    max_texts : int, default=64
        More texts in one ``/v1/detect`` call get 422.
    history_window : int or None, default=None
        Turns of history the conversation monitor keeps (``None``: all).
    """

    max_body_bytes: int = 2 * 1024 * 1024
    max_text_chars: int = 50_000
    max_texts: int = 64
    history_window: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_text_chars", "max_texts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)}")
        if self.history_window is not None and self.history_window < 1:
            raise ValueError(f"history_window must be at least 1 or None; got {self.history_window}")


class DetectResult(BaseModel):
    """The detector's answer for one text."""

    labels: list[str] = Field(description="Canonical post labels (empty unless status is ok).")
    scores: dict[str, float] | None = Field(default=None, description="Per-label scores in [0, 1] where the engine has them.")
    status: _STATUSES = Field(description="ok, or why there is no label: invalid, blocked, error.")
    reason: str | None = Field(default=None, description="Why the status is not ok.")


class DetectResponse(BaseModel):
    """Answers in the order of the input texts."""

    model: str = Field(description="The detector spec that answered.")
    results: list[DetectResult]


class EventOut(BaseModel):
    """A label raised in a conversation, at the turn where it first appeared."""

    label: str = Field(description="A dialogue label such as alert_ongoing or confirm_SI_active_ongoing.")
    turn: int = Field(description="The turn (0-based, user and listener turns counted) that raised it.")
    score: float | None = Field(default=None, description="The detector's score, where it has one.")


class TurnResponse(BaseModel):
    """The turn number given to the new turn and the events it raised."""

    conversation_id: str
    turn: int = Field(description="0-based number of this turn in the conversation.")
    events: list[EventOut] = Field(description="Events raised at this turn (usually none).")


class ConversationState(BaseModel):
    """A conversation so far. Texts are not sent back."""

    conversation_id: str
    n_turns: int
    events: list[EventOut] = Field(description="Every event so far, in the order raised.")
    labels: list[str] = Field(description="The distinct labels raised so far.")
    created_at: str
    updated_at: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The body is not valid JSON."},
    413: {"model": ErrorResponse, "description": "The body is larger than the service accepts."},
    415: {"model": ErrorResponse, "description": "The body is not sent as application/json."},
    422: {"model": ErrorResponse, "description": "The body or a path parameter breaks the schema (e.g. a text too long)."},
}
_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorResponse, "description": "Missing or wrong bearer token."}}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse, "description": "No conversation with this id."}}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorResponse,
        "description": "Another process wrote this conversation meanwhile (resend the turn), or it was started with another model.",
    }
}


def _result(p: Prediction) -> DetectResult:
    return DetectResult(labels=list(p.labels), scores=p.scores, status=p.status.value, reason=p.reason or None)  # type: ignore[arg-type]


def _events(raw: list[dict[str, Any]]) -> list[EventOut]:
    return [EventOut(**e) for e in raw]


def _state(record: ConversationRecord) -> ConversationState:
    events = _events(record.events)
    labels: list[str] = []
    for e in events:
        if e.label not in labels:
            labels.append(e.label)
    return ConversationState(
        conversation_id=record.id,
        n_turns=record.n_turns,
        events=events,
        labels=labels,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def build_api_router(detector: Any, store: ConversationStore, limits: ServiceLimits, token: str | None) -> APIRouter:
    """The ``/v1`` routes for one detector, one store and one set of limits.

    Parameters
    ----------
    detector : Detector
        Anything with ``spec`` and ``predict(texts) -> list[Prediction]``.
    store : ConversationStore
    limits : ServiceLimits
    token : str or None
        When set, every route needs ``Authorization: Bearer <token>``.

    Returns
    -------
    fastapi.APIRouter
    """
    from cradle.pipelines.monitor import DialogueMonitor, MonitorStateError

    text_type = Annotated[str, StringConstraints(max_length=limits.max_text_chars)]
    turn_text_type = Annotated[str, StringConstraints(min_length=1, max_length=limits.max_text_chars)]

    class DetectRequest(BaseModel):
        """Texts to label (posts, messages, journal entries)."""

        model_config = ConfigDict(extra="forbid")
        texts: list[text_type] = Field(min_length=1, max_length=limits.max_texts)  # type: ignore[valid-type]

    class TurnRequest(BaseModel):
        """One message of a conversation."""

        model_config = ConfigDict(extra="forbid")
        speaker: Literal["user", "listener"]
        text: turn_text_type  # type: ignore[valid-type]

    dependencies = []
    errors = dict(_ERRORS)
    if token is not None:
        bearer = HTTPBearer(auto_error=False, description="The service's API token.")

        def require_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
            if credentials is None:
                raise ServiceError(
                    401,
                    "this API needs a bearer token: send the header 'Authorization: Bearer <token>'",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            if not check_bearer(f"Bearer {credentials.credentials}", token):
                raise ServiceError(
                    401, "the bearer token is not valid", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
                )

        dependencies.append(Depends(require_token))
        errors.update(_AUTH_ERRORS)

    router = APIRouter(prefix="/v1", dependencies=dependencies, responses=errors)
    locks = [threading.Lock() for _ in range(64)]
    conversation_id_type = Annotated[
        str,
        Path(
            pattern=CONVERSATION_ID_PATTERN,
            min_length=1,
            max_length=128,
            description="Chosen by the client: 1-128 of A-Z a-z 0-9 . _ : -, not dots alone",
        ),
    ]

    @router.post("/detect", response_model=DetectResponse, tags=["detection"], summary="Label texts")
    def detect(body: DetectRequest) -> DetectResponse:
        """Label each text with the post schema (15 labels); answers keep the input order."""
        predictions = detector.predict(list(body.texts))
        if len(predictions) != len(body.texts):
            raise RuntimeError(f"the detector returned {len(predictions)} predictions for {len(body.texts)} texts")
        return DetectResponse(model=detector.spec, results=[_result(p) for p in predictions])

    @router.post(
        "/conversations/{conversation_id}/turns",
        response_model=TurnResponse,
        tags=["conversations"],
        summary="Add a turn and get the events it raises",
        responses=_CONFLICT,
    )
    def add_turn(conversation_id: conversation_id_type, body: TurnRequest) -> TurnResponse:
        """Append a turn (creating the conversation on its first turn), run the monitor, store the state."""
        with locks[zlib.crc32(conversation_id.encode()) % len(locks)]:
            record = store.load(conversation_id)
            if record is None:
                monitor = DialogueMonitor(detector, history_window=limits.history_window)
                version, past = 0, []
            else:
                try:
                    monitor = DialogueMonitor.from_state(detector, record.state)
                except MonitorStateError as exc:
                    raise ServiceError(
                        409, f"conversation {conversation_id!r} cannot be continued by this service: {exc}"
                    ) from None
                version, past = record.version, record.events
            raised = monitor.observe_text(body.speaker, body.text)
            new = [
                {"label": str(e.label), "turn": int(e.turn), "score": None if e.score is None else float(e.score)} for e in raised
            ]
            try:
                store.save(conversation_id, monitor.state_dict(), monitor.n_turns, past + new, expected_version=version)
            except ConcurrentUpdateError as exc:
                raise ServiceError(409, str(exc)) from None
        return TurnResponse(conversation_id=conversation_id, turn=monitor.n_turns - 1, events=_events(new))

    @router.get(
        "/conversations/{conversation_id}",
        response_model=ConversationState,
        tags=["conversations"],
        summary="A conversation's state and events so far",
        responses=_NOT_FOUND,
    )
    def get_conversation(conversation_id: conversation_id_type) -> ConversationState:
        """Turn count, events and labels so far (the texts are not sent back)."""
        record = store.load(conversation_id)
        if record is None:
            raise ServiceError(404, f"no conversation {conversation_id!r}; it starts with its first POST .../turns")
        return _state(record)

    @router.delete(
        "/conversations/{conversation_id}",
        status_code=204,
        tags=["conversations"],
        summary="Delete a conversation and its stored turns",
        responses=_NOT_FOUND,
    )
    def delete_conversation(conversation_id: conversation_id_type) -> Response:
        """Erase the conversation from the database (its turns, state and events)."""
        if not store.delete(conversation_id):
            raise ServiceError(404, f"no conversation {conversation_id!r}")
        return Response(status_code=204)

    return router
