"""Google Gemini ``generateContent`` (``gemini:MODEL``).

Blocked answers: ``promptFeedback.blockReason`` (the prompt was refused, no candidate), or a
candidate whose ``finishReason`` is ``SAFETY``, ``PROHIBITED_CONTENT``, ``BLOCKLIST``, ``SPII``,
``IMAGE_SAFETY`` or ``RECITATION``. Parts marked ``thought`` are not part of the answer. A 429
may carry its wait in the body (``RetryInfo.retryDelay``, e.g. ``"7s"``). A refused key comes
back as HTTP 400 with reason ``API_KEY_INVALID``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cradle.detectors.providers.base import (
    ChatReply,
    ChatRequest,
    FatalProviderError,
    Provider,
    ProviderError,
    TransientError,
    join_text,
    shape_error,
    usage_of,
)

__all__ = ["GeminiProvider", "BLOCKING_FINISH_REASONS"]

#: Candidate finish reasons that mean the answer was withheld.
BLOCKING_FINISH_REASONS = frozenset({"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY", "RECITATION"})
_SECONDS = re.compile(r"^\s*([0-9.]+)s\s*$")


def _key_invalid(data: Any) -> bool:
    err = data.get("error") if isinstance(data, Mapping) else None
    if not isinstance(err, Mapping):
        return False
    details = err.get("details")
    reasons = {str(d.get("reason")) for d in details if isinstance(d, Mapping)} if isinstance(details, list) else set()
    return "API_KEY_INVALID" in reasons or "API key not valid" in str(err.get("message", ""))


def _retry_delay(data: Any) -> float | None:
    err = data.get("error") if isinstance(data, Mapping) else None
    details = err.get("details") if isinstance(err, Mapping) else None
    if not isinstance(details, list):
        return None
    for d in details:
        if isinstance(d, Mapping) and str(d.get("@type", "")).endswith("RetryInfo"):
            m = _SECONDS.match(str(d.get("retryDelay", "")))
            if m:
                return float(m.group(1))
    return None


class GeminiProvider(Provider):
    """``POST {base_url}/v1beta/models/{model}:generateContent`` with ``x-goog-api-key``
    (``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``)."""

    engine = "gemini"
    key_envs = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    base_url_env = "GEMINI_BASE_URL"
    default_base_url = "https://generativelanguage.googleapis.com"

    def __init__(self, model: str, **kwargs: Any) -> None:
        super().__init__(model.removeprefix("models/"), **kwargs)

    def url(self) -> str:
        return f"{self.base_url}/v1beta/models/{self.model}:generateContent"

    def headers(self) -> dict[str, str]:
        h = {"content-type": "application/json"}
        if self.api_key:
            h["x-goog-api-key"] = self.api_key
        return h

    def body(self, request: ChatRequest) -> dict[str, Any]:
        contents = [
            {"role": "model" if m["role"] == "assistant" else "user", "parts": [{"text": m["content"]}]} for m in request.dialogue
        ]
        body: dict[str, Any] = {
            "contents": contents,
            "generationConfig": {
                "temperature": request.temperature,
                "topP": request.top_p,
                "maxOutputTokens": request.max_tokens,
            },
        }
        if request.system:
            body["systemInstruction"] = {"parts": [{"text": request.system}]}
        return body

    def parse(self, data: Mapping[str, Any]) -> ChatReply:
        usage = usage_of(data.get("usageMetadata"), "promptTokenCount", "candidatesTokenCount")
        feedback = data.get("promptFeedback")
        block = feedback.get("blockReason") if isinstance(feedback, Mapping) else None
        candidates = data.get("candidates")
        if block:
            return ChatReply(None, None, True, f"promptFeedback.blockReason {block}", usage)
        if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], Mapping):
            raise shape_error(self.engine, "candidates")
        cand = candidates[0]
        finish = cand.get("finishReason")
        content = cand.get("content")
        parts = content.get("parts") if isinstance(content, Mapping) else None
        text = (
            join_text([p.get("text") for p in parts if isinstance(p, Mapping) and not p.get("thought")])
            if isinstance(parts, list)
            else None
        )
        if finish in BLOCKING_FINISH_REASONS:
            return ChatReply(text, finish, True, f"finishReason {finish}", usage)
        return ChatReply(text, finish if isinstance(finish, str) else None, False, None, usage)

    def classify(self, status: int, data: Any, headers: Mapping[str, str]) -> ChatReply | ProviderError:
        if status == 400 and _key_invalid(data):  # Gemini answers a bad key with 400, not 401
            src = f" from {self.key_source}" if self.key_source else ""
            return FatalProviderError(f"gemini refused the API key{src} (HTTP 400 API_KEY_INVALID)", status)
        outcome = super().classify(status, data, headers)
        if isinstance(outcome, TransientError) and outcome.retry_after is None:
            outcome.retry_after = _retry_delay(data)
        return outcome
