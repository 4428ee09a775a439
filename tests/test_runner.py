"""The evaluation runner: run directories, resume, cache, faults, limits, batching, CLI."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from cradle.data import Dialogue, Post, Prediction, Turn, read_predictions, write_posts_jsonl  # noqa: E402
from cradle.detectors import load_detector  # noqa: E402
from cradle.detectors.calls import Outcome  # noqa: E402
from cradle.labels import PostLabel, parse_post_labels  # noqa: E402
from cradle.pipelines.runs.cache import ResponseCache  # noqa: E402
from cradle.pipelines.runs.items import WorkItem, post_items, turn_items  # noqa: E402
from cradle.pipelines.runs.limits import AdaptiveConcurrency, RateLimiter  # noqa: E402
from cradle.pipelines.runs.rundir import RunDirectoryError, RunMismatchError  # noqa: E402
from cradle.pipelines.runs.runner import DatasetInfo, RunnerError, RunOptions, run_items  # noqa: E402
from fake_providers import FakeProviderServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["no_crisis", "selfharm_ongoing", "rape_past,childabuse_endangerment_past", "domesticviolence_ongoing"]


def posts(n: int, tag: str = "") -> list[Post]:
    """Posts whose gold labels are also what the fake server answers for them."""
    out = []
    for i in range(n):
        lab = LABELS[i % len(LABELS)]
        out.append(Post(f"p{i}", f"made-up post {i} {tag} [[labels:{lab}]]", tuple(parse_post_labels(lab))))
    return out


@pytest.fixture
def server():
    with FakeProviderServer(retry_after="0.02", hang_seconds=1.5) as srv:
        yield srv


def detector(srv: FakeProviderServer, **kw):
    kw.setdefault("backoff_base", 0.005)
    kw.setdefault("timeout", 0.3)
    kw.setdefault("max_attempts", 3)
    return load_detector(f"openai-compatible:{srv.openai_base}#fake-model", **kw)


def run(srv, items, out, *, cache=None, concurrency=8, dataset=None, **det_kw):
    return run_items(
        items, detector(srv, **det_kw), out, cache=cache, options=RunOptions(concurrency=concurrency), dataset=dataset
    )


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


# ---------------------------------------------------------------------------------------------
# run directory, rerun, resume
# ---------------------------------------------------------------------------------------------


def test_run_writes_predictions_and_manifest(server, tmp_path):
    out = tmp_path / "run"
    s = run(server, post_items(posts(40)), out, dataset=DatasetInfo("synthetic:x", "abc123"))
    assert s.status == "complete" and s.new == 40 and s.calls == 40 and s.counts["ok"] == 40
    recs = lines(out / "predictions.jsonl")
    assert len(recs) == 40 and len({r["id"] for r in recs}) == 40
    byid = {r["id"]: r for r in recs}
    assert byid["p2"]["labels"] == ["rape_past", "childabuse_endangerment_past"] and byid["p2"]["usage"]["input_tokens"] > 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete"
    st = m["settings"]
    assert st["kind"] == "post" and st["dataset"] == {"name": "synthetic:x", "fingerprint": "abc123"}
    assert st["detector"]["spec"].startswith("openai-compatible:http://127.0.0.1:")
    assert st["detector"]["parameters"] == {"temperature": 0.0, "top_p": 1.0, "max_tokens": 1024}
    assert len(st["detector"]["prompt"]["hash"]) == 16 and st["detector"]["prompt"]["version"]
    assert {"cradle-risk", "httpx"} <= set(m["environment"]["packages"])
    (session,) = m["sessions"]
    assert session["calls"] == 40 and session["transport"]["concurrency"] == 8 and session["finished"] >= session["started"]
    assert m["usage"]["input_tokens"] == sum(r["usage"]["input_tokens"] for r in recs)
    assert not (out / ".lock").exists()


def test_rerun_of_a_finished_run_makes_no_call(server, tmp_path):
    out = tmp_path / "run"
    run(server, post_items(posts(30)), out)
    server.reset_counts()
    t0 = time.monotonic()
    s = run(server, post_items(posts(30)), out)
    assert server.calls == 0 and s.calls == 0 and s.resumed == 30 and s.new == 0
    assert s.counts["ok"] == 30 and s.status == "complete"
    assert time.monotonic() - t0 < 1.0
    assert len(lines(out / "predictions.jsonl")) == 30
    assert len(json.loads((out / "manifest.json").read_text())["sessions"]) == 2


def test_resume_after_a_torn_last_line_redoes_only_missing_items(server, tmp_path):
    out = tmp_path / "run"
    run(server, post_items(posts(20)), out)
    pred = out / "predictions.jsonl"
    kept = pred.read_text(encoding="utf-8").splitlines()[:12]
    pred.write_text("\n".join(kept) + '\n{"id": "p', encoding="utf-8")  # killed mid-write
    server.reset_counts()
    s = run(server, post_items(posts(20)), out)
    assert server.calls == 8 and s.resumed == 12 and s.new == 8
    recs = lines(pred)
    assert len(recs) == 20 and len({r["id"] for r in recs}) == 20


def test_resume_with_other_settings_is_refused_with_the_differences(server, tmp_path):
    out = tmp_path / "run"
    run(server, post_items(posts(5)), out, dataset=DatasetInfo("d", "fp1"))
    with pytest.raises(RunMismatchError) as err:
        run(server, post_items(posts(5)), out, dataset=DatasetInfo("d", "fp2"), temperature=0.7, max_tokens=64)
    msg = str(err.value)
    assert "detector.parameters.temperature: in the run 0.0, now 0.7" in msg
    assert "detector.parameters.max_tokens: in the run 1024, now 64" in msg
    assert "dataset.fingerprint: in the run 'fp1', now 'fp2'" in msg
    prompt = tmp_path / "p.txt"
    prompt.write_text("Label: {post}", encoding="utf-8")
    with pytest.raises(RunMismatchError, match=r"detector.prompt.hash"):
        run(server, post_items(posts(5)), out, dataset=DatasetInfo("d", "fp1"), prompt_file=prompt)
    s = run(server, post_items(posts(5)), out, dataset=DatasetInfo("d", "fp1"), timeout=5.0)  # transport may change
    assert s.resumed == 5


def test_folder_with_foreign_predictions_or_a_live_lock_is_refused(server, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "predictions.jsonl").write_text('{"id": "p0", "labels": ["no_crisis"]}\n', encoding="utf-8")
    with pytest.raises(RunDirectoryError, match="not made by a cradle run"):
        run(server, post_items(posts(2)), foreign)
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / ".lock").write_text(str(os.getppid()), encoding="utf-8")  # a live process
    with pytest.raises(RunDirectoryError, match=f"pid {os.getppid()}"):
        run(server, post_items(posts(2)), locked)
    (locked / ".lock").write_text("999999999", encoding="utf-8")  # a dead one: taken over
    assert run(server, post_items(posts(2)), locked).new == 2


def test_blocked_kept_in_run_errors_retried_on_resume_without_duplicates(server, tmp_path):
    out = tmp_path / "run"
    items = [WorkItem("ok", "fine"), WorkItem("blk", "x [[fault:filter]]"), WorkItem("err", "y [[fault:server_error]]")]
    s = run(server, items, out)
    assert s.counts == {"ok": 1, "invalid": 0, "blocked": 1, "error": 1} and s.status == "incomplete"
    server.reset_counts()
    items[2] = WorkItem("err", "y [[fault:server_error]]")
    s2 = run(server, items, out)
    assert server.calls == 3  # only the error item, retried (3 attempts); blocked not asked again
    assert s2.resumed == 2 and s2.new == 1
    recs = lines(out / "predictions.jsonl")
    assert sorted(r["id"] for r in recs) == ["blk", "err", "ok"]  # compacted: one line per item


def test_kill_minus_9_then_resume_completes_exactly(server, tmp_path):
    n = 600
    data = tmp_path / "posts.jsonl"
    write_posts_jsonl(posts(n), data)
    out = tmp_path / "run"
    server.delay = 0.02
    cmd = [
        sys.executable, "-m", "cradle", "predict", str(data), "--model", f"openai-compatible:{server.openai_base}#fake-model",
        "--out", str(out), "--concurrency", "16", "--cache", str(tmp_path / "cache.sqlite"), "--quiet",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    pred = out / "predictions.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if pred.exists() and pred.read_bytes().count(b"\n") >= n // 2:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p.id for p in read_predictions(pred, "post", tolerate_torn_tail=True)}
    assert n // 4 < len(done) < n, "the kill must land mid-run"
    server.reset_counts()
    rerun = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert rerun.returncode == 0, rerun.stderr
    recs = lines(pred)
    assert len(recs) == n and len({r["id"] for r in recs}) == n
    assert server.calls == n - len(done)
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_ctrl_c_marks_the_run_interrupted_and_releases_it(server, tmp_path):
    data = tmp_path / "posts.jsonl"
    write_posts_jsonl(posts(400), data)
    out = tmp_path / "run"
    # long enough (400 x 0.2 s over 8 connections: 10 s) that the run is surely still going
    server.delay = 0.2
    cmd = [
        sys.executable,
        "-m",
        "cradle",
        "predict",
        str(data),
        "--model",
        f"openai-compatible:{server.openai_base}#m",
        "--out",
        str(out),
        "--no-cache",
    ]
    # Ctrl-C reaches a foreground process whose SIGINT is at its default; a suite started in the
    # background of a non-interactive shell ignores SIGINT, and children inherit that
    default_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, preexec_fn=default_sigint)
    pred = out / "predictions.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (pred.exists() and pred.read_bytes().count(b"\n") >= 20):
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "rerun the same command to resume" in err
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
    assert not (out / ".lock").exists()


# ---------------------------------------------------------------------------------------------
# cache
# ---------------------------------------------------------------------------------------------


def test_cache_shared_across_runs_excludes_blocked_and_errors(server, tmp_path):
    items = [*post_items(posts(10)), WorkItem("blk", "b [[fault:refusal]]"), WorkItem("bad", "c [[fault:bad_request]]")]
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        s1 = run(server, items, tmp_path / "a", cache=cache)
        assert s1.cache_hits == 0 and len(cache) == 10
        server.reset_counts()
        s2 = run(server, items, tmp_path / "b", cache=cache)
        assert s2.cache_hits == 10 and server.calls == 2  # the blocked and the failed item are asked again
        assert s2.counts == {"ok": 10, "invalid": 0, "blocked": 1, "error": 1}
        assert s2.usage_session.get("input_tokens", 0) < s2.usage["input_tokens"]
        server.reset_counts()
        run(server, items[:10], tmp_path / "c", cache=cache, temperature=0.5)
        assert server.calls == 10  # decoding parameters are part of the key
        server.reset_counts()
        run(server, items[:10], tmp_path / "d", cache=cache, timeout=9.0, concurrency=3)
        assert server.calls == 0  # transport settings are not


# ---------------------------------------------------------------------------------------------
# faults, limits
# ---------------------------------------------------------------------------------------------


def test_ten_percent_of_every_fault_the_run_completes_and_accounts_for_everything(tmp_path):
    kinds = ["rate_limit", "server_error", "unavailable", "hang", "bad_body", "malformed", "prose", "filter", "refusal"]
    with FakeProviderServer(fault_rates={k: 0.1 for k in kinds}, retry_after="0.01", hang_seconds=1.0, seed=3) as srv:
        s = run(srv, post_items(posts(150)), tmp_path / "run", concurrency=16, timeout=0.25, max_attempts=3)
        assert all(srv.faults[k] > 0 for k in kinds)
    recs = lines(tmp_path / "run" / "predictions.jsonl")
    assert len(recs) == 150 and len({r["id"] for r in recs}) == 150
    statuses = {r["status"] for r in recs}
    assert statuses <= {"ok", "invalid", "blocked", "error"} and {"ok", "invalid", "blocked"} <= statuses
    assert sum(s.counts.values()) == 150
    assert s.rate_limited > 0 and s.concurrency_cuts >= 1
    for r in recs:
        assert (r["status"] == "ok") == bool(r["labels"])
        if r["status"] != "ok":
            assert r["reason"]


def test_concurrency_is_bounded(server, tmp_path):
    server.delay = 0.05
    run(server, post_items(posts(60)), tmp_path / "run", concurrency=5)
    assert server.max_in_flight == 5


def test_adaptive_concurrency_halves_on_429_and_grows_back():
    g = AdaptiveConcurrency(16, cooldown=0.0)
    g.observe(Outcome.RATE_LIMITED)
    g.observe(Outcome.RATE_LIMITED)
    assert g.current == 4 and g.cuts == 2
    for _ in range(200):
        g.observe(Outcome.OK)
    assert g.current == 16  # never above the ceiling
    slow = AdaptiveConcurrency(8, cooldown=60.0)
    for _ in range(5):
        slow.observe(Outcome.RATE_LIMITED)
    assert slow.current == 4 and slow.cuts == 1  # one burst of 429s counts once
    fixed = AdaptiveConcurrency(8, adaptive=False)
    fixed.observe(Outcome.RATE_LIMITED)
    assert fixed.current == 8


def test_rate_limiter_spaces_calls():
    r = RateLimiter(rate=50.0)
    waits = [r.reserve() for _ in range(10)]
    assert waits[0] == 0.0 and waits[-1] == pytest.approx(9 / 50, abs=0.01)


def test_rate_limit_option_slows_a_run(server, tmp_path):
    t0 = time.monotonic()
    run_items(post_items(posts(11)), detector(server), tmp_path / "run", options=RunOptions(concurrency=8, rate_limit=25.0))
    assert time.monotonic() - t0 >= 0.38  # 10 intervals of 40 ms


def test_no_raw_text_in_any_log_line(tmp_path, caplog):
    secret = "PRIVATE-WORDS-9021"
    items = [
        WorkItem(f"i{k}", f"{secret} {k} [[fault:{f}]]")
        for k, f in enumerate(["rate_limitx2", "server_error", "malformed", "filter", "prose", "hangx1"])
    ]
    with FakeProviderServer(retry_after="0", hang_seconds=1.0) as srv, caplog.at_level(logging.DEBUG):
        run(srv, items, tmp_path / "run", timeout=0.2)
    assert any(r.name.startswith("cradle") for r in caplog.records)
    for rec in caplog.records:
        assert secret not in rec.getMessage()


# ---------------------------------------------------------------------------------------------
# dialogues, batched detectors, item validation
# ---------------------------------------------------------------------------------------------


def _dialogues() -> list[Dialogue]:
    return [
        Dialogue("dA", (Turn(0, "user", "hello"), Turn(1, "listener", "hi"), Turn(2, "user", "my uncle hurt me when I was 8"))),
        Dialogue("dB", (Turn(0, "listener", "welcome"), Turn(1, "user", "just bored"))),
    ]


def test_dialogue_turns_one_call_each_with_history_and_dialogue_schema(server, tmp_path):
    server.answer = lambda text: ["confirm_CA_past"] if 'uncle hurt me when I was 8\n"""' in text else []
    s = run(server, turn_items(_dialogues()), tmp_path / "run")
    assert server.calls == 3 and s.counts["ok"] == 3
    recs = {r["id"]: r for r in lines(tmp_path / "run" / "predictions.jsonl")}
    assert set(recs) == {"dA:0", "dA:2", "dB:1"}
    assert recs["dA:2"]["labels"] == ["confirm_CA_past"] and recs["dA:0"]["labels"] == []
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["settings"]["kind"] == "turn"
    assert read_predictions(tmp_path / "run" / "predictions.jsonl", "dialogue")


class CountingDetector:
    """A local-style detector: no network, called in batches."""

    spec = "test:counting"

    def __init__(self, fail_on: str | None = None) -> None:
        self.batches: list[int] = []
        self.fail_on = fail_on

    def predict(self, texts):
        self.batches.append(len(texts))
        if self.fail_on and any(self.fail_on in t for t in texts):
            raise RuntimeError("model exploded")
        return [Prediction(labels=("no_crisis",)) for _ in texts]

    def predict_dialogue(self, dialogue):
        return [Prediction(labels=()).with_id(dialogue.item_id(t)) for t in dialogue.user_turns]


def test_non_api_detectors_run_in_batches(tmp_path):
    det = CountingDetector(fail_on="post 20 ")
    s = run_items(post_items(posts(40)), det, tmp_path / "run", options=RunOptions(batch_size=16))
    assert det.batches == [16, 16, 8]
    assert s.counts["ok"] == 24 and s.counts["error"] == 16  # the failed batch fails its items only
    err = [r for r in lines(tmp_path / "run" / "predictions.jsonl") if r["status"] == "error"]
    assert err[0]["reason"] == "RuntimeError: model exploded"
    s2 = run_items(turn_items(_dialogues()), CountingDetector(), tmp_path / "dlg")
    assert s2.counts["ok"] == 3 and s2.calls == 0


def test_item_validation(tmp_path):
    mixed = [WorkItem("p", "x"), next(turn_items(_dialogues()))]
    with pytest.raises(RunnerError, match="one kind per run"):
        run_items(mixed, CountingDetector(), tmp_path / "a")
    with pytest.raises(RunnerError, match="duplicate item id 'p'"):
        run_items([WorkItem("p", "x"), WorkItem("p", "y")], CountingDetector(), tmp_path / "b")

    class PostsOnly:
        spec = "test:posts-only"

        def predict(self, texts):
            return []

    with pytest.raises(RunnerError, match="cannot label dialogue turns"):
        run_items(turn_items(_dialogues()), PostsOnly(), tmp_path / "c")
    with pytest.raises(RunnerError, match="concurrency must be at least 1"):
        RunOptions(concurrency=0)


def test_fatal_provider_error_stops_the_run_and_marks_it_failed(server, tmp_path):
    from cradle.detectors.providers import FatalProviderError

    items = [WorkItem("a", "fine"), WorkItem("b", "x [[fault:unauthorized]]"), *post_items(posts(30))]
    with pytest.raises(FatalProviderError, match="HTTP 401"):
        run(server, items, tmp_path / "run", concurrency=1)
    m = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert m["status"] == "failed" and not (tmp_path / "run" / ".lock").exists()
    assert server.calls < 10


def test_a_failure_to_record_stops_the_run_instead_of_losing_items(server, tmp_path, monkeypatch):
    from cradle.pipelines.runs.rundir import RunDirectory

    real_append = RunDirectory.append
    calls = {"n": 0}

    def failing_append(self, prediction):
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError(28, "No space left on device")
        real_append(self, prediction)

    monkeypatch.setattr(RunDirectory, "append", failing_append)
    with pytest.raises(OSError, match="No space left"):
        run(server, post_items(posts(40)), tmp_path / "run", concurrency=4)
    monkeypatch.undo()
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "failed"
    assert len(lines(tmp_path / "run" / "predictions.jsonl")) == 5
    s = run(server, post_items(posts(40)), tmp_path / "run", concurrency=4)
    assert s.resumed == 5 and s.new == 35 and s.status == "complete"


def test_cost_totals_for_a_known_model(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    det = load_detector("openai:gpt-5-mini-2025-08-07", base_url=server.openai_base, backoff_base=0.001)
    s = run_items(post_items(posts(4)), det, tmp_path / "run")
    u = s.usage
    assert s.cost_usd == pytest.approx((u["input_tokens"] * 0.25 + u["output_tokens"] * 2.0) / 1e6)
    s2 = run(server, post_items(posts(4)), tmp_path / "run2")
    assert s2.cost_usd is None  # self-hosted: no price


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def _cli(*args: str, env: dict | None = None):
    from typer.testing import CliRunner

    from cradle.interfaces.cli.app import app

    return CliRunner().invoke(app, list(args), env=env)


def test_cli_predict_and_evaluate_write_the_score_object(server, tmp_path):
    gold = tmp_path / "gold.jsonl"
    write_posts_jsonl(posts(12), gold)
    spec = f"openai-compatible:{server.openai_base}#fake-model"
    r = _cli("predict", str(gold), "--model", spec, "--out", str(tmp_path / "p"), "--cache", str(tmp_path / "c.sqlite"))
    assert r.exit_code == 0, r.output
    assert "made-up post" not in r.output  # the summary never echoes text
    assert len(lines(tmp_path / "p" / "predictions.jsonl")) == 12
    server.reset_counts()
    r = _cli("evaluate", str(gold), "--model", spec, "--out", str(tmp_path / "p"), "--json", "--bootstrap", "20")
    assert r.exit_code == 0, r.output
    assert server.calls == 0  # a finished run: scoring only
    scores = json.loads((tmp_path / "p" / "scores.json").read_text())
    assert scores["n"] == 12 and scores["all_samples"]["micro_f1"] == 1.0 and "ci" in scores["all_samples"]
    printed = json.loads(r.stdout[r.stdout.index("{") :])
    assert printed == scores
    r = _cli("score", str(gold), str(tmp_path / "p" / "predictions.jsonl"), "--json", "--bootstrap", "20")
    assert json.loads(r.stdout) == scores


def test_cli_evaluate_dialogues(server, tmp_path):
    from cradle.data import write_dialogues_nested

    data = tmp_path / "dlg.jsonl"
    write_dialogues_nested(_dialogues(), data)
    r = _cli(
        "evaluate", str(data), "--model", f"openai-compatible:{server.openai_base}#m", "--out", str(tmp_path / "r"), "--no-cache"
    )
    assert r.exit_code == 0, r.output
    assert server.calls == 3
    scores_file = tmp_path / "r" / "scores.json"
    try:
        import cradle.metrics.dialogue  # noqa: F401
    except ModuleNotFoundError:
        assert not scores_file.exists() and "dialogue scoring is not available" in r.output
    else:
        assert "turn_level" in json.loads(scores_file.read_text())


def test_cli_missing_key_fails_before_any_work(server, tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    r = _cli("predict", "synthetic:posts-test", "--model", "anthropic:claude-sonnet-4", "--out", str(tmp_path / "r"))
    assert r.exit_code == 2
    assert "no API key: set ANTHROPIC_API_KEY" in r.output
    assert not (tmp_path / "r").exists()


def test_cli_rejects_generative_options_for_local_and_reports_fatal_errors(server, tmp_path):
    r = _cli("predict", "synthetic:posts-test", "--model", "local:default", "--out", str(tmp_path / "r"), "--temperature", "0.5")
    assert r.exit_code == 2 and "--temperature do(es) not apply to local: specs" in r.output
    data = tmp_path / "d.jsonl"
    write_posts_jsonl([Post("a", "x [[fault:unauthorized]]", (PostLabel.NO_CRISIS,), {})], data)
    r = _cli(
        "predict", str(data), "--model", f"openai-compatible:{server.openai_base}#m", "--out", str(tmp_path / "f"), "--no-cache"
    )
    assert r.exit_code == 2 and "refused the API key" in r.output and "kept in" in r.output
