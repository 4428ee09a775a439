"""``cradle serve``: the HTTP service (JSON API and review page) with uvicorn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from cradle.interfaces.cli._common import UsageFailure, cli_errors, err_console

DEFAULT_TOKEN_ENV = "CRADLE_TOKEN"


def read_token(token_env: str | None) -> str | None:
    """The API token from the environment variable ``token_env`` (default ``CRADLE_TOKEN``).

    A variable named explicitly must be set; the default one may be absent (no token).

    Raises
    ------
    UsageFailure
        When an explicitly named variable is not set or is empty.
    """
    name = token_env or DEFAULT_TOKEN_ENV
    value = os.environ.get(name)
    if token_env and not value:
        raise UsageFailure(f"--token-env names {name}, but that environment variable is not set (or empty)")
    return value or None


def log_config(level: str = "info") -> dict[str, Any]:
    """Logging for uvicorn and the service: one line per record on stderr, no uvicorn access log.

    The service writes its own access log (``cradle.service.access``: method, route template,
    status, milliseconds), which never holds a body, a query string or a conversation id.
    """
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "cradle.service": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


def register(app: typer.Typer) -> None:
    @app.command("serve")
    @cli_errors
    def serve(
        host: Annotated[
            str, typer.Option(help="Address to listen on. Any address other than loopback needs a token.")
        ] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
        model: Annotated[
            str, typer.Option("--model", "-m", help="Detector spec, e.g. local:default or openai:gpt-5.")
        ] = "local:default",
        db: Annotated[
            Optional[Path],
            typer.Option(help="SQLite file for conversations and the review queue (default: the user data folder)."),
        ] = None,
        token_env: Annotated[
            Optional[str],
            typer.Option(
                help=f"Environment variable holding the API token (default {DEFAULT_TOKEN_ENV}). Tokens are never read from the command line."
            ),
        ] = None,
        max_body_bytes: Annotated[int, typer.Option(help="Largest request body; larger ones get 413.", min=1)] = 2 * 1024 * 1024,
        max_text_chars: Annotated[int, typer.Option(help="Longest text; longer ones get 422.", min=1)] = 50_000,
        max_texts: Annotated[int, typer.Option(help="Most texts in one /v1/detect call.", min=1)] = 64,
        history_window: Annotated[
            Optional[int], typer.Option(help="Turns of history the conversation monitor keeps (default: all).", min=1)
        ] = None,
        review: Annotated[bool, typer.Option("--review/--no-review", help="Serve the review page under /review.")] = True,
        log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    ) -> None:
        """Serve the JSON API (/v1/detect, /v1/conversations) and the review page (/review).

        The OpenAPI schema is at /openapi.json, liveness at /healthz. Texts are never logged.
        """
        import logging.config

        import uvicorn

        from cradle.interfaces.service import ServiceLimits, check_bind, create_app

        if log_level.lower() not in ("debug", "info", "warning", "error"):
            raise UsageFailure(f"--log-level must be debug, info, warning or error; got {log_level!r}")
        token = read_token(token_env)
        check_bind(host, token)
        limits = ServiceLimits(
            max_body_bytes=max_body_bytes, max_text_chars=max_text_chars, max_texts=max_texts, history_window=history_window
        )
        config = log_config(log_level)
        logging.config.dictConfig(config)
        application = create_app(model, db, token, limits=limits, review=review)
        shown = f"[{host}]" if ":" in host else host
        err_console.print(
            f"cradle serve: http://{shown}:{port} (API /v1, review /review, schema /openapi.json); token {'required' if token else 'not set'}",
            soft_wrap=True,
            highlight=False,
        )
        uvicorn.run(
            application,
            host=host,
            port=port,
            access_log=False,
            log_config=config,
            server_header=False,
            log_level=log_level.lower(),
        )
