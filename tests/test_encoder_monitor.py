"""The encoder turn detector behind ``local:default`` conversations: the current turn first,
history as context, each label once; contrast dialogues (earlier vs later turn, someone else's
crisis, figurative speech, a supporter's words) with the shipped model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cradle.data import Dialogue, Status, Turn, load_dataset
from cradle.detectors.encoder_dialogue import EncoderDialogueSettings, EncoderTurnDetector
from cradle.detectors.local import LocalDetector
from cradle.pipelines.monitor import DialogueMonitor, turn_detector_for


@pytest.fixture(scope="module")
def encoder() -> LocalDetector:
    return LocalDetector.load("default")


@pytest.fixture(scope="module")
def turns(encoder) -> EncoderTurnDetector:
    det = turn_detector_for(encoder)
    assert isinstance(det, EncoderTurnDetector)
    return det


def dialogue(*texts: str, did: str = "d") -> Dialogue:
    speakers = ["user", "listener"]
    return Dialogue(did, tuple(Turn(k, speakers[k % 2], t) for k, t in enumerate(texts)))


def raised(det, d: Dialogue) -> list[tuple[int, tuple[str, ...]]]:
    users = [t.turn_id for t in d.turns if t.is_user]
    return [(tid, p.labels) for tid, p in zip(users, det.predict_dialogue(d)) if p.labels]


# ------------------------------------------------------------------ the rule, model-free


def _probas(det: EncoderTurnDetector, **labels: float) -> np.ndarray:
    p = np.full(len(det._labels), 0.01)
    p[det._nc] = 0.98
    for lab, v in labels.items():
        p[det._labels.index(lab)] = v
        p[det._nc] = min(p[det._nc], 1 - v)
    return p


@settings(max_examples=60, deadline=None)
@given(decay=st.floats(0, 0.95), weight=st.floats(0, 0.45), gap=st.integers(1, 6))
def test_an_earlier_disclosure_alone_never_fires_a_later_quiet_turn(turns, decay, weight, gap):
    s = EncoderDialogueSettings(decay=decay, context_weight=weight, confirm_shift=0.0, alert_threshold=0.99)
    det = EncoderTurnDetector(turns.detector, s)
    state = det.start()
    hot = _probas(det, selfharm_ongoing=0.99)
    first = det.step(state, Turn(0, "user", "x"), hot)
    assert "confirm_SH_ongoing" in first.labels
    quiet = _probas(det)
    for k in range(gap):
        det.step(state, Turn(1 + 2 * k, "listener", "y"))
        later = det.step(state, Turn(2 + 2 * k, "user", "z"), quiet)
        assert later.labels == ()  # raised once, at its own turn; nothing new from history alone
    # the context is a fixed-size vector, however long the conversation
    assert state.context.shape == (15,) and json.loads(json.dumps(state.to_dict()))["format"] == "cradle-encoder-turn-state"


def test_context_joins_partial_signals_and_alone_stays_below_its_weight(turns):
    s = EncoderDialogueSettings(decay=0.9, context_weight=0.4, confirm_shift=0.0, alert_threshold=0.99)
    det = EncoderTurnDetector(turns.detector, s)
    j = det._labels.index("domesticviolence_ongoing")
    t = det.confirm_thresholds["confirm_DV_ongoing"]
    state = det.start()
    first = det.step(state, Turn(0, "user", "a"), _probas(det, domesticviolence_ongoing=t * 0.9))
    assert first.labels == ()  # a partial signal alone raises nothing
    c = state.context[j]
    weak = t * 0.8
    s_weak = det.combined(state.context, _probas(det, domesticviolence_ongoing=weak))[j]
    assert np.isclose(s_weak, 1 - (1 - weak) * (1 - 0.4 * c)) and s_weak > max(weak, 0.4 * c)
    # with nothing in the current turn, the context alone contributes at most context_weight * c
    s_quiet = det.combined(state.context, _probas(det))[j]
    assert s_quiet <= 0.01 + 0.4 * c


def test_alert_comes_before_confirm_and_once(turns):
    s = EncoderDialogueSettings(decay=0.5, context_weight=0.2, confirm_shift=0.0, alert_threshold=0.5)
    det = EncoderTurnDetector(turns.detector, s)
    state = det.start()
    th = det.confirm_thresholds
    vague = _probas(det, domesticviolence_ongoing=th["confirm_DV_ongoing"] * 0.6, suicideideation_passive_ongoing=th["confirm_SI_passive_ongoing"] * 0.6)
    vague[det._nc] = 0.3
    first = det.step(state, Turn(0, "user", "a"), vague)
    assert first.labels == ("alert_ongoing",)
    again = det.step(state, Turn(1, "user", "b"), vague)
    assert again.labels == ()
    clear = det.step(state, Turn(2, "user", "c"), _probas(det, domesticviolence_ongoing=0.99))
    assert clear.labels == ("confirm_DV_ongoing",)
    assert state.raised == ["alert_ongoing", "confirm_DV_ongoing"]


def test_alert_level_crisis_or_highest_label(turns):
    """One turn whose top label (below its confirm threshold) is above the alert threshold and
    whose crisis level is below it: only ``max_label`` alerts."""
    shift0 = EncoderTurnDetector(turns.detector, EncoderDialogueSettings(confirm_shift=0.0))
    th = shift0.confirm_thresholds["confirm_SI_passive_ongoing"]
    top = th * 0.95
    p = _probas(turns, suicideideation_passive_ongoing=top)
    p[turns._nc] = 1.0 - (top - 0.1)  # crisis level 0.1 below the top label
    for level, expect in (("crisis", ()), ("max_label", ("alert_ongoing",))):
        s = EncoderDialogueSettings(decay=0.5, context_weight=0.0, confirm_shift=0.0, alert_threshold=top - 0.05, alert_level=level)
        det = EncoderTurnDetector(turns.detector, s)
        assert det.step(det.start(), Turn(0, "user", "x"), p).labels == expect, level


def test_warning_model_raises_the_alert_at_the_warning_turn(turns, tmp_path):
    from cradle.pipelines.training.train_alert import train_warning_model

    signs = ["I can't keep doing this anymore", "what's the point of any of it", "I don't feel safe at home tonight",
             "I'm scared I'll do something stupid", "nobody would even notice if I was gone", "the urges are back again"]
    plain = ["I made pasta for dinner", "the bus was late again", "work was busy today", "we watched a film last night",
             "my sister visits on sunday", "the weather turned cold"]
    model = train_warning_model(signs * 3 + plain * 3, [True] * 18 + [False] * 18)
    s = EncoderDialogueSettings(decay=0.5, context_weight=0.2, confirm_shift=0.0, alert_threshold=0.5, alert_level="warning_model")
    det = EncoderTurnDetector(turns.detector, s, warning_model=model)
    d = dialogue("hi, got a minute?", "sure", "the weather turned cold", "mm", "I can't keep doing this anymore, what's the point", "I'm here")
    assert raised(det, d) == [(4, ("alert_ongoing",))]
    assert det.describe()["warning_model"]["n_texts"] == 36
    bare = tmp_path / "model"
    bare.mkdir()
    for name in ("model.json", "model.onnx", "tokenizer.json"):
        (bare / name).write_bytes((turns.detector.model.folder / name).read_bytes())
    with pytest.raises(ValueError, match="holds none"):
        EncoderTurnDetector(LocalDetector.load(str(bare)), s)  # asked for a warning model, but the folder has no alert/
    with pytest.raises(ValueError, match="at least 10"):
        train_warning_model(signs, [True] * 6)
    with pytest.raises(ValueError, match="one class"):
        train_warning_model(plain * 2, [False] * 12)
    with pytest.raises(ValueError, match="2 dev texts but 1 dev targets"):
        train_warning_model(signs * 3 + plain * 3, [True] * 18 + [False] * 18, dev_texts=signs[:2], dev_targets=[True])
    with pytest.raises(ValueError, match="dev texts are all of one class"):
        train_warning_model(signs * 3 + plain * 3, [True] * 18 + [False] * 18, dev_texts=signs[:2], dev_targets=[True, True])
    from cradle.detectors.local.model import LocalModel

    wrong = LocalModel(**{**model.__dict__, "labels": ["no_crisis"]})
    with pytest.raises(ValueError, match="one output"):
        EncoderTurnDetector(turns.detector, s, warning_model=wrong)


def test_settings_round_trip_and_validation(tmp_path):
    s = EncoderDialogueSettings(decay=0.3, context_weight=0.2, confirm_shift=1.0, alert_threshold=0.7, meta={"x": 1})
    s.save(tmp_path)
    assert EncoderDialogueSettings.load(tmp_path) == s
    with pytest.raises(ValueError, match="context_weight must be in"):
        EncoderDialogueSettings(context_weight=1.0)
    with pytest.raises(ValueError, match="alert_level must be one of crisis, max_label, warning_model"):
        EncoderDialogueSettings(alert_level="vibes")
    with_nan = EncoderDialogueSettings(meta={"alert_recall": float("nan"), "rows": [1.0, float("inf")]})
    with_nan.save(tmp_path)
    text = (tmp_path / "dialogue.json").read_text()
    assert "NaN" not in text and "Infinity" not in text and json.loads(text)["meta"]["alert_recall"] is None
    s.save(tmp_path)
    old = {k: v for k, v in s.to_dict().items() if k != "alert_level"}  # written before the field existed
    assert EncoderDialogueSettings.from_dict(old).alert_level == "crisis"
    (tmp_path / "dialogue.json").write_text(json.dumps({"format": "cradle-local-dialogue", "format_version": 1}))
    with pytest.raises(ValueError, match="this package reads 'cradle-encoder-dialogue'"):
        EncoderDialogueSettings.load(tmp_path)


def test_state_restore_and_refusals(turns):
    state = turns.start()
    turns.step(state, Turn(0, "user", "I cut my arm again last night and I can't stop"))
    again = turns.restore(json.loads(json.dumps(state.to_dict())))
    assert np.allclose(again.context, state.context) and again.raised == state.raised
    with pytest.raises(ValueError, match="not an encoder turn state"):
        turns.restore({"format": "cradle-local-turn-state", "context": []})
    with pytest.raises(ValueError, match="this model has 15 labels"):
        turns.restore({"format": "cradle-encoder-turn-state", "context": [0.0, 1.0]})
    with pytest.raises(ValueError, match="unknown dialogue label"):
        turns.restore({"format": "cradle-encoder-turn-state", "context": [0.0] * 15, "raised": ["confirm_XX_now"]})


def test_bad_turns_get_a_status(turns):
    state = turns.start()
    p = turns.step(state, Turn(0, "user", "   "))
    assert p.status is Status.INVALID and p.reason == "empty text" and state.raised == []


def test_replay_equals_batch_on_synthetic_dev(encoder):
    for d in load_dataset("synthetic:dialogues-dev").dialogues[:15]:
        batch = [p.labels for p in turn_detector_for(encoder).predict_dialogue(d)]
        m = DialogueMonitor(encoder)
        live = []
        for t in d.turns:
            events = m.observe(t)
            if t.is_user:
                live.append(tuple(e.label for e in events))
        assert live == batch, d.id


# --------------------------------------------------------- contrast dialogues, shipped model

SH_NOW = "I cut my arm again last night, I can't stop doing it"


def test_same_words_earlier_or_later(turns):
    early = dialogue(SH_NOW, "I'm listening.", "anyway, what should I cook tonight?", "Pasta is always good.", "yeah I'll make pasta")
    late = dialogue("hey, can I talk for a bit?", "Of course.", "work was long today", "That sounds tiring.", SH_NOW)
    assert raised(turns, early) == [(0, ("confirm_SH_ongoing",))]
    got = raised(turns, late)
    assert got and got[-1] == (4, ("confirm_SH_ongoing",)) and all(labels[0].startswith("alert") for _, labels in got[:-1])


def test_someone_elses_crisis_raises_no_confirm(turns):
    d = dialogue("my best friend told me she was raped at a party", "That's awful. How are you doing with it?",
                 "I just don't know how to support her, what should I say to her?")
    assert not any(lab.startswith("confirm") for _, labels in raised(turns, d) for lab in labels)


def test_figurative_speech_raises_no_confirm(turns):
    d = dialogue("this week is killing me lol", "Haha, rough one?", "finals are next week, I could just die", "You'll get through it!",
                 "thanks, going to study now")
    assert not any(lab.startswith("confirm") for _, labels in raised(turns, d) for lab in labels)


def test_a_supporters_words_are_not_the_users(turns):
    d = dialogue("I've had a hard week", "Are you having thoughts of killing yourself or hurting yourself?", "no, nothing like that, just tired")
    assert raised(turns, d) == []
