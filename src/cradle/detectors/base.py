"""The detector protocol and the registry of engines chosen by spec string.

A detector is anything with ``predict(texts) -> list[Prediction]``. Engines are named by a spec
string ``ENGINE:REST``:

=====================  =========================================================
``openai:MODEL``       OpenAI chat completions (``OPENAI_API_KEY``)
``openai-compatible:URL#MODEL``  any server speaking that API (vLLM, Ollama, llama.cpp)
``anthropic:MODEL``    Anthropic messages (``ANTHROPIC_API_KEY``)
``gemini:MODEL``       Google generateContent (``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``)
``hf:PATH_OR_ID``      a transformers causal LM (extra ``finetune``)
``local:default``      the embedded CPU detector shipped in the package
``local:DIR``          a detector trained with ``cradle train``
=====================  =========================================================

Each registry entry names the module that implements it, imported only when the engine is used.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from cradle.data import Dialogue, Prediction

__all__ = [
    "Detector",
    "TurnDetector",
    "DetectorSpec",
    "SpecError",
    "ENGINES",
    "parse_spec",
    "load_detector",
    "apredict_in_thread",
]


@runtime_checkable
class Detector(Protocol):
    """Anything that labels posts.

    ``predict`` returns one :class:`~cradle.data.Prediction` per text, in order, never raising
    for a single bad item: a failure is a prediction with a non-``ok`` status.
    """

    spec: str

    def predict(self, texts: Sequence[str]) -> list[Prediction]: ...


@runtime_checkable
class TurnDetector(Protocol):
    """A detector that labels the user turns of a dialogue, each seeing the history up to it.

    ``predict_dialogue`` returns one prediction per *user* turn, in order; its labels are the
    dialogue labels that newly appear at that turn.
    """

    spec: str

    def predict_dialogue(self, dialogue: Dialogue) -> list[Prediction]: ...


async def apredict_in_thread(detector: Detector, texts: Sequence[str]) -> list[Prediction]:
    """Async twin of ``predict`` for detectors without a native one (runs in a worker thread)."""
    return await asyncio.to_thread(detector.predict, list(texts))


class SpecError(ValueError):
    """A spec string that names no engine or is malformed; the message lists the forms."""


@dataclass(frozen=True)
class DetectorSpec:
    """A parsed spec string.

    Attributes
    ----------
    engine : str
        Registry key, e.g. ``"openai-compatible"``.
    model : str
        Model name, path or id.
    base_url : str or None
        Server URL for ``openai-compatible``.
    raw : str
        The spec as given.
    """

    engine: str
    model: str
    base_url: str | None
    raw: str


#: engine -> (module, factory function name, pip extra or None)
ENGINES: dict[str, tuple[str, str, str | None]] = {
    "openai": ("cradle.detectors.llm", "from_spec", None),
    "openai-compatible": ("cradle.detectors.llm", "from_spec", None),
    "anthropic": ("cradle.detectors.llm", "from_spec", None),
    "gemini": ("cradle.detectors.llm", "from_spec", None),
    "hf": ("cradle.detectors.hf", "from_spec", "finetune"),
    "local": ("cradle.detectors.local", "from_spec", None),
}

_FORMS = (
    "openai:MODEL, openai-compatible:URL#MODEL, anthropic:MODEL, gemini:MODEL, "
    "hf:PATH_OR_ID, local:default, local:DIR"
)


def parse_spec(spec: str) -> DetectorSpec:
    """Parse ``ENGINE:REST`` into a :class:`DetectorSpec`.

    Raises
    ------
    SpecError
        Naming the accepted forms.

    Examples
    --------
    >>> parse_spec("openai-compatible:http://127.0.0.1:8000/v1#Qwen3-14B").base_url
    'http://127.0.0.1:8000/v1'
    >>> parse_spec("local:default").model
    'default'
    """
    engine, sep, rest = spec.partition(":")
    engine = engine.strip().lower()
    if not sep or engine not in ENGINES or not rest.strip():
        raise SpecError(f"bad model spec {spec!r}; use one of: {_FORMS}")
    base_url = None
    model = rest.strip()
    if engine == "openai-compatible":
        url, hash_, name = rest.rpartition("#")
        if not hash_ or not url.startswith(("http://", "https://")) or not name:
            raise SpecError(f"bad model spec {spec!r}; openai-compatible needs URL#MODEL, e.g. openai-compatible:http://127.0.0.1:8000/v1#Qwen3-14B")
        base_url, model = url.rstrip("/"), name
    return DetectorSpec(engine, model, base_url, spec)


def load_detector(spec: str, **options: Any) -> Detector:
    """Build the detector a spec names; the engine's module is imported only now.

    Parameters
    ----------
    spec : str
        See the module docstring for the forms.
    **options
        Passed to the engine's factory (e.g. ``temperature``, ``max_tokens``, ``prompt_file``).

    Raises
    ------
    SpecError
        For a malformed spec, or an engine whose optional dependencies are missing (the message
        names the pip extra to install).
    """
    parsed = parse_spec(spec)
    module_name, factory, extra = ENGINES[parsed.engine]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f" (pip install 'cradle-risk[{extra}]')" if extra else ""
        raise SpecError(f"engine {parsed.engine!r} needs a package that is not installed: {exc.name}{hint}") from None
    return getattr(module, factory)(parsed, **options)
