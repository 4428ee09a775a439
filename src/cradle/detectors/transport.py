"""The HTTP transport of the API detectors: plain HTTP done by cradle, TLS by httpx.

Measured against an independent threaded loopback server (``benchmarks/runner_limit.py
--server threaded``), four things cost a run far more than the client's own work:

- **Delayed ACKs against Nagle.** A server that writes its headers and body in two small writes
  without ``TCP_NODELAY`` (Python's ``http.server``, some proxies) sends the body only once the
  headers are acknowledged, and Linux delays that ACK by ~40 ms: 20% on a 200 ms answer. Every
  read asks for an immediate ACK (``TCP_QUICKACK``, Linux only).
- **Connection bursts against a small listen backlog.** Opening 16 connections at once against a
  backlog of 5 (``socketserver``'s default) overflows the server's accept queue when its accept
  loop lags (a loaded machine); the kernel drops the handshakes and the client waits out a 1 s
  retransmission, or the connection breaks. Connections start at least
  :data:`CONNECT_SPACING` seconds apart: at most 48 ms once for a pool of 16 kept-alive
  connections, and enough for a one-connection-per-request (HTTP/1.0) server to keep up.
- **A request in two sends.** httpcore writes a request's head and body with two ``send``
  calls (two wake-ups of the server); a request goes out in one here.
- **The HTTP stack itself.** httpcore's pool and anyio took most of the client's CPU per
  request, which a run at concurrency 16 pays on every one of its sequential requests per slot
  (``benchmarks/runner_limit.py --baseline``).

So for ``http://`` URLs (the local model servers a benchmark run hammers)
:class:`PlainHTTPTransport` does the exchange itself, on asyncio streams with ``h11`` (the
HTTP/1.1 state machine httpcore also uses): spaced connection starts, immediate ACKs, one send
per request; it reuses kept-alive connections, retries a request once on a fresh connection when
a reused one turns out closed by the server before any byte of the answer, and raises httpx's
own exceptions (``ConnectTimeout``, ``ReadTimeout``, ``WriteTimeout``, ``PoolTimeout``,
``ConnectError``, ``ReadError``, ``WriteError``, ``RemoteProtocolError``). ``https://`` goes to
httpx's own transport with spaced connection starts (:func:`httpx_transport`; a TLS stream is
httpcore's, so the other two changes do not apply there). Proxies from the environment are the
client's mounts, as before. When the installed httpx/httpcore do not have the expected layout,
the ``https://`` transport is httpx's unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import h11
import httpcore
import httpx

__all__ = ["CONNECT_SPACING", "PlainHTTPTransport", "async_transport"]

#: Seconds between the starts of two TCP connections of one transport.
CONNECT_SPACING = 0.003
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class _PacedBackend(httpcore.AsyncNetworkBackend):
    """Starts TCP connections ``spacing`` seconds apart."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, spacing: float) -> None:
        self._inner = inner
        self._spacing = spacing
        self._next = 0.0

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        now = time.monotonic()
        start = max(now, self._next)  # this connection's turn (one event loop: no lock needed)
        self._next = start + self._spacing
        if start > now:
            await self._inner.sleep(start - now)
        return await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def httpx_transport(
    *, verify: Any = True, limits: httpx.Limits | None = None, connect_spacing: float = CONNECT_SPACING
) -> httpx.AsyncHTTPTransport:
    """An ``httpx.AsyncHTTPTransport`` that spaces connection starts (what
    :func:`async_transport` uses for ``https://``)."""
    transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits or httpx.Limits())
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(pool, httpcore.AsyncConnectionPool) and isinstance(backend, httpcore.AsyncNetworkBackend):
        pool._network_backend = _PacedBackend(backend, connect_spacing)
    return transport


def async_transport(
    *, verify: Any = True, limits: httpx.Limits | None = None, connect_spacing: float = CONNECT_SPACING
) -> PlainHTTPTransport:
    """The API detectors' transport: :class:`PlainHTTPTransport` for ``http://``, the paced httpx
    transport for everything else.

    Parameters
    ----------
    verify : bool or ssl.SSLContext
        As for httpx (used by the ``https://`` transport).
    limits : httpx.Limits, optional
        Pool limits, as for httpx.
    connect_spacing : float, default=CONNECT_SPACING
        Seconds between the starts of two connections (0: no spacing).

    Returns
    -------
    PlainHTTPTransport

    Examples
    --------
    >>> t = async_transport(limits=httpx.Limits(max_connections=16))
    >>> isinstance(t, httpx.AsyncBaseTransport), t.max_connections
    (True, 16)
    """
    limits = limits or httpx.Limits()
    fallback = httpx_transport(verify=verify, limits=limits, connect_spacing=connect_spacing)
    return PlainHTTPTransport(fallback, limits=limits, connect_spacing=connect_spacing)


_READ_SIZE = 65536
T = TypeVar("T")
_TIMEOUT = (TimeoutError, asyncio.TimeoutError)  # distinct classes on Python 3.10
if sys.version_info >= (3, 11):

    async def _within(aw: Awaitable[T], timeout: float | None) -> T:
        """``await aw`` within ``timeout`` seconds (``None``: no limit)."""
        async with asyncio.timeout(timeout):
            return await aw

else:  # pragma: no cover - Python 3.10

    async def _within(aw: Awaitable[T], timeout: float | None) -> T:
        """``await aw`` within ``timeout`` seconds (``None``: no limit).

        Not ``asyncio.wait_for``: on Python 3.10 it can swallow a cancellation that arrives as
        the awaited call completes (CPython gh-86296), and a swallowed Ctrl-C leaves a run
        going. ``asyncio.wait`` neither cancels nor swallows: a cancellation of the caller
        propagates, and the inner call is cancelled on the way out.
        """
        if timeout is None:
            return await aw
        inner = asyncio.ensure_future(aw)
        try:
            done, _ = await asyncio.wait({inner}, timeout=timeout)
        except BaseException:
            inner.cancel()
            raise
        if not done:
            inner.cancel()
            inner.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved: no "never retrieved" warning
            raise TimeoutError
        return inner.result()


class _Stale(Exception):
    """A reused connection was found closed before any byte of the answer (safe to retry)."""


class _Connection:
    """One TCP connection: asyncio streams and the h11 state machine of its HTTP/1.1 exchanges."""

    __slots__ = ("reader", "writer", "state", "sock", "idle_since")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.state = h11.Connection(our_role=h11.CLIENT)
        sock = writer.get_extra_info("socket")
        self.sock = sock if callable(getattr(sock, "setsockopt", None)) else None
        self.idle_since = 0.0

    def quickack(self) -> None:
        if self.sock is not None and _QUICKACK is not None:
            try:
                self.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            except OSError:
                self.sock = None

    async def read(self, timeout: float | None, request: httpx.Request) -> bytes:
        self.quickack()
        try:
            data = await _within(self.reader.read(_READ_SIZE), timeout)
        except _TIMEOUT:
            raise httpx.ReadTimeout("timed out reading the answer", request=request) from None
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from None
        self.quickack()
        return data

    def usable(self, now: float, expiry: float | None) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing() and (expiry is None or now - self.idle_since < expiry)

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):  # RuntimeError: the loop that owned it is gone
            self.writer.close()


class _AnswerBody(httpx.AsyncByteStream):
    """The body of one answer, read from its connection as the caller iterates; closing it hands
    the connection back to the pool (answer complete and reusable) or closes it."""

    def __init__(
        self,
        transport: PlainHTTPTransport,
        conn: _Connection,
        key: tuple[str, int],
        timeout: float | None,
        request: httpx.Request,
    ) -> None:
        self._transport = transport
        self._conn = conn
        self._key = key
        self._timeout = timeout
        self._request = request
        self._complete = False
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        state = self._conn.state
        while not self._complete:
            try:
                event = state.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc), request=self._request) from None
            if event is h11.NEED_DATA:
                state.receive_data(await self._conn.read(self._timeout, self._request))
            elif isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._complete = True
            else:
                raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__} in an answer body", request=self._request)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        conn, state = self._conn, self._conn.state
        if self._complete and state.our_state is h11.DONE and state.their_state is h11.DONE:
            state.start_next_cycle()
            self._transport._put_idle(self._key, conn)
        else:
            conn.close()
        self._transport._release()


class PlainHTTPTransport(httpx.AsyncBaseTransport):
    """An httpx transport that talks plain HTTP/1.1 itself (asyncio streams and h11) and hands
    every other scheme to ``fallback``.

    At most ``limits.max_connections`` requests are in flight at once (a further one waits for a
    slot, up to the pool timeout); up to ``limits.max_keepalive_connections`` answered
    connections per host are kept for reuse, for ``limits.keepalive_expiry`` seconds. Connection
    starts are ``connect_spacing`` seconds apart; every read asks for an immediate ACK (Linux);
    a request's head and body go out in one send.

    Parameters
    ----------
    fallback : httpx.AsyncBaseTransport
        The transport for any URL that is not ``http://``.
    limits : httpx.Limits, optional
    connect_spacing : float, default=CONNECT_SPACING

    Examples
    --------
    >>> t = PlainHTTPTransport(httpx.AsyncHTTPTransport(), limits=httpx.Limits(max_connections=4))
    >>> t.max_connections
    4
    """

    def __init__(
        self, fallback: httpx.AsyncBaseTransport, *, limits: httpx.Limits | None = None, connect_spacing: float = CONNECT_SPACING
    ) -> None:
        limits = limits or httpx.Limits()
        self.fallback = fallback
        self.max_connections = limits.max_connections
        self.max_idle = (
            limits.max_keepalive_connections if limits.max_keepalive_connections is not None else limits.max_connections
        )
        self.keepalive_expiry = limits.keepalive_expiry
        self.connect_spacing = connect_spacing
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._next_connect = 0.0
        #: Connections opened so far (for tests and benchmarks).
        self.connections_opened = 0

    # -- pool --------------------------------------------------------------------------------

    def _bind(self) -> None:
        """Pool state belongs to one event loop; a client reused under a new loop starts afresh."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            for conns in self._idle.values():
                for conn in conns:
                    conn.close()
            self._idle = {}
            self._loop = loop
            self._slots = asyncio.Semaphore(self.max_connections) if self.max_connections else None

    async def _acquire(self, timeout: float | None, request: httpx.Request) -> None:
        if self._slots is None:
            return
        try:
            await _within(self._slots.acquire(), timeout)
        except _TIMEOUT:
            raise httpx.PoolTimeout("timed out waiting for a free connection slot", request=request) from None

    def _release(self) -> None:
        if self._slots is not None:
            self._slots.release()

    def _take_idle(self, key: tuple[str, int]) -> _Connection | None:
        conns = self._idle.get(key)
        now = time.monotonic()
        while conns:
            conn = conns.pop()
            if conn.usable(now, self.keepalive_expiry):
                return conn
            conn.close()
        return None

    def _put_idle(self, key: tuple[str, int], conn: _Connection) -> None:
        conns = self._idle.setdefault(key, [])
        if self.max_idle is not None and len(conns) >= self.max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        conns.append(conn)

    async def _connect(self, key: tuple[str, int], timeout: float | None, request: httpx.Request) -> _Connection:
        now = time.monotonic()
        start = max(now, self._next_connect)  # this connection's turn (one event loop: no lock needed)
        self._next_connect = start + self.connect_spacing
        if start > now:
            await asyncio.sleep(start - now)
        try:
            reader, writer = await _within(asyncio.open_connection(key[0], key[1], limit=_READ_SIZE), timeout)
        except _TIMEOUT:
            raise httpx.ConnectTimeout(f"timed out connecting to {key[0]}:{key[1]}", request=request) from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from None
        self.connections_opened += 1
        return _Connection(reader, writer)

    # -- one exchange ------------------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and return its response (the body streams from the connection)."""
        url = request.url
        if url.scheme != "http":
            return await self.fallback.handle_async_request(request)
        self._bind()
        timeouts = request.extensions.get("timeout") or {}
        await self._acquire(timeouts.get("pool"), request)
        try:
            body = await request.aread()
            key = (url.host, url.port or 80)
            conn = self._take_idle(key)
            while True:
                reused = conn is not None
                if conn is None:
                    conn = await self._connect(key, timeouts.get("connect"), request)
                try:
                    return await self._exchange(conn, key, request, body, timeouts)
                except _Stale:
                    conn.close()
                    if not reused:
                        raise httpx.RemoteProtocolError(
                            "server disconnected without sending an answer", request=request
                        ) from None
                    conn = None  # once more, on a fresh connection
                except BaseException:
                    conn.close()
                    raise
        except BaseException:
            self._release()
            raise

    async def _exchange(
        self, conn: _Connection, key: tuple[str, int], request: httpx.Request, body: bytes, timeouts: dict[str, float | None]
    ) -> httpx.Response:
        state = conn.state
        try:
            data = state.send(h11.Request(method=request.method, target=request.url.raw_path, headers=request.headers.raw))
            if body:
                data += state.send(h11.Data(data=body))
            data += state.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from None
        try:
            conn.writer.write(data)
            await _within(conn.writer.drain(), timeouts.get("write"))
        except _TIMEOUT:
            raise httpx.WriteTimeout("timed out sending the request", request=request) from None
        except OSError as exc:
            raise (
                _Stale()
                if isinstance(exc, (BrokenPipeError, ConnectionResetError))
                else httpx.WriteError(str(exc), request=request)
            ) from None
        received = False
        while True:
            try:
                event = state.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc), request=request) from None
            if event is h11.NEED_DATA:
                try:
                    chunk = await conn.read(timeouts.get("read"), request)
                except httpx.ReadError:
                    if not received:
                        raise _Stale() from None
                    raise
                if not chunk and not received:
                    raise _Stale()
                received = True
                state.receive_data(chunk)
            elif isinstance(event, h11.InformationalResponse):
                continue
            elif isinstance(event, h11.Response):
                return httpx.Response(
                    status_code=event.status_code,
                    headers=event.headers.raw_items(),
                    stream=_AnswerBody(self, conn, key, timeouts.get("read"), request),
                    extensions={"http_version": b"HTTP/" + event.http_version, "reason_phrase": event.reason},
                )
            else:
                raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__} before the answer", request=request)

    async def aclose(self) -> None:
        """Close every kept-alive connection and the fallback transport."""
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle = {}
        await self.fallback.aclose()
