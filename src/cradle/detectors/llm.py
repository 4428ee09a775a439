"""Detectors backed by a chat API: OpenAI, Anthropic, Gemini and openai-compatible servers.

:class:`LLMDetector` formats an item with :class:`cradle.prompts.PromptSet`, asks its
:class:`~cradle.detectors.providers.Provider` over HTTP (retrying what is worth retrying),
and parses the reply with :func:`cradle.prompts.parse_reply`. It labels posts
(``predict`` / ``apredict``) and the user turns of dialogues (``predict_dialogue``); the
evaluation runner drives it one request at a time through :meth:`LLMDetector.aresolve`.

Raw text never reaches a log: log lines name item ids, attempt numbers and HTTP statuses only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import ssl
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

from cradle.data import Dialogue, Prediction, Status, Turn
from cradle.detectors.base import DetectorSpec, SpecError
from cradle.detectors.calls import CallGate, Outcome, RetryPolicy, SemaphoreGate
from cradle.detectors.outputs import prediction_from_reply
from cradle.detectors.providers import (
    PROVIDERS,
    ChatReply,
    ChatRequest,
    Provider,
    RequestRejected,
    TransientError,
)
from cradle.prompts import PROMPT_VERSION, PromptKind, PromptSet, Schema

__all__ = ["ReplyCache", "ItemResult", "LLMDetector", "OptionError", "from_spec", "run_sync"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class OptionError(ValueError):
    """A detector option out of its range (the message names the option and the range)."""


class ReplyCache(Protocol):
    """Where replies are kept between runs (see :class:`cradle.pipelines.runs.cache.ResponseCache`).

    ``identity`` is everything that shapes a reply; ``reply`` is a
    :meth:`ChatReply.to_record` dict.
    """

    def get(self, identity: Mapping[str, Any]) -> Mapping[str, Any] | None: ...

    def put(self, identity: Mapping[str, Any], reply: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class ItemResult:
    """The outcome of one request.

    Attributes
    ----------
    prediction : Prediction
    calls : int
        HTTP attempts made (0 for a cache hit).
    cached : bool
        The reply came from the cache.
    cache_entry : tuple or None
        ``(identity, record)`` still to be written to the cache, when the caller asked to write
        it itself (``defer_cache=True``) after recording the prediction.
    """

    prediction: Prediction
    calls: int = 0
    cached: bool = False
    cache_entry: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, even inside a running event loop
    (a notebook): there it runs on a fresh loop in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _check(name: str, value: float, ok: bool, rule: str) -> None:
    if not ok:
        raise OptionError(f"{name} must be {rule}, got {value!r}")


class LLMDetector:
    """A detector that asks a chat model.

    Parameters
    ----------
    provider : Provider
        The API and model (its key already read).
    spec : str, optional
        The spec string it was built from (derived from the provider when omitted).
    prompts : PromptSet, optional
        System prompt and templates; the published-protocol prompts of the engine by default.
    temperature : float, default=0.0
    top_p : float, default=1.0
    max_tokens : int, default=1024
        Most new tokens per reply.
    timeout : float, default=120.0
        Seconds to wait for one HTTP answer.
    retry : RetryPolicy, optional
        Attempts and backoff (6 attempts, 1 s base by default).
    concurrency : int, default=8
        Requests in flight at once in ``predict`` / ``apredict`` (the runner brings its own).
    cache : ReplyCache, optional
        Used by ``predict`` / ``apredict`` / ``predict_dialogue``.

    Examples
    --------
    >>> from cradle.detectors.providers import OpenAICompatibleProvider
    >>> det = LLMDetector(OpenAICompatibleProvider("qwen", api_key=None, base_url="http://127.0.0.1:9/v1"))
    >>> det.spec
    'openai-compatible:http://127.0.0.1:9/v1#qwen'
    >>> req = det.request_for_post("I am fine.")
    >>> [m["role"] for m in req.messages], req.temperature, req.max_tokens
    (['system', 'user'], 0.0, 1024)
    """

    def __init__(
        self,
        provider: Provider,
        *,
        spec: str | None = None,
        prompts: PromptSet | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 1024,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        concurrency: int = 8,
        cache: ReplyCache | None = None,
    ) -> None:
        _check("temperature", temperature, 0.0 <= temperature <= 2.0, "between 0 and 2")
        _check("top_p", top_p, 0.0 < top_p <= 1.0, "in (0, 1]")
        _check("max_tokens", max_tokens, isinstance(max_tokens, int) and max_tokens >= 1, "a positive integer")
        _check("timeout", timeout, timeout > 0, "positive")
        _check("concurrency", concurrency, isinstance(concurrency, int) and concurrency >= 1, "a positive integer")
        self.provider = provider
        self.engine = provider.engine
        self.model = provider.model
        self.base_url = provider.base_url
        if spec is None:
            spec = (
                f"{self.engine}:{self.base_url}#{self.model}"
                if self.engine == "openai-compatible"
                else f"{self.engine}:{self.model}"
            )
        self.spec = spec
        self.prompts = prompts or PromptSet.default(self.engine)
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.max_tokens = int(max_tokens)
        self.timeout = float(timeout)
        self.retry = retry or RetryPolicy()
        self.concurrency = concurrency
        self.cache = cache

    def __repr__(self) -> str:
        return f"LLMDetector({self.spec!r}, temperature={self.temperature}, top_p={self.top_p}, max_tokens={self.max_tokens})"

    # -- requests ----------------------------------------------------------------------------

    def check_kind(self, kind: PromptKind) -> None:
        """Raise :class:`~cradle.prompts.PromptError` when no prompt exists for ``kind``."""
        self.prompts.template(kind)

    def _request(self, messages: Sequence[Mapping[str, str]]) -> ChatRequest:
        return ChatRequest(tuple(messages), self.temperature, self.top_p, self.max_tokens)

    def request_for_post(self, text: str) -> ChatRequest:
        """The request that labels one post."""
        return self._request(self.prompts.post_messages(text))

    def request_for_turn(self, history: Sequence[Turn]) -> ChatRequest:
        """The request that labels the last (user) message of ``history``."""
        return self._request(self.prompts.turn_messages(history))

    def cache_identity(self, request: ChatRequest) -> dict[str, Any]:
        """Everything that shapes the reply to ``request``: engine, model, base URL, the exact
        body sent (messages and decoding parameters) and the prompt version; no key, no
        timeout, no retry or concurrency setting."""
        return {
            "engine": self.engine,
            "model": self.model,
            "base_url": self.base_url,
            "body": self.provider.body(request),
            "prompt_version": PROMPT_VERSION,
        }

    def describe(self, kind: PromptKind) -> dict[str, Any]:
        """What a run manifest records (and compares on resume) about this detector for ``kind``."""
        sends = getattr(self.provider, "sends_sampling", lambda: True)()
        return {
            "spec": self.spec,
            "engine": self.engine,
            "model": self.model,
            "base_url": self.base_url,
            "prompt": self.prompts.describe(kind),
            "parameters": {
                "temperature": self.temperature if sends else None,
                "top_p": self.top_p if sends else None,
                "max_tokens": self.max_tokens,
            },
        }

    def transport(self) -> dict[str, Any]:
        """Settings that change how replies are fetched but never what they say."""
        return {
            "timeout": self.timeout,
            "max_attempts": self.retry.max_attempts,
            "backoff_base": self.retry.backoff_base,
            "backoff_max": self.retry.backoff_max,
        }

    def open_client(self, max_connections: int | None = None) -> httpx.AsyncClient:
        """An HTTP client with this detector's timeout and a pool sized for ``max_connections``."""
        n = max_connections or self.concurrency
        verify: bool | ssl.SSLContext = True
        if self.base_url.startswith("http://"):
            # A plain-HTTP endpoint (a local server) never uses TLS, and redirects are not
            # followed, so skip loading the CA bundle (~50 ms). The context still verifies:
            # with no trust roots, any TLS connection would be refused, not trusted.
            verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        from cradle.detectors.transport import async_transport

        return httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            transport=async_transport(verify=verify, limits=httpx.Limits(max_connections=n, max_keepalive_connections=n)),
            follow_redirects=False,
        )

    # -- one request -------------------------------------------------------------------------

    async def aresolve(
        self,
        request: ChatRequest,
        schema: Schema = "post",
        *,
        client: httpx.AsyncClient,
        gate: CallGate | None = None,
        cache: ReplyCache | None = None,
        defer_cache: bool = False,
        item_id: str | None = None,
    ) -> ItemResult:
        """Get the prediction for one request: from the cache, or by asking with retries.

        Parameters
        ----------
        request : ChatRequest
        schema : {"post", "dialogue"}
            Label schema of the reply.
        client : httpx.AsyncClient
            From :meth:`open_client`.
        gate : CallGate, optional
            Admits each attempt (no limit when omitted).
        cache : ReplyCache, optional
            Looked up first; an answered, unblocked reply is stored (errors and blocked replies
            never are).
        defer_cache : bool, default=False
            Do not store; return the entry in :attr:`ItemResult.cache_entry` for the caller to
            store once it has recorded the prediction.
        item_id : str, optional
            Named in log lines.

        Returns
        -------
        ItemResult
            Its prediction has status ``ok``, ``invalid``, ``blocked`` or ``error``.

        Raises
        ------
        FatalProviderError
            When no request can succeed (refused key, unknown model, exhausted quota).
        """
        identity = self.cache_identity(request) if cache is not None else None
        if cache is not None and identity is not None:
            record = cache.get(identity)
            if record is not None:
                try:
                    hit = ChatReply.from_record(record)
                except ValueError:
                    hit = None
                if hit is not None and not hit.blocked:
                    return ItemResult(self.reply_to_prediction(hit, schema), calls=0, cached=True)
        who = item_id or "-"
        calls = 0
        last: TransientError | None = None
        reply: ChatReply | None = None
        for attempt in range(self.retry.max_attempts):
            if gate is not None:
                await gate.acquire()
            outcome = Outcome.FAILED
            try:
                calls += 1
                reply = await self.provider.send(client, request)
                outcome = Outcome.OK
            except TransientError as exc:
                last = exc
                outcome = Outcome.RATE_LIMITED if exc.kind == "rate_limit" else Outcome.FAILED
                log.debug("item %s attempt %d: %s (HTTP %s)", who, attempt + 1, exc.kind, exc.status)
            except RequestRejected as exc:
                log.debug("item %s attempt %d: rejected (HTTP %s)", who, attempt + 1, exc.status)
                return ItemResult(Prediction(status=Status.ERROR, reason=str(exc)), calls=calls)
            finally:
                if gate is not None:
                    gate.release(outcome)
            if reply is not None:
                break
            if attempt + 1 < self.retry.max_attempts:
                await asyncio.sleep(self.retry.delay(attempt, last.retry_after if last else None))
        if reply is None:
            log.info("item %s: gave up after %d attempts (%s)", who, calls, last.kind if last else "unknown")
            reason = f"{last} (gave up after {calls} attempt{'s' if calls != 1 else ''})"
            return ItemResult(Prediction(status=Status.ERROR, reason=reason), calls=calls)
        prediction = self.reply_to_prediction(reply, schema)
        entry = (identity, reply.to_record()) if cache is not None and identity is not None and not reply.blocked else None
        if entry is not None and not defer_cache:
            cache.put(*entry)  # type: ignore[union-attr]
            entry = None
        return ItemResult(prediction, calls=calls, cached=False, cache_entry=entry)

    @staticmethod
    def reply_to_prediction(reply: ChatReply, schema: Schema = "post") -> Prediction:
        """Judge a reply (see :func:`cradle.detectors.outputs.prediction_from_reply`)."""
        return prediction_from_reply(
            reply.text,
            schema,
            blocked=reply.blocked,
            block_reason=reply.block_reason,
            finish_reason=reply.finish_reason,
            usage=reply.usage,
        )

    # -- the detector protocol ---------------------------------------------------------------

    async def _resolve_all(self, requests: Sequence[ChatRequest], schema: Schema) -> list[Prediction]:
        async with self.open_client() as client:
            gate = SemaphoreGate(self.concurrency)
            results = await asyncio.gather(
                *(self.aresolve(r, schema, client=client, gate=gate, cache=self.cache) for r in requests)
            )
        return [r.prediction for r in results]

    async def apredict(self, texts: Sequence[str]) -> list[Prediction]:
        """Label posts concurrently (at most ``concurrency`` requests in flight).

        Parameters
        ----------
        texts : sequence of str

        Returns
        -------
        list of Prediction
            One per text, in order; a failed item has a non-``ok`` status (nothing is raised
            for one bad item).

        Raises
        ------
        FatalProviderError
            When the provider refuses every request (bad key, unknown model).
        """
        self.check_kind("post")
        return await self._resolve_all([self.request_for_post(t) for t in texts], "post")

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Synchronous twin of :meth:`apredict`."""
        return run_sync(self.apredict(list(texts)))

    async def apredict_dialogue(self, dialogue: Dialogue) -> list[Prediction]:
        """Label every user turn of a dialogue, each request seeing the history up to its turn.

        Returns
        -------
        list of Prediction
            One per user turn, in order, with ids ``"<dialogue id>:<turn_id>"`` and labels of
            the dialogue schema.
        """
        self.check_kind("turn")
        turns = dialogue.user_turns
        requests = [self.request_for_turn(dialogue.history(t.turn_id)) for t in turns]
        preds = await self._resolve_all(requests, "dialogue")
        return [p.with_id(dialogue.item_id(t)) for p, t in zip(preds, turns)]

    def predict_dialogue(self, dialogue: Dialogue) -> list[Prediction]:
        """Synchronous twin of :meth:`apredict_dialogue`."""
        return run_sync(self.apredict_dialogue(dialogue))


def from_spec(
    parsed: DetectorSpec,
    *,
    temperature: float = 0.0,
    top_p: float = 1.0,
    max_tokens: int = 1024,
    prompts: PromptSet | None = None,
    prompt_file: str | Path | None = None,
    system_prompt_file: str | Path | None = None,
    api_key_env: str | None = None,
    base_url: str | None = None,
    timeout: float = 120.0,
    max_attempts: int = 6,
    backoff_base: float = 1.0,
    backoff_max: float = 60.0,
    concurrency: int = 8,
    cache: ReplyCache | None = None,
) -> LLMDetector:
    """Build an :class:`LLMDetector` from a parsed spec (what :func:`cradle.detectors.load_detector` calls).

    Parameters
    ----------
    parsed : DetectorSpec
        Engine ``openai``, ``openai-compatible``, ``anthropic`` or ``gemini``.
    temperature, top_p, max_tokens
        Decoding; the published protocol is 0, 1.0 and 1,024.
    prompts : PromptSet, optional
        Overrides the built-in prompts (``prompt_file`` / ``system_prompt_file`` are then ignored).
    prompt_file : path, optional
        A user-message template (see :mod:`cradle.prompts.templates` for the placeholders).
    system_prompt_file : path, optional
        A system prompt replacing the engine's built-in one.
    api_key_env : str, optional
        Environment variable holding the key, instead of the provider's usual one. For
        ``openai-compatible`` no key is sent unless this is given.
    base_url : str, optional
        API root for ``openai``, ``anthropic`` and ``gemini`` (otherwise ``OPENAI_BASE_URL``,
        ``ANTHROPIC_BASE_URL``, ``GEMINI_BASE_URL`` or the public endpoint).
    timeout, max_attempts, backoff_base, backoff_max
        Transport: seconds per HTTP answer, attempts per request, backoff in seconds.
    concurrency : int
        Requests in flight in ``predict``.
    cache : ReplyCache, optional

    Returns
    -------
    LLMDetector

    Raises
    ------
    MissingAPIKeyError
        When the provider's key is not set (before any request is made).
    SpecError
        For an engine this module does not serve, or a base URL given twice.
    OptionError, PromptError
        For an option out of range or an unusable prompt file.
    """
    cls = PROVIDERS.get(parsed.engine)
    if cls is None:
        raise SpecError(f"engine {parsed.engine!r} is not an API engine; use one of {', '.join(sorted(PROVIDERS))}")
    if parsed.engine == "openai-compatible":
        if base_url is not None and base_url.rstrip("/") != parsed.base_url:
            raise SpecError(
                f"openai-compatible takes its URL from the spec ({parsed.base_url}); do not pass base_url={base_url!r} as well"
            )
        base_url = parsed.base_url
    provider = cls.from_environment(parsed.model, base_url=base_url, api_key_env=api_key_env)
    if prompts is None:
        prompts = PromptSet.from_files(parsed.engine, prompt_file, system_prompt_file)
    try:
        retry = RetryPolicy(max_attempts=max_attempts, backoff_base=backoff_base, backoff_max=backoff_max)
    except ValueError as exc:
        raise OptionError(str(exc)) from None
    return LLMDetector(
        provider,
        spec=parsed.raw,
        prompts=prompts,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        timeout=timeout,
        retry=retry,
        concurrency=concurrency,
        cache=cache,
    )
