"""The API detectors' HTTP transport: httpx with immediate ACKs and spaced connection starts."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpcore
import httpx
import pytest

from cradle.detectors.transport import _announced_body, _PacedBackend, _QuickAckStream, async_transport


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
def test_transport_talks_to_a_plain_stdlib_server(http11):
    srv = stdlib_server(http11)
    url = f"http://127.0.0.1:{srv.server_address[1]}/"
    streams = []

    async def main() -> list[int]:
        transport = async_transport(limits=httpx.Limits(max_connections=8, max_keepalive_connections=8))
        backend = transport._pool._network_backend
        assert isinstance(backend, _PacedBackend)
        connect = backend.connect_tcp

        async def spy(*args, **kwargs):
            stream = await connect(*args, **kwargs)
            streams.append(stream)
            return stream

        backend.connect_tcp = spy
        async with httpx.AsyncClient(transport=transport) as client:
            answers = await asyncio.gather(*(client.post(url, json={"n": i}) for i in range(40)))
        return [r.json()["echo"] for r in answers]

    try:
        assert asyncio.run(main()) == list(range(40))
    finally:
        srv.shutdown()
        srv.server_close()
    if http11:
        assert len(streams) <= 8  # connections are kept alive and reused
    else:
        assert len(streams) == 40  # the server closes each one
    if hasattr(socket, "TCP_QUICKACK"):
        assert all(isinstance(s, _QuickAckStream) and s._sock is not None for s in streams)


def test_llm_detector_clients_use_it():
    from cradle.detectors import load_detector

    det = load_detector("openai-compatible:http://127.0.0.1:9/v1#m")
    client = det.open_client(4)
    try:
        assert isinstance(client._transport._pool._network_backend, _PacedBackend)
    finally:
        asyncio.run(client.aclose())


class _RecordingStream(httpcore.AsyncNetworkStream):
    """An in-memory stream that records every write (what the socket would be asked to send)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.writes.append(buffer)

    async def aclose(self) -> None:
        return None

    def get_extra_info(self, info: str) -> object:
        return None


def test_a_request_head_goes_out_with_its_body_in_one_send():
    inner = _RecordingStream()
    stream = _QuickAckStream(inner)
    head = b"POST /v1/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n"

    async def main() -> None:
        await stream.write(head)
        assert inner.writes == []  # held until the body comes
        await stream.write(b'{"a":1}')
        await stream.write(b"")  # httpcore's end-of-message
        get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        await stream.write(get)  # no body announced: sent at once
        assert inner.writes == [head + b'{"a":1}', get]
        await stream.write(head)
        await stream.read(10)  # a read never waits behind a held head
        assert inner.writes[-1] == head

    asyncio.run(main())


@pytest.mark.parametrize(
    ("head", "body"),
    [
        (b"POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n", True),
        (b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n", False),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", False),
        (b"POST / HTTP/1.1\r\nContent-Length: 12\r\n", False),  # not a complete head
        (b'{"content-length": 5}\r\n\r\n', False),
    ],
)
def test_announced_body(head, body):
    assert _announced_body(head) is body
