"""API detectors against real HTTP servers on 127.0.0.1: wire formats, blocked answers, faults, keys."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from cradle.data import Dialogue, Status, Turn  # noqa: E402
from cradle.detectors import SpecError, load_detector  # noqa: E402
from cradle.detectors.calls import RetryPolicy  # noqa: E402
from cradle.detectors.llm import LLMDetector, OptionError  # noqa: E402
from cradle.detectors.providers import FatalProviderError, MissingAPIKeyError, parse_retry_after  # noqa: E402
from cradle.prompts import SYSTEM_PROMPT_COMMERCIAL, SYSTEM_PROMPT_OPEN, PromptError  # noqa: E402
from fake_providers import FakeProviderServer  # noqa: E402

ENGINES = ("openai", "anthropic", "gemini", "openai-compatible")
KEYS = {"openai": "sk-test-openai", "anthropic": "sk-ant-test", "gemini": "AIza-test"}


@pytest.fixture
def server():
    with FakeProviderServer(retry_after="0.05", hang_seconds=2.0, api_keys=dict(KEYS)) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _keys(monkeypatch):
    for var in (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_BASE_URL",
        "GEMINI_BASE_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", KEYS["openai"])
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEYS["anthropic"])
    monkeypatch.setenv("GEMINI_API_KEY", KEYS["gemini"])


def make(engine: str, srv: FakeProviderServer, model: str = "m-1", **kw) -> LLMDetector:
    kw.setdefault("backoff_base", 0.005)
    kw.setdefault("timeout", 0.5)
    kw.setdefault("max_attempts", 4)
    if engine == "openai-compatible":
        if "openai" in srv.api_keys:  # the server wants a key: name the variable, as a user of a keyed vLLM would
            kw.setdefault("api_key_env", "OPENAI_API_KEY")
        return load_detector(f"openai-compatible:{srv.openai_base}#{model}", **kw)
    base = srv.openai_base if engine == "openai" else srv.url
    return load_detector(f"{engine}:{model}", base_url=base, **kw)


# ---------------------------------------------------------------------------------------------
# wire formats
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_each_engine_labels_posts_and_reports_usage(engine, server):
    det = make(engine, server)
    preds = det.predict(["first post [[labels:selfharm_ongoing,rape_past]]", "second post"])
    assert [p.status for p in preds] == [Status.OK, Status.OK]
    assert preds[0].labels == ("selfharm_ongoing", "rape_past")
    assert preds[1].labels == ("no_crisis",)
    assert preds[0].raw == '{"labels": ["selfharm_ongoing", "rape_past"]}'
    assert preds[0].usage and preds[0].usage["input_tokens"] > 100 and preds[0].usage["output_tokens"] > 0
    assert server.calls == 2


def test_openai_request_format(server):
    make("openai", server).predict(["hello"])
    req = server.requests[-1]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["authorization"] == f"Bearer {KEYS['openai']}"
    body = req["body"]
    assert body["model"] == "m-1"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][0]["content"] == SYSTEM_PROMPT_COMMERCIAL
    assert body["temperature"] == 0.0 and body["top_p"] == 1.0 and body["max_completion_tokens"] == 1024
    assert "max_tokens" not in body


def test_openai_reasoning_models_get_no_sampling_parameters(server):
    det = make("openai", server, model="gpt-5")
    det.predict(["hello"])
    body = server.requests[-1]["body"]
    assert "temperature" not in body and "top_p" not in body and body["max_completion_tokens"] == 1024
    assert det.describe("post")["parameters"]["temperature"] is None


def test_openai_compatible_sends_no_key_unless_named(server, monkeypatch):
    server.api_keys.pop("openai")
    make("openai-compatible", server).predict(["hello"])
    req = server.requests[-1]
    assert "authorization" not in req["headers"]  # OPENAI_API_KEY is set but never sent to a third-party server
    assert req["body"]["max_tokens"] == 1024 and req["body"]["messages"][0]["content"] == SYSTEM_PROMPT_OPEN
    monkeypatch.setenv("VLLM_KEY", "local-secret")
    make("openai-compatible", server, api_key_env="VLLM_KEY").predict(["hello"])
    assert server.requests[-1]["headers"]["authorization"] == "Bearer local-secret"


def test_anthropic_request_format(server):
    make("anthropic", server, model="claude-sonnet-4-20250514", max_tokens=300, temperature=0.2).predict(["hello"])
    req = server.requests[-1]
    assert req["path"] == "/v1/messages"
    assert req["headers"]["x-api-key"] == KEYS["anthropic"] and req["headers"]["anthropic-version"] == "2023-06-01"
    body = req["body"]
    assert body["system"] == SYSTEM_PROMPT_COMMERCIAL
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert body["max_tokens"] == 300 and body["temperature"] == 0.2
    assert "top_p" not in body  # recent Claude models refuse temperature and top_p together


def test_gemini_request_format_and_google_api_key_fallback(server, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY")
    monkeypatch.setenv("GOOGLE_API_KEY", KEYS["gemini"])
    make("gemini", server, model="models/gemini-2.5-pro").predict(["hello"])
    req = server.requests[-1]
    assert req["path"] == "/v1beta/models/gemini-2.5-pro:generateContent"
    assert req["headers"]["x-goog-api-key"] == KEYS["gemini"]
    body = req["body"]
    assert body["systemInstruction"] == {"parts": [{"text": SYSTEM_PROMPT_COMMERCIAL}]}
    assert body["contents"][0]["role"] == "user"
    assert body["generationConfig"] == {"temperature": 0.0, "topP": 1.0, "maxOutputTokens": 1024}


# ---------------------------------------------------------------------------------------------
# blocked answers, each provider's own form
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("engine", "fault", "reason"),
    [
        ("openai", "filter", "finish_reason content_filter"),
        ("openai", "refusal", "refusal: I'm sorry"),
        ("openai", "filter_400", "content_filter"),
        ("anthropic", "filter", "stop_reason refusal"),
        ("gemini", "filter", "promptFeedback.blockReason SAFETY"),
        ("gemini", "refusal", "finishReason SAFETY"),
        ("gemini", "prohibited", "finishReason PROHIBITED_CONTENT"),
    ],
)
def test_blocked_answers(engine, fault, reason, server):
    (pred,) = make(engine, server).predict([f"text [[fault:{fault}]]"])
    assert pred.status is Status.BLOCKED
    assert reason in (pred.reason or "")
    assert pred.labels == ()
    assert server.calls == 1  # a block is an answer, not retried


# ---------------------------------------------------------------------------------------------
# faults
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ("openai", "anthropic", "gemini"))
@pytest.mark.parametrize(
    ("fault", "status", "calls", "reason"),
    [
        ("rate_limitx2", Status.OK, 3, None),
        ("server_errorx1", Status.OK, 2, None),
        ("unavailablex3", Status.OK, 4, None),
        ("rate_limit", Status.ERROR, 4, "rate limited (HTTP 429)"),
        ("server_error", Status.ERROR, 4, "server error (HTTP 500)"),
        ("bad_body", Status.ERROR, 4, "not a JSON object"),
        ("malformed", Status.INVALID, 1, 'no JSON object with a "labels" field'),
        ("prose", Status.OK, 1, None),
        ("think", Status.OK, 1, None),
        ("unknown_label", Status.INVALID, 1, "unknown post label 'burnout'"),
        ("empty_labels", Status.INVALID, 1, "empty label list"),
        ("bad_request", Status.ERROR, 1, "request rejected (HTTP 400)"),
    ],
)
def test_faults_end_in_the_right_status(engine, fault, status, calls, reason, server):
    (pred,) = make(engine, server).predict([f"post [[fault:{fault}]]"])
    assert pred.status is status, pred.reason
    assert server.calls == calls
    if reason:
        assert reason in (pred.reason or "")
    if status is Status.ERROR and calls > 1:
        assert f"gave up after {calls} attempts" in (pred.reason or "")
    if status is Status.OK:
        assert pred.labels == ("no_crisis",)
    else:
        assert pred.labels == ()


def test_hang_past_the_timeout_is_retried_then_errors(server):
    det = make("openai", server, timeout=0.2, max_attempts=2)
    t0 = time.monotonic()
    once, always = det.predict(["a [[fault:hangx1]]", "b [[fault:hang]]"])
    assert once.status is Status.OK
    assert always.status is Status.ERROR and "no answer within the timeout" in (always.reason or "")
    assert time.monotonic() - t0 < 1.5  # the client never waited for the 2 s hang


def test_retry_after_is_honoured(server):
    server.retry_after = "0.3"
    det = make("openai", server, backoff_base=0.001)
    (pred,) = det.predict(["x [[fault:rate_limitx1]]"])
    assert pred.status is Status.OK
    (times,) = server.call_times.values()
    assert times[1] - times[0] >= 0.29


def test_one_rejected_item_does_not_fail_the_others(server):
    preds = make("anthropic", server).predict(["fine", "broken [[fault:bad_request]]", "also fine"])
    assert [p.status for p in preds] == [Status.OK, Status.ERROR, Status.OK]


@pytest.mark.parametrize(
    ("engine", "fault", "match"),
    [("openai", "unauthorized", "refused the API key from OPENAI_API_KEY"), ("openai", "quota", "quota is exhausted")],
)
def test_fatal_errors_stop_the_work(engine, fault, match, server):
    with pytest.raises(FatalProviderError, match=match):
        make(engine, server).predict([f"x [[fault:{fault}]]"])
    assert server.calls == 1


def test_wrong_keys_are_fatal_for_every_provider(server, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "wrong")
    monkeypatch.setenv("GEMINI_API_KEY", "wrong")
    with pytest.raises(FatalProviderError, match="HTTP 401"):
        make("anthropic", server).predict(["x"])
    with pytest.raises(FatalProviderError, match="API_KEY_INVALID"):
        make("gemini", server).predict(["x"])


def test_unknown_endpoint_is_fatal(server):
    det = load_detector(f"openai-compatible:{server.url}/nope#m", backoff_base=0.001)
    with pytest.raises(FatalProviderError, match="HTTP 404"):
        det.predict(["x"])


def test_unreachable_server_is_an_error_status():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    det = load_detector(f"openai-compatible:http://127.0.0.1:{port}/v1#m", backoff_base=0.001, max_attempts=2, timeout=0.5)
    (pred,) = det.predict(["x"])
    assert pred.status is Status.ERROR and "network error" in (pred.reason or "")
    assert "gave up after 2 attempts" in (pred.reason or "")


# ---------------------------------------------------------------------------------------------
# keys and options: clear errors before any work
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("engine", "var"),
    [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY"), ("gemini", "GEMINI_API_KEY or GOOGLE_API_KEY")],
)
def test_missing_key_is_a_clear_error_before_any_call(engine, var, server, monkeypatch):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(MissingAPIKeyError, match=f"{engine}: no API key: set {var} in the environment"):
        make(engine, server)
    assert server.calls == 0


def test_named_key_variable_must_be_set(server):
    with pytest.raises(MissingAPIKeyError, match="set NOT_SET_ANYWHERE"):
        make("openai-compatible", server, api_key_env="NOT_SET_ANYWHERE")


def test_bad_options_and_specs():
    with pytest.raises(OptionError, match="temperature must be between 0 and 2"):
        load_detector("openai-compatible:http://127.0.0.1:9/v1#m", temperature=3.0)
    with pytest.raises(OptionError, match="max_attempts must be at least 1"):
        load_detector("openai-compatible:http://127.0.0.1:9/v1#m", max_attempts=0)
    with pytest.raises(SpecError, match="takes its URL from the spec"):
        load_detector("openai-compatible:http://127.0.0.1:9/v1#m", base_url="http://elsewhere/v1")
    with pytest.raises(SpecError, match="use one of"):
        load_detector("opneai:gpt-5")


def test_prompt_file_used_verbatim(server, tmp_path):
    f = tmp_path / "paper.txt"
    f.write_text('Published prompt. Allowed: {labels}\nText: {post}\nJSON: {"labels": [...]}', encoding="utf-8")
    make("openai", server, prompt_file=f).predict(["abc"])
    user = server.requests[-1]["body"]["messages"][1]["content"]
    assert user.startswith("Published prompt. Allowed: suicideideation_active_ongoing\n")
    assert user.endswith('Text: abc\nJSON: {"labels": [...]}')


# ---------------------------------------------------------------------------------------------
# dialogues, async twin, caches, logs
# ---------------------------------------------------------------------------------------------


def _dialogue() -> Dialogue:
    return Dialogue(
        "d3",
        (
            Turn(0, "user", "hey, rough night"),
            Turn(1, "listener", "I'm here. What happened?"),
            Turn(2, "user", "he threw my phone and grabbed my arm"),
            Turn(3, "listener", "That sounds frightening."),
            Turn(4, "user", "it happens every week"),
        ),
    )


def test_predict_dialogue_one_call_per_user_turn_with_history(server):
    server.answer = lambda text: ["confirm_DV_ongoing"] if 'grabbed my arm\n"""' in text else []
    det = make("anthropic", server)
    preds = det.predict_dialogue(_dialogue())
    assert [p.id for p in preds] == ["d3:0", "d3:2", "d3:4"]
    assert [p.labels for p in preds] == [(), ("confirm_DV_ongoing",), ()]
    assert all(p.ok for p in preds)
    assert server.calls == 3
    (last,) = [r["body"]["messages"][0]["content"] for r in server.requests if 'every week\n"""' in r["body"]["messages"][0]["content"]]
    assert "User: hey, rough night\nListener: I'm here. What happened?\nUser: he threw my phone and grabbed my arm\nListener: That sounds frightening.\n" in last


def test_async_twin_and_sync_call_inside_a_running_loop(server):
    det = make("gemini", server)

    async def main():
        a = await det.apredict(["x [[labels:selfharm_past]]"])
        b = det.predict(["y"])  # a running loop: predict runs its own loop in a thread
        return a, b

    a, b = asyncio.run(main())
    assert a[0].labels == ("selfharm_past",) and b[0].labels == ("no_crisis",)


def test_detector_cache_skips_calls_but_never_stores_blocked_answers(server, tmp_path):
    from cradle.pipelines.runs.cache import ResponseCache

    with ResponseCache(tmp_path / "c.sqlite") as cache:
        det = make("openai", server, cache=cache)
        texts = ["a", "b [[fault:filter]]", "c [[fault:server_error]]"]
        first = det.predict(texts)
        assert [p.status for p in first] == [Status.OK, Status.BLOCKED, Status.ERROR]
        calls = server.calls
        second = det.predict(texts)
        assert [p.status for p in second] == [Status.OK, Status.BLOCKED, Status.ERROR]
        assert server.calls - calls == 1 + 4  # the ok answer came from the cache; blocked and error asked again
        assert len(cache) == 1


def test_no_raw_text_in_logs(server, caplog):
    secret = "SENSITIVE-PHRASE-4711"
    texts = [
        f"{secret} {i} [[fault:{f}]]"
        for i, f in enumerate(["rate_limitx1", "server_error", "malformed", "filter", "bad_request", "hangx1"])
    ]
    with caplog.at_level(logging.DEBUG):
        make("openai", server, timeout=0.2).predict(texts)
    assert caplog.records  # something was logged at DEBUG
    for rec in caplog.records:
        assert secret not in rec.getMessage()


def test_retry_after_parsing_and_backoff():
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    p = RetryPolicy(backoff_base=0.1, backoff_max=0.4, max_retry_after=1.0)
    assert all(0.2 <= p.delay(3) <= 0.4 for _ in range(50))
    assert p.delay(0, retry_after=99) == 1.0
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_cost_related_description_is_stable(server):
    det = make("openai", server)
    d = det.describe("post")
    assert d["engine"] == "openai" and d["parameters"] == {"temperature": 0.0, "top_p": 1.0, "max_tokens": 1024}
    assert d["prompt"]["hash"] == make("openai", server).describe("post")["prompt"]["hash"]
    with pytest.raises(PromptError):
        LLMDetector(det.provider, prompts=det.prompts.__class__(system="s", turn=None)).check_kind("turn")


# ---------------------------------------------------------------------------------------------
# hf: a tiny causal LM built on the spot (no download)
# ---------------------------------------------------------------------------------------------


def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    d = tmp_path_factory.mktemp("tiny-lm")
    vocab = {c: i for i, c in enumerate(_bytes_to_unicode().values())}
    for special in ("<s>", "</s>", "<pad>"):
        vocab[special] = len(vocab)
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    tok.chat_template = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
    tok.save_pretrained(d)
    cfg = transformers.LlamaConfig(
        vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=4096, bos_token_id=vocab["<s>"], eos_token_id=vocab["</s>"], pad_token_id=vocab["<pad>"],
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(cfg).save_pretrained(d)
    return d


def test_hf_detector_formats_with_the_chat_template_and_parses(tiny_model_dir, monkeypatch):
    from cradle.detectors.hf import HFDetector
    from cradle.prompts import PromptSet

    det = load_detector(f"hf:{tiny_model_dir}", max_tokens=8, prompts=PromptSet.training("hf"))
    assert isinstance(det, HFDetector)
    prompt = det.format_prompt(det.prompts.post_messages("my week [[x]]"))
    assert prompt.startswith(f"<|system|>{SYSTEM_PROMPT_OPEN}\n<|user|>") and prompt.endswith("my week [[x]]\n<|assistant|>")

    # random weights: an unparseable reply cut at the token limit
    p1, p2 = det.predict(["short", "a somewhat longer post"])
    assert p1.status is Status.INVALID and "max-token limit" in (p1.reason or "")
    assert p1.usage["output_tokens"] == 8 and p1.usage["input_tokens"] < p2.usage["input_tokens"]

    # a model that answers: the same parser judges its reply; eos ends the reply
    model, tok = det._load()
    answer = tok('{"labels": ["selfharm_past"]}', add_special_tokens=False, return_tensors="pt")["input_ids"][0]
    import torch

    def fake_generate(input_ids, attention_mask, **kw):
        tail = torch.cat([answer, torch.tensor([tok.eos_token_id])])
        return torch.cat([input_ids, tail.repeat(input_ids.shape[0], 1)], dim=1)

    monkeypatch.setattr(model, "generate", fake_generate)
    (ok,) = det.predict(["x"])
    assert ok.status is Status.OK and ok.labels == ("selfharm_past",)
    preds = det.predict_dialogue(_dialogue())
    assert [p.id for p in preds] == ["d3:0", "d3:2", "d3:4"]
    assert all(p.status is Status.INVALID and "unknown dialogue label" in (p.reason or "") for p in preds)
    desc = det.describe("post")
    assert desc["engine"] == "hf" and desc["model_files"] and desc["parameters"]["max_tokens"] == 8


def test_undecodable_body_is_an_error_status_not_a_crash():
    import httpx

    from cradle.detectors.providers import OpenAICompatibleProvider

    def handler(request):  # claims gzip, sends garbage: httpx raises DecodingError, not a TransportError
        return httpx.Response(200, headers={"content-encoding": "gzip"}, content=b"not gzip at all")

    async def go():
        det = LLMDetector(
            OpenAICompatibleProvider("m", api_key=None, base_url="http://127.0.0.1:9/v1"),
            retry=RetryPolicy(max_attempts=2, backoff_base=0.001),
        )
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await det.aresolve(det.request_for_post("x"), client=client)

    result = asyncio.run(go())
    assert result.prediction.status is Status.ERROR and result.calls == 2
    assert "DecodingError" in (result.prediction.reason or "")
