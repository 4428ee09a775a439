"""How one model call is attempted: the retry policy and the gate that admits calls.

A call that fails in a way worth retrying (rate limit, server error, timeout, network error, a
body that is not the expected JSON) is retried with exponential backoff and jitter, waiting at
least as long as the server's ``Retry-After`` asks. Before each attempt the caller passes a
:class:`CallGate`, which may hold the attempt back (a concurrency limit, a rate limit) and is told
how the attempt ended, so that it can adapt.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

__all__ = ["Outcome", "RetryPolicy", "CallGate", "SemaphoreGate"]


class Outcome(str, Enum):
    """How one attempt ended, as told to a :class:`CallGate`."""

    OK = "ok"  # an answer (blocked answers included)
    RATE_LIMITED = "rate_limited"  # HTTP 429
    FAILED = "failed"  # any other failure

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter that honours ``Retry-After``.

    Parameters
    ----------
    max_attempts : int, default=6
        Attempts per call, the first included (1: never retry).
    backoff_base : float, default=1.0
        Seconds before the first retry; each later retry doubles it.
    backoff_max : float, default=60.0
        Cap on the exponential part.
    max_retry_after : float, default=300.0
        Cap on a server's ``Retry-After`` (a longer request is shortened to this).

    Examples
    --------
    >>> p = RetryPolicy(backoff_base=1.0, backoff_max=8.0)
    >>> all(0.5 <= p.delay(0) <= 1.0 for _ in range(100)), all(4.0 <= p.delay(10) <= 8.0 for _ in range(100))
    (True, True)
    >>> p.delay(0, retry_after=3.0) >= 3.0
    True
    """

    max_attempts: int = 6
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.backoff_base < 0 or self.backoff_max < 0 or self.max_retry_after < 0:
            raise ValueError("backoff_base, backoff_max and max_retry_after must not be negative")

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first retry).

        Parameters
        ----------
        retry : int
            How many retries came before this one.
        retry_after : float, optional
            What the server asked for; the wait is never shorter (up to ``max_retry_after``).

        Returns
        -------
        float
            A value drawn uniformly from the upper half of the exponential step ("equal jitter"),
            raised to ``retry_after`` when that is longer.
        """
        step = min(self.backoff_max, self.backoff_base * (2.0 ** min(retry, 62)))
        wait = random.uniform(step / 2.0, step)
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


class CallGate(Protocol):
    """Admits model calls and hears how each ended.

    ``acquire`` is awaited before every attempt; ``release`` is called exactly once after it,
    with the attempt's :class:`Outcome`. A gate never sees backoff waits: a retrying call gives
    its place back while it sleeps.
    """

    async def acquire(self) -> None: ...

    def release(self, outcome: Outcome) -> None: ...


class SemaphoreGate:
    """A fixed concurrency limit.

    Parameters
    ----------
    limit : int
        At most this many attempts in flight.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the concurrency limit must be at least 1, got {limit}")
        self._sem = asyncio.Semaphore(limit)

    async def acquire(self) -> None:
        """Wait for a free place."""
        await self._sem.acquire()

    def release(self, outcome: Outcome) -> None:
        """Give the place back."""
        self._sem.release()
