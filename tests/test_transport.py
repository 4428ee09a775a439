"""The API detectors' HTTP transport: httpx with immediate ACKs and spaced connection starts."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from cradle.detectors.transport import PlainHTTPTransport, _Connection, _PacedBackend, async_transport


def stdlib_server(http11: bool) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        if http11:
            protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            out = json.dumps({"echo": body["n"]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(out)))
            self.end_headers()  # headers and body in two writes, Nagle on: the case QUICKACK is for
            self.wfile.write(out)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.mark.parametrize("http11", [False, True], ids=["one-connection-per-request", "keep-alive"])
def test_transport_talks_to_a_plain_stdlib_server(http11, monkeypatch):
    srv = stdlib_server(http11)
    url = f"http://127.0.0.1:{srv.server_address[1]}/"
    transport = async_transport(limits=httpx.Limits(max_connections=8, max_keepalive_connections=8))
    assert isinstance(transport, PlainHTTPTransport)
    acks = []
    real_quickack = _Connection.quickack
    monkeypatch.setattr(_Connection, "quickack", lambda self: acks.append(self.sock is not None) or real_quickack(self))

    async def main() -> list[int]:
        async with httpx.AsyncClient(transport=transport) as client:
            answers = await asyncio.gather(*(client.post(url, json={"n": i}) for i in range(40)))
        assert all(r.status_code == 200 and r.http_version == ("HTTP/1.1" if http11 else "HTTP/1.0") for r in answers)
        return [r.json()["echo"] for r in answers]

    try:
        assert asyncio.run(main()) == list(range(40))
    finally:
        srv.shutdown()
        srv.server_close()
    assert len(acks) >= 2 * 40  # before and after every read of every answer
    if hasattr(socket, "TCP_QUICKACK"):
        assert all(acks)  # on a real socket each time
    if http11:
        assert transport.connections_opened <= 8  # connections are kept alive and reused
    else:
        assert transport.connections_opened == 40  # the server closes each one


def test_llm_detector_clients_use_it():
    from cradle.detectors import load_detector

    det = load_detector("openai-compatible:http://127.0.0.1:9/v1#m")
    client = det.open_client(4)
    try:
        assert isinstance(client._transport, PlainHTTPTransport) and client._transport.max_connections == 4
        assert isinstance(client._transport.fallback._pool._network_backend, _PacedBackend)  # https
    finally:
        asyncio.run(client.aclose())


# -- the plain-HTTP transport against servers that misbehave ------------------------------------


class RawServer:
    """A loopback TCP server whose every connection runs ``handle(conn, index)`` in a thread."""

    def __init__(self, handle) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1/x"
        self.accepted = 0
        self._handle = handle
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._run, args=(conn, self.accepted), daemon=True).start()

    def _run(self, conn: socket.socket, index: int) -> None:
        try:
            self._handle(conn, index)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0)
    while len(rest) < length:
        rest += conn.recv(65536)
    return head + b"\r\n\r\n" + rest


def ok(body: bytes = b'{"ok": true}') -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


def post(transport, url, *, n=1, timeout=5.0, concurrent=False):
    async def main():
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
            if concurrent:
                return await asyncio.gather(*(client.post(url, json={"i": i}) for i in range(n)), return_exceptions=True)
            return [await client.post(url, json={"i": i}) for i in range(n)]

    return asyncio.run(main())


def plain(max_connections=4):
    return async_transport(limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections))


def test_a_kept_alive_connection_closed_by_the_server_is_retried_once_on_a_fresh_one():
    def handle(conn, index):
        read_request(conn)
        conn.sendall(ok())  # keep-alive announced, but the server closes after one answer
        time.sleep(0.05)

    srv = RawServer(handle)
    t = plain()
    try:

        async def main():
            async with httpx.AsyncClient(transport=t) as client:
                first = await client.post(srv.url, json={})
                await asyncio.sleep(0.2)  # the server has closed the kept-alive connection by now
                second = await client.post(srv.url, json={})
                return first, second

        first, second = asyncio.run(main())
    finally:
        srv.close()
    assert first.json() == second.json() == {"ok": True}
    assert t.connections_opened == 2 and srv.accepted == 2


def test_a_stale_connection_that_looks_alive_is_retried(monkeypatch):
    """The close arrives only when the request is sent (the pool could not see it): one retry."""
    from cradle.detectors import transport as tr

    def handle(conn, index):
        read_request(conn)
        conn.sendall(ok(b'{"n": %d}' % index))
        conn.recv(10)  # the second request: close without an answer
        conn.shutdown(socket.SHUT_RDWR)

    srv = RawServer(handle)
    monkeypatch.setattr(tr._Connection, "usable", lambda self, now, expiry: True)
    t = plain(max_connections=1)
    try:
        answers = post(t, srv.url, n=3)
    finally:
        srv.close()
    assert [r.json()["n"] for r in answers] == [1, 2, 3]
    assert t.connections_opened == 3


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (None, httpx.RemoteProtocolError),  # closed without a byte, on a fresh connection
        (b"this is not HTTP\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n{\"cut\":", httpx.RemoteProtocolError),  # body cut short
    ],
    ids=["no-answer", "garbage", "truncated-body"],
)
def test_broken_answers_raise_httpx_errors(reply, error):
    def handle(conn, index):
        read_request(conn)
        if reply:
            conn.sendall(reply)

    srv = RawServer(handle)
    t = plain()
    try:
        with pytest.raises(error):
            post(t, srv.url)
    finally:
        srv.close()
    assert srv.accepted == 1  # a fresh connection is never retried


def test_timeouts_and_refusals_raise_httpx_errors():
    def silent(conn, index):
        read_request(conn)
        time.sleep(2)

    srv = RawServer(silent)
    try:
        with pytest.raises(httpx.ReadTimeout):
            post(plain(), srv.url, timeout=0.2)
    finally:
        srv.close()
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with pytest.raises(httpx.ConnectError):
        post(plain(), f"http://127.0.0.1:{port}/")


def test_a_slot_waits_for_the_pool_timeout_and_is_given_back():
    def slow(conn, index):
        while read_request(conn):
            time.sleep(0.3)
            conn.sendall(ok())

    srv = RawServer(slow)
    t = plain(max_connections=1)
    try:
        answers = post(t, srv.url, n=2, concurrent=True, timeout=httpx.Timeout(5.0, pool=0.1))
        assert sorted(type(a).__name__ for a in answers) == ["PoolTimeout", "Response"]
        assert post(t, srv.url, n=2)[1].json() == {"ok": True}  # the slot came back; a new event loop is fine
    finally:
        srv.close()


def test_a_cancelled_request_gives_its_slot_back():
    def slow(conn, index):
        read_request(conn)
        time.sleep(0.5)
        conn.sendall(ok())

    srv = RawServer(slow)
    t = plain(max_connections=1)

    async def main():
        async with httpx.AsyncClient(transport=t, timeout=5.0) as client:
            task = asyncio.create_task(client.post(srv.url, json={}))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return await client.post(srv.url, json={})

    try:
        assert asyncio.run(main()).json() == {"ok": True}
    finally:
        srv.close()
    assert t.connections_opened == 2  # the cancelled exchange's connection was not reused


def test_bodies_chunked_and_closed_by_the_server_are_read_whole():
    body = b'{"text": "' + b"x" * 200_000 + b'"}'

    def handle(conn, index):
        read_request(conn)
        if index == 1:
            parts = [body[i : i + 7000] for i in range(0, len(body), 7000)]
            conn.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + b"".join(b"%x\r\n%s\r\n" % (len(x), x) for x in parts) + b"0\r\n\r\n")
            read_request(conn)
        else:
            conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + body)  # ends when the server closes

    srv = RawServer(handle)
    t = plain(max_connections=1)
    try:
        first = post(t, srv.url)[0]
        second = post(t, srv.url)[0]
    finally:
        srv.close()
    assert first.content == body and second.content == body


def test_other_schemes_go_to_the_fallback():
    seen = []
    fallback = httpx.MockTransport(lambda request: seen.append(str(request.url)) or httpx.Response(204))
    t = PlainHTTPTransport(fallback, limits=httpx.Limits(max_connections=2))

    async def main():
        async with httpx.AsyncClient(transport=t) as client:
            return await client.get("https://example.invalid/x")

    assert asyncio.run(main()).status_code == 204 and seen == ["https://example.invalid/x"]
    assert t.connections_opened == 0


def test_a_request_goes_out_in_one_send(monkeypatch):
    writes = []
    real = asyncio.StreamWriter.write
    monkeypatch.setattr(asyncio.StreamWriter, "write", lambda self, data: writes.append(bytes(data)) or real(self, data))

    def handle(conn, index):
        read_request(conn)
        conn.sendall(ok())

    srv = RawServer(handle)
    try:
        post(plain(), srv.url)
    finally:
        srv.close()
    assert len(writes) == 1 and writes[0].startswith(b"POST /v1/x HTTP/1.1\r\n") and writes[0].endswith(b'{"i":0}')
