"""Chat providers spoken over plain HTTP (``httpx``), one module per provider."""

from cradle.detectors.providers.anthropic import AnthropicProvider
from cradle.detectors.providers.base import (
    ChatReply,
    ChatRequest,
    FatalProviderError,
    MissingAPIKeyError,
    Provider,
    ProviderError,
    RequestRejected,
    TransientError,
    parse_retry_after,
)
from cradle.detectors.providers.gemini import GeminiProvider
from cradle.detectors.providers.openai import OpenAICompatibleProvider, OpenAIProvider

__all__ = [
    "PROVIDERS",
    "AnthropicProvider",
    "ChatReply",
    "ChatRequest",
    "FatalProviderError",
    "GeminiProvider",
    "MissingAPIKeyError",
    "OpenAICompatibleProvider",
    "OpenAIProvider",
    "Provider",
    "ProviderError",
    "RequestRejected",
    "TransientError",
    "parse_retry_after",
]

#: engine name of a spec -> provider class
PROVIDERS: dict[str, type[Provider]] = {
    "openai": OpenAIProvider,
    "openai-compatible": OpenAICompatibleProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
}
