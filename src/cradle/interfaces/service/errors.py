"""Errors as JSON objects with a precise message, never echoing what the client sent.

Every error answer of the API has the shape::

    {"error": {"code": "not_found", "message": "no conversation 'c-17'", "details": [...]}}

``details`` lists validation problems as ``{"loc", "msg", "type"}``; the offending input
itself is never copied into the answer or the log, because it may be a person's text.
Pages under ``/review`` get the same message as a small HTML page instead.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

__all__ = ["ErrorDetail", "ErrorBody", "ErrorResponse", "ServiceError", "error_response", "install_error_handlers"]

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    500: "internal",
}


class ErrorDetail(BaseModel):
    """One validation problem: where (``loc``), what (``msg``) and its kind (``type``)."""

    loc: str
    msg: str
    type: str


class ErrorBody(BaseModel):
    """The ``error`` object of every error answer."""

    code: str
    message: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    """Every error answer of the API: ``{"error": {"code", "message", "details"?}}``."""

    error: ErrorBody


class ServiceError(Exception):
    """An error answer raised from a route.

    Parameters
    ----------
    status : int
        HTTP status code.
    message : str
        What went wrong, precisely (never the client's text).
    code : str, optional
        Machine-readable code; derived from the status by default.
    headers : dict, optional
    """

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "error")
        self.headers = headers


def _wants_html(request: Request) -> bool:
    return request.url.path.startswith("/review") and "text/html" in request.headers.get("accept", "")


def error_response(
    request: Request,
    status: int,
    message: str,
    code: str | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse | HTMLResponse:
    """Build the error answer: JSON for the API, a small HTML page for review pages."""
    code = code or _CODES.get(status, "error")
    if _wants_html(request):
        templates = getattr(request.app.state, "templates", None)
        if templates is not None:
            return templates.TemplateResponse(
                request, "error.html", {"status": status, "message": message}, status_code=status, headers=headers
            )
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route fully matches on this path (Starlette's own 405 names only the first route's)."""
    routes = request.app.router.routes
    return [
        method
        for method in ("DELETE", "GET", "PATCH", "POST", "PUT")
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


def _loc(parts: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "request"


_BODY_MESSAGES = {
    "missing": "the request has no body; send a JSON object",
    "model_attributes_type": "the body must be a JSON object",
}


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # pydantic's "input" and "ctx" may hold the client's text: keep only loc, msg and type.
    out = []
    for e in exc.errors():
        loc, kind, msg = _loc(e.get("loc", ())), str(e.get("type", "")), str(e.get("msg", ""))
        if loc == "body" and kind in _BODY_MESSAGES:
            msg = _BODY_MESSAGES[kind]
        out.append({"loc": loc, "msg": msg, "type": kind})
    return out


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through :func:`error_response`."""

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> Any:
        return error_response(request, exc.status, exc.message, exc.code, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Any:
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path}"
        elif exc.status_code == 405:
            allowed = _allowed_methods(request)
            message = f"method {request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}"
            return error_response(request, 405, message, headers={"Allow": ", ".join(allowed)})
        else:
            message = str(exc.detail)
        return error_response(request, exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Any:
        details = _validation_details(exc)
        content_type = request.headers.get("content-type", "")
        if request.url.path.startswith("/v1") and request.method == "POST" and "json" not in content_type.lower():
            sent = content_type.split(";")[0].strip() or "no Content-Type"
            return error_response(request, 415, f"the body must be JSON sent with 'Content-Type: application/json' (got {sent})")
        if any(d["type"] == "json_invalid" for d in details):
            first = next(e for e in exc.errors() if e.get("type") == "json_invalid")
            why = str((first.get("ctx") or {}).get("error", "")) or "cannot be parsed"
            loc = first.get("loc", ())
            at = f" at character {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
            return error_response(request, 400, f"the body is not valid JSON: {why}{at}", "malformed_json")
        message = "; ".join(f"{d['loc']}: {d['msg']}" for d in details[:10])
        if len(details) > 10:
            message += f"; and {len(details) - 10} more"
        return error_response(request, 422, message, details=details)
