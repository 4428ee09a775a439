"""The HTTP transport of the API detectors: httpx, with three changes for servers we do not control.

Measured against an independent threaded loopback server (``benchmarks/runner_limit.py
--server threaded``), two things cost a run far more than the client's own work:

- **Delayed ACKs against Nagle.** A server that writes its headers and body in two small writes
  without ``TCP_NODELAY`` (Python's ``http.server``, some proxies) sends the body only once the
  headers are acknowledged, and Linux delays that ACK by ~40 ms: 20% on a 200 ms answer. The
  transport asks for an immediate ACK (``TCP_QUICKACK``, Linux only) around every read.
- **Connection bursts against a small listen backlog.** Opening 16 connections at once against a
  backlog of 5 (``socketserver``'s default) overflows the server's accept queue when its accept
  loop lags (a loaded machine); the kernel drops the handshakes and the client waits out a 1 s
  retransmission, or the connection breaks. The transport starts connections at least
  :data:`CONNECT_SPACING` seconds apart: at most 48 ms once for a pool of 16 kept-alive
  connections, and enough for a one-connection-per-request (HTTP/1.0) server to keep up.
- **A request in two sends.** httpcore sends a request's head and body with two writes; the
  stream holds a head that announces a body and sends both at once (one wake-up of the server).

The second and third apply to plain-TCP connections (local servers such as vLLM); a TLS
connection's stream is httpcore's own. Everything else (pooling, keep-alive, timeouts, TLS,
proxies from the environment) is httpx's.
When the installed httpx/httpcore do not have the expected layout, the plain transport is used.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import httpcore
import httpx

__all__ = ["CONNECT_SPACING", "async_transport"]

#: Seconds between the starts of two TCP connections of one transport.
CONNECT_SPACING = 0.003
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def _announced_body(head: bytes) -> bool:
    """Whether ``head`` is a complete HTTP/1.1 request head that announces a body to follow."""
    if not head.endswith(b"\r\n\r\n"):
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return value.strip() not in (b"", b"0")
        if name.strip().lower() == b"transfer-encoding":
            return True
    return False


class _QuickAckStream(httpcore.AsyncNetworkStream):
    """A network stream that acknowledges what it reads at once (Linux ``TCP_QUICKACK``) and
    sends a request's head together with its body.

    httpcore writes a request's head and its body in two ``send`` calls: two wake-ups of the
    server and, against a server that reads the head before it asks for the body, two round trips
    through its loop (measured: 2 sends of 0.6 ms each per request on a loaded 2-core machine).
    A head that announces a body is held until the body's first write, and both go out in one.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._held = b""
        sock = inner.get_extra_info("socket")  # asyncio hands out a TransportSocket, not a socket.socket
        self._sock = sock if callable(getattr(sock, "setsockopt", None)) else None

    def _quickack(self) -> None:
        if self._sock is not None and _QUICKACK is not None:
            try:
                self._sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            except OSError:  # a closed socket or a kernel without the option: nothing to do
                self._sock = None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        # the option is not sticky: set it before the read (for segments already queued)
        # and after it (for the rest of this answer)
        if self._held:  # never wait for an answer to a request not sent in full
            held, self._held = self._held, b""
            await self._inner.write(held, timeout)
        self._quickack()
        data = await self._inner.read(max_bytes, timeout)
        self._quickack()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return  # httpcore writes an empty end-of-message; nothing to hold or send
        if not self._held and _announced_body(buffer):
            self._held = buffer
            return
        buffer, self._held = self._held + buffer, b""
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        self._held = b""
        await self._inner.aclose()

    async def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        return await self._inner.start_tls(ssl_context, server_hostname, timeout)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _PacedBackend(httpcore.AsyncNetworkBackend):
    """Starts TCP connections ``spacing`` seconds apart; its streams acknowledge at once."""

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
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _QuickAckStream(stream)  # its ACK half is a no-op where TCP_QUICKACK does not exist; TLS streams are not wrapped

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def async_transport(
    *, verify: Any = True, limits: httpx.Limits | None = None, connect_spacing: float = CONNECT_SPACING
) -> httpx.AsyncHTTPTransport:
    """An ``httpx.AsyncHTTPTransport`` that spaces connection starts and ACKs reads at once.

    Parameters
    ----------
    verify : bool or ssl.SSLContext
        As for httpx.
    limits : httpx.Limits, optional
        Pool limits, as for httpx.
    connect_spacing : float, default=CONNECT_SPACING
        Seconds between the starts of two connections (0: no spacing).

    Returns
    -------
    httpx.AsyncHTTPTransport

    Examples
    --------
    >>> t = async_transport(limits=httpx.Limits(max_connections=16))
    >>> isinstance(t, httpx.AsyncHTTPTransport)
    True
    """
    transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits or httpx.Limits())
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(pool, httpcore.AsyncConnectionPool) and isinstance(backend, httpcore.AsyncNetworkBackend):
        pool._network_backend = _PacedBackend(backend, connect_spacing)
    return transport
