"""Prompts (templates, placeholders, few-shot examples) and reply parsing."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cradle.data import Turn
from cradle.labels import DIALOGUE_LABELS, POST_LABELS, PostLabel, apply_clinical_rules
from cradle.prompts import (
    DIALOGUE_TURN_TEMPLATE,
    EVALUATION_TEMPLATE,
    FEW_SHOT_EXAMPLES,
    PLACEHOLDERS,
    PROMPT_VERSION,
    SYSTEM_PROMPT_COMMERCIAL,
    SYSTEM_PROMPT_OPEN,
    TRAINING_TEMPLATE,
    PromptError,
    PromptSet,
    PromptTemplate,
    extract_answer,
    format_answer,
    format_examples,
    load_prompt_file,
    parse_reply,
    render_post_prompt,
    render_turn_prompt,
    strip_reasoning,
    system_prompt_for,
)

# ---------------------------------------------------------------------------------------------
# templates
# ---------------------------------------------------------------------------------------------


def test_evaluation_prompt_holds_guidelines_labels_examples_and_post_last():
    post = "I have been sleeping badly since the move."
    prompt = render_post_prompt(post)
    for label in POST_LABELS:
        assert f"\n{label.value}\n" in prompt or prompt.endswith(label.value) or f"\n{label.value}" in prompt
    assert "C-SSRS" not in prompt  # our own wording, no borrowed scale names needed
    assert "Only" not in prompt.split("Rules:")[0][:20]
    assert "Rules:" in prompt and "Definitions:" in prompt
    assert prompt.count("Answer: {") == 5  # five few-shot examples
    assert prompt.rstrip().endswith(f'"""\n{post}\n"""')
    assert '{"labels": ["label", ...]}' in prompt  # the JSON instruction survives rendering verbatim


def test_training_prompt_is_short_and_complete():
    full = render_post_prompt("x")
    short = render_post_prompt("x", TRAINING_TEMPLATE)
    assert len(short) < len(full) / 4
    assert all(label.value in short for label in POST_LABELS)
    assert short.endswith("Post:\nx")


def test_turn_prompt_shows_history_and_latest_message_and_dialogue_labels():
    history = [Turn(0, "user", "hi, can we talk"), Turn(1, "listener", "of course"), Turn(2, "user", "he hit me again")]
    prompt = render_turn_prompt(history)
    assert "User: hi, can we talk\nListener: of course" in prompt
    assert '"""\nhe hit me again\n"""' in prompt
    assert "User: he hit me again" not in prompt  # the latest message is not repeated as history
    assert all(label.value in prompt for label in DIALOGUE_LABELS)
    assert '{"labels": []}' in prompt
    with pytest.raises(PromptError, match="last message"):
        render_turn_prompt([Turn(0, "user", "a"), Turn(1, "listener", "b")])


def test_system_prompts_by_engine():
    assert (
        system_prompt_for("openai") == system_prompt_for("anthropic") == system_prompt_for("gemini") == SYSTEM_PROMPT_COMMERCIAL
    )
    assert system_prompt_for("openai-compatible") == system_prompt_for("hf") == SYSTEM_PROMPT_OPEN
    assert "\n" not in SYSTEM_PROMPT_COMMERCIAL
    assert "JSON" in SYSTEM_PROMPT_OPEN and "nothing else" in SYSTEM_PROMPT_OPEN


def test_placeholders_render_in_one_pass_and_leave_json_alone():
    tpl = PromptTemplate('Labels:\n{labels}\nReturn {"labels": [..]} for: {post} and {{post}} literally', name="t")
    out = tpl.render(post="my text mentions {labels} and {turn}", labels="A\nB")
    assert out == 'Labels:\nA\nB\nReturn {"labels": [..]} for: my text mentions {labels} and {turn} and {post} literally'


def test_unknown_placeholder_lists_known_ones():
    with pytest.raises(PromptError) as err:
        PromptTemplate("{psot}", name="typo.txt")
    msg = str(err.value)
    assert "'typo.txt'" in msg and "{psot}" in msg
    assert all("{" + name + "}" in msg for name in PLACEHOLDERS)


def test_template_must_include_the_item_and_one_kind():
    with pytest.raises(PromptError, match="never includes the item"):
        PromptTemplate("Labels: {labels}")
    with pytest.raises(PromptError, match="mixes"):
        PromptTemplate("{post} {turn}")
    assert PromptTemplate("{text}").kind == "post"
    assert PromptTemplate("{history} / {turn}").kind == "turn"


def test_prompt_file_and_system_file(tmp_path):
    f = tmp_path / "published.txt"
    f.write_text('Classify.\n{labels}\nPost: {post}\nReply {"labels": [...]}\n', encoding="utf-8")
    s = tmp_path / "system.txt"
    s.write_text("Be terse.\n", encoding="utf-8")
    ps = PromptSet.from_files("openai", f, s)
    msgs = ps.post_messages("hello")
    assert msgs[0] == {"role": "system", "content": "Be terse."}
    assert msgs[1]["content"].startswith("Classify.\nsuicideideation_active_ongoing\n")
    assert msgs[1]["content"].endswith('Post: hello\nReply {"labels": [...]}')
    with pytest.raises(PromptError, match=r"no prompt for turns \('published.txt' is a post template\)"):
        ps.turn_messages([Turn(0, "user", "x")])
    with pytest.raises(PromptError, match="not found"):
        load_prompt_file(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("  \n", encoding="utf-8")
    with pytest.raises(PromptError, match="empty"):
        PromptSet.from_files("openai", None, tmp_path / "empty.txt")


def test_fingerprint_tracks_everything_that_shapes_the_prompt(tmp_path):
    base = PromptSet.default("openai")
    assert base.fingerprint("post") == PromptSet.default("gemini").fingerprint("post")
    assert base.fingerprint("post") != PromptSet.default("openai-compatible").fingerprint("post")  # system prompt
    assert base.fingerprint("post") != PromptSet(system=base.system, post=TRAINING_TEMPLATE).fingerprint("post")
    assert base.fingerprint("post") != PromptSet(system=base.system, examples=FEW_SHOT_EXAMPLES[:4]).fingerprint("post")
    assert base.fingerprint("post") != base.fingerprint("turn")
    assert base.describe("post")["version"] == PROMPT_VERSION


def test_default_templates_are_valid():
    assert EVALUATION_TEMPLATE.kind == "post" and TRAINING_TEMPLATE.kind == "post"
    assert DIALOGUE_TURN_TEMPLATE.kind == "turn"
    assert {"post", "labels", "examples", "definitions", "rules"} <= EVALUATION_TEMPLATE.placeholders


# ---------------------------------------------------------------------------------------------
# few-shot examples
# ---------------------------------------------------------------------------------------------


def test_five_examples_cover_varied_consistent_labels():
    assert len(FEW_SHOT_EXAMPLES) == 5
    used = {label for ex in FEW_SHOT_EXAMPLES for label in ex.labels}
    types = {label.crisis_type for label in used if label.crisis_type}
    assert len(types) == 7  # every crisis type appears
    assert PostLabel.NO_CRISIS in used
    assert {label.time_frame for label in used if label.time_frame} == {
        label.time_frame for label in POST_LABELS if label.time_frame
    }
    assert sum(len(ex.labels) > 1 for ex in FEW_SHOT_EXAMPLES) >= 3
    for ex in FEW_SHOT_EXAMPLES:
        assert not apply_clinical_rules(ex.labels).changed, ex.text  # the examples obey the rules they teach
        assert len(set(ex.text.split())) > 20 and ex.why
    assert len({ex.text for ex in FEW_SHOT_EXAMPLES}) == 5


def test_rendered_examples_parse_back_to_their_labels():
    blocks = format_examples().split("\n\n")
    assert len(blocks) == 5
    for block, ex in zip(blocks, FEW_SHOT_EXAMPLES):
        answer = block.split("\nAnswer: ", 1)[1]
        assert set(parse_reply(answer).labels) == {x.value for x in ex.labels}


# ---------------------------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "labels"),
    [
        ('{"labels": ["selfharm_ongoing"]}', ("selfharm_ongoing",)),
        (
            'Here you go:\n```json\n{"labels": ["rape_past", "childabuse_endangerment_past"]}\n```\nThanks!',
            ("rape_past", "childabuse_endangerment_past"),
        ),
        ('```\n{"labels": ["no_crisis"]}\n```', ("no_crisis",)),
        (
            '<think>Is it {ongoing}? The post says "last year".</think>\n{"labels": ["domesticviolence_past"]}',
            ("domesticviolence_past",),
        ),
        ('it was over long ago...</think>{"labels": ["selfharm_past"]}', ("selfharm_past",)),
        ("{'labels': ['No crisis']}", ("no_crisis",)),
        (
            'The answer is {"Labels": "suicideideation(active)_ongoing, suicideideation(passive)_past"} (final).',
            ("suicideideation_active_ongoing", "suicideideation_passive_past"),
        ),
        ('["sexualharassment_ongoing"]', ("sexualharassment_ongoing",)),
        ('{"reasoning": "first guess {x}", "labels": ["rape_ongoing"]}', ("rape_ongoing",)),
        ('Draft: {"labels": ["no_crisis"]}\nFinal: {"labels": ["selfharm_ongoing", "selfharm_ongoing"]}', ("selfharm_ongoing",)),
        ('{"labels": ["rape_past", "domesticviolence_ongoing"]}', ("domesticviolence_ongoing", "rape_past")),  # canonical order
    ],
)
def test_post_replies_that_parse(reply, labels):
    parsed = parse_reply(reply)
    assert parsed.ok, parsed.reason
    assert parsed.labels == labels
    assert parsed.raw == reply


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (None, "empty reply"),
        ("   ", "empty reply"),
        ("I think this person is at risk.", 'no JSON object with a "labels" field'),
        ('{"answer": ["selfharm_past"]}', 'has no "labels" field'),
        ('{"labels": []}', "empty label list"),
        ('{"labels": ["burnout"]}', "unknown post label 'burnout'"),
        ('{"labels": ["selfharm_ongoin"]}', "did you mean 'selfharm_ongoing'"),
        ('{"labels": [1, 2]}', "list of strings"),
        ('{"labels": 3}', "not int"),
        ('{"labels": ["selfharm_', "no JSON object"),
        ("<think>still thinking, no answer yet", "only a reasoning block"),
        ('{"labels": ["alert_ongoing"]}', "unknown post label"),
    ],
)
def test_post_replies_that_are_invalid(reply, reason):
    parsed = parse_reply(reply)
    assert parsed.status == "invalid"
    assert parsed.labels == ()
    assert reason in (parsed.reason or "")
    assert parsed.raw == reply


def test_dialogue_schema_allows_empty_and_rejects_post_labels():
    assert parse_reply('{"labels": []}', "dialogue").ok
    assert parse_reply('{"labels": ["none"]}', "dialogue").labels == ()
    ok = parse_reply('{"labels": ["Confirm_DV_ongoing", "alert_past"]}', "dialogue")
    assert ok.labels == ("alert_past", "confirm_DV_ongoing")
    bad = parse_reply('{"labels": ["domesticviolence_ongoing"]}', "dialogue")
    assert bad.status == "invalid" and "dialogue label" in (bad.reason or "")


def test_strip_reasoning_and_extract_answer():
    assert strip_reasoning("<thinking>a</thinking>b<think>c") == "b"
    assert extract_answer('```json\n{"labels": ["x"]}\n```') == (["x"], None)


_label_sets = st.lists(st.sampled_from([x.value for x in POST_LABELS]), min_size=1, max_size=4, unique=True)
_prose = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters='{}[]"`<>'), max_size=60)


@settings(max_examples=150, deadline=None)
@given(labels=_label_sets, before=_prose, after=_prose, fence=st.booleans(), think=st.booleans())
def test_any_wrapped_answer_parses_back(labels, before, after, fence, think):
    answer = format_answer(labels)
    body = f"```json\n{answer}\n```" if fence else answer
    reply = ("<think>{'labels': ['no_crisis']} maybe?</think>" if think else "") + before + body + after
    parsed = parse_reply(reply)
    assert parsed.ok, (reply, parsed.reason)
    assert set(parsed.labels) == set(labels)
    assert list(parsed.labels) == [x.value for x in POST_LABELS if x.value in labels]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parser_never_raises_and_invalid_means_no_labels(text):
    parsed = parse_reply(text)
    assert parsed.status in ("ok", "invalid")
    assert parsed.raw == text
    if parsed.status == "invalid":
        assert parsed.labels == () and parsed.reason
    else:
        assert parsed.labels


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80))
def test_rendered_values_are_never_rescanned(value):
    out = PromptTemplate("<{post}>").render(post=value)
    assert out == f"<{value}>"


def test_format_answer_is_json():
    assert json.loads(format_answer([PostLabel.RAPE_PAST])) == {"labels": ["rape_past"]}


def test_deeply_nested_reply_is_invalid_not_a_crash():
    # json.loads raises RecursionError (not ValueError) on deep nesting
    for raw in ("[" * 1500 + "]" * 1500, '{"labels": ' + "[" * 1500 + "]" * 1500 + "}"):
        p = parse_reply(raw)
        assert p.status == "invalid" and p.raw == raw
