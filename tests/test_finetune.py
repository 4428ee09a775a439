"""The fine-tuning path: sft-export, the recipe's arithmetic, and a CPU smoke test on a tiny model.

The smoke tests build a randomly initialised two-layer Llama and a word-level tokenizer with a
chat template inside the test (no download), train it for a few steps, and check that the loss
falls, that the adapter saves, loads through ``hf:`` and answers with labels or an ``invalid``
status, and that merging reproduces the adapter's outputs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cradle.data import Dialogue, Post, Turn, write_dialogues_nested, write_posts_jsonl
from cradle.interfaces.cli.app import app
from cradle.labels import DialogueLabel, PostLabel
from cradle.pipelines.training.finetune import (
    FinetuneError,
    FinetuneSettings,
    default_learning_rate,
    gradient_accumulation_steps,
    split_dev,
)
from cradle.pipelines.training.sft_export import post_example
from cradle.prompts import SYSTEM_PROMPT_OPEN, TRAINING_TEMPLATE, parse_reply

POSTS = [
    Post("p0", "I cut my arm again last night and I cannot stop", (PostLabel.SELFHARM_ONGOING,)),
    Post("p1", "had a quiet week, cooked dinner with friends", (PostLabel.NO_CRISIS,)),
    Post("p2", "I wish I could just disappear and never wake up", (PostLabel.SUICIDEIDEATION_PASSIVE_ONGOING,)),
    Post("p3", "work is fine and the weather is nice", (PostLabel.NO_CRISIS,)),
    Post("p4", "years ago my ex hit me, it is over now", (PostLabel.DOMESTICVIOLENCE_PAST,)),
    Post("p5", "the garden is growing well this spring", (PostLabel.NO_CRISIS,)),
    Post("p6", "I burned myself with a lighter today", (PostLabel.SELFHARM_ONGOING,)),
    Post("p7", "finished my exams, feeling relieved", (PostLabel.NO_CRISIS,)),
    Post("p8", "I was raped at a party two years ago", (PostLabel.RAPE_PAST,)),
    Post("p9", "my cat knocked over the plant again", (PostLabel.NO_CRISIS,)),
]


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


# --------------------------------------------------------------------------------------------
# Without torch: the export and the recipe's arithmetic
# --------------------------------------------------------------------------------------------


def test_sft_export_posts(tmp_path):
    data = tmp_path / "train.jsonl"
    write_posts_jsonl(POSTS[:3], data)
    out = tmp_path / "sft.jsonl"
    res = _invoke("sft-export", data, "--out", out)
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 3 and all(set(x) == {"messages"} for x in lines)
    system, user, assistant = lines[0]["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT_OPEN}
    assert user["role"] == "user" and user["content"].endswith("Post:\n" + POSTS[0].text)
    assert user["content"].startswith(TRAINING_TEMPLATE.text.split("{labels}")[0])
    assert assistant == {"role": "assistant", "content": '{"labels": ["selfharm_ongoing"]}'}
    # the answer is exactly what the reply parser reads back
    assert parse_reply(assistant["content"], "post").labels == ("selfharm_ongoing",)


def test_sft_export_dialogues_one_example_per_user_turn(tmp_path):
    d = Dialogue(
        "d0",
        (
            Turn(0, "user", "things are rough at home"),
            Turn(1, "listener", "I'm sorry, what is happening?"),
            Turn(2, "user", "my partner hits me", (DialogueLabel.CONFIRM_DV_ONGOING,)),
        ),
    )
    data = tmp_path / "dlg.jsonl"
    write_dialogues_nested([d], data)
    out = tmp_path / "sft.jsonl"
    assert _invoke("sft-export", data, "--out", out).exit_code == 0
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["messages"][-1]["content"] for x in lines] == ['{"labels": []}', '{"labels": ["confirm_DV_ongoing"]}']
    assert "Listener: I'm sorry, what is happening?" in lines[1]["messages"][1]["content"]


def test_sft_export_needs_labels(tmp_path):
    data = tmp_path / "unlabelled.csv"
    data.write_text("question_id,question_text,final_labels\nq1,hello,\n", encoding="utf-8")
    res = _invoke("sft-export", data, "--out", tmp_path / "o.jsonl")
    assert res.exit_code == 2 and "unlabelled.csv:2" in res.output


def test_recipe_defaults():
    assert default_learning_rate("Qwen/Qwen3-14B")[0] == 8e-6
    assert default_learning_rate("/data/models/qwen2.5-72b-instruct")[0] == 8e-6
    assert default_learning_rate("meta-llama/Llama-3.3-70B-Instruct")[0] == 2e-5
    assert default_learning_rate("/ckpt/step-100", "llama")[0] == 2e-5
    assert default_learning_rate("google/gemma-2-9b-it") == (2e-5, "default for other models (the Llama value)")
    assert gradient_accumulation_steps(128, 1) == 128
    assert gradient_accumulation_steps(128, 8, world_size=4) == 4
    assert gradient_accumulation_steps(32, 64) == 1
    s = FinetuneSettings(base="x")
    assert (s.method, s.lora_r, s.lora_alpha, s.lora_dropout, s.epochs, s.effective_batch, s.max_length) == ("lora", 8, 32, 0.05, 3.0, 128, 2048)
    with pytest.raises(FinetuneError, match="--dev-fraction must be in"):
        FinetuneSettings(base="x", dev_fraction=1.5).validate()
    train, dev = split_dev([post_example(p) for p in POSTS], 0.2, seed=1)
    assert (len(train), len(dev)) == (8, 2)
    assert split_dev([post_example(p) for p in POSTS], 0.2, seed=1) == (train, dev)


def test_finetune_rejects_bad_settings_before_loading(tmp_path):
    data = tmp_path / "train.jsonl"
    write_posts_jsonl(POSTS, data)
    res = _invoke("finetune", data, "--base", tmp_path / "nowhere", "--out", tmp_path / "o", "--precision", "fp8")
    assert res.exit_code == 2 and "--precision must be auto, bf16, fp16 or fp32" in res.output


def test_missing_packages_are_named(monkeypatch, tmp_path):
    import sys

    from cradle.pipelines.training.finetune import require_finetune_packages

    monkeypatch.setitem(sys.modules, "peft", None)
    with pytest.raises(FinetuneError, match=r"needs peft, which is not installed: pip install 'cradle-risk\[finetune\]'"):
        require_finetune_packages()
    data = tmp_path / "train.jsonl"
    write_posts_jsonl(POSTS, data)
    for args in (["finetune", data, "--base", "x", "--out", tmp_path / "o"], ["merge-adapter", tmp_path, "--out", tmp_path / "m"]):
        res = _invoke(*args)
        assert res.exit_code == 2 and "needs peft, which is not installed" in res.output


# --------------------------------------------------------------------------------------------
# With torch, transformers and peft: a tiny model trained on CPU
# --------------------------------------------------------------------------------------------

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)
SPECIAL = ["<unk>", "<pad>", "<s>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    """A random two-layer Llama and a word-level tokenizer over the words of the examples."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("peft")
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")

    words: set[str] = set()
    for post in POSTS:
        for m in post_example(post)["messages"]:
            words.update(m["content"].split())
    vocab = {w: i for i, w in enumerate(SPECIAL + sorted(words - set(SPECIAL)))}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens(SPECIAL)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="<|end|>")
    fast.chat_template = CHAT_TEMPLATE
    base = tmp_path_factory.mktemp("tiny") / "tiny-llama"
    fast.save_pretrained(base)
    config = transformers.LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=vocab["<s>"],
        eos_token_id=vocab["<|end|>"],
        pad_token_id=vocab["<pad>"],
    )
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(base)
    return base


@pytest.fixture(scope="module")
def train_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    write_posts_jsonl(POSTS, path)
    return path


@pytest.mark.finetune
def test_loss_is_masked_to_the_answer(tiny_base):
    from transformers import AutoTokenizer

    from cradle.pipelines.training.finetune import tokenize_chat

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    ex = post_example(POSTS[2])
    tok = tokenize_chat(tokenizer, ex["messages"], max_length=2048)
    assert tok is not None and len(tok.labels) == len(tok.input_ids)
    answer = [t for t, lab in zip(tok.input_ids, tok.labels, strict=True) if lab != -100]
    assert tokenizer.decode(answer) == '{"labels": ["suicideideation_passive_ongoing"]} <|end|>'
    n_prompt = tok.labels.count(-100)
    assert tok.labels[:n_prompt] == [-100] * n_prompt and -100 not in tok.labels[n_prompt:]
    prompt = tokenizer.apply_chat_template(ex["messages"][:-1], tokenize=False, add_generation_prompt=True)
    assert tok.input_ids[:n_prompt] == tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert tokenize_chat(tokenizer, ex["messages"], max_length=n_prompt) is None  # too long: skipped, never cut


@pytest.mark.finetune
def test_lora_smoke_trains_saves_loads_and_predicts(tiny_base, train_file, tmp_path):
    from cradle.detectors import load_detector

    out = tmp_path / "adapter"
    started = time.monotonic()
    res = _invoke(
        "finetune", train_file, "--base", tiny_base, "--out", out,
        "--lr", "1e-2", "--epochs", "6", "--effective-batch", "4", "--batch-size", "2",
        "--dev-fraction", "0.2", "--logging-steps", "1", "--json",
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert res.exit_code == 0, res.output
    card = json.loads(res.stdout[res.stdout.index("{") :])
    assert elapsed < 120, f"the CPU smoke test took {elapsed:.0f} s"

    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "README.md", "cradle_finetune.json", "prompt.txt"):
        assert (out / name).is_file(), name
    assert not (out / "checkpoints").exists()
    assert (out / "prompt.txt").read_text(encoding="utf-8") == TRAINING_TEMPLATE.text + "\n"
    assert card == json.loads((out / "cradle_finetune.json").read_text(encoding="utf-8"))
    assert card["method"] == "lora" and card["lora"] == {"r": 8, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}
    assert card["learning_rate"] == {"value": 0.01, "source": "given"}
    assert card["batch"] == {"effective": 4, "requested_effective": 4, "per_device": 2, "gradient_accumulation": 2, "world_size": 1}
    assert card["data"]["train"]["examples"] == 8 and card["data"]["dev"]["examples"] == 2
    assert card["prompt"]["template"] == "training"
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "LoRA r / alpha / dropout | 8 / 32 / 0.05" in readme and "library_name: peft" in readme
    assert not any(p.text in readme or p.text in json.dumps(card) for p in POSTS)  # no training text in the card

    losses = [h["loss"] for h in card["results"]["history"] if "loss" in h]
    evals = [h["eval_loss"] for h in card["results"]["history"] if "eval_loss" in h]
    assert len(losses) == card["results"]["total_steps"] == 12 and len(evals) == 6
    assert losses[-1] < losses[0] - 0.2, losses
    assert min(evals) < evals[0]
    assert card["results"]["best_eval_loss"] == pytest.approx(min(evals))
    best_step = next(h["step"] for h in card["results"]["history"] if h.get("eval_loss") == min(evals))
    assert card["results"]["best_step"] == best_step

    detector = load_detector(f"hf:{out}", max_tokens=8, prompt_file=out / "prompt.txt")
    preds = detector.predict(["I cut my arm again", "a quiet week"])
    # hf: loaded the base model with the adapter on top, not the base model alone
    import torch
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[2, 10, 11, 12, 13]])
    loaded, _ = detector._load()
    with torch.no_grad():
        via_hf = loaded(ids).logits
        via_peft = AutoPeftModelForCausalLM.from_pretrained(str(out)).eval()(ids).logits
        base_only = AutoModelForCausalLM.from_pretrained(str(tiny_base)).eval()(ids).logits
    assert torch.allclose(via_hf, via_peft, atol=1e-5) and not torch.allclose(via_hf, base_only, atol=1e-3)
    assert len(preds) == 2
    for p in preds:
        assert p.status.value in ("ok", "invalid"), p
        if p.ok:
            assert parse_reply(p.raw, "post").ok
        else:
            assert p.reason


@pytest.mark.finetune
def test_merge_adapter_reproduces_the_adapter(tiny_base, train_file, tmp_path):
    import torch
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM

    out = tmp_path / "adapter"
    res = _invoke(
        "finetune", train_file, "--base", tiny_base, "--out", out, "--lr", "1e-2", "--epochs", "1",
        "--effective-batch", "4", "--batch-size", "4", "--dev-fraction", "0", "--lora-r", "4",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    merged = tmp_path / "merged"
    res = _invoke("merge-adapter", out, "--out", merged)
    assert res.exit_code == 0, res.output
    assert (merged / "model.safetensors").is_file() and not (merged / "adapter_config.json").exists()
    card = json.loads((merged / "cradle_finetune.json").read_text(encoding="utf-8"))
    assert card["merged"]["adapter"] == str(out.resolve()) and card["lora"]["r"] == 4
    assert "library_name: transformers" in (merged / "README.md").read_text(encoding="utf-8")
    ids = torch.tensor([[2, 10, 11, 12, 13]])
    with torch.no_grad():
        a = AutoPeftModelForCausalLM.from_pretrained(str(out)).eval()(ids).logits
        b = AutoModelForCausalLM.from_pretrained(str(merged)).eval()(ids).logits
    assert torch.allclose(a, b, atol=1e-4)
    res = _invoke("merge-adapter", merged, "--out", tmp_path / "again")
    assert res.exit_code == 2 and "not a LoRA adapter" in res.output


@pytest.mark.finetune
def test_full_finetune_without_validation(tiny_base, train_file, tmp_path):
    out = tmp_path / "full"
    res = _invoke(
        "finetune", train_file, "--base", tiny_base, "--out", out, "--full", "--lr", "5e-3", "--epochs", "2",
        "--effective-batch", "5", "--batch-size", "5", "--dev-fraction", "0", "--logging-steps", "1",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    card = json.loads((out / "cradle_finetune.json").read_text(encoding="utf-8"))
    assert card["method"] == "full" and card["lora"] is None and card["data"]["dev"] is None
    assert card["selection"].startswith("none") and card["results"]["best_eval_loss"] is None
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    losses = [h["loss"] for h in card["results"]["history"] if "loss" in h]
    assert len(losses) == 4 and losses[-1] < losses[0]
    # a second run into a folder holding something else is refused
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    res = _invoke("finetune", train_file, "--base", tiny_base, "--out", stray, "--epochs", "1")
    assert res.exit_code == 2 and "exists and is not empty" in res.output


@pytest.mark.finetune
def test_base_without_chat_template_is_refused(tiny_base, train_file, tmp_path):
    import shutil

    plain = tmp_path / "plain"
    shutil.copytree(tiny_base, plain)
    for name in ("chat_template.jinja",):
        (plain / name).unlink(missing_ok=True)
    cfg = json.loads((plain / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(cfg))
    res = _invoke("finetune", train_file, "--base", plain, "--out", tmp_path / "o", "--epochs", "1")
    assert res.exit_code == 2 and "has no chat template" in res.output


def test_hf_uses_the_prompt_a_finetuned_folder_was_trained_with(tmp_path):
    pytest.importorskip("transformers")
    from cradle.detectors import parse_spec
    from cradle.detectors.hf import from_spec

    (tmp_path / "cradle_finetune.json").write_text("{}")
    (tmp_path / "prompt.txt").write_text("Label this post with {labels}.\nPost: {post}\n")
    det = from_spec(parse_spec(f"hf:{tmp_path}"))
    assert det.prompts.post.text.startswith("Label this post with")
    other = tmp_path / "other.txt"
    other.write_text("Other template {post} {labels}")
    assert from_spec(parse_spec(f"hf:{tmp_path}"), prompt_file=other).prompts.post.text.startswith("Other template")


@pytest.mark.finetune
def test_hf_prompt_over_the_context_is_invalid_not_a_failed_batch(tiny_base):
    from cradle.data import Status
    from cradle.detectors.hf import HFDetector
    from cradle.prompts import PromptSet

    det = HFDetector(str(tiny_base), prompts=PromptSet.training("hf"), max_tokens=4, max_context=400, batch_size=2)
    short, long = det.predict(["I cut again tonight", "again " * 600])
    assert long.status is Status.INVALID and "exceeds the context of 400" in long.reason
    assert short.status is not Status.ERROR and "context" not in (short.reason or "")
