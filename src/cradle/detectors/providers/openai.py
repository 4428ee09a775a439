"""OpenAI chat completions (``openai:MODEL``) and servers that speak the same API
(``openai-compatible:URL#MODEL``: vLLM, Ollama, llama.cpp, ...).

Blocked answers come in two forms: ``finish_reason == "content_filter"``, and a ``refusal``
field on the message (structured refusals). A request stopped by a filter before generation
(HTTP 400 with error code ``content_filter``, as Azure deployments send) is blocked too.
Reasoning models (``o1``, ``o3``, ``o4``, ``gpt-5`` but not ``gpt-5-chat``) accept no sampling
parameters, so temperature and top-p are not sent to them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from cradle.detectors.providers.base import (
    ChatReply,
    ChatRequest,
    FatalProviderError,
    Provider,
    ProviderError,
    error_message,
    join_text,
    shape_error,
    usage_of,
)

__all__ = ["OpenAIProvider", "OpenAICompatibleProvider", "is_reasoning_model"]

_REASONING = re.compile(r"^(o\d|gpt-5(?!-chat))", re.I)


def is_reasoning_model(model: str) -> bool:
    """True for OpenAI models that reject temperature and top-p.

    Examples
    --------
    >>> is_reasoning_model("gpt-5"), is_reasoning_model("o3-mini"), is_reasoning_model("gpt-5-chat-latest"), is_reasoning_model("gpt-4o")
    (True, True, False, False)
    """
    return bool(_REASONING.match(model))


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some servers send content parts
        return join_text([p.get("text") for p in content if isinstance(p, Mapping)])
    return None


class OpenAIProvider(Provider):
    """``POST {base_url}/chat/completions`` with a bearer key (``OPENAI_API_KEY``)."""

    engine = "openai"
    key_envs: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)
    base_url_env: ClassVar[str | None] = "OPENAI_BASE_URL"
    default_base_url = "https://api.openai.com/v1"
    max_tokens_field = "max_completion_tokens"

    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def headers(self) -> dict[str, str]:
        h = {"content-type": "application/json"}
        if self.api_key:
            h["authorization"] = f"Bearer {self.api_key}"
        return h

    def sends_sampling(self) -> bool:
        """Whether temperature and top-p are sent to this model."""
        return not is_reasoning_model(self.model)

    def body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages],
            self.max_tokens_field: request.max_tokens,
        }
        if self.sends_sampling():
            body["temperature"] = request.temperature
            body["top_p"] = request.top_p
        return body

    def parse(self, data: Mapping[str, Any]) -> ChatReply:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
            raise shape_error(self.engine, "choices")
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, Mapping):
            raise shape_error(self.engine, "choices[0].message")
        finish = choice.get("finish_reason")
        text = _content_text(message.get("content"))
        usage = usage_of(data.get("usage"), "prompt_tokens", "completion_tokens")
        refusal = message.get("refusal")
        if finish == "content_filter":
            return ChatReply(text, finish, True, "finish_reason content_filter", usage)
        if isinstance(refusal, str) and refusal.strip():
            return ChatReply(text, finish, True, f"refusal: {' '.join(refusal.split())[:200]}", usage)
        return ChatReply(text, finish, False, None, usage)

    def classify(self, status: int, data: Any, headers: Mapping[str, str]) -> ChatReply | ProviderError:
        err = data.get("error") if isinstance(data, Mapping) else None
        code = str(err.get("code") or "") if isinstance(err, Mapping) else ""
        kind = str(err.get("type") or "") if isinstance(err, Mapping) else ""
        if status == 400 and code == "content_filter":
            return ChatReply(None, None, True, "request filtered (error code content_filter)", None)
        if status == 429 and "insufficient_quota" in (code, kind):
            return FatalProviderError(
                f"{self.engine}: the account's quota is exhausted (HTTP 429 insufficient_quota): {error_message(data)}", status
            )
        return super().classify(status, data, headers)


class OpenAICompatibleProvider(OpenAIProvider):
    """A self-hosted server speaking the chat completions API.

    No key is sent unless one is named (``api_key_env``): the OpenAI key is not handed to a
    third-party server by default.
    """

    engine = "openai-compatible"
    key_envs = ()
    base_url_env = None
    default_base_url = "http://127.0.0.1:8000/v1"
    key_required = False
    max_tokens_field = "max_tokens"

    def sends_sampling(self) -> bool:
        return True
