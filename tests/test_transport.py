"""The API detectors' HTTP transport: httpx with immediate ACKs and spaced connection starts."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from cradle.detectors.transport import _PacedBackend, _QuickAckStream, async_transport


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
