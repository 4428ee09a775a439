"""Synthetic dialogues from labelled posts, end to end against a loopback chat server."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cradle.data import Post, read_dialogues
from cradle.detectors import load_detector
from cradle.interfaces.cli.app import app
from cradle.labels import CRISIS_POST_LABELS, PostLabel, apply_clinical_rules
from cradle.pipelines.labelling.synthesize import REVEALS, SynthesisError, plan_dialogue, synthesize_dialogues
from cradle.prompts.synthesis import ConversationFormatError, parse_conversation, render_synthesis_prompt

sys.path.insert(0, str(Path(__file__).parent))
import fake_providers  # noqa: E402
from fake_providers import FakeProviderServer  # noqa: E402

POSTS = {
    "p1": ("i used to cut my thighs in college, stopped two years ago", "selfharm_past"),
    "p2": ("when i was 12 my stepdad raped me and i never told anyone", "rape_past, childabuse_endangerment_past"),
    "p3": ("this deadline is killing me lol, three reports due friday", "No crisis"),
    "p4": ("my husband checks my phone and hit me last week [[fault:server_errorx1]]", "domesticviolence_ongoing"),
    "p5": ("some nights i wish i just wouldn't wake up WRONGCOUNT", "suicideideation_passive_ongoing"),
}


def _conversation(prompt: str) -> dict:
    """What a cooperative model writes: the asked number of messages, the plan's disclosures."""
    n = int(re.search(r"Write exactly (\d+) messages", prompt).group(1))
    planned = {int(k): v for k, v in re.findall(r"- Message (\d+): (.+)", prompt)}
    if "WRONGCOUNT" in prompt and "(Attempt 2" not in prompt:
        n -= 1
    messages = []
    for k in range(1, n + 1):
        speaker = "user" if k % 2 else "listener"
        text = f"{speaker} message {k}" + (f" ({planned[k][:40]})" if k in planned else "")
        messages.append({"speaker": speaker, "text": text})
    return {"messages": messages}


@pytest.fixture
def chat_server(monkeypatch):
    """The shared fake OpenAI-compatible server, answering with conversations instead of labels."""
    original = fake_providers._answer_text

    def answer_text(fault, labels):
        if fault is None and isinstance(labels, dict):
            return json.dumps(labels)
        return original(fault, ["no_crisis"])

    monkeypatch.setattr(fake_providers, "_answer_text", answer_text)
    with FakeProviderServer(answer=_conversation) as server:
        yield server


@pytest.fixture
def posts_csv(tmp_path) -> Path:
    path = tmp_path / "posts.csv"
    lines = ["question_id,question_text,final_labels"] + [f'{k},"{t}","{labs}"' for k, (t, labs) in POSTS.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _posts() -> list[Post]:
    from cradle.labels import parse_post_labels

    return [Post(k, t, tuple(parse_post_labels(labs))) for k, (t, labs) in POSTS.items()]


def test_cli_end_to_end_resumes_without_calls_and_refuses_other_settings(chat_server, posts_csv, tmp_path):
    out = tmp_path / "dialogues.jsonl"
    spec = f"openai-compatible:{chat_server.openai_base}#writer"
    args = [
        "synthesize",
        str(posts_csv),
        "--model",
        spec,
        "--reveal",
        "late",
        "--out",
        str(out),
        "--cache",
        str(tmp_path / "c.sqlite"),
        "--json",
    ]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["n_written"] == 5 and summary["n_failed"] == 0
    assert summary["calls"] == 7  # five posts, one retried server error, one second attempt
    assert summary["by_reveal"] == {"late": 4, "none": 1}

    dialogues = read_dialogues(out)
    plans = {p.id: plan_dialogue(p, "late") for p in _posts()}
    written = [json.loads(line) for line in (tmp_path / "dialogues.jsonl.run" / "plans.jsonl").read_text().splitlines()]
    assert [w["post_id"] for w in written] == list(POSTS) and [d.id for d in dialogues] == [w["id"] for w in written]
    for d, w in zip(dialogues, written, strict=True):
        plan = plans[w["post_id"]]
        assert len(d.turns) == plan.n_messages and all(t.is_user == (t.turn_id % 2 == 0) for t in d.turns)
        users = d.user_turns
        got = {u: tuple(x.value for x in t.labels) for u, t in enumerate(users) if t.labels}
        assert got == plan.labels
        confirms = [u for u, labs in got.items() if any(x.startswith("confirm_") for x in labs)]
        if confirms:
            assert min(confirms) >= -(-2 * len(users) // 3)  # the late third
        alerts = [u for u, labs in got.items() if any(x.startswith("alert_") for x in labs)]
        assert all(a < min(confirms) for a in alerts)
    assert dialogues[2].labels == ()  # no_crisis: a conversation without labels
    assert {x.value for x in dialogues[1].labels} >= {"confirm_RA_past", "confirm_CA_past"}
    prompts = [r["body"]["messages"][-1]["content"] for r in chat_server.requests]  # arrival order varies
    assert prompts and all("confirm_" not in p and "alert_" not in p for p in prompts)  # labels never reach the writer
    assert all("Message " in p for p in prompts if POSTS["p3"][0] not in p)  # crisis posts get a turn plan

    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and json.loads(again.stdout)["calls"] == 0
    assert read_dialogues(out) == dialogues

    other = CliRunner().invoke(app, [*args[:5], "early", *args[6:]])
    assert other.exit_code == 2 and "reveal" in other.output


def test_a_limited_run_is_extended_by_a_full_one(chat_server, posts_csv, tmp_path):
    out = tmp_path / "d.parquet"
    args = ["synthesize", str(posts_csv), "--model", f"openai-compatible:{chat_server.openai_base}#writer", "--reveal", "mid"]
    args += ["--out", str(out), "--no-cache", "--json", "--attempts", "1"]
    first = CliRunner().invoke(app, [*args, "--limit", "2"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["n_written"] == 2 and len(read_dialogues(out)) == 2
    full = json.loads(CliRunner().invoke(app, args).stdout)
    assert full["n_written"] == 4 and list(full["failed"]) == ["p5"]  # p5's first reply is one message short
    assert full["calls"] == 4  # p3, p4 (one retry), p5: the two done posts are not asked again


def test_python_api_writes_csv_and_reports_failures(chat_server, tmp_path):
    det = load_detector(f"openai-compatible:{chat_server.openai_base}#writer", max_attempts=1)
    posts = [*_posts()[:3], Post("p9", "it keeps happening [[fault:bad_request]]", (PostLabel.SELFHARM_ONGOING,))]
    result = synthesize_dialogues(posts, det, tmp_path / "out.csv", reveal="early", attempts=1)
    assert result.n_written == 3 and list(result.failed) == ["p9"] and result.failed["p9"].startswith("error")
    assert len(read_dialogues(tmp_path / "out.csv")) == 3
    assert result.label_counts["confirm_SH_past"] == 1


def test_refusals(chat_server, tmp_path):
    det = load_detector(f"openai-compatible:{chat_server.openai_base}#writer")
    with pytest.raises(SynthesisError, match="carries no labels"):
        synthesize_dialogues([Post("x", "text")], det, tmp_path / "o.jsonl", reveal="mid")
    with pytest.raises(SynthesisError, match="not a chat model"):
        synthesize_dialogues(_posts(), load_detector("local:default"), tmp_path / "o.jsonl", reveal="mid")  # type: ignore[arg-type]
    with pytest.raises(SynthesisError, match="reveal must be one of early, mid, late"):
        synthesize_dialogues(_posts(), det, tmp_path / "o.jsonl", reveal="sometime")
    with pytest.raises(SynthesisError, match="duplicate post id"):
        synthesize_dialogues([*_posts(), _posts()[0]], det, tmp_path / "o.jsonl", reveal="mid")
    bad = CliRunner().invoke(
        app,
        ["synthesize", "synthetic:posts-dev", "--model", "local:default", "--reveal", "mid", "--out", str(tmp_path / "x.jsonl")],
    )
    assert bad.exit_code == 2 and "chat model" in bad.output


# ------------------------------------------------------------------------------ plans


_label_sets = st.lists(st.sampled_from(CRISIS_POST_LABELS), min_size=1, max_size=4, unique=True).map(
    lambda xs: apply_clinical_rules(xs).labels
)


@settings(max_examples=80, deadline=None)
@given(_label_sets, st.sampled_from(REVEALS), st.integers(0, 1000), st.integers(6, 24), st.integers(0, 6))
def test_plans_place_every_label_once_in_the_right_third(labels, reveal, seed, lo, extra):
    post = Post(f"p{seed}", "text", tuple(labels))
    plan = plan_dialogue(post, reveal, seed=seed, min_messages=lo, max_messages=lo + extra)
    assert plan == plan_dialogue(post, reveal, seed=seed, min_messages=lo, max_messages=lo + extra)
    assert lo <= plan.n_messages <= lo + extra
    placed = [x for labs in plan.labels.values() for x in labs]
    assert len(placed) == len(set(placed))
    confirms = {u for u, labs in plan.labels.items() for x in labs if x.startswith("confirm_")}
    assert sorted(x for x in placed if x.startswith("confirm_")) == sorted({f"confirm_{x}" for x in _codes(labels)})
    n = plan.n_user_turns
    bounds = {"early": (0, -(-n // 3)), "mid": (-(-n // 3), -(-2 * n // 3)), "late": (-(-2 * n // 3), n)}[reveal]
    assert bounds[0] <= min(confirms) < bounds[1] and max(plan.labels) < n
    for u, labs in plan.labels.items():
        if any(x.startswith("alert_") for x in labs):
            assert u < min(confirms)


def _codes(labels) -> set[str]:
    from cradle.labels import post_to_confirm

    return {post_to_confirm(x).value[len("confirm_") :] for x in labels}


def test_prompt_and_reply_parsing():
    prompt = render_synthesis_prompt(
        "my ex still follows me home",
        n_messages=10,
        steps={1: ["alert_ongoing"], 5: ["confirm_DV_ongoing"]},
        listener="crisis_line",
    )
    assert "Message 1: shows the first warning signs" in prompt and "partner" in prompt and "crisis line" in prompt
    assert "Attempt" not in prompt and "(Attempt 2" in render_synthesis_prompt("x", n_messages=6, steps={}, attempt=2)
    with pytest.raises(ValueError, match="message 2 is not a user message"):
        render_synthesis_prompt("x", n_messages=6, steps={2: ["alert_past"]})
    with pytest.raises(ValueError, match="unknown listener kind"):
        render_synthesis_prompt("x", n_messages=6, steps={}, listener="robot")
    ok = '<think>plan first</think>Here you go:\n{"messages": [{"speaker": "User", "text": "hey"}, {"role": "listener", "content": "hi"}]}'
    assert parse_conversation(ok) == [{"speaker": "user", "text": "hey"}, {"speaker": "listener", "text": "hi"}]
    for bad, why in (
        ("no json here", "no JSON object"),
        ('{"messages": []}', "no message"),
        ('{"messages": [{"speaker": "listener", "text": "hi"}]}', "alternate"),
        ('{"messages": [{"speaker": "bot", "text": "hi"}]}', "speaker 'bot'"),
        ('{"messages": [{"speaker": "user", "text": "User:  "}]}', "no text"),
    ):
        with pytest.raises(ConversationFormatError, match=why):
            parse_conversation(bad)
