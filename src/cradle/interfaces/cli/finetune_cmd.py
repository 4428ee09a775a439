"""The fine-tuning path: ``cradle sft-export``, ``cradle finetune`` and ``cradle merge-adapter``.

torch, transformers and peft are imported inside the commands (extra ``finetune``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from cradle.interfaces.cli._common import UsageFailure, cli_errors, console, err_console, print_json


@contextmanager
def _training_progress() -> Iterator[tuple[Any, Any]]:
    """A Rich progress bar over optimizer steps, and a stage printer, both on stderr."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
    task: list[Any] = []

    def on_step(step: int, total: int, latest: Mapping[str, float]) -> None:
        parts = [f"{k.replace('_', ' ')} {v:.4f}" for k, v in latest.items()]
        description = "training" + (f" ({', '.join(parts)})" if parts else "")
        if not task:
            task.append(bar.add_task(description, total=total))
        bar.update(task[0], completed=step, total=total, description=description)

    def on_stage(text: str) -> None:
        bar.console.print(f"[dim]{text}[/]", highlight=False)

    with bar:
        yield on_step, on_stage


def _quiet_transformers() -> None:
    """Silence transformers' own tqdm bars (the Rich bar reports progress) and its internal deprecation notices."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # deprecation notices raised inside transformers/peft themselves, not by anything the user can change
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\.")


def register(app: typer.Typer) -> None:
    @app.command("sft-export")
    @cli_errors
    def sft_export(
        data: Annotated[str, typer.Argument(help="Labelled posts or dialogues: a file or a dataset name such as cradle-bench:train_consensus.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Chat-format JSONL to write.")],
        data_dir: Annotated[Optional[Path], typer.Option(help="Local folder laid out like the hub repos.", envvar="CRADLE_DATA_DIR")] = None,
    ) -> None:
        """Write chat-format JSONL for any SFT trainer: system + short training prompt + item -> {"labels": [...]}.

        One line per post (or per dialogue user turn): {"messages": \\[system, user, assistant]}.
        The file holds the texts: keep it where the data may live.
        """
        from cradle.data import load_dataset
        from cradle.pipelines.training.sft_export import chat_examples, write_chat_jsonl

        dataset = load_dataset(data, data_dir)
        n = write_chat_jsonl(chat_examples(dataset), out)
        unit = "dialogue user turns" if dataset.kind == "dialogues" else "posts"
        console.print(f"Wrote {n} examples ({unit}) to {out}.")

    @app.command("finetune")
    @cli_errors
    def finetune(
        data: Annotated[str, typer.Argument(help="Training data: labelled posts/dialogues (file or dataset name) or a chat JSONL from sft-export.")],
        base: Annotated[str, typer.Option("--base", help="Base model: hub id or local folder (an instruction model with a chat template).")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the adapter (or full weights), tokenizer and model card.")],
        full: Annotated[bool, typer.Option("--full", help="Train all weights instead of a LoRA adapter.")] = False,
        lora_r: Annotated[int, typer.Option("--lora-r", help="LoRA rank.", min=1)] = 8,
        lora_alpha: Annotated[int, typer.Option("--lora-alpha", help="LoRA alpha (scaling).", min=1)] = 32,
        lora_dropout: Annotated[float, typer.Option("--lora-dropout", help="LoRA dropout.", min=0.0, max=0.99)] = 0.05,
        lora_targets: Annotated[str, typer.Option("--lora-targets", help="all-linear, or comma-separated module names.")] = "all-linear",
        lr: Annotated[
            Optional[float], typer.Option("--lr", help="Learning rate (default: 8e-6 for Qwen-family names, 2e-5 for Llama-family and others).")
        ] = None,
        epochs: Annotated[float, typer.Option(help="Training epochs.")] = 3.0,
        effective_batch: Annotated[int, typer.Option("--effective-batch", help="Sequences per optimizer step (gradient accumulation reaches it).", min=1)] = 128,
        batch_size: Annotated[int, typer.Option("--batch-size", help="Sequences per forward pass on one device.", min=1)] = 1,
        max_length: Annotated[int, typer.Option("--max-length", help="Longest example in tokens; longer ones are skipped.", min=16)] = 2048,
        dev: Annotated[Optional[str], typer.Option("--dev", help="Validation data for checkpoint selection (same forms as DATA).")] = None,
        dev_fraction: Annotated[float, typer.Option("--dev-fraction", help="Share of DATA held out when --dev is not given (0: keep the last weights).")] = 0.05,
        eval_steps: Annotated[Optional[int], typer.Option("--eval-steps", help="Evaluate every N steps instead of every epoch.", min=1)] = None,
        warmup_ratio: Annotated[float, typer.Option("--warmup-ratio", help="Share of steps with linear warmup.")] = 0.0,
        precision: Annotated[str, typer.Option(help="auto (bf16 on a capable GPU, else fp32), bf16, fp16 or fp32.")] = "auto",
        gradient_checkpointing: Annotated[bool, typer.Option("--gradient-checkpointing", help="Save memory at the cost of compute.")] = False,
        logging_steps: Annotated[int, typer.Option("--logging-steps", help="Record the training loss every N steps.", min=1)] = 10,
        seed: Annotated[int, typer.Option(help="Seed of the run and of the held-out split.")] = 0,
        keep_checkpoints: Annotated[bool, typer.Option("--keep-checkpoints", help="Keep OUT/checkpoints after training.")] = False,
        json_out: Annotated[bool, typer.Option("--json", help="Print the model card settings as JSON at the end.")] = False,
        data_dir: Annotated[Optional[Path], typer.Option(help="Local folder laid out like the hub repos.", envvar="CRADLE_DATA_DIR")] = None,
    ) -> None:
        """Fine-tune a causal LM with the published recipe (LoRA r 8 / alpha 32 / dropout 0.05, 3 epochs, batch 128).

        The loss covers the assistant answer only; the checkpoint with the lowest validation loss is
        saved with a model card (README.md, cradle_finetune.json) and prompt.txt. Evaluate the result
        with --model hf:OUT, or merge it (cradle merge-adapter) and serve it with vLLM. Runs under
        `accelerate launch` unchanged.
        """
        from cradle.pipelines.training.finetune import FinetuneSettings, require_finetune_packages
        from cradle.pipelines.training.finetune import finetune as run_finetune
        from cradle.pipelines.training.sft_export import load_examples

        settings = FinetuneSettings(
            base=base,
            method="full" if full else "lora",
            lora_r=lora_r,
            lora_alpha=lora_alpha,
            lora_dropout=lora_dropout,
            lora_target_modules=lora_targets,
            learning_rate=lr,
            epochs=epochs,
            effective_batch=effective_batch,
            per_device_batch=batch_size,
            max_length=max_length,
            dev_fraction=dev_fraction,
            eval_steps=eval_steps,
            warmup_ratio=warmup_ratio,
            precision=precision,  # type: ignore[arg-type]
            gradient_checkpointing=gradient_checkpointing,
            logging_steps=logging_steps,
            seed=seed,
            keep_checkpoints=keep_checkpoints,
        )
        settings.validate()
        require_finetune_packages()
        examples, info = load_examples(data, data_dir)
        if not examples:
            raise UsageFailure(f"{data} holds no training examples")
        dev_examples, dev_info = load_examples(dev, data_dir) if dev else (None, None)
        _quiet_transformers()
        with _training_progress() as (on_step, on_stage):
            result = run_finetune(examples, settings, out, dev=dev_examples, data_info=info, dev_info=dev_info, progress=on_step, stage=on_stage)
        card = result.card
        if json_out:
            print_json(card)
            return
        res = card["results"]
        if res["best_eval_loss"] is not None:
            console.print(f"Best validation loss {res['best_eval_loss']:.4f} at step {res['best_step']} of {res['total_steps']}.")
        what = "adapter" if card["method"] == "lora" else "full weights"
        console.print(f"Saved the {what}, tokenizer and model card to {result.out_dir} ({res['seconds']:.0f} s of training).")
        console.print(f"Evaluate it: cradle evaluate DATA --model hf:{result.out_dir} --prompt-file {result.out_dir / 'prompt.txt'} --out RUN_DIR")

    @app.command("merge-adapter")
    @cli_errors
    def merge_adapter(
        adapter: Annotated[Path, typer.Argument(help="A LoRA adapter folder written by cradle finetune.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the merged full weights.")],
        dtype: Annotated[str, typer.Option(help="auto (the base model's), bfloat16, float16 or float32.")] = "auto",
    ) -> None:
        """Fold a LoRA adapter into its base model and save full weights (to serve with vLLM)."""
        from cradle.pipelines.training.finetune import require_finetune_packages
        from cradle.pipelines.training.merge_adapter import merge_adapter as run_merge

        require_finetune_packages()
        _quiet_transformers()
        with err_console.status(f"merging {adapter} into its base model"):
            path = run_merge(adapter, out, dtype=dtype)
        console.print(f"Saved the merged model to {path}. Serve it with: vllm serve {path}")
