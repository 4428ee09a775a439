"""Supervised fine-tuning of a causal language model on chat examples (LoRA or full weights).

The published recipe (CRADLE Bench, section 5) is the default:

- LoRA r 8, alpha 32, dropout 0.05 on every linear layer (``--full`` trains all weights, as the
  paper did for 14B models);
- learning rate 8e-6 for Qwen-family models, 2e-5 for Llama-family models and anything else
  (:func:`default_learning_rate`), linear decay, no warmup;
- 3 epochs, effective batch 128 reached by gradient accumulation
  (:func:`gradient_accumulation_steps`), sequences of at most 2,048 tokens;
- the loss covers the assistant answer only (the prompt tokens are masked with -100);
- the checkpoint with the lowest validation loss is kept (evaluated after every epoch, or every
  ``eval_steps`` steps). Without a dev set a seeded ``dev_fraction`` of the training examples is
  held out; with ``dev_fraction=0`` the last weights are kept.

Examples longer than ``max_length`` tokens are skipped (never truncated: a cut answer would
teach the model to stop mid-JSON) and counted in the model card.

Training runs through :class:`transformers.Trainer`, so ``accelerate launch`` (several GPUs,
DeepSpeed, FSDP) works unchanged. torch, transformers and peft are imported only when a
function needs them: ``pip install 'cradle-risk[finetune]'``.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from cradle import __version__
from cradle.pipelines.training.model_card import PROMPT_FILE_NAME, write_model_card
from cradle.pipelines.training.sft_export import ChatExample

__all__ = [
    "FinetuneError",
    "FinetuneSettings",
    "FinetuneResult",
    "TokenizedExample",
    "default_learning_rate",
    "dtype_kwargs",
    "gradient_accumulation_steps",
    "split_dev",
    "tokenize_chat",
    "finetune",
    "require_finetune_packages",
]

#: Called after every optimizer step with ``(step, total_steps, latest logged values)``.
ProgressFn = Callable[[int, int, Mapping[str, float]], None]
#: Called when a stage begins, with a short description (``"loading the base model"``).
StageFn = Callable[[str], None]

_QWEN_LR = 8e-6
_LLAMA_LR = 2e-5
_OTHER_LR = 2e-5


class FinetuneError(ValueError):
    """A fine-tuning run that cannot start as asked (missing packages, bad settings, no examples)."""


def require_finetune_packages() -> None:
    """Check that torch, transformers and peft can be imported.

    Raises
    ------
    FinetuneError
        Naming the missing package and the extra that installs it.
    """
    for name in ("torch", "transformers", "peft"):
        try:
            __import__(name)
        except ImportError:
            raise FinetuneError(
                f"fine-tuning needs {name}, which is not installed: pip install 'cradle-risk[finetune]' "
                "(install torch first from the index that matches your hardware)"
            ) from None


def default_learning_rate(base: str, model_type: str | None = None) -> tuple[float, str]:
    """The published learning rate for a base model, and why.

    The family is read from the model name or path (``qwen`` or ``llama`` in it, any case), then
    from the config's ``model_type`` when the name says nothing.

    Parameters
    ----------
    base : str
        Hub id or local path of the base model.
    model_type : str, optional
        ``config.model_type`` (e.g. ``"qwen3"``, ``"llama"``).

    Returns
    -------
    (float, str)
        The learning rate and its source, for the model card.

    Examples
    --------
    >>> default_learning_rate("Qwen/Qwen3-14B")
    (8e-06, 'default for Qwen-family models')
    >>> default_learning_rate("meta-llama/Llama-3.3-70B-Instruct")
    (2e-05, 'default for Llama-family models')
    >>> default_learning_rate("/models/ckpt", "qwen2")
    (8e-06, 'default for Qwen-family models')
    >>> default_learning_rate("mistralai/Mistral-7B-Instruct-v0.3")
    (2e-05, 'default for other models (the Llama value)')
    """
    for text in (Path(base).name.lower() or base.lower(), (model_type or "").lower()):
        if "qwen" in text:
            return _QWEN_LR, "default for Qwen-family models"
        if "llama" in text:
            return _LLAMA_LR, "default for Llama-family models"
    return _OTHER_LR, "default for other models (the Llama value)"


def gradient_accumulation_steps(effective_batch: int, per_device_batch: int, world_size: int = 1) -> int:
    """Accumulation steps so that ``per_device_batch * steps * world_size`` reaches ``effective_batch``.

    Rounds up when the effective batch is not a multiple; the model card records the batch
    actually used.

    Raises
    ------
    FinetuneError
        For a non-positive size.

    Examples
    --------
    >>> gradient_accumulation_steps(128, 4)
    32
    >>> gradient_accumulation_steps(128, 3, world_size=2)
    22
    """
    if min(effective_batch, per_device_batch, world_size) < 1:
        raise FinetuneError(f"batch sizes must be positive; got effective {effective_batch}, per device {per_device_batch}, world size {world_size}")
    return max(1, math.ceil(effective_batch / (per_device_batch * world_size)))


@dataclass(frozen=True)
class FinetuneSettings:
    """Settings of :func:`finetune` (the defaults are the published recipe).

    Attributes
    ----------
    base : str
        Hub id or local path of the base model (it needs a chat template).
    method : {"lora", "full"}
    lora_r, lora_alpha, lora_dropout
        LoRA rank, scaling and dropout.
    lora_target_modules : str
        ``"all-linear"`` or comma-separated module names (``"q_proj,v_proj"``).
    learning_rate : float or None
        ``None`` takes :func:`default_learning_rate`.
    epochs : float
    effective_batch : int
        Sequences per optimizer step, over all processes.
    per_device_batch : int
        Sequences per forward pass on one device.
    max_length : int
        Longest example in tokens (longer ones are skipped).
    dev_fraction : float
        Share of the training examples held out for validation when no dev set is given.
    eval_steps : int or None
        Evaluate (and save a candidate checkpoint) every so many steps; ``None``: every epoch.
    warmup_ratio : float
        Share of the steps with a linear warmup.
    precision : {"auto", "bf16", "fp16", "fp32"}
        ``auto`` picks bf16 on a GPU that supports it, else fp32.
    gradient_checkpointing : bool
        Trade compute for memory (large models).
    logging_steps : int
        Record the training loss every so many steps.
    seed : int
    keep_checkpoints : bool
        Keep the candidate checkpoints under ``OUT/checkpoints`` after training.
    """

    base: str
    method: Literal["lora", "full"] = "lora"
    lora_r: int = 8
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: str = "all-linear"
    learning_rate: float | None = None
    epochs: float = 3.0
    effective_batch: int = 128
    per_device_batch: int = 1
    max_length: int = 2048
    dev_fraction: float = 0.05
    eval_steps: int | None = None
    warmup_ratio: float = 0.0
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    gradient_checkpointing: bool = False
    logging_steps: int = 10
    seed: int = 0
    keep_checkpoints: bool = False

    def validate(self) -> None:
        """Raise :class:`FinetuneError` naming the first setting out of range."""
        checks = [
            (self.method in ("lora", "full"), f"method must be 'lora' or 'full', not {self.method!r}"),
            (self.lora_r >= 1, f"--lora-r must be at least 1; got {self.lora_r}"),
            (self.lora_alpha > 0, f"--lora-alpha must be positive; got {self.lora_alpha}"),
            (0 <= self.lora_dropout < 1, f"--lora-dropout must be in [0, 1); got {self.lora_dropout}"),
            (self.learning_rate is None or self.learning_rate > 0, f"--lr must be positive; got {self.learning_rate}"),
            (self.epochs > 0, f"--epochs must be positive; got {self.epochs}"),
            (self.effective_batch >= 1, f"--effective-batch must be at least 1; got {self.effective_batch}"),
            (self.per_device_batch >= 1, f"--batch-size must be at least 1; got {self.per_device_batch}"),
            (self.max_length >= 16, f"--max-length must be at least 16 tokens; got {self.max_length}"),
            (0 <= self.dev_fraction < 1, f"--dev-fraction must be in [0, 1); got {self.dev_fraction}"),
            (self.eval_steps is None or self.eval_steps >= 1, f"--eval-steps must be at least 1; got {self.eval_steps}"),
            (0 <= self.warmup_ratio < 1, f"--warmup-ratio must be in [0, 1); got {self.warmup_ratio}"),
            (self.precision in ("auto", "bf16", "fp16", "fp32"), f"--precision must be auto, bf16, fp16 or fp32; got {self.precision!r}"),
            (self.logging_steps >= 1, f"--logging-steps must be at least 1; got {self.logging_steps}"),
        ]
        for ok, message in checks:
            if not ok:
                raise FinetuneError(message)


@dataclass(frozen=True)
class TokenizedExample:
    """Token ids of one example and its labels (-100 on every prompt token)."""

    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass
class FinetuneResult:
    """What a fine-tuning run produced.

    Attributes
    ----------
    out_dir : Path
        The saved adapter (or full weights), tokenizer and model card.
    card : dict
        The contents of ``cradle_finetune.json``.
    history : list of dict
        Every logged value: ``{"step", "epoch", "loss"}`` and ``{"step", "epoch", "eval_loss"}``.
    """

    out_dir: Path
    card: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def train_losses(self) -> list[float]:
        """The logged training losses, in order."""
        return [h["loss"] for h in self.history if "loss" in h]

    @property
    def eval_losses(self) -> list[float]:
        """The validation losses, in order."""
        return [h["eval_loss"] for h in self.history if "eval_loss" in h]


def split_dev(examples: Sequence[ChatExample], fraction: float, seed: int = 0) -> tuple[list[ChatExample], list[ChatExample]]:
    """Hold out a seeded random share of ``examples`` for validation.

    At least one example is held out when ``fraction > 0`` and there are two or more examples.

    Examples
    --------
    >>> train, dev = split_dev([{"messages": []}] * 40, 0.05)
    >>> len(train), len(dev)
    (38, 2)
    """
    n = len(examples)
    if fraction <= 0 or n < 2:
        return list(examples), []
    k = min(n - 1, max(1, round(n * fraction)))
    held = set(random.Random(seed).sample(range(n), k))
    return [ex for i, ex in enumerate(examples) if i not in held], [ex for i, ex in enumerate(examples) if i in held]


def tokenize_chat(tokenizer: Any, messages: Sequence[Mapping[str, str]], max_length: int) -> TokenizedExample | None:
    """Token ids of a chat example with the loss masked to the assistant answer.

    The prompt is the chat template applied to every message but the last, with the generation
    prompt; the answer is what the full conversation adds after it (the answer text and the
    template's end-of-turn tokens), so training sees exactly the prompt used at inference.

    Parameters
    ----------
    tokenizer : transformers tokenizer
        With a chat template.
    messages : sequence of {"role", "content"}
        Ending with the assistant's answer.
    max_length : int

    Returns
    -------
    TokenizedExample or None
        ``None`` when the example is longer than ``max_length`` tokens.

    Raises
    ------
    FinetuneError
        When the tokenizer has no chat template, or the template does not render the answer
        after the prompt.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise FinetuneError(
            f"the tokenizer of {getattr(tokenizer, 'name_or_path', 'the base model')!r} has no chat template; "
            "fine-tune an instruction-tuned model (e.g. Qwen/Qwen3-14B, meta-llama/Llama-3.1-8B-Instruct)"
        )
    msgs = [dict(m) for m in messages]
    answer = msgs[-1]["content"]
    prompt_text = tokenizer.apply_chat_template(msgs[:-1], tokenize=False, add_generation_prompt=True)
    full_text = tokenizer.apply_chat_template(msgs, tokenize=False)
    if full_text.startswith(prompt_text):
        answer_text = full_text[len(prompt_text) :]
    else:
        at = full_text.rfind(answer)
        if at < 0:
            raise FinetuneError("the chat template does not render the assistant answer; cannot mask the loss to it")
        prompt_text, answer_text = full_text[:at], full_text[at:]
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer_text, add_special_tokens=False)["input_ids"]
    if not answer_ids:
        raise FinetuneError("the assistant answer renders to no tokens")
    if len(prompt_ids) + len(answer_ids) > max_length:
        return None
    return TokenizedExample(list(prompt_ids) + list(answer_ids), [-100] * len(prompt_ids) + list(answer_ids))


def _tokenize_all(tokenizer: Any, examples: Sequence[ChatExample], max_length: int) -> tuple[list[TokenizedExample], int]:
    out: list[TokenizedExample] = []
    skipped = 0
    for ex in examples:
        tok = tokenize_chat(tokenizer, ex["messages"], max_length)
        if tok is None:
            skipped += 1
        else:
            out.append(tok)
    return out, skipped


class _Collator:
    """Right-pads a micro-batch: input ids with the pad id, labels with -100."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, batch: Sequence[TokenizedExample]) -> dict[str, Any]:
        import torch

        width = max(len(x) for x in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, x in enumerate(batch):
            n = len(x)
            ids[i, :n] = torch.tensor(x.input_ids)
            labels[i, :n] = torch.tensor(x.labels)
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def _precision(choice: str) -> str:
    import torch

    if choice != "auto":
        return choice
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def _resolve_base(base: str) -> str:
    p = Path(base).expanduser()
    return str(p.resolve()) if p.exists() else base


def _versions() -> dict[str, str]:
    from importlib import metadata

    out: dict[str, str] = {}
    for name in ("torch", "transformers", "peft", "accelerate"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _training_arguments(settings: FinetuneSettings, out_dir: Path, accumulation: int, lr: float, precision: str, has_dev: bool) -> Any:
    import inspect

    from transformers import TrainingArguments

    params = inspect.signature(TrainingArguments.__init__).parameters
    strategy = ("steps" if settings.eval_steps else "epoch") if has_dev else "no"
    kwargs: dict[str, Any] = {
        "output_dir": str(out_dir / "checkpoints"),
        "per_device_train_batch_size": settings.per_device_batch,
        "per_device_eval_batch_size": settings.per_device_batch,
        "gradient_accumulation_steps": accumulation,
        "learning_rate": lr,
        "num_train_epochs": settings.epochs,
        "lr_scheduler_type": "linear",
        "logging_strategy": "steps",
        "logging_steps": settings.logging_steps,
        "save_strategy": strategy,
        "load_best_model_at_end": has_dev,
        "metric_for_best_model": "eval_loss",
        "greater_is_better": False,
        "save_total_limit": 1 if has_dev else None,
        "save_only_model": True,
        "prediction_loss_only": True,
        "report_to": "none",
        "disable_tqdm": True,
        "seed": settings.seed,
        "data_seed": settings.seed,
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "remove_unused_columns": False,
        "dataloader_pin_memory": False,
    }
    kwargs["eval_strategy" if "eval_strategy" in params else "evaluation_strategy"] = strategy
    if settings.eval_steps:
        kwargs["eval_steps"] = settings.eval_steps
        kwargs["save_steps"] = settings.eval_steps
    if settings.warmup_ratio:
        if "warmup_ratio" in params:
            kwargs["warmup_ratio"] = settings.warmup_ratio
        else:  # transformers 5: a float below 1 is a ratio
            kwargs["warmup_steps"] = settings.warmup_ratio
    if settings.gradient_checkpointing:  # renamed activation_checkpointing in transformers 5.2x
        name = "activation_checkpointing" if "activation_checkpointing" in params else "gradient_checkpointing"
        kwargs[name] = True
        kwargs[f"{name}_kwargs"] = {"use_reentrant": False}
    return TrainingArguments(**{k: v for k, v in kwargs.items() if k in params})


def _make_callback(history: list[dict[str, float]], progress: ProgressFn | None) -> Any:
    from transformers import TrainerCallback

    class _Recorder(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.latest: dict[str, float] = {}

        def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None, **kw: Any) -> None:
            if not logs or not state.is_world_process_zero:
                return
            for key in ("loss", "eval_loss"):
                if key in logs:
                    history.append({"step": int(state.global_step), "epoch": round(float(state.epoch or 0), 4), key: float(logs[key])})
                    self.latest[key] = float(logs[key])

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if progress is not None and state.is_world_process_zero:
                progress(int(state.global_step), int(state.max_steps), dict(self.latest))

    return _Recorder()


def dtype_kwargs(dtype: Any) -> dict[str, Any]:
    """The ``from_pretrained`` keyword for a dtype (transformers renamed ``torch_dtype`` to ``dtype`` in 4.56).

    Examples
    --------
    >>> list(dtype_kwargs("auto").values())
    ['auto']
    """
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return {"dtype" if (major, minor) >= (4, 56) else "torch_dtype": dtype}


def _load_model(settings: FinetuneSettings, base: str, precision: str) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    # fp16 trains with automatic mixed precision over fp32 master weights; bf16 loads in bf16
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float32, "fp32": torch.float32}[precision]
    model = AutoModelForCausalLM.from_pretrained(base, **dtype_kwargs(dtype))
    if settings.method == "full":
        return model
    from peft import LoraConfig, get_peft_model

    targets: str | list[str] = settings.lora_target_modules
    if targets != "all-linear":
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    config = LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    if settings.gradient_checkpointing:
        model.enable_input_require_grads()
    return get_peft_model(model, config)


def finetune(
    train: Sequence[ChatExample],
    settings: FinetuneSettings,
    out_dir: str | Path,
    *,
    dev: Sequence[ChatExample] | None = None,
    data_info: Mapping[str, Any] | None = None,
    dev_info: Mapping[str, Any] | None = None,
    progress: ProgressFn | None = None,
    stage: StageFn | None = None,
) -> FinetuneResult:
    """Fine-tune ``settings.base`` on chat examples and save the best checkpoint with a model card.

    Parameters
    ----------
    train : sequence of ChatExample
        ``{"messages": [..., {"role": "assistant", ...}]}`` examples
        (:func:`cradle.pipelines.training.sft_export.load_examples`).
    settings : FinetuneSettings
    out_dir : path
        Receives the adapter (``adapter_config.json``, ``adapter_model.safetensors``) or the full
        weights, the tokenizer, ``prompt.txt`` and the model card (``README.md``,
        ``cradle_finetune.json``).
    dev : sequence of ChatExample, optional
        Validation examples for checkpoint selection; without them ``settings.dev_fraction`` of
        ``train`` is held out.
    data_info, dev_info : mapping, optional
        Source and fingerprint of the data, for the model card.
    progress : callable, optional
        Called after each optimizer step with ``(step, total_steps, latest values)``.
    stage : callable, optional
        Called with a short description as each stage begins (tokenizing, loading, training,
        saving).

    Returns
    -------
    FinetuneResult

    Raises
    ------
    FinetuneError
        For bad settings, missing packages, a tokenizer without a chat template, or no example
        that fits ``max_length``.
    """
    settings.validate()
    require_finetune_packages()

    def _stage(text: str) -> None:
        if stage is not None:
            stage(text)

    from transformers import AutoConfig, AutoTokenizer, Trainer, set_seed

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not (out / "cradle_finetune.json").exists():
        raise FinetuneError(f"{out} exists and is not empty; choose a new --out (a previous cradle finetune output is overwritten)")
    set_seed(settings.seed)
    base = _resolve_base(settings.base)
    config = AutoConfig.from_pretrained(base)
    if settings.learning_rate is None:
        lr, lr_source = default_learning_rate(settings.base, getattr(config, "model_type", None))
    else:
        lr, lr_source = settings.learning_rate, "given"
    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token

    if dev is None:
        train_ex, dev_ex = split_dev(train, settings.dev_fraction, settings.seed)
        dev_source = f"{settings.dev_fraction:.0%} of the training examples (seed {settings.seed})" if dev_ex else None
    else:
        train_ex, dev_ex = list(train), list(dev)
        dev_source = str((dev_info or {}).get("source", "given"))
    _stage(f"tokenizing {len(train_ex)} training and {len(dev_ex)} validation examples")
    train_tok, train_skipped = _tokenize_all(tokenizer, train_ex, settings.max_length)
    dev_tok, dev_skipped = _tokenize_all(tokenizer, dev_ex, settings.max_length)
    if not train_tok:
        raise FinetuneError(f"none of the {len(train_ex)} training examples fits in --max-length {settings.max_length} tokens")

    world = int(os.environ.get("WORLD_SIZE", "1"))
    accumulation = gradient_accumulation_steps(settings.effective_batch, settings.per_device_batch, world)
    precision = _precision(settings.precision)
    _stage(f"loading {settings.base} ({precision}, {'LoRA' if settings.method == 'lora' else 'full fine-tuning'})")
    model = _load_model(settings, base, precision)
    args = _training_arguments(settings, out, accumulation, lr, precision, bool(dev_tok))
    history: list[dict[str, float]] = []
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_tok,  # type: ignore[arg-type]
        eval_dataset=dev_tok or None,  # type: ignore[arg-type]
        data_collator=_Collator(int(tokenizer.pad_token_id)),
        callbacks=[_make_callback(history, progress)],
    )
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # progress goes through the callback, not print()
    _stage(f"training: {len(train_tok)} examples, {settings.epochs:g} epochs, batch {settings.per_device_batch * accumulation * world}")
    started = time.monotonic()
    output = trainer.train()
    seconds = time.monotonic() - started
    state = trainer.state

    _stage(f"saving to {out}")
    out.mkdir(parents=True, exist_ok=True)
    # save_model writes the adapter or the full weights, gathers sharded (FSDP, DeepSpeed)
    # weights, and writes on the main process only
    trainer.save_model(str(out))
    from cradle.prompts import PromptSet

    kind: Literal["post", "turn"] = "turn" if (data_info or {}).get("kind") == "dialogues" else "post"
    prompts = PromptSet.training("hf")
    best_step = None
    if state.best_model_checkpoint:
        best_step = int(Path(state.best_model_checkpoint).name.rsplit("-", 1)[-1])
    main_process = trainer.is_world_process_zero()
    if main_process:
        (out / "training_args.bin").unlink(missing_ok=True)  # a pickle of TrainingArguments; the card holds the settings
        tokenizer.save_pretrained(str(out))
        (out / PROMPT_FILE_NAME).write_text(prompts.template(kind).text + "\n", encoding="utf-8")
        if not settings.keep_checkpoints:
            shutil.rmtree(out / "checkpoints", ignore_errors=True)

    card: dict[str, Any] = {
        "cradle_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "base_model": base,
        "method": settings.method,
        "lora": {
            "r": settings.lora_r,
            "alpha": settings.lora_alpha,
            "dropout": settings.lora_dropout,
            "target_modules": settings.lora_target_modules,
        }
        if settings.method == "lora"
        else None,
        "learning_rate": {"value": lr, "source": lr_source},
        "scheduler": "linear",
        "warmup_ratio": settings.warmup_ratio,
        "epochs": settings.epochs,
        "batch": {
            "effective": settings.per_device_batch * accumulation * world,
            "requested_effective": settings.effective_batch,
            "per_device": settings.per_device_batch,
            "gradient_accumulation": accumulation,
            "world_size": world,
        },
        "max_length": settings.max_length,
        "precision": precision,
        "gradient_checkpointing": settings.gradient_checkpointing,
        "seed": settings.seed,
        "selection": ("lowest validation loss, evaluated every " + (f"{settings.eval_steps} steps" if settings.eval_steps else "epoch"))
        if dev_tok
        else "none (last weights; no validation set)",
        "prompt": {**prompts.describe(kind), "kind": kind, "system": prompts.system, "file": PROMPT_FILE_NAME},
        "data": {
            "train": {**dict(data_info or {"source": "given"}), "examples": len(train_tok), "skipped_too_long": train_skipped},
            "dev": {"source": dev_source, "examples": len(dev_tok), "skipped_too_long": dev_skipped, **{k: v for k, v in (dev_info or {}).items() if k == "fingerprint"}}
            if dev_tok
            else None,
        },
        "results": {
            "best_eval_loss": float(state.best_metric) if state.best_metric is not None else None,
            "best_step": best_step,
            "total_steps": int(state.global_step),
            "final_train_loss": float(output.training_loss),
            "seconds": round(seconds, 1),
            "history": history,
        },
        "environment": _versions(),
        "settings": asdict(settings),
    }
    if main_process:
        write_model_card(out, card)
    return FinetuneResult(out, card, history)
