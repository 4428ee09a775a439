"""A real HTTP server on 127.0.0.1 speaking three chat APIs, with injectable faults.

Wire formats (requests checked, answers shaped like the real ones):

- OpenAI chat completions: ``POST /v1/chat/completions`` (bearer key);
- Anthropic messages: ``POST /v1/messages`` (``x-api-key``, ``anthropic-version`` required);
- Gemini: ``POST /v1beta/models/{model}:generateContent`` (``x-goog-api-key``).

The answer's labels come from a ``[[labels:a,b]]`` marker in the user message (the last one
wins), else ``no_crisis``; or from ``answer`` (a function of the user message). Faults come
from a ``[[fault:KIND]]`` marker (every call of that item) or ``[[fault:KINDxN]]`` (its first N
calls), or at random with ``fault_rates={KIND: probability}``. Kinds:

``rate_limit`` (429 + Retry-After), ``server_error`` (500), ``unavailable`` (503), ``hang`` (no
answer before ``hang_seconds``), ``bad_body`` (HTTP 200, body not JSON), ``malformed`` (the
model's text is not JSON), ``prose`` (JSON inside prose and a code fence), ``think`` (a
``<think>`` block first), ``filter`` (OpenAI ``finish_reason: content_filter``, Anthropic
``stop_reason: refusal``, Gemini ``promptFeedback.blockReason``), ``refusal`` (OpenAI
``message.refusal``, Anthropic ``stop_reason: refusal``, Gemini ``finishReason: SAFETY``),
``prohibited`` (Gemini ``finishReason: PROHIBITED_CONTENT``), ``unknown_label``,
``empty_labels``, ``unauthorized`` (401), ``bad_request`` (400), ``filter_400`` (OpenAI 400
with code ``content_filter``), ``quota`` (OpenAI 429 ``insufficient_quota``).

Run standalone for manual tests: ``python tests/fake_providers.py --port 8765 --delay 0.2``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

FAULT_KINDS = (
    "rate_limit",
    "server_error",
    "unavailable",
    "hang",
    "bad_body",
    "malformed",
    "prose",
    "think",
    "filter",
    "refusal",
    "prohibited",
    "unknown_label",
    "empty_labels",
    "unauthorized",
    "bad_request",
    "filter_400",
    "quota",
)
_FAULT = re.compile(r"\[\[fault:([a-z_0-9]+?)(?:x(\d+))?\]\]")
_LABELS = re.compile(r"\[\[labels:([^\]]*)\]\]")
_GEMINI_PATH = re.compile(r"^/v1beta/models/([^/:]+):generateContent$")


def marker_labels(user_text: str) -> list[str]:
    """Labels named by the last ``[[labels:...]]`` marker, else ``["no_crisis"]``."""
    found = _LABELS.findall(user_text)
    if not found:
        return ["no_crisis"]
    return [x.strip() for x in found[-1].split(",") if x.strip()]


class FakeProviderServer:
    """The server, run in a daemon thread.

    Parameters
    ----------
    delay : float
        Seconds before each answer.
    hang_seconds : float
        How long a ``hang`` fault keeps the client waiting.
    retry_after : str
        ``Retry-After`` header value of a 429.
    fault_rates : dict, optional
        Random faults: kind -> probability per call.
    seed : int
        Seed of the random faults.
    api_keys : dict, optional
        engine (``openai``, ``anthropic``, ``gemini``) -> the key it requires.
    answer : callable, optional
        ``answer(user_text) -> list of labels`` (default: :func:`marker_labels`).
    """

    def __init__(
        self,
        *,
        delay: float = 0.0,
        hang_seconds: float = 3.0,
        retry_after: str = "0.05",
        fault_rates: dict[str, float] | None = None,
        seed: int = 0,
        api_keys: dict[str, str] | None = None,
        answer: Callable[[str], list[str]] | None = None,
    ) -> None:
        unknown = set(fault_rates or {}) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}")
        self.delay = delay
        self.hang_seconds = hang_seconds
        self.retry_after = retry_after
        self.fault_rates = dict(fault_rates or {})
        self.api_keys = dict(api_keys or {})
        self.answer = answer or marker_labels
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.calls = 0
        self.calls_by_engine: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.call_times: dict[str, list[float]] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self._item_calls: Counter[str] = Counter()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeProviderServer:
        handler = _make_handler(self)
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base(self) -> str:
        return f"{self.url}/v1"

    def reset_counts(self) -> None:
        with self._lock:
            self.calls = 0
            self.calls_by_engine.clear()
            self.faults.clear()
            self.requests.clear()
            self.call_times.clear()
            self.max_in_flight = 0
            self._item_calls.clear()

    # -- decisions ---------------------------------------------------------------------------

    def _register(
        self, engine: str, path: str, headers: dict[str, str], body: Any, user_text: str
    ) -> tuple[str | None, list[str]]:
        """Count the call and decide its fault (or none) and its labels."""
        key = hashlib.sha256(user_text.encode("utf-8")).hexdigest()
        with self._lock:
            self.calls += 1
            self.calls_by_engine[engine] += 1
            self.requests.append({"engine": engine, "path": path, "headers": headers, "body": body})
            self._item_calls[key] += 1
            n = self._item_calls[key]
            self.call_times.setdefault(key, []).append(time.monotonic())
            fault = None
            markers = _FAULT.findall(user_text)
            if markers:
                kind, times = markers[-1]
                if not times or n <= int(times):
                    fault = kind
            elif self.fault_rates:
                u = self._rng.random()
                acc = 0.0
                for kind, p in self.fault_rates.items():
                    acc += p
                    if u < acc:
                        fault = kind
                        break
            if fault:
                self.faults[fault] += 1
        return fault, self.answer(user_text)

    def _authorised(self, engine: str, headers: dict[str, str], query: str) -> bool:
        want = self.api_keys.get(engine)
        if want is None:
            return True
        if engine == "openai":
            return headers.get("authorization") == f"Bearer {want}"
        if engine == "anthropic":
            return headers.get("x-api-key") == want
        return headers.get("x-goog-api-key") == want or f"key={want}" in query


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the default backlog of 5 drops connection bursts (1 s SYN retry)

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return  # a client that gave up (timeout, kill -9)
        super().handle_error(request, client_address)


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _answer_text(fault: str | None, labels: list[str]) -> str:
    payload = json.dumps({"labels": labels})
    if fault == "malformed":
        return "labels: " + ", ".join(labels) + " (I think"
    if fault == "prose":
        return f"Sure. Having read the post carefully, here is my answer:\n```json\n{payload}\n```\nLet me know if you need more."
    if fault == "think":
        return f"<think>The writer says {{not json}}; maybe past?</think>\n{payload}"
    if fault == "unknown_label":
        return json.dumps({"labels": ["burnout"]})
    if fault == "empty_labels":
        return json.dumps({"labels": []})
    return payload


def _make_handler(server: FakeProviderServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Real API servers set TCP_NODELAY; without it, the separate writes of headers and body
        # meet the client's delayed ACK and every answer waits ~40 ms on loopback.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            return

        def parse_request(self) -> bool:
            self.arrived = time.monotonic()  # the request line has just been read
            return super().parse_request()

        def _send(self, status: int, body: bytes | dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            with server._lock:
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                self._post()
            finally:
                with server._lock:
                    server.in_flight -= 1

        def _post(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            url = urlsplit(self.path)
            try:
                body = json.loads(raw)
            except ValueError:
                return self._send(400, {"error": {"message": "request body is not JSON", "type": "invalid_request_error"}})
            if url.path == "/v1/chat/completions":
                return self._openai(body, headers, url.query)
            if url.path == "/v1/messages":
                return self._anthropic(body, headers, url.query)
            m = _GEMINI_PATH.match(url.path)
            if m:
                return self._gemini(m.group(1), body, headers, url.query)
            return self._send(404, {"error": {"message": f"no route {url.path}", "type": "not_found"}})

        # -- common fault handling -------------------------------------------------------

        def _transport_fault(self, engine: str, fault: str | None) -> bool:
            """Answer an HTTP-level fault; True when answered."""
            errors = {
                "openai": lambda status, typ, msg, code=None: {
                    "error": {"message": msg, "type": typ, "param": None, "code": code}
                },
                "anthropic": lambda status, typ, msg, code=None: {"type": "error", "error": {"type": typ, "message": msg}},
                "gemini": lambda status, typ, msg, code=None: {"error": {"code": status, "message": msg, "status": typ.upper()}},
            }[engine]
            if fault == "hang":
                time.sleep(server.hang_seconds)
                return False  # answer normally, too late for the client
            if fault == "rate_limit":
                body = errors(429, "rate_limit_error", "Rate limit reached, retry later")
                if engine == "gemini":
                    body = {"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}}
                self._send(429, body, {"retry-after": server.retry_after})
                return True
            if fault == "server_error":
                self._send(500, errors(500, "api_error", "Internal server error"))
                return True
            if fault == "unavailable":
                self._send(503, errors(503, "overloaded_error", "The server is overloaded"))
                return True
            if fault == "bad_body":
                self._send(200, b"<html>upstream proxy error</html>")
                return True
            if fault == "unauthorized":
                self._send(401, errors(401, "authentication_error", "Incorrect API key provided"))
                return True
            if fault == "bad_request":
                self._send(400, errors(400, "invalid_request_error", "Invalid value for 'messages'"))
                return True
            return False

        def _wait(self) -> None:
            """Answer ``delay`` seconds after the request arrived (parsing time included)."""
            if server.delay:
                time.sleep(max(0.0, server.delay - (time.monotonic() - self.arrived)))

        # -- OpenAI --------------------------------------------------------------------

        def _openai(self, body: dict[str, Any], headers: dict[str, str], query: str) -> None:
            if not server._authorised("openai", headers, query):
                return self._send(
                    401,
                    {
                        "error": {
                            "message": "Incorrect API key provided",
                            "type": "invalid_request_error",
                            "code": "invalid_api_key",
                        }
                    },
                )
            if not isinstance(body.get("messages"), list) or not body.get("model"):
                return self._send(
                    400, {"error": {"message": "'model' and 'messages' are required", "type": "invalid_request_error"}}
                )
            user = "\n".join(m.get("content", "") for m in body["messages"] if m.get("role") == "user")
            fault, labels = server._register("openai", self.path, headers, body, user)
            self._wait()
            if self._transport_fault("openai", fault):
                return None
            if fault == "filter_400":
                return self._send(
                    400,
                    {"error": {"message": "The prompt was filtered", "type": "invalid_request_error", "code": "content_filter"}},
                )
            if fault == "quota":
                return self._send(
                    429,
                    {
                        "error": {
                            "message": "You exceeded your current quota",
                            "type": "insufficient_quota",
                            "code": "insufficient_quota",
                        }
                    },
                )
            text = _answer_text(fault, labels)
            message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
            finish = "stop"
            if fault == "filter":
                message["content"], finish = None, "content_filter"
            elif fault == "refusal":
                message["content"], message["refusal"] = None, "I'm sorry, I can't help with that request."
            prompt_tokens = _tokens(json.dumps(body["messages"]))
            out_tokens = _tokens(message["content"] or "")
            self._send(
                200,
                {
                    "id": f"chatcmpl-{server.calls}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": out_tokens,
                        "total_tokens": prompt_tokens + out_tokens,
                    },
                },
            )
            return None

        # -- Anthropic -----------------------------------------------------------------

        def _anthropic(self, body: dict[str, Any], headers: dict[str, str], query: str) -> None:
            if not server._authorised("anthropic", headers, query):
                return self._send(
                    401, {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}
                )
            if "anthropic-version" not in headers:
                return self._send(
                    400,
                    {
                        "type": "error",
                        "error": {"type": "invalid_request_error", "message": "anthropic-version header is required"},
                    },
                )
            if not body.get("model") or not isinstance(body.get("messages"), list) or "max_tokens" not in body:
                return self._send(
                    400,
                    {
                        "type": "error",
                        "error": {"type": "invalid_request_error", "message": "model, messages and max_tokens are required"},
                    },
                )
            if "temperature" in body and "top_p" in body:
                return self._send(
                    400,
                    {
                        "type": "error",
                        "error": {
                            "type": "invalid_request_error",
                            "message": "`temperature` and `top_p` cannot both be specified for this model.",
                        },
                    },
                )
            if any(m.get("role") == "system" for m in body["messages"]):
                return self._send(
                    400,
                    {
                        "type": "error",
                        "error": {"type": "invalid_request_error", "message": 'messages: unexpected role "system"'},
                    },
                )
            user = "\n".join(
                m["content"] if isinstance(m["content"], str) else "".join(b.get("text", "") for b in m["content"])
                for m in body["messages"]
            )
            fault, labels = server._register("anthropic", self.path, headers, body, user)
            self._wait()
            if self._transport_fault("anthropic", fault):
                return None
            text = _answer_text(fault, labels)
            stop = "end_turn"
            if fault in ("filter", "refusal"):
                text, stop = "I can't", "refusal"
            self._send(
                200,
                {
                    "id": f"msg_{server.calls}",
                    "type": "message",
                    "role": "assistant",
                    "model": body["model"],
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": stop,
                    "stop_sequence": None,
                    "usage": {"input_tokens": _tokens(user), "output_tokens": _tokens(text)},
                },
            )
            return None

        # -- Gemini --------------------------------------------------------------------

        def _gemini(self, model: str, body: dict[str, Any], headers: dict[str, str], query: str) -> None:
            if not server._authorised("gemini", headers, query):
                return self._send(
                    400,
                    {
                        "error": {
                            "code": 400,
                            "message": "API key not valid. Please pass a valid API key.",
                            "status": "INVALID_ARGUMENT",
                            "details": [
                                {
                                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                    "reason": "API_KEY_INVALID",
                                    "domain": "googleapis.com",
                                }
                            ],
                        }
                    },
                )
            contents = body.get("contents")
            if not isinstance(contents, list) or not contents:
                return self._send(
                    400, {"error": {"code": 400, "message": "contents is not specified", "status": "INVALID_ARGUMENT"}}
                )
            user = "\n".join(p.get("text", "") for c in contents for p in c.get("parts", []))
            fault, labels = server._register("gemini", self.path, headers, body, user)
            self._wait()
            if self._transport_fault("gemini", fault):
                return None
            usage = {"promptTokenCount": _tokens(user), "totalTokenCount": _tokens(user)}
            if fault == "filter":
                return self._send(
                    200,
                    {
                        "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
                        "usageMetadata": usage,
                        "modelVersion": model,
                    },
                )
            text = _answer_text(fault, labels)
            finish = "STOP"
            parts: list[dict[str, Any]] = [{"text": text}]
            if fault == "refusal":
                finish, parts = "SAFETY", []
            elif fault == "prohibited":
                finish, parts = "PROHIBITED_CONTENT", []
            cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}
            if not parts:
                del cand["content"]["parts"]
            usage.update(candidatesTokenCount=_tokens(text), totalTokenCount=_tokens(user) + _tokens(text))
            self._send(200, {"candidates": [cand], "usageMetadata": usage, "modelVersion": model})
            return None

    return Handler


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--delay", type=float, default=0.0)
    args = ap.parse_args()
    srv = FakeProviderServer(delay=args.delay)
    srv._server = _Server(("127.0.0.1", args.port), _make_handler(srv))
    print(f"listening on http://127.0.0.1:{args.port}")
    srv._server.serve_forever()
