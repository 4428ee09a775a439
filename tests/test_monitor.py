"""The dialogue monitor: events once per label, small restorable state, replay equals the batch path."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cradle.data import Dialogue, Prediction, Status, Turn, load_dataset
from cradle.detectors import TurnDetector, load_detector
from cradle.detectors.local import LocalDetector
from cradle.detectors.local_dialogue import DialogueSettings, LocalTurnDetector
from cradle.pipelines.monitor import (
    DialogueMonitor,
    Event,
    HistoryTurnDetector,
    MonitorStateError,
    StepTurnDetector,
    first_mentions,
    turn_detector_for,
)

sys.path.insert(0, str(Path(__file__).parent))
from fake_providers import FakeProviderServer, marker_labels  # noqa: E402

SELF_HARM = "I burned my arm with a lighter again tonight, I keep doing it when things get bad"
HINT = "my boyfriend gets really angry and I never know what will set him off"
DV = "my husband hit me again last night and he takes my phone so I can't call anyone"


@pytest.fixture(scope="module")
def local() -> LocalDetector:
    """The TF-IDF model (``local:fast``), whose turn detector these tests pin down."""
    return LocalDetector.load("fast")


@pytest.fixture(scope="module")
def dev_dialogues() -> list[Dialogue]:
    return load_dataset("synthetic:dialogues-dev").dialogues  # type: ignore[union-attr]


def _labels(preds: list[Prediction]) -> list[tuple[str | None, tuple[str, ...]]]:
    return [(p.id, p.labels) for p in preds]


def test_event_contract():
    e = Event("confirm_SH_ongoing", 4)
    assert e.score is None and e == Event.from_dict(json.loads(json.dumps(e.to_dict())))
    with pytest.raises(AttributeError):
        e.turn = 5  # type: ignore[misc]


def test_local_replay_equals_batch_on_every_dev_dialogue(local, dev_dialogues):
    batch = turn_detector_for(local)
    assert isinstance(batch, LocalTurnDetector) and isinstance(batch, TurnDetector) and isinstance(batch, StepTurnDetector)
    raised_any = False
    for d in dev_dialogues:
        expected = batch.predict_dialogue(d)
        monitor = DialogueMonitor(local)
        assert _labels(monitor.replay(d)) == _labels(expected)
        events = [(e.label, e.turn) for e in monitor.events]
        assert events == [(lab, int(p.id.split(":")[1])) for p in expected for lab in p.labels]
        assert len({e.label for e in monitor.events}) == len(monitor.events)  # each label once
        assert monitor.n_turns == len(d.turns)
        raised_any = raised_any or bool(events)
    assert raised_any


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 40))
def test_restored_state_continues_exactly(local, dev_dialogues, which, cut):
    d = dev_dialogues[which % len(dev_dialogues)]
    cut = cut % (len(d.turns) + 1)
    whole = DialogueMonitor(local)
    for t in d.turns:
        whole.observe(t)
    first = DialogueMonitor(local)
    for t in d.turns[:cut]:
        first.observe(t)
    state = json.loads(json.dumps(first.state_dict()))
    second = DialogueMonitor.from_state(local, state)
    for t in d.turns[cut:]:
        second.observe(t)
    assert second.events == whole.events and second.n_turns == whole.n_turns


def test_state_is_small_constant_and_holds_no_text(local):
    m = DialogueMonitor(local)
    sizes = []
    for k in range(120):
        m.observe_text("user" if k % 2 == 0 else "listener", f"message number {k} about my week at work and the weather {k}")
        sizes.append(len(json.dumps({**m.state_dict(), "events": []})))
    assert max(sizes) < 2000 and max(sizes[20:]) - min(sizes[20:]) < 40  # digits of the turn count and floats only
    assert "weather" not in json.dumps(m.state_dict())


def test_each_label_is_raised_once_and_listener_turns_raise_nothing(local):
    m = DialogueMonitor(local)
    first = m.observe_text("user", SELF_HARM)
    assert [e.label for e in first] == ["confirm_SH_ongoing"] and first[0].turn == 0 and 0 < first[0].score <= 1
    assert m.observe_text("listener", SELF_HARM) == []
    assert m.observe_text("user", SELF_HARM) == []
    assert [e.label for e in m.events] == ["confirm_SH_ongoing"] and m.n_turns == 3


def test_an_alert_can_come_before_a_confirm(local):
    eager = LocalTurnDetector(local, DialogueSettings(decay=0.5, confirm_shift=3.5, alert_threshold=0.5))
    m = DialogueMonitor(eager)
    script = [("user", "hi"), ("listener", "hello, how are you?"), ("user", HINT), ("listener", "that sounds hard"), ("user", DV)]
    raised = [(e.label, e.turn) for speaker, text in script for e in m.observe_text(speaker, text)]
    labels = [x for x, _ in raised]
    assert labels[0].startswith("alert_") and "confirm_DV_ongoing" in labels
    assert raised[0][1] < dict(raised)["confirm_DV_ongoing"]
    # an alert is never raised once a confirm is out, nor twice
    assert sum(x.startswith("alert_") for x in labels) == 1
    assert all(not e.label.startswith("alert_") for e in m.observe_text("user", HINT))


def test_turn_order_speakers_and_types_are_checked(local):
    m = DialogueMonitor(local)
    m.observe(Turn(3, "user", "hello"))
    with pytest.raises(ValueError, match="turn_id 3 does not follow turn_id 3"):
        m.observe(Turn(3, "listener", "hi"))
    assert m.observe_text("listener", "hi") == [] and m.state_dict()["last_turn_id"] == 4
    with pytest.raises(ValueError, match="speaker must be 'user' or 'listener'"):
        m.observe_text("assistant", "hi")
    with pytest.raises(TypeError, match="observe_text"):
        m.observe("hello")  # type: ignore[arg-type]
    assert m.observe_text("user", "   ") == [] and m.last_prediction is not None and m.last_prediction.status is Status.INVALID


def test_from_state_refuses_other_detectors_and_bad_states(local, tmp_path):
    m = DialogueMonitor(local)
    m.observe_text("user", SELF_HARM)
    state = m.state_dict()
    other = HistoryTurnDetector(_PostOnly())
    with pytest.raises(MonitorStateError, match="made with detector 'local:fast', not 'post-only'"):
        DialogueMonitor.from_state(other, state)
    with pytest.raises(MonitorStateError, match="not a monitor state"):
        DialogueMonitor.from_state(local, {"format": "x"})
    with pytest.raises(MonitorStateError, match="version 99"):
        DialogueMonitor.from_state(local, {**state, "version": 99})
    with pytest.raises(MonitorStateError, match="another model"):
        DialogueMonitor.from_state(local, {**state, "engine": {**state["engine"], "context": [0.0, 1.0]}})


def test_history_window_for_the_local_detector(local, dev_dialogues):
    d = max(dev_dialogues, key=lambda x: len(x.turns))
    windowed = LocalTurnDetector(local, history_window=2)
    m = DialogueMonitor(local, history_window=2)
    assert _labels(m.replay(d)) == _labels(windowed.predict_dialogue(d))
    assert len(m.state_dict()["engine"]["recent"]) == 3
    zero = LocalTurnDetector(local, history_window=0)
    alone = LocalTurnDetector(local, DialogueSettings(**{**_plain(windowed.settings), "decay": 0.0}))
    assert _labels(zero.predict_dialogue(d)) == _labels(alone.predict_dialogue(d))  # a window of 0: each turn alone
    with pytest.raises(ValueError, match="history_window"):
        DialogueMonitor(local, history_window=-1)


def _plain(s: DialogueSettings) -> dict:
    return {k: getattr(s, k) for k in ("decay", "listener_weight", "confirm_shift", "alert_threshold")}


# ------------------------------------------------------------------------ other detectors


class _PostOnly:
    """A post detector: labels a text self-harm when it says 'burned'."""

    spec = "post-only"

    def predict(self, texts):
        return [Prediction(labels=("selfharm_ongoing",) if "burned" in t else ("no_crisis",)) for t in texts]


class _DialogueOnly:
    """A turn detector without a step interface: an alert at every user turn once 'angry' was said."""

    spec = "dialogue-only"

    def predict_dialogue(self, dialogue):
        out = []
        for t in dialogue.user_turns:
            seen = any("angry" in h.text for h in dialogue.history(t.turn_id))
            out.append(Prediction(labels=("alert_ongoing",) if seen else ()).with_id(dialogue.item_id(t)))
        return out


def _conversation() -> Dialogue:
    texts = ["hi", "hello, how are you?", HINT, "that sounds hard", SELF_HARM, "thank you for telling me", "thanks for listening"]
    return Dialogue("c1", tuple(Turn(k, "user" if k % 2 == 0 else "listener", t) for k, t in enumerate(texts)))


@pytest.mark.parametrize("detector", [_PostOnly(), _DialogueOnly()], ids=["predict", "predict_dialogue"])
def test_generic_detectors_replay_equals_batch(detector):
    d = _conversation()
    batch = turn_detector_for(detector)
    assert isinstance(batch, HistoryTurnDetector)
    expected = batch.predict_dialogue(d)
    assert _labels(DialogueMonitor(detector).replay(d)) == _labels(expected)
    flat = [lab for p in expected for lab in p.labels]
    assert len(flat) == len(set(flat)) == 1  # first mentions only; no_crisis raises nothing


def test_first_mentions_keeps_failures_and_earlier_labels():
    ps = [
        Prediction(labels=("alert_past",)),
        Prediction(status=Status.ERROR, reason="x"),
        Prediction(labels=("alert_past", "confirm_CA_past")),
    ]
    out = first_mentions(ps, raised=["confirm_CA_past"])
    assert [p.labels for p in out] == [("alert_past",), (), ()] and out[1].status is Status.ERROR


def test_turn_detector_for_refuses_what_cannot_label():
    with pytest.raises(TypeError, match="cannot label dialogue turns"):
        turn_detector_for(object())


# ------------------------------------------------------------------------------ LLM engines


def _answer(user_text: str) -> list[str]:
    return marker_labels(user_text) if "[[labels:" in user_text else []


@pytest.fixture
def fake_llm(tmp_path):
    from cradle.pipelines.runs.cache import ResponseCache

    with FakeProviderServer(answer=_answer) as server:
        cache = ResponseCache(tmp_path / "cache.sqlite")
        det = load_detector(f"openai-compatible:{server.openai_base}#fake-model", cache=cache, max_attempts=2, backoff_base=0.01)
        yield server, det
        cache.close()


def _llm_conversation() -> Dialogue:
    texts = [
        "hi there",
        "hello! what's on your mind?",
        "home is scary lately [[labels:alert_ongoing]]",
        "I'm sorry, do you want to say more?",
        "he hit me again [[labels:alert_ongoing,confirm_DV_ongoing]]",
        "thank you for trusting me with that",
        "thanks for listening",
    ]
    return Dialogue("c7", tuple(Turn(k, "user" if k % 2 == 0 else "listener", t) for k, t in enumerate(texts)))


def test_llm_monitor_replay_equals_batch_and_uses_the_turn_prompt(fake_llm):
    server, det = fake_llm
    d = _llm_conversation()
    batch = turn_detector_for(det)
    expected = batch.predict_dialogue(d)
    assert _labels(expected) == [("c7:0", ()), ("c7:2", ("alert_ongoing",)), ("c7:4", ("confirm_DV_ongoing",)), ("c7:6", ())]
    assert server.calls == 4
    prompt = server.requests[-1]["body"]["messages"][-1]["content"]
    assert "newly apply at the user's latest message" in prompt
    monitor = DialogueMonitor(det)
    assert _labels(monitor.replay(d)) == _labels(expected)
    assert server.calls == 4  # the same requests: every reply came from the cache
    assert [(e.label, e.turn) for e in monitor.events] == [("alert_ongoing", 2), ("confirm_DV_ongoing", 4)]
    # the state holds the conversation for the next prompt; restoring it continues the same way
    again = DialogueMonitor.from_state(det, json.loads(json.dumps(monitor.state_dict())))
    assert len(again.state_dict()["engine"]["turns"]) == len(d.turns)
    assert again.observe_text("listener", "take care") == [] and again.observe_text("user", "bye") == []


def test_llm_history_window_bounds_the_prompt(fake_llm):
    server, det = fake_llm
    d = _llm_conversation()
    monitor = DialogueMonitor(det, history_window=1)
    preds = monitor.replay(d)
    assert _labels(preds) == _labels(turn_detector_for(det, history_window=1).predict_dialogue(d))
    last_prompt = server.requests[-1]["body"]["messages"][-1]["content"]
    assert "thank you for trusting me" in last_prompt and "hi there" not in last_prompt
    assert len(monitor.state_dict()["engine"]["turns"]) == 1


def test_llm_custom_turn_prompt_is_used(tmp_path):
    template = tmp_path / "turn.txt"
    template.write_text("CUSTOM TURN PROMPT\n{history}\nLATEST: {turn}\nAllowed: {labels}\n", encoding="utf-8")
    with FakeProviderServer(answer=_answer) as server:
        det = load_detector(f"openai-compatible:{server.openai_base}#fake-model", prompt_file=template)
        events = DialogueMonitor(det).observe_text("user", "he hit me [[labels:confirm_DV_ongoing]]")
        assert [e.label for e in events] == ["confirm_DV_ongoing"]
        assert server.requests[-1]["body"]["messages"][-1]["content"].startswith("CUSTOM TURN PROMPT")


def test_llm_failures_raise_nothing_and_are_visible(fake_llm):
    server, det = fake_llm
    m = DialogueMonitor(det)
    assert [e.label for e in m.observe_text("user", "it happened again [[labels:confirm_SH_past]]")] == ["confirm_SH_past"]
    assert m.observe_text("user", "hello [[fault:bad_request]]") == []
    assert m.last_prediction is not None and m.last_prediction.status is Status.ERROR
    assert [e.label for e in m.events] == ["confirm_SH_past"]


# ------------------------------------------------------------------------------ settings


def test_shipped_dialogue_settings_belong_to_the_shipped_model():
    from cradle.detectors.local import fast_model_path as default_model_path
    from cradle.detectors.local_dialogue import model_fingerprint

    shipped = DialogueSettings.load(default_model_path())
    assert shipped.meta.get("tuned_on") == "synthetic:dialogues-dev"
    assert shipped.meta.get("model_fingerprint") == model_fingerprint(default_model_path()), (
        "the default model changed since its dialogue settings were tuned: run python scripts/tune_dialogue.py"
    )
    assert shipped.alert_threshold < 1.0  # alerts are part of the design


def test_dialogue_settings_are_validated(tmp_path):
    good = DialogueSettings(decay=0.3, listener_weight=0.2, confirm_shift=1.0, alert_threshold=0.7)
    assert DialogueSettings.load(tmp_path) == DialogueSettings()  # no file: the defaults
    good.save(tmp_path)
    assert DialogueSettings.load(tmp_path) == good
    with pytest.raises(ValueError, match="decay must be in"):
        DialogueSettings(decay=1.0)
    with pytest.raises(ValueError, match="has no 'alert_threshold'"):
        DialogueSettings.from_dict({k: v for k, v in good.to_dict().items() if k != "alert_threshold"})
    with pytest.raises(ValueError, match="format 'other'"):
        DialogueSettings.from_dict({**good.to_dict(), "format": "other"})
    (tmp_path / "dialogue.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="cannot read"):
        DialogueSettings.load(tmp_path)
