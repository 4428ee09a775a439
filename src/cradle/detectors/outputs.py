"""From what a generative model returned to a :class:`~cradle.data.Prediction`.

Shared by every engine that generates text (API providers and ``hf:``), so that one reply is
judged the same way whichever engine produced it.
"""

from __future__ import annotations

from cradle.data import Prediction, Status
from cradle.prompts import Schema, parse_reply

__all__ = ["LENGTH_FINISH_REASONS", "prediction_from_reply"]

#: Finish reasons meaning the generation hit the max-token limit (OpenAI, Anthropic, Gemini, hf).
LENGTH_FINISH_REASONS = frozenset({"length", "max_tokens", "MAX_TOKENS"})


def prediction_from_reply(
    text: str | None,
    schema: Schema = "post",
    *,
    blocked: bool = False,
    block_reason: str | None = None,
    finish_reason: str | None = None,
    usage: dict[str, int] | None = None,
) -> Prediction:
    """Judge one reply.

    Parameters
    ----------
    text : str or None
        The generated text (kept as ``raw``).
    schema : {"post", "dialogue"}
        The label schema of the item.
    blocked : bool
        The provider withheld the answer (content filter, refusal).
    block_reason : str, optional
        The provider's words for the block.
    finish_reason : str, optional
        Why generation stopped; a length stop is named in the reason of an invalid reply.
    usage : dict, optional
        Token counts.

    Returns
    -------
    Prediction
        ``blocked``; ``ok`` with labels; or ``invalid`` with the parser's reason.

    Examples
    --------
    >>> prediction_from_reply('{"labels": ["selfharm_past"]}').labels
    ('selfharm_past',)
    >>> p = prediction_from_reply('{"labels": ["selfh', finish_reason="length")
    >>> p.status.value, p.reason.endswith("(generation stopped at the max-token limit)")
    ('invalid', True)
    >>> prediction_from_reply(None, blocked=True, block_reason="stop_reason refusal").status.value
    'blocked'
    """
    if blocked:
        return Prediction(
            labels=(), status=Status.BLOCKED, raw=text, reason=block_reason or "blocked by the provider", usage=usage
        )
    parsed = parse_reply(text, schema)
    if parsed.ok:
        return Prediction(labels=parsed.labels, status=Status.OK, raw=text, usage=usage)
    reason = parsed.reason or "unparseable reply"
    if finish_reason in LENGTH_FINISH_REASONS:
        reason += " (generation stopped at the max-token limit)"
    return Prediction(labels=(), status=Status.INVALID, raw=text, reason=reason, usage=usage)
