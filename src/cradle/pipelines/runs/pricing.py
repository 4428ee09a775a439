"""List prices of known API models, to estimate what a run cost.

Prices are USD per million tokens (input, output), standard tier, as the providers published
them in late 2025; check your invoice for the truth. A model is matched by the longest known
name that it equals or extends with ``-`` (``claude-sonnet-4-20250514`` is ``claude-sonnet-4``;
``gpt-5.1`` is not ``gpt-5``). An unknown model, and any ``openai-compatible`` server, has no
price: its cost is not shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Price", "PRICES", "PRICES_AS_OF", "price_for", "estimate_cost"]

PRICES_AS_OF = "2025-11"


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float


#: (engine, model name) -> price
PRICES: dict[tuple[str, str], Price] = {
    ("openai", "gpt-5"): Price(1.25, 10.0),
    ("openai", "gpt-5.1"): Price(1.25, 10.0),
    ("openai", "gpt-5-mini"): Price(0.25, 2.0),
    ("openai", "gpt-5-nano"): Price(0.05, 0.40),
    ("openai", "gpt-4.1"): Price(2.0, 8.0),
    ("openai", "gpt-4.1-mini"): Price(0.40, 1.60),
    ("openai", "gpt-4.1-nano"): Price(0.10, 0.40),
    ("openai", "gpt-4o"): Price(2.50, 10.0),
    ("openai", "gpt-4o-mini"): Price(0.15, 0.60),
    ("openai", "o3"): Price(2.0, 8.0),
    ("openai", "o3-mini"): Price(1.10, 4.40),
    ("openai", "o4-mini"): Price(1.10, 4.40),
    ("anthropic", "claude-opus-4"): Price(15.0, 75.0),
    ("anthropic", "claude-opus-4-1"): Price(15.0, 75.0),
    ("anthropic", "claude-opus-4-5"): Price(5.0, 25.0),
    ("anthropic", "claude-sonnet-4"): Price(3.0, 15.0),
    ("anthropic", "claude-sonnet-4-5"): Price(3.0, 15.0),
    ("anthropic", "claude-haiku-4-5"): Price(1.0, 5.0),
    ("anthropic", "claude-3-7-sonnet"): Price(3.0, 15.0),
    ("anthropic", "claude-3-5-haiku"): Price(0.80, 4.0),
    ("gemini", "gemini-2.5-pro"): Price(1.25, 10.0),
    ("gemini", "gemini-2.5-flash"): Price(0.30, 2.50),
    ("gemini", "gemini-2.5-flash-lite"): Price(0.10, 0.40),
    ("gemini", "gemini-2.0-flash"): Price(0.10, 0.40),
}


def price_for(engine: str, model: str) -> Price | None:
    """The list price of a model, or ``None`` when unknown.

    Examples
    --------
    >>> price_for("anthropic", "claude-sonnet-4-20250514")
    Price(input=3.0, output=15.0)
    >>> price_for("openai", "gpt-5-mini-2025-08-07").output
    2.0
    >>> price_for("openai", "gpt-5.2") is None, price_for("openai-compatible", "gpt-5") is None
    (True, True)
    """
    name = model.lower().removeprefix("models/")
    best: tuple[int, Price] | None = None
    for (eng, known), price in PRICES.items():
        if eng != engine:
            continue
        matches = name == known or name.startswith(known + "-")
        if matches and (best is None or len(known) > best[0]):
            best = (len(known), price)
    return best[1] if best else None


def estimate_cost(engine: str, model: str, usage: Mapping[str, int]) -> float | None:
    """Estimated USD for token counts ``{"input_tokens", "output_tokens"}``; ``None`` without a price.

    Examples
    --------
    >>> round(estimate_cost("gemini", "gemini-2.5-pro", {"input_tokens": 2_000_000, "output_tokens": 100_000}), 2)
    3.5
    """
    price = price_for(engine, model)
    if price is None:
        return None
    return (usage.get("input_tokens", 0) * price.input + usage.get("output_tokens", 0) * price.output) / 1_000_000
