"""Merge a LoRA adapter written by ``cradle finetune`` into full weights (for vLLM and other servers).

The base model named in ``adapter_config.json`` is loaded, the adapter is folded into its
weights (:meth:`peft.PeftModel.merge_and_unload`) and the result is saved with the adapter's
tokenizer, ``prompt.txt`` and a model card that records the merge.
"""

from __future__ import annotations

import datetime as _dt
import shutil
from pathlib import Path
from typing import Any

from cradle.pipelines.training.finetune import FinetuneError, dtype_kwargs, require_finetune_packages
from cradle.pipelines.training.model_card import PROMPT_FILE_NAME, read_card, write_model_card

__all__ = ["merge_adapter"]


def merge_adapter(adapter_dir: str | Path, out_dir: str | Path, *, dtype: str = "auto") -> Path:
    """Fold a LoRA adapter into its base model and save full weights.

    Parameters
    ----------
    adapter_dir : path
        A folder with ``adapter_config.json`` (the output of ``cradle finetune``).
    out_dir : path
        Where to save the merged model; must not exist or be empty.
    dtype : {"auto", "bfloat16", "float16", "float32"}, default="auto"
        Weight type of the merged model (``auto``: the base model's).

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    FinetuneError
        When the folder holds no adapter, ``out_dir`` is not empty, or the packages are missing.
    """
    src = Path(adapter_dir).expanduser()
    out = Path(out_dir).expanduser()
    if not (src / "adapter_config.json").is_file():
        raise FinetuneError(f"{src} holds no adapter_config.json: not a LoRA adapter (a --full model needs no merge)")
    if out.exists() and any(out.iterdir()):
        raise FinetuneError(f"{out} exists and is not empty; choose a new --out")
    if dtype not in ("auto", "bfloat16", "float16", "float32"):
        raise FinetuneError(f"dtype must be auto, bfloat16, float16 or float32; got {dtype!r}")
    require_finetune_packages()
    import torch
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    torch_dtype: Any = dtype if dtype == "auto" else getattr(torch, dtype)
    model = AutoPeftModelForCausalLM.from_pretrained(str(src), **dtype_kwargs(torch_dtype))
    merged = model.merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(src)).save_pretrained(str(out))
    if (src / PROMPT_FILE_NAME).is_file():
        shutil.copyfile(src / PROMPT_FILE_NAME, out / PROMPT_FILE_NAME)
    card = read_card(src)
    if card is not None:
        card["merged"] = {
            "adapter": str(src.resolve()),
            "dtype": str(next(merged.parameters()).dtype).replace("torch.", ""),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        write_model_card(out, card)
    return out
