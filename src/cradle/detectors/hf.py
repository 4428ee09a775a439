"""A detector backed by a transformers causal language model (``hf:PATH_OR_ID``).

The model sees the same chat messages as the API engines (the JSON-only system prompt of open
models, then the evaluation or dialogue prompt), formatted with the tokenizer's own chat
template, and its reply is judged by the same parser. Generation is greedy at temperature 0
(the published protocol), batched with left padding. ``torch`` and ``transformers`` are
imported only when the detector is built (``pip install 'cradle-risk[finetune]'``).

A tokenizer without a chat template gets the system prompt and the user message separated by
blank lines; a template that rejects the system role gets the system prompt folded into the
user message.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cradle.data import Dialogue, Prediction, Status
from cradle.detectors.base import DetectorSpec, SpecError
from cradle.detectors.outputs import prediction_from_reply
from cradle.prompts import Message, PromptKind, PromptSet, Schema

__all__ = ["HFDetector", "ModelLoadError", "from_spec"]

log = logging.getLogger(__name__)


class ModelLoadError(ValueError):
    """The model or tokenizer could not be loaded (path, id, or files wrong)."""


def _require_backend() -> None:
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise SpecError(f"engine 'hf' needs {' and '.join(missing)}: pip install 'cradle-risk[finetune]'")


def _local_fingerprint(path: Path) -> str | None:
    """Hash of the names and sizes of a model folder's files (cheap, stable across copies)."""
    if not path.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(path).as_posix()}:{f.stat().st_size}\n".encode())
    return h.hexdigest()[:16]


class HFDetector:
    """Label posts and dialogue turns with a local causal LM.

    Parameters
    ----------
    model_id : str
        A local folder or a hub id (``transformers.AutoModelForCausalLM.from_pretrained``).
    spec : str, optional
        The spec string (``"hf:" + model_id`` by default).
    prompts : PromptSet, optional
        Defaults to the published-protocol prompts for open models.
    temperature : float, default=0.0
        0 means greedy decoding.
    top_p : float, default=1.0
        Used only when sampling (``temperature > 0``).
    max_tokens : int, default=1024
        Most new tokens per reply.
    batch_size : int, default=8
        Prompts generated together.
    device : str, optional
        ``"cuda"``, ``"cpu"``, ... (default: CUDA when available). Ignored with ``device_map``.
    device_map : str, optional
        Passed to ``from_pretrained`` (e.g. ``"auto"`` to spread a large model over GPUs).
    dtype : str, default="auto"
        Weight dtype (``"auto"``, ``"bfloat16"``, ``"float16"``, ``"float32"``).
    chat_template_kwargs : dict, optional
        Extra variables for the chat template (e.g. ``{"enable_thinking": False}`` for Qwen3).
    max_context : int, default=4096
        Context of the published protocol: a prompt whose tokens plus ``max_tokens`` exceed it
        gets status ``invalid`` with the counts, instead of failing its batch.
    model, tokenizer : optional
        Already loaded objects (then nothing is read from ``model_id``).
    """

    def __init__(
        self,
        model_id: str,
        *,
        spec: str | None = None,
        prompts: PromptSet | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 1024,
        batch_size: int = 8,
        device: str | None = None,
        device_map: str | None = None,
        dtype: str = "auto",
        chat_template_kwargs: Mapping[str, Any] | None = None,
        max_context: int = 4096,
        model: Any = None,
        tokenizer: Any = None,
    ) -> None:
        if not 0.0 <= temperature <= 2.0:
            raise ValueError(f"temperature must be between 0 and 2, got {temperature!r}")
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
        if max_tokens < 1 or batch_size < 1:
            raise ValueError("max_tokens and batch_size must be positive")
        self.model_id = model_id
        self.spec = spec or f"hf:{model_id}"
        self.engine = "hf"
        self.prompts = prompts or PromptSet.default("hf")
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.max_tokens = int(max_tokens)
        self.batch_size = int(batch_size)
        self.device = device
        self.device_map = device_map
        self.dtype = dtype
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.max_context = int(max_context)
        self._model = model
        self._tokenizer = tokenizer
        self._warned_template = False

    def __repr__(self) -> str:
        return f"HFDetector({self.model_id!r}, temperature={self.temperature}, max_tokens={self.max_tokens})"

    # -- loading -----------------------------------------------------------------------------

    def _load(self) -> tuple[Any, Any]:
        if self._model is not None and self._tokenizer is not None:
            return self._model, self._tokenizer
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = self._tokenizer or AutoTokenizer.from_pretrained(self.model_id)
            dtype: Any = self.dtype if self.dtype == "auto" else getattr(torch, self.dtype)
            major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
            kwargs: dict[str, Any] = {"dtype" if (major, minor) >= (4, 56) else "torch_dtype": dtype}
            if self.device_map:
                kwargs["device_map"] = self.device_map
            model: Any = self._model or AutoModelForCausalLM.from_pretrained(self.model_id, **kwargs)
        except (OSError, ValueError, AttributeError) as exc:
            raise ModelLoadError(f"cannot load {self.model_id!r} with transformers: {exc}") from None
        if not self.device_map and self._model is None:
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            model = model.to(device)
        model.eval()
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._model, self._tokenizer = model, tokenizer
        return model, tokenizer

    # -- prompts -----------------------------------------------------------------------------

    def format_prompt(self, messages: Sequence[Message]) -> str:
        """The model input for chat ``messages``, through the tokenizer's chat template."""
        _, tok = self._load()
        if getattr(tok, "chat_template", None) is None:
            if not self._warned_template:
                log.warning("%s has no chat template: the system prompt and the user prompt are joined by blank lines", self.model_id)
                self._warned_template = True
            return "\n\n".join(m["content"] for m in messages) + "\n\n"
        try:
            return tok.apply_chat_template(
                list(messages), tokenize=False, add_generation_prompt=True, **self.chat_template_kwargs
            )
        except Exception:  # jinja2 TemplateError: e.g. "System role not supported"
            if not messages or messages[0]["role"] != "system":
                raise
            folded = [{"role": "user", "content": f"{messages[0]['content']}\n\n{messages[1]['content']}"}, *messages[2:]]
            return tok.apply_chat_template(folded, tokenize=False, add_generation_prompt=True, **self.chat_template_kwargs)

    def check_kind(self, kind: PromptKind) -> None:
        """Raise :class:`~cradle.prompts.PromptError` when no prompt exists for ``kind``."""
        self.prompts.template(kind)

    def describe(self, kind: PromptKind) -> dict[str, Any]:
        """What a run manifest records (and compares on resume) for ``kind``."""
        return {
            "spec": self.spec,
            "engine": "hf",
            "model": self.model_id,
            "model_files": _local_fingerprint(Path(self.model_id)),
            "prompt": self.prompts.describe(kind),
            "parameters": {
                "temperature": self.temperature,
                "top_p": self.top_p if self.temperature > 0 else None,
                "max_tokens": self.max_tokens,
                "chat_template_kwargs": dict(sorted(self.chat_template_kwargs.items())),
            },
        }

    # -- generation --------------------------------------------------------------------------

    def generate(self, prompts: Sequence[str]) -> list[tuple[str, str, dict[str, int]]]:
        """Generate replies for formatted prompts.

        Returns
        -------
        list of (text, finish_reason, usage)
            ``finish_reason`` is ``"length"`` when the reply used all ``max_tokens``.
        """
        import torch

        model, tok = self._load()
        enc = tok(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
        device = next(model.parameters()).device
        enc = {k: v.to(device) for k, v in enc.items()}
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_tokens, "pad_token_id": tok.pad_token_id}
        if self.temperature > 0:
            kwargs.update(do_sample=True, temperature=self.temperature, top_p=self.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = model.generate(**enc, **kwargs)
        n_in = enc["input_ids"].shape[1]
        eos = tok.eos_token_id
        eos_ids = set(eos) if isinstance(eos, (list, tuple)) else ({eos} if eos is not None else set())
        results = []
        for row, mask in zip(out, enc["attention_mask"]):
            new = row[n_in:].tolist()
            stop_at = next((k for k, t in enumerate(new) if t in eos_ids), None)
            if stop_at is not None:
                kept, n_out, finish = new[:stop_at], stop_at + 1, "stop"
            else:
                kept, n_out = new, len(new)
                finish = "length" if n_out >= self.max_tokens else "stop"
            text = tok.decode(kept, skip_special_tokens=True)
            results.append((text, finish, {"input_tokens": int(mask.sum()), "output_tokens": n_out}))
        return results

    def _predict_messages(self, batches: Sequence[Sequence[Message]], schema: Schema) -> list[Prediction]:
        results: list[Prediction | None] = [None] * len(batches)
        prompts: list[tuple[int, str]] = []
        _, tok = self._load()
        for i, messages in enumerate(batches):
            prompt = self.format_prompt(messages)
            n_tokens = len(tok(prompt, add_special_tokens=False)["input_ids"])
            if n_tokens + self.max_tokens > self.max_context:
                results[i] = Prediction(
                    status=Status.INVALID,
                    reason=f"prompt has {n_tokens} tokens; with {self.max_tokens} new tokens it exceeds the context of {self.max_context}",
                )
            else:
                prompts.append((i, prompt))
        for start in range(0, len(prompts), self.batch_size):
            chunk = prompts[start : start + self.batch_size]
            try:
                outputs = self.generate([p for _, p in chunk])
            except (RuntimeError, ValueError, IndexError) as exc:  # e.g. out of memory: this batch fails, not the run
                log.warning("generation failed for a batch of %d (%s)", len(chunk), type(exc).__name__)
                for i, _ in chunk:
                    results[i] = Prediction(status=Status.ERROR, reason=f"{type(exc).__name__} during generation")
                continue
            for (i, _), (text, finish, usage) in zip(chunk, outputs):
                results[i] = prediction_from_reply(text, schema, finish_reason=finish, usage=usage)
        return [r for r in results if r is not None]

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Label posts; one prediction per text, in order (a failed batch gets status ``error``).

        Raises
        ------
        ModelLoadError
            When the model cannot be loaded.
        """
        self.check_kind("post")
        return self._predict_messages([self.prompts.post_messages(t) for t in texts], "post")

    async def apredict(self, texts: Sequence[str]) -> list[Prediction]:
        """Async twin of :meth:`predict` (runs in a worker thread)."""
        return await asyncio.to_thread(self.predict, list(texts))

    def predict_dialogue(self, dialogue: Dialogue) -> list[Prediction]:
        """Label every user turn of a dialogue, each seeing the history up to it.

        Returns
        -------
        list of Prediction
            One per user turn, ids ``"<dialogue id>:<turn_id>"``, dialogue labels.
        """
        self.check_kind("turn")
        turns = dialogue.user_turns
        preds = self._predict_messages([self.prompts.turn_messages(dialogue.history(t.turn_id)) for t in turns], "dialogue")
        return [p.with_id(dialogue.item_id(t)) for p, t in zip(preds, turns)]


def from_spec(
    parsed: DetectorSpec,
    *,
    temperature: float = 0.0,
    top_p: float = 1.0,
    max_tokens: int = 1024,
    prompts: PromptSet | None = None,
    prompt_file: str | Path | None = None,
    system_prompt_file: str | Path | None = None,
    batch_size: int = 8,
    device: str | None = None,
    device_map: str | None = None,
    dtype: str = "auto",
    chat_template_kwargs: Mapping[str, Any] | None = None,
    max_context: int = 4096,
) -> HFDetector:
    """Build an :class:`HFDetector` from ``hf:PATH_OR_ID`` (what :func:`cradle.detectors.load_detector` calls).

    The model is loaded on first use, so building is cheap. A folder written by
    ``cradle finetune`` (it holds ``cradle_finetune.json``) is prompted with its own
    ``prompt.txt`` unless ``prompt_file`` says otherwise.

    Raises
    ------
    SpecError
        When torch or transformers is not installed (naming the pip extra).
    PromptError
        For an unusable prompt file.
    """
    _require_backend()
    if prompts is None:
        trained_with = Path(parsed.model) / "prompt.txt"
        if prompt_file is None and (Path(parsed.model) / "cradle_finetune.json").is_file() and trained_with.is_file():
            prompt_file = trained_with  # a model fine-tuned by cradle is evaluated with the prompt it learned
        prompts = PromptSet.from_files("hf", prompt_file, system_prompt_file)
    return HFDetector(
        parsed.model,
        spec=parsed.raw,
        prompts=prompts,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        batch_size=batch_size,
        device=device,
        device_map=device_map,
        dtype=dtype,
        chat_template_kwargs=chat_template_kwargs,
        max_context=max_context,
    )
