"""The model card of a fine-tuned detector: ``README.md`` for people, ``cradle_finetune.json`` for tools.

``cradle_finetune.json`` holds every setting and result of the training run (base model,
method, LoRA or full, learning rate and where it came from, batch arithmetic, data
fingerprints, the prompt's version and hash, the validation-loss history and the chosen
checkpoint). ``README.md`` renders the same facts with the commands that evaluate the model.
Neither holds any text of the training data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["CARD_SETTINGS_NAME", "CARD_README_NAME", "PROMPT_FILE_NAME", "read_card", "write_model_card", "render_readme"]

#: Settings and results of the training run.
CARD_SETTINGS_NAME = "cradle_finetune.json"
#: The human-readable card (Hugging Face convention).
CARD_README_NAME = "README.md"
#: The user-message template the model was trained with, usable as ``--prompt-file``.
PROMPT_FILE_NAME = "prompt.txt"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "-"
    return str(value)


def render_readme(card: Mapping[str, Any], model_dir: str | Path) -> str:
    """The ``README.md`` text of a card (YAML front matter, settings, results, usage).

    Parameters
    ----------
    card : mapping
        The object written to :data:`CARD_SETTINGS_NAME`.
    model_dir : path
        Where the model lives (used in the example commands).

    Returns
    -------
    str
    """
    method = card["method"]
    is_adapter = method == "lora" and not card.get("merged")
    lines = [
        "---",
        f"base_model: {card['base_model']}",
        f"library_name: {'peft' if is_adapter else 'transformers'}",
        "pipeline_tag: text-generation",
        "tags: [cradle, mental-health, crisis-detection]",
        "---",
        "",
        f"# {Path(model_dir).name}: a cradle crisis detector",
        "",
        f"Fine-tuned from `{card['base_model']}` with `cradle finetune` (cradle {card.get('cradle_version', '?')}) to answer "
        'the short training prompt with `{"labels": [...]}`.',
        "",
        "## Settings",
        "",
        "| setting | value |",
        "|---|---|",
    ]
    rows: list[tuple[str, Any]] = [("method", "LoRA adapter" if method == "lora" else "full fine-tuning")]
    if method == "lora":
        lora = card["lora"]
        rows += [("LoRA r / alpha / dropout", f"{lora['r']} / {lora['alpha']} / {lora['dropout']}"), ("LoRA target modules", lora["target_modules"])]
    batch = card["batch"]
    rows += [
        ("learning rate", f"{card['learning_rate']['value']:g} ({card['learning_rate']['source']})"),
        ("schedule", f"{card.get('scheduler', 'linear')}, warmup ratio {card.get('warmup_ratio', 0)}"),
        ("epochs", card["epochs"]),
        (
            "effective batch",
            f"{batch['effective']} = {batch['per_device']} per device x {batch['gradient_accumulation']} accumulation x {batch['world_size']} process(es)",
        ),
        ("max length (tokens)", card["max_length"]),
        ("precision", card["precision"]),
        ("seed", card["seed"]),
        ("loss", "masked to the assistant answer"),
        ("checkpoint selection", card["selection"]),
        ("prompt", f"{card['prompt']['template']} (version {card['prompt']['version']}, hash {card['prompt']['hash']})"),
    ]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in rows]
    data = card["data"]
    lines += ["", "## Data", "", "| split | source | examples | skipped (too long) | fingerprint |", "|---|---|---|---|---|"]
    for split in ("train", "dev"):
        d = data.get(split)
        if d:
            lines.append(f"| {split} | `{d['source']}` | {d['examples']} | {d.get('skipped_too_long', 0)} | {d.get('fingerprint', '-')} |")
    res = card.get("results", {})
    lines += ["", "## Results", ""]
    if res.get("best_eval_loss") is not None:
        lines.append(f"Best validation loss {res['best_eval_loss']:.4f} at step {res['best_step']} (of {res['total_steps']}); that checkpoint is saved here.")
    else:
        lines.append(f"No validation set: the weights after the last of {res.get('total_steps', '?')} steps are saved here.")
    evals = [h for h in res.get("history", []) if "eval_loss" in h]
    if evals:
        lines += ["", "| step | epoch | validation loss |", "|---|---|---|"]
        lines += [f"| {h['step']} | {_fmt(h.get('epoch'))} | {h['eval_loss']:.4f} |" for h in evals]
    if res.get("final_train_loss") is not None:
        lines += ["", f"Mean training loss {res['final_train_loss']:.4f}; training took {res.get('seconds', 0):.0f} s."]
    d = Path(model_dir)
    lines += [
        "",
        "## Use",
        "",
        "The model expects the prompt it was trained with; `prompt.txt` in this folder holds that template.",
        "",
        "```bash",
        f"cradle evaluate cradle-bench:test --model hf:{d} --prompt-file {d / PROMPT_FILE_NAME} --out runs/{d.name}",
        "```",
        "",
        "Evaluation on a benchmark, directly or through a vLLM server: see `docs/finetuning.md` in cradle.",
    ]
    if card.get("merged"):
        lines += ["", f"Merged from the adapter `{card['merged']['adapter']}` into full weights."]
    elif is_adapter:
        lines += ["", "Merge into full weights for vLLM with:", "", "```bash", f"cradle merge-adapter {d} --out {d}-merged", "```"]
    return "\n".join(lines) + "\n"


def write_model_card(model_dir: str | Path, card: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write ``cradle_finetune.json`` and ``README.md`` into ``model_dir``.

    Returns
    -------
    (Path, Path)
        The settings file and the README.
    """
    d = Path(model_dir)
    d.mkdir(parents=True, exist_ok=True)
    settings = d / CARD_SETTINGS_NAME
    settings.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    readme = d / CARD_README_NAME
    readme.write_text(render_readme(card, d), encoding="utf-8")
    return settings, readme


def read_card(model_dir: str | Path) -> dict[str, Any] | None:
    """The settings of a model folder written by ``cradle finetune``; ``None`` when there are none."""
    p = Path(model_dir) / CARD_SETTINGS_NAME
    if not p.is_file():
        return None
    return json.loads(p.read_text(encoding="utf-8"))
