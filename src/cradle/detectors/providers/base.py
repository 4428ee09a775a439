"""What every chat provider shares: the request and reply records, the errors, and one HTTP attempt.

A provider turns a :class:`ChatRequest` into its wire format, sends it with ``httpx`` (no SDK),
and turns the answer into a :class:`ChatReply`. Failures are raised as:

- :class:`TransientError`: worth retrying (HTTP 429, 408, 409, 5xx, timeouts, network errors, a
  body that is not the expected JSON);
- :class:`RequestRejected`: this request cannot succeed as sent (another HTTP 4xx); the item
  ends with status ``error``;
- :class:`FatalProviderError`: no request can succeed (a refused key, an unknown model, an
  exhausted quota); a run stops at once.

A content filter or refusal is not an error: it is a :class:`ChatReply` with ``blocked`` set.
"""

from __future__ import annotations

import email.utils
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import httpx

__all__ = [
    "ChatRequest",
    "ChatReply",
    "ProviderError",
    "TransientError",
    "RequestRejected",
    "FatalProviderError",
    "MissingAPIKeyError",
    "Provider",
    "parse_retry_after",
    "error_message",
    "join_text",
    "usage_of",
    "shape_error",
]

TransientKind = Literal["rate_limit", "server", "timeout", "network", "bad_response"]


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to ask for.

    Attributes
    ----------
    messages : tuple of dict
        ``{"role": "system" | "user" | "assistant", "content": str}`` in order.
    temperature : float
    top_p : float
    max_tokens : int
        Most new tokens to generate.
    """

    messages: tuple[Mapping[str, str], ...]
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 1024

    @property
    def system(self) -> str | None:
        """The system message, if any (providers that take it apart from the messages)."""
        parts = [m["content"] for m in self.messages if m["role"] == "system"]
        return "\n\n".join(parts) if parts else None

    @property
    def dialogue(self) -> list[dict[str, str]]:
        """The non-system messages."""
        return [{"role": m["role"], "content": m["content"]} for m in self.messages if m["role"] != "system"]


@dataclass(frozen=True)
class ChatReply:
    """What a provider answered.

    Attributes
    ----------
    text : str or None
        The generated text (``None`` when the provider sent none).
    finish_reason : str or None
        The provider's own stop reason (``"stop"``, ``"end_turn"``, ``"STOP"``, ...).
    blocked : bool
        True for a content filter or a refusal.
    block_reason : str or None
        The provider's words for the block (e.g. ``"finish_reason content_filter"``).
    usage : dict or None
        ``{"input_tokens": int, "output_tokens": int}`` when reported.
    """

    text: str | None
    finish_reason: str | None = None
    blocked: bool = False
    block_reason: str | None = None
    usage: dict[str, int] | None = None

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict (what a cache stores)."""
        return {
            "text": self.text,
            "finish_reason": self.finish_reason,
            "blocked": self.blocked,
            "block_reason": self.block_reason,
            "usage": self.usage,
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> ChatReply:
        """Rebuild a reply from :meth:`to_record` output.

        Raises
        ------
        ValueError
            When ``rec`` is not such a record.
        """
        if not isinstance(rec, Mapping) or "text" not in rec:
            raise ValueError("not a reply record")
        text = rec.get("text")
        usage = rec.get("usage")
        return cls(
            text=text if isinstance(text, str) else None,
            finish_reason=rec.get("finish_reason"),
            blocked=bool(rec.get("blocked")),
            block_reason=rec.get("block_reason"),
            usage={str(k): int(v) for k, v in usage.items()} if isinstance(usage, Mapping) else None,
        )


class ProviderError(Exception):
    """Base class of provider failures."""


class TransientError(ProviderError):
    """A failure worth retrying.

    Attributes
    ----------
    kind : {"rate_limit", "server", "timeout", "network", "bad_response"}
    status : int or None
        HTTP status, when there was one.
    retry_after : float or None
        Seconds the server asked to wait.
    """

    def __init__(self, kind: TransientKind, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


class RequestRejected(ProviderError):
    """The server refused this request for a reason retrying cannot fix (HTTP 400, 413, 422, ...)."""

    def __init__(self, message: str, status: int) -> None:
        self.status = status
        super().__init__(message)


class FatalProviderError(ProviderError):
    """No request can succeed (refused key, unknown model or endpoint, exhausted quota)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class MissingAPIKeyError(ValueError):
    """The environment variable that should hold an API key is unset or empty."""


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date).

    Examples
    --------
    >>> parse_retry_after({"retry-after": "2"})
    2.0
    >>> parse_retry_after({"retry-after-ms": "150", "retry-after": "2"})
    0.15
    >>> parse_retry_after({}) is None
    True
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_message(data: Any, limit: int = 300) -> str:
    """The ``error.message`` of an error body (all three providers use that shape), shortened."""
    msg = ""
    if isinstance(data, Mapping):
        err = data.get("error")
        if isinstance(err, Mapping):
            msg = str(err.get("message") or err.get("type") or err.get("code") or "")
        elif isinstance(err, str):
            msg = err
    msg = " ".join(msg.split())
    return msg[:limit] + ("..." if len(msg) > limit else "")


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host or url
    except Exception:
        return url


class Provider(ABC):
    """One chat API. Subclasses define the wire format; :meth:`send` makes one attempt.

    Parameters
    ----------
    model : str
        Model name as the API knows it.
    api_key : str or None
        The key (``None`` sends none).
    base_url : str or None
        API root; the provider's public endpoint when ``None``.
    key_source : str or None
        Name of the environment variable the key came from (for error messages).
    """

    engine: ClassVar[str]
    key_envs: ClassVar[tuple[str, ...]] = ()
    base_url_env: ClassVar[str | None] = None
    default_base_url: ClassVar[str]
    key_required: ClassVar[bool] = True

    def __init__(self, model: str, *, api_key: str | None, base_url: str | None = None, key_source: str | None = None) -> None:
        if not model:
            raise ValueError(f"{self.engine}: the model name is empty")
        self.model = model
        self.api_key = api_key
        self.key_source = key_source
        self.base_url = (base_url or self.default_base_url).rstrip("/")

    @classmethod
    def from_environment(cls, model: str, *, base_url: str | None = None, api_key_env: str | None = None) -> Provider:
        """Build the provider with its key (and optional base URL) from the environment.

        Parameters
        ----------
        model : str
        base_url : str, optional
            Overrides the provider's base URL environment variable and default.
        api_key_env : str, optional
            Read the key from this variable instead of the provider's usual ones.

        Raises
        ------
        MissingAPIKeyError
            When a required key is unset, naming the variable(s) to set.
        """
        names = (api_key_env,) if api_key_env else cls.key_envs
        key, source = None, None
        for name in names:
            value = os.environ.get(name, "").strip()
            if value:
                key, source = value, name
                break
        if key is None and (cls.key_required or api_key_env):
            wanted = " or ".join(names)
            raise MissingAPIKeyError(
                f"{cls.engine}: no API key: set {wanted} in the environment"
                + ("" if api_key_env else " (or name another variable with --api-key-env)")
            )
        if base_url is None and cls.base_url_env:
            base_url = os.environ.get(cls.base_url_env) or None
        return cls(model, api_key=key, base_url=base_url, key_source=source)

    # -- wire format -------------------------------------------------------------------------

    @abstractmethod
    def url(self) -> str:
        """The endpoint to POST to."""

    @abstractmethod
    def headers(self) -> dict[str, str]:
        """Request headers, the key included."""

    @abstractmethod
    def body(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body for ``request`` (everything that shapes the output, nothing else)."""

    @abstractmethod
    def parse(self, data: Mapping[str, Any]) -> ChatReply:
        """Read a successful answer.

        Raises
        ------
        TransientError
            ``bad_response`` when the body does not have the expected shape.
        """

    def classify(self, status: int, data: Any, headers: Mapping[str, str]) -> ChatReply | ProviderError:
        """Turn a non-200 answer into an error to raise (or, for a filtered request, a blocked reply).

        Subclasses extend this for their own error codes and call ``super().classify``.
        """
        detail = error_message(data)
        suffix = f": {detail}" if detail else ""
        retry_after = parse_retry_after(headers)
        if status == 429:
            return TransientError("rate_limit", f"rate limited (HTTP 429){suffix}", status, retry_after)
        if status in (408, 409, 425) or status >= 500:
            return TransientError("server", f"server error (HTTP {status}){suffix}", status, retry_after)
        if status in (401, 403):
            src = f" from {self.key_source}" if self.key_source else ""
            return FatalProviderError(
                f"{self.engine} at {_host(self.base_url)} refused the API key{src} (HTTP {status}){suffix}", status
            )
        if status == 404:
            return FatalProviderError(
                f"{self.engine}: model {self.model!r} or endpoint {self.url()} not found (HTTP 404){suffix}", status
            )
        return RequestRejected(f"request rejected (HTTP {status}){suffix}", status)

    # -- one attempt -------------------------------------------------------------------------

    async def send(self, client: httpx.AsyncClient, request: ChatRequest) -> ChatReply:
        """Make one attempt.

        Parameters
        ----------
        client : httpx.AsyncClient
            Carries the timeouts and the connection pool.
        request : ChatRequest

        Returns
        -------
        ChatReply

        Raises
        ------
        TransientError, RequestRejected, FatalProviderError
        """
        try:
            resp = await client.post(self.url(), json=self.body(request), headers=self.headers())
        except httpx.TimeoutException as exc:
            raise TransientError("timeout", f"no answer within the timeout ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise TransientError("network", f"network error ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:  # an undecodable body (DecodingError), a redirect loop, ...
            raise TransientError("bad_response", f"unreadable answer ({type(exc).__name__})") from None
        try:
            data: Any = resp.json()
        except ValueError:
            data = None
        if resp.status_code == 200:
            if not isinstance(data, Mapping):
                raise TransientError("bad_response", "the server answered HTTP 200 with a body that is not a JSON object", 200)
            return self.parse(data)
        outcome = self.classify(resp.status_code, data, resp.headers)
        if isinstance(outcome, ChatReply):
            return outcome
        raise outcome


def join_text(parts: Sequence[Any]) -> str | None:
    """Concatenate string parts, ``None`` when there are none."""
    texts = [p for p in parts if isinstance(p, str)]
    return "".join(texts) if texts else None


def usage_of(data: Any, input_key: str, output_key: str) -> dict[str, int] | None:
    """``{"input_tokens", "output_tokens"}`` from a usage object, ``None`` when absent."""
    if not isinstance(data, Mapping):
        return None
    out: dict[str, int] = {}
    for src, dst in ((input_key, "input_tokens"), (output_key, "output_tokens")):
        value = data.get(src)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[dst] = int(value)
    return out or None


def shape_error(engine: str, what: str) -> TransientError:
    """The error for a 200 answer whose JSON lacks what the API always sends."""
    return TransientError("bad_response", f"{engine} answered without {what}", 200)
