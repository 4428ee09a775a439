"""Property-based API tests: schemathesis against the OpenAPI schema, and hypothesis on /v1/detect.

Bounded: a few examples per operation, no deadline, so the file runs in seconds.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cradle.detectors import load_detector
from cradle.interfaces.service import ServiceLimits, create_app

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install 'cradle-risk[test]')")

TOKEN = "schema-token-0123456789"
_DB = Path(tempfile.mkdtemp(prefix="cradle-schema-")) / "s.db"
APP = create_app(
    db_path=_DB,
    detector=load_detector("local:default"),
    token=TOKEN,
    limits=ServiceLimits(max_text_chars=400, max_texts=8, max_body_bytes=64 * 1024),
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case):
    """Every answer is documented (status code, content type, body schema) and no input gives a 5xx."""
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"})


CLIENT = TestClient(APP, headers={"Authorization": f"Bearer {TOKEN}"})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(max_size=120), min_size=1, max_size=8))
def test_detect_answers_each_text_in_order(texts):
    r = CLIENT.post("/v1/detect", json={"texts": texts})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == len(texts)
    for text, res in zip(texts, results, strict=True):
        if text.strip():
            assert res["status"] == "ok" and res["labels"], res
            assert res["labels"] == ["no_crisis"] or "no_crisis" not in res["labels"]
        else:
            assert res["status"] == "invalid" and res["labels"] == []


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["user", "listener"]), st.text(min_size=1, max_size=80)), min_size=1, max_size=5),
    st.from_regex(r"[A-Za-z0-9._:-]{1,20}", fullmatch=True).filter(lambda s: s.strip(".")),  # ids of dots alone are refused
)
def test_turns_are_numbered_and_events_add_up(turns, conversation_id):
    CLIENT.delete(f"/v1/conversations/{conversation_id}")
    raised = []
    for n, (speaker, text) in enumerate(turns):
        r = CLIENT.post(f"/v1/conversations/{conversation_id}/turns", json={"speaker": speaker, "text": text})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["turn"] == n
        assert all(e["turn"] == n for e in body["events"])
        if speaker == "listener":
            assert body["events"] == []
        raised += [e["label"] for e in body["events"]]
    state = CLIENT.get(f"/v1/conversations/{conversation_id}").json()
    assert state["n_turns"] == len(turns)
    assert [e["label"] for e in state["events"]] == raised
    assert len(set(raised)) == len(raised)  # a label is raised at most once per conversation


def test_ids_of_dots_alone_and_overlong_ids_are_refused():
    for bad in ("...", "a" * 129):
        r = CLIENT.post(f"/v1/conversations/{bad}/turns", json={"speaker": "user", "text": "hi"})
        assert r.status_code == 422, (bad, r.text)
    assert CLIENT.post("/v1/conversations/a.b/turns", json={"speaker": "user", "text": "hi"}).status_code == 200
