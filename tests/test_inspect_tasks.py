"""inspect_ai tasks: found through the entry point, offline, scored with cradle's own metrics."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("inspect_ai", reason="inspect-ai is not installed (pip install 'cradle-risk[inspect]')")

from inspect_ai import eval as inspect_eval  # noqa: E402
from inspect_ai.log import read_eval_log  # noqa: E402
from inspect_ai.model import ModelOutput, ModelUsage, get_model  # noqa: E402

from cradle.data import load_dataset, write_posts_jsonl, write_predictions  # noqa: E402
from cradle.interfaces.cli.app import app  # noqa: E402
from cradle.interfaces.inspect_tasks import cradle_bench, cradle_dialogue, predictions_from_log  # noqa: E402
from cradle.metrics.dialogue import score_dialogues  # noqa: E402

POSTS = load_dataset("synthetic:posts-test")
DIALOGUES = load_dataset("synthetic:dialogues-test")


def _output(content: str) -> ModelOutput:
    # usage given, so that mockllm does not count tokens with tiktoken (a download offline)
    out = ModelOutput.from_content("mockllm", content)
    out.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    return out


def _h(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest(), 16)


def post_answers(input, tools, tool_choice, config) -> ModelOutput:
    """Gold labels for two posts in three, a wrong label otherwise, prose for one in seven."""
    user = input[-1].text
    h = _h(user)
    gold = next(([x.value for x in p.labels] for p in POSTS.posts if p.text in user), ["no_crisis"])
    labels = gold if h % 3 else ["selfharm_past"]
    return _output(json.dumps({"labels": labels}) if h % 7 else "I cannot tell.")


def turn_answers(input, tools, tool_choice, config) -> ModelOutput:
    h = _h(input[-1].text)
    labels = [["alert_ongoing"], [], ["confirm_SI_passive_ongoing"], []][h % 4]
    return _output(json.dumps({"labels": labels}) if h % 9 else "no idea")


def test_bench_task_reports_the_numbers_cradle_score_prints(tmp_path):
    model = get_model("mockllm/model", custom_outputs=post_answers)
    (log,) = inspect_eval(
        cradle_bench(dataset="synthetic:posts-test"), model=model, limit=30, log_dir=str(tmp_path / "logs"), display="none"
    )
    assert log.status == "success", log.error
    assert Path(log.location).is_file()  # the eval log is written
    metrics = {k: v.value for k, v in log.results.scores[0].metrics.items()}

    preds = predictions_from_log(read_eval_log(log.location))
    assert len(preds) == 30 and {p.status.value for p in preds} == {"ok", "invalid"}
    ids = {p.id for p in preds}
    write_predictions(preds, tmp_path / "preds.jsonl")
    write_posts_jsonl([p for p in POSTS.posts if p.id in ids], tmp_path / "gold.jsonl")
    res = CliRunner().invoke(app, ["score", str(tmp_path / "gold.jsonl"), str(tmp_path / "preds.jsonl"), "--json"])
    assert res.exit_code == 0, res.output
    scores = json.loads(res.stdout)
    for key in ("micro_f1", "macro_f1", "exact_match", "jaccard", "micro_recall", "macro_recall"):
        assert metrics[key] == pytest.approx(scores["all_samples"][key], abs=1e-12), key
    assert metrics["valid_micro_f1"] == pytest.approx(scores["valid_only"]["micro_f1"], abs=1e-12)
    assert metrics["n_valid"] == scores["n_valid"] < 30
    assert 0 < metrics["micro_f1"] < 1


def test_bench_task_sends_cradles_prompt_and_protocol(tmp_path):
    seen = []

    def record(input, tools, tool_choice, config):
        seen.append((input, config))
        return _output('{"labels": ["no_crisis"]}')

    from cradle.prompts import PromptSet

    (log,) = inspect_eval(
        cradle_bench(dataset="synthetic:posts-test"),
        model=get_model("mockllm/model", custom_outputs=record),
        limit=1,
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success"
    (messages, config), post = seen[0], POSTS.posts[0]
    expected = PromptSet.default("openai-compatible").post_messages(post.text)
    assert [(m.role, m.text) for m in messages] == [(m["role"], m["content"]) for m in expected]
    assert (config.temperature, config.top_p, config.max_tokens) == (0.0, 1.0, 1024)


def test_dialogue_task_scores_whole_dialogues_like_cradle(tmp_path):
    model = get_model("mockllm/model", custom_outputs=turn_answers)
    (log,) = inspect_eval(
        cradle_dialogue(dataset="synthetic:dialogues-test"), model=model, limit=4, log_dir=str(tmp_path), display="none"
    )
    assert log.status == "success", log.error
    metrics = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    preds = predictions_from_log(log)
    scored = [d for d in DIALOGUES.dialogues if d.id in {s.id for s in log.samples}]
    assert len(scored) == 4 and len(preds) == sum(len(d.user_turns) for d in scored)
    expected = score_dialogues(scored, preds)
    assert metrics["turn_micro_f1"] == pytest.approx(expected["turn_level"]["micro_f1"], abs=1e-12)
    assert metrics["turn_macro_f1"] == pytest.approx(expected["turn_level"]["macro_f1"], abs=1e-12)
    assert metrics["dialogue_micro_f1"] == pytest.approx(expected["dialogue_level"]["micro_f1"], abs=1e-12)
    assert metrics["confirm_micro_f1"] == pytest.approx(expected["confirm_only"]["micro_f1"], abs=1e-12)
    # the score metadata carries no text of the dialogue
    meta = json.dumps([s.scores for s in log.samples], default=str)
    assert not any(t.text in meta for d in scored for t in d.turns if len(t.text) > 20)


# The inspect CLI, run as a user runs it. inspect's mockllm counts tokens with tiktoken's
# o200k_base encoding when an output carries no usage, and tiktoken downloads that file on first
# use; here (offline) the count is replaced by a character estimate, nothing else.
_CLI = """
import sys
import inspect_ai.model._model as m
m.count_text_tokens = lambda text: max(1, len(text) // 4)
from inspect_ai._cli.main import main
sys.argv = ["inspect", *sys.argv[1:]]
main()
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("task", "data", "limit"),
    [("cradle/cradle_bench", "synthetic:posts-test", 5), ("cradle/cradle_dialogue", "synthetic:dialogues-test", 2)],
)
def test_inspect_eval_command_finds_the_tasks_through_the_entry_point(tmp_path, task, data, limit):
    cmd = [sys.executable, "-c", _CLI, "eval", task, "--model", "mockllm/model", "-T", f"dataset={data}", "--limit", str(limit)]
    cmd += ["--log-dir", str(tmp_path), "--display", "plain"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = list(tmp_path.glob("*.eval"))
    log = read_eval_log(str(path))
    assert log.status == "success" and len(log.samples) == limit
    assert log.eval.task in (task, task.split("/")[1])
    metrics = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    if task.endswith("bench"):
        assert metrics["n_valid"] == 0  # mockllm's default answer is not JSON: every output invalid
        assert metrics["micro_f1"] == 0.0
    else:
        assert "turn_micro_f1" in metrics
