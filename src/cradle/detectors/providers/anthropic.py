"""Anthropic messages (``anthropic:MODEL``), ``POST {base_url}/v1/messages``.

A refusal ends with ``stop_reason == "refusal"``. Recent models reject requests that set both
temperature and top-p, so top-p is sent only when it differs from 1.0 (its default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cradle.detectors.providers.base import ChatReply, ChatRequest, Provider, join_text, shape_error, usage_of

__all__ = ["AnthropicProvider", "ANTHROPIC_VERSION"]

#: The ``anthropic-version`` header sent with every request.
ANTHROPIC_VERSION = "2023-06-01"


class AnthropicProvider(Provider):
    """Anthropic messages API with ``x-api-key`` (``ANTHROPIC_API_KEY``)."""

    engine = "anthropic"
    key_envs = ("ANTHROPIC_API_KEY",)
    base_url_env = "ANTHROPIC_BASE_URL"
    default_base_url = "https://api.anthropic.com"

    def url(self) -> str:
        return f"{self.base_url}/v1/messages"

    def headers(self) -> dict[str, str]:
        h = {"content-type": "application/json", "anthropic-version": ANTHROPIC_VERSION}
        if self.api_key:
            h["x-api-key"] = self.api_key
        return h

    def body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "messages": request.dialogue,
            "temperature": request.temperature,
        }
        if request.system:
            body["system"] = request.system
        if request.top_p != 1.0:
            body["top_p"] = request.top_p
        return body

    def parse(self, data: Mapping[str, Any]) -> ChatReply:
        content = data.get("content")
        if not isinstance(content, list):
            raise shape_error(self.engine, "content")
        text = join_text([b.get("text") for b in content if isinstance(b, Mapping) and b.get("type") == "text"])
        stop = data.get("stop_reason")
        usage = usage_of(data.get("usage"), "input_tokens", "output_tokens")
        if stop == "refusal":
            return ChatReply(text, stop, True, "stop_reason refusal", usage)
        return ChatReply(text, stop if isinstance(stop, str) else None, False, None, usage)
