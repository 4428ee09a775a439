"""The application factory of ``cradle serve``: the JSON API, the review page and ``/healthz``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from cradle import __version__
from cradle.interfaces.service.api import ServiceLimits, build_api_router
from cradle.interfaces.service.auth import MIN_TOKEN_LENGTH, AuthConfigError
from cradle.interfaces.service.errors import install_error_handlers
from cradle.interfaces.service.middleware import AccessLogMiddleware, BodyLimitMiddleware, SecurityHeadersMiddleware
from cradle.interfaces.service.review import STATIC_DIR, build_review_router, templates
from cradle.interfaces.service.review_store import ReviewStore
from cradle.interfaces.service.storage import ConversationStore

__all__ = ["create_app", "default_db_path", "Health"]

log = logging.getLogger("cradle.service")

_DESCRIPTION = """Detect mental-health crises and safety risks in texts and conversations.

- `POST /v1/detect` labels texts with the 15 CRADLE Bench post labels.
- `POST /v1/conversations/{id}/turns` adds a turn to a conversation and returns the Alert-Confirm
  events it raises; `GET /v1/conversations/{id}` gives the state so far.

Texts are never logged. Errors are `{"error": {"code", "message", "details"?}}`.
"""


class Health(BaseModel):
    """The answer of ``GET /healthz``."""

    status: Literal["ok"]
    model: str
    version: str


def default_db_path() -> Path:
    """Where the service keeps its SQLite file when ``--db`` is not given (the user data folder)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("cradle", appauthor=False)) / "service.db"


def create_app(
    model_spec: str = "local:default",
    db_path: str | Path | None = None,
    token: str | None = None,
    *,
    detector: Any = None,
    limits: ServiceLimits | None = None,
    review: bool = True,
    session_max_age_s: int = 12 * 3600,
) -> FastAPI:
    """Build the service.

    Parameters
    ----------
    model_spec : str, default="local:default"
        The detector spec (see :func:`cradle.detectors.load_detector`); ignored when
        ``detector`` is given.
    db_path : path, optional
        SQLite file for conversations and the review queue (default: :func:`default_db_path`).
    token : str, optional
        When set, every ``/v1`` route needs ``Authorization: Bearer <token>``. Whether a token
        is *required* depends on the address the server listens on: see
        :func:`cradle.interfaces.service.auth.check_bind`.
    detector : Detector, optional
        A ready detector (anything with ``spec`` and ``predict(texts)``).
    limits : ServiceLimits, optional
        Body size, text length, texts per call, conversation history window.
    review : bool, default=True
        Serve the review pages under ``/review``.
    session_max_age_s : int, default=43200
        How long a reviewer's sign-in lasts.

    Returns
    -------
    fastapi.FastAPI

    Raises
    ------
    cradle.detectors.SpecError
        For a bad model spec.
    cradle.interfaces.service.auth.AuthConfigError
        For a token shorter than 16 characters.

    Examples
    --------
    >>> import tempfile, os
    >>> from fastapi.testclient import TestClient
    >>> app = create_app(db_path=os.path.join(tempfile.mkdtemp(), "s.db"))
    >>> client = TestClient(app)
    >>> client.post("/v1/detect", json={"texts": ["exams are killing me lol"]}).json()["results"][0]["labels"]
    ['no_crisis']
    """
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise AuthConfigError(f"the API token has {len(token)} characters; use at least {MIN_TOKEN_LENGTH}")
    limits = limits or ServiceLimits()
    if detector is None:
        from cradle.detectors import load_detector

        detector = load_detector(model_spec)
    db = Path(db_path).expanduser() if db_path is not None else default_db_path()
    conversations = ConversationStore(db)

    app = FastAPI(
        title="cradle",
        version=__version__,
        description=_DESCRIPTION,
        docs_url=None,  # the interactive docs load their script from a CDN; the schema is at /openapi.json
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.templates = templates
    app.state.detector = detector
    app.state.db_path = db
    install_error_handlers(app)
    app.include_router(build_api_router(detector, conversations, limits, token))

    @app.get("/healthz", response_model=Health, tags=["service"], summary="Liveness and the model in use")
    def healthz() -> Health:
        """Answers without a token: ``{"status": "ok", "model", "version"}``."""
        return Health(status="ok", model=str(getattr(detector, "spec", type(detector).__name__)), version=__version__)

    if review:
        app.include_router(build_review_router(ReviewStore(db), session_max_age_s=session_max_age_s))
        app.mount("/review/static", StaticFiles(directory=str(STATIC_DIR)), name="review-static")

    # Added last = outermost: the access log sees every answer, the 413s included.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=limits.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(AccessLogMiddleware)
    log.info(
        "service ready: model %s, database %s, token %s", getattr(detector, "spec", "?"), db, "required" if token else "not set"
    )
    return app
