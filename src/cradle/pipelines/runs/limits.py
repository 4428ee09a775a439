"""Limits on model calls: adaptive concurrency and a per-engine rate limit.

:class:`AdaptiveConcurrency` starts at the concurrency asked for and never goes above it. A
rate-limited answer (HTTP 429) halves the limit (at most once per ``cooldown`` seconds, so that
one burst of 429s counts once); each successful answer adds ``1 / limit``, so the limit grows
back by about one per round of successes. :class:`RateLimiter` spaces calls to at most ``rate``
per second; :func:`rate_limiter_for` hands out one limiter per engine and endpoint, shared by
every run in the process (e.g. the members of an ensemble that use the same API).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque

from cradle.detectors.calls import Outcome

__all__ = ["AdaptiveConcurrency", "RateLimiter", "LimitedGate", "rate_limiter_for"]


class AdaptiveConcurrency:
    """A concurrency limit that shrinks on rate limiting and grows back slowly.

    Parameters
    ----------
    limit : int
        The starting and highest limit.
    minimum : int, default=1
        The limit never goes below this.
    adaptive : bool, default=True
        ``False`` keeps the limit fixed.
    cooldown : float, default=1.0
        Seconds after a cut during which further 429s do not cut again.

    Examples
    --------
    >>> g = AdaptiveConcurrency(16, cooldown=0.0)
    >>> g.observe(Outcome.RATE_LIMITED); g.current
    8
    >>> for _ in range(9): g.observe(Outcome.OK)
    >>> g.current
    9
    """

    def __init__(self, limit: int, *, minimum: int = 1, adaptive: bool = True, cooldown: float = 1.0) -> None:
        if limit < 1:
            raise ValueError(f"concurrency must be at least 1, got {limit}")
        self.maximum = limit
        self.minimum = max(1, min(minimum, limit))
        self.adaptive = adaptive
        self.cooldown = cooldown
        self._limit = float(limit)
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._last_cut = float("-inf")
        #: How many times the limit was cut.
        self.cuts = 0
        #: Rate-limited answers seen.
        self.rate_limited = 0

    @property
    def current(self) -> int:
        """The limit now (whole calls)."""
        return max(self.minimum, int(self._limit))

    @property
    def in_flight(self) -> int:
        """Calls admitted and not yet released."""
        return self._in_flight

    async def acquire(self) -> None:
        """Wait until fewer than :attr:`current` calls are in flight, then take a place."""
        while self._in_flight >= self.current:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut in self._waiters:
                    self._waiters.remove(fut)
                raise
        self._in_flight += 1

    def release(self, outcome: Outcome) -> None:
        """Give a place back and adapt the limit to how the call ended."""
        self._in_flight = max(0, self._in_flight - 1)
        self.observe(outcome)
        self._wake()

    def observe(self, outcome: Outcome) -> None:
        """Adapt the limit to how one call ended (:meth:`release` calls this)."""
        if outcome is Outcome.RATE_LIMITED:
            self.rate_limited += 1
            now = time.monotonic()
            if self.adaptive and now - self._last_cut >= self.cooldown:
                self._limit = max(float(self.minimum), self._limit / 2.0)
                self._last_cut = now
                self.cuts += 1
        elif outcome is Outcome.OK and self.adaptive and self._limit < self.maximum:
            self._limit = min(float(self.maximum), self._limit + 1.0 / self._limit)

    def _wake(self) -> None:
        free = self.current - self._in_flight
        while free > 0 and self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                free -= 1


class RateLimiter:
    """At most ``rate`` calls per second, with bursts of up to ``burst`` (GCRA).

    Works across event loops and runs: it keeps only a time, no loop-bound object.

    Parameters
    ----------
    rate : float
        Calls per second.
    burst : int, default=1
        Calls that may start together after a quiet spell.
    """

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.rate = rate
        self.burst = burst
        self._tat = float("-inf")  # theoretical arrival time of the next call
        self._lock = threading.Lock()

    @property
    def rate(self) -> float:
        """Calls per second."""
        return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        if not value > 0:
            raise ValueError(f"rate limit must be positive (calls per second), got {value!r}")
        self._rate = float(value)

    def reserve(self) -> float:
        """Book the next call; return how many seconds to wait before making it."""
        interval = 1.0 / self._rate
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat, now)
            allowed_at = tat - (max(1, self.burst) - 1) * interval
            self._tat = tat + interval
        return max(0.0, allowed_at - now)

    async def acquire(self) -> None:
        """Wait for this call's turn."""
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)


_LIMITERS: dict[str, RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def rate_limiter_for(key: str, rate: float, burst: int = 1) -> RateLimiter:
    """The process-wide limiter of one engine endpoint (created, or re-rated, on demand).

    Parameters
    ----------
    key : str
        Identifies the endpoint, e.g. ``"anthropic|https://api.anthropic.com"``.
    rate : float
        Calls per second.
    burst : int, default=1

    Examples
    --------
    >>> rate_limiter_for("x|http://h", 5.0) is rate_limiter_for("x|http://h", 5.0)
    True
    """
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(key)
        if limiter is None:
            limiter = _LIMITERS[key] = RateLimiter(rate, burst)
        else:
            limiter.rate = rate
            limiter.burst = burst
        return limiter


class LimitedGate:
    """A :class:`~cradle.detectors.calls.CallGate` made of a concurrency limit and, optionally,
    a rate limit (a call holds its place while it waits for its turn)."""

    def __init__(self, concurrency: AdaptiveConcurrency, rate: RateLimiter | None = None) -> None:
        self.concurrency = concurrency
        self.rate = rate

    async def acquire(self) -> None:
        """Take a concurrency place, then wait for the rate limit's turn."""
        await self.concurrency.acquire()
        if self.rate is not None:
            try:
                await self.rate.acquire()
            except BaseException:
                self.concurrency.release(Outcome.FAILED)
                raise

    def release(self, outcome: Outcome) -> None:
        """Give the place back; the concurrency limit adapts to ``outcome``."""
        self.concurrency.release(outcome)
