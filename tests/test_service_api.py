"""The HTTP API of ``cradle serve``: every endpoint, its errors, auth, limits, logs and restarts."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cradle.data import Prediction
from cradle.detectors import load_detector
from cradle.interfaces.cli.app import app as cli_app
from cradle.interfaces.service import AuthConfigError, ServiceLimits, check_bind, create_app, is_loopback
from cradle.interfaces.service.storage import ConcurrentUpdateError, ConversationStore

TOKEN = "test-token-0123456789abcdef"
CRISIS = "I burned my arm with a lighter again tonight, I keep doing it"
BENIGN = "this exam is killing me lol"
DV = "my boyfriend hit me again last night and took my phone so I can't call anyone"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """A real uvicorn server on 127.0.0.1 in a thread."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False, lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def detector():
    return load_detector("local:default")


@pytest.fixture
def client(tmp_path, detector):
    app = create_app(
        db_path=tmp_path / "s.db", detector=detector, limits=ServiceLimits(max_body_bytes=4096, max_text_chars=500, max_texts=4)
    )
    return TestClient(app)


@pytest.fixture
def authed(tmp_path, detector):
    return TestClient(create_app(db_path=tmp_path / "a.db", detector=detector, token=TOKEN))


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["message"], body
    return body["error"]


# -- service ------------------------------------------------------------------------------------


def test_healthz_and_openapi(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["model"] == "local:default"
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) == {
        "/healthz",
        "/v1/detect",
        "/v1/conversations/{conversation_id}/turns",
        "/v1/conversations/{conversation_id}",
    }
    detect = schema["components"]["schemas"]["DetectRequest"]["properties"]["texts"]
    assert detect["maxItems"] == 4 and detect["items"]["maxLength"] == 500
    assert "413" in schema["paths"]["/v1/detect"]["post"]["responses"]
    assert client.get("/docs").status_code == 404  # the interactive docs would load a CDN script


def test_security_headers(client):
    r = client.post("/v1/detect", json={"texts": [BENIGN]})
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"


# -- /v1/detect -----------------------------------------------------------------------------------


def test_detect_keeps_input_order(client, detector):
    texts = [CRISIS, BENIGN, DV]
    r = client.post("/v1/detect", json={"texts": texts})
    assert r.status_code == 200
    results = r.json()["results"]
    expected = detector.predict(texts)
    assert [x["labels"] for x in results] == [list(p.labels) for p in expected]
    assert results[0]["labels"] != results[1]["labels"]
    assert "selfharm_ongoing" in results[0]["labels"] and results[1]["labels"] == ["no_crisis"]
    assert all(x["status"] == "ok" and len(x["scores"]) == 15 for x in results)


def test_detect_empty_text_is_an_invalid_item_not_an_error(client):
    r = client.post("/v1/detect", json={"texts": [BENIGN, "   "]})
    assert r.status_code == 200
    second = r.json()["results"][1]
    assert second["status"] == "invalid" and second["labels"] == [] and second["reason"] == "empty text"


@pytest.mark.parametrize(
    ("body", "status", "code", "fragment"),
    [
        ({"texts": ["a"] * 5}, 422, "invalid_request", "body.texts: List should have at most 4 items"),
        ({"texts": ["x" * 501]}, 422, "invalid_request", "body.texts[0]: String should have at most 500 characters"),
        ({"texts": []}, 422, "invalid_request", "at least 1 item"),
        ({"text": ["a"]}, 422, "invalid_request", "body.texts: Field required; body.text: Extra inputs are not permitted"),
        ({"texts": [3]}, 422, "invalid_request", "body.texts[0]: Input should be a valid string"),
        ([], 422, "invalid_request", "the body must be a JSON object"),
    ],
)
def test_detect_validation_errors(client, body, status, code, fragment):
    r = client.post("/v1/detect", json=body)
    assert r.status_code == status
    err = error_of(r)
    assert err["code"] == code and fragment in err["message"], err


def test_malformed_json_and_wrong_content_type(client):
    r = client.post("/v1/detect", content=b'{"texts": ["a",]}', headers={"content-type": "application/json"})
    assert r.status_code == 400
    err = error_of(r)
    assert err["code"] == "malformed_json" and "at character" in err["message"]
    r = client.post("/v1/detect", content=b"texts=a", headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415 and "application/json" in error_of(r)["message"]
    r = client.post("/v1/detect", content=b"", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "no body" in error_of(r)["message"]


def test_oversize_body_gets_413_declared_or_streamed(client):
    big = json.dumps({"texts": ["y" * 400] * 12}).encode()
    r = client.post("/v1/detect", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    err = error_of(r)
    assert err["code"] == "payload_too_large" and f"has {len(big)} bytes; the limit is 4096" in err["message"]

    def chunks():
        for i in range(0, len(big), 1000):
            yield big[i : i + 1000]

    r = client.post("/v1/detect", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "more than 4096" in error_of(r)["message"]


def test_errors_never_echo_the_text(client):
    secret = "zebra-marker-" + "q" * 600
    r = client.post("/v1/detect", json={"texts": [secret]})
    assert r.status_code == 422 and "zebra-marker" not in r.text
    r = client.post("/v1/conversations/c1/turns", json={"speaker": "narrator", "text": "zebra-marker"})
    assert r.status_code == 422 and "zebra-marker" not in r.text
    assert "Input should be 'user' or 'listener'" in error_of(r)["message"]


def test_unknown_route_and_method(client):
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and error_of(r)["message"] == "no route GET /v1/nothing"
    r = client.get("/v1/detect")
    assert r.status_code == 405 and error_of(r)["message"] == "method GET is not allowed on /v1/detect; use POST"
    r = client.put("/v1/conversations/c")
    assert r.status_code == 405 and r.headers["allow"] == "DELETE, GET"  # every route of the path, not only the first


# -- /v1/conversations --------------------------------------------------------------------------------


def test_conversation_turns_events_and_state(client):
    url = "/v1/conversations/chat-1/turns"
    r = client.post(url, json={"speaker": "user", "text": "hi, I just need to vent a bit"})
    assert r.status_code == 200 and r.json() == {"conversation_id": "chat-1", "turn": 0, "events": []}
    assert client.post(url, json={"speaker": "listener", "text": "sure, I'm here"}).json()["events"] == []
    r = client.post(url, json={"speaker": "user", "text": CRISIS})
    body = r.json()
    assert body["turn"] == 2
    assert [(e["label"], e["turn"]) for e in body["events"]] == [("confirm_SH_ongoing", 2)]
    assert 0.5 < body["events"][0]["score"] <= 1.0
    # the same crisis again raises nothing: a label is raised once, where it first appears
    assert client.post(url, json={"speaker": "user", "text": CRISIS}).json()["events"] == []
    state = client.get("/v1/conversations/chat-1").json()
    assert state["n_turns"] == 4 and state["labels"] == ["confirm_SH_ongoing"]
    assert [e["turn"] for e in state["events"]] == [2]
    assert CRISIS not in json.dumps(state)  # texts are not sent back


def test_conversation_errors(client):
    r = client.get("/v1/conversations/never-seen")
    assert r.status_code == 404 and error_of(r)["message"].startswith("no conversation 'never-seen'")
    r = client.get("/v1/conversations/" + "a" * 129)
    assert r.status_code == 422 and "conversation_id" in error_of(r)["message"]
    r = client.post("/v1/conversations/c/turns", json={"speaker": "user", "text": ""})
    assert r.status_code == 422 and "body.text" in error_of(r)["message"]
    r = client.post("/v1/conversations/c/turns", json={"speaker": "user"})
    assert r.status_code == 422 and "body.text: Field required" in error_of(r)["message"]
    assert client.get("/v1/conversations/c").status_code == 404  # nothing stored by refused turns


def test_delete_conversation(client):
    client.post("/v1/conversations/gone/turns", json={"speaker": "user", "text": DV})
    assert client.delete("/v1/conversations/gone").status_code == 204
    assert client.get("/v1/conversations/gone").status_code == 404
    assert client.delete("/v1/conversations/gone").status_code == 404


def test_conversation_started_with_another_model_is_refused(tmp_path, detector):
    db = tmp_path / "s.db"
    TestClient(create_app(db_path=db, detector=detector)).post("/v1/conversations/c/turns", json={"speaker": "user", "text": DV})

    class Other:
        spec = "stub:other"

        def predict(self, texts):
            return [Prediction(("no_crisis",)) for _ in texts]

    r = TestClient(create_app(db_path=db, detector=Other())).post(
        "/v1/conversations/c/turns", json={"speaker": "user", "text": "hello"}
    )
    assert r.status_code == 409 and "local:default" in error_of(r)["message"]


def test_store_refuses_a_stale_write(tmp_path):
    store = ConversationStore(tmp_path / "s.db")
    assert store.save("c", {}, 1, [], expected_version=0) == 1
    assert store.save("c", {}, 2, [], expected_version=1) == 2
    with pytest.raises(ConcurrentUpdateError, match="version 2, expected 1"):
        store.save("c", {}, 2, [], expected_version=1)


# -- auth -----------------------------------------------------------------------------------------------


def test_bearer_token_is_required_when_set(authed):
    r = authed.post("/v1/detect", json={"texts": [BENIGN]})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in error_of(r)["message"]
    r = authed.post("/v1/detect", json={"texts": [BENIGN]}, headers={"Authorization": "Bearer wrong-token-xxxxxxxxxx"})
    assert r.status_code == 401 and error_of(r)["message"] == "the bearer token is not valid"
    r = authed.get("/v1/conversations/x", headers={"Authorization": f"Basic {TOKEN}"})
    assert r.status_code == 401
    ok = {"Authorization": f"Bearer {TOKEN}"}
    assert authed.post("/v1/detect", json={"texts": [BENIGN]}, headers=ok).status_code == 200
    assert authed.get("/v1/conversations/x", headers=ok).status_code == 404
    assert authed.get("/healthz").status_code == 200
    assert "HTTPBearer" in authed.get("/openapi.json").json()["components"]["securitySchemes"]


def test_bind_rules():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.3.4.5")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("example.org")
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", TOKEN)
    with pytest.raises(AuthConfigError, match="refusing to listen on 0.0.0.0 without an API token"):
        check_bind("0.0.0.0", None)
    with pytest.raises(AuthConfigError, match="use at least 16"):
        check_bind("127.0.0.1", "short")
    with pytest.raises(AuthConfigError, match="at least 16"):
        create_app(db_path=":memory:", token="short")


def test_serve_refuses_a_public_address_without_token(monkeypatch, tmp_path):
    monkeypatch.delenv("CRADLE_TOKEN", raising=False)
    runner = CliRunner()
    r = runner.invoke(cli_app, ["serve", "--host", "0.0.0.0", "--db", str(tmp_path / "s.db")])
    assert r.exit_code == 2 and "refusing to listen on 0.0.0.0" in r.output
    r = runner.invoke(cli_app, ["serve", "--host", "0.0.0.0", "--token-env", "CRADLE_TEST_NO_SUCH_VAR"])
    assert r.exit_code == 2 and "CRADLE_TEST_NO_SUCH_VAR" in r.output
    assert not (tmp_path / "s.db").exists()


# -- real servers ------------------------------------------------------------------------------------


def test_restart_loses_no_conversation(tmp_path, detector):
    db = tmp_path / "s.db"
    with ServerThread(create_app(db_path=db, detector=detector)) as server, httpx.Client(base_url=server.url) as http:
        http.post("/v1/conversations/r1/turns", json={"speaker": "user", "text": "hi"})
        first = http.post("/v1/conversations/r1/turns", json={"speaker": "user", "text": DV}).json()
    assert [e["label"] for e in first["events"]] == ["confirm_DV_ongoing"]
    with (
        ServerThread(create_app(db_path=db, detector=load_detector("local:default"))) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        before = http.get("/v1/conversations/r1").json()
        assert before["n_turns"] == 2 and before["labels"] == ["confirm_DV_ongoing"]
        after = http.post("/v1/conversations/r1/turns", json={"speaker": "user", "text": DV}).json()
        assert after["turn"] == 2 and after["events"] == []  # DV was raised before the restart
        after = http.post("/v1/conversations/r1/turns", json={"speaker": "user", "text": CRISIS}).json()
        assert [(e["label"], e["turn"]) for e in after["events"]] == [("confirm_SH_ongoing", 3)]


def test_internal_errors_are_json_and_do_not_log_the_text(tmp_path, caplog):
    class Broken:
        spec = "stub:broken"

        def predict(self, texts):
            raise ValueError(f"cannot handle {texts[0]!r}")

    caplog.set_level(logging.INFO, logger="cradle.service")
    client = TestClient(create_app(db_path=tmp_path / "s.db", detector=Broken()), raise_server_exceptions=False)
    r = client.post("/v1/detect", json={"texts": ["walrus-secret-text"]})
    assert r.status_code == 500
    assert error_of(r) == {"code": "internal", "message": "internal error (ValueError); the server log has the stack trace"}
    assert "walrus-secret-text" not in r.text and "walrus-secret-text" not in caplog.text
    assert "internal error ValueError on POST /v1/detect" in caplog.text
    assert "POST /v1/detect 500" in caplog.text


def test_cradle_serve_logs_requests_without_texts(tmp_path):
    port = free_port()
    env = {**os.environ, "CRADLE_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cradle", "serve", "--port", str(port), "--db", str(tmp_path / "s.db"), "--max-text-chars", "100"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError("cradle serve did not start")
            time.sleep(0.1)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        marker = "okapi-private-marker"
        assert httpx.post(base + "/v1/detect", json={"texts": [f"{marker} I want to die"]}, headers=auth).status_code == 200
        assert (
            httpx.post(
                base + f"/v1/conversations/{marker}/turns", json={"speaker": "user", "text": marker}, headers=auth
            ).status_code
            == 200
        )
        assert httpx.post(base + "/v1/detect?q=" + marker, json={"texts": [marker * 20]}, headers=auth).status_code == 422
        assert (
            httpx.post(
                base + "/v1/detect", content=marker.encode(), headers={**auth, "content-type": "application/json"}
            ).status_code
            == 400
        )
        assert httpx.post(base + "/v1/detect", json={"texts": [marker]}).status_code == 401
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    assert marker not in out
    assert "POST /v1/detect 200" in out
    assert "POST /v1/conversations/{conversation_id}/turns 200" in out
    assert "POST /v1/detect 422" in out and "POST /v1/detect 401" in out
    assert "token required" in out
