"""What wraps every request: the body size limit, security headers, the access log and a last guard.

All three are plain ASGI middleware:

- :class:`BodyLimitMiddleware` answers 413 before the application runs when the body is
  larger than the limit (by ``Content-Length``, or by counting a chunked body);
- :class:`AccessLogMiddleware` logs one line per request (method, route template, status,
  milliseconds) and never the query string, the body or the conversation id; an exception
  that escapes a route is logged by type and stack only (its message may quote a person's
  text) and answered with a JSON 500;
- :class:`SecurityHeadersMiddleware` marks every answer ``no-store`` and ``nosniff`` and gives
  HTML pages a strict Content-Security-Policy (no script or style from anywhere but this
  server).
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["BodyLimitMiddleware", "AccessLogMiddleware", "SecurityHeadersMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("cradle.service.access")
app_log = logging.getLogger("cradle.service")


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": data})


class BodyLimitMiddleware:
    """Answer ``413`` to a request whose body exceeds ``max_body_bytes``.

    The body is read into memory (at most ``max_body_bytes + 1`` bytes) before the
    application runs, then replayed to it.

    Parameters
    ----------
    app : ASGI application
    max_body_bytes : int
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def _too_large(self, send: Send, size: str) -> None:
        message = f"the request body has {size} bytes; the limit is {self.max_body_bytes}"
        await _send_json(send, 413, {"error": {"code": "payload_too_large", "message": message}}, [(b"connection", b"close")])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                n = int(declared)
            except ValueError:
                await _send_json(send, 400, {"error": {"code": "bad_request", "message": "Content-Length is not an integer"}})
                return
            if n > self.max_body_bytes:
                await self._too_large(send, str(n))
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(send, f"more than {self.max_body_bytes}")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class AccessLogMiddleware:
    """Log each request as ``METHOD /route/{template} STATUS MSms``; turn escaped errors into JSON 500s.

    The route template (``/v1/conversations/{conversation_id}/turns``) is logged instead of
    the path, so that ids chosen by clients never reach the log.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            stack = "".join(traceback.format_tb(exc.__traceback__))
            app_log.error("internal error %s on %s %s\n%s", type(exc).__name__, scope["method"], _route(scope), stack)
            if status == 0:
                status = 500
                message = f"internal error ({type(exc).__name__}); the server log has the stack trace"
                await _send_json(send, 500, {"error": {"code": "internal", "message": message}})
        finally:
            ms = (time.perf_counter() - start) * 1000
            access_log.info("%s %s %d %.1fms", scope["method"], _route(scope), status, ms)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path:
        return str(path)
    raw = str(scope.get("path", ""))
    for prefix in ("/review/static/",):
        if raw.startswith(prefix):
            return prefix + "{file}"
    return "(no route)"


_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'"
)


class SecurityHeadersMiddleware:
    """Add ``Cache-Control: no-store``, ``nosniff``, ``no-referrer`` and, on HTML, a strict CSP."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                names = {k.lower() for k, _ in headers}
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
                is_static = str(scope.get("path", "")).startswith("/review/static/")
                if b"cache-control" not in names:
                    extra.append((b"cache-control", b"private, max-age=300" if is_static else b"no-store"))
                content_type = dict(headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    extra += [(b"content-security-policy", _CSP.encode()), (b"x-frame-options", b"DENY")]
                message["headers"] = headers + [h for h in extra if h[0] not in names]
            await send(message)

        await self.app(scope, receive, send_wrapper)
