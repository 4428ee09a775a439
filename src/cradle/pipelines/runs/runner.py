"""The evaluation runner: label a stream of work items with any detector into a run directory.

What it guarantees:

- **Resumable.** Each prediction is appended to ``RUN/predictions.jsonl`` and flushed as soon
  as its item finishes; a rerun (after a crash, ``kill -9`` or Ctrl-C) asks only for the items
  without a prediction (and, by default, those that ended in ``error``). A rerun of a finished
  run makes no model call. Blocked answers are kept in the run and not asked again.
- **Consistent.** Reopening a run with other settings (spec, prompt, decoding parameters,
  dataset) is refused with the list of differences (:class:`~cradle.pipelines.runs.rundir.RunMismatchError`).
- **Polite and robust.** API detectors (:class:`~cradle.detectors.llm.LLMDetector`) run with
  bounded concurrency that halves on HTTP 429 and grows back slowly, an optional per-engine rate
  limit, and retries with exponential backoff and jitter that honour ``Retry-After``; every
  fault ends as a prediction status (``ok`` / ``invalid`` / ``blocked`` / ``error``), never as a
  lost item. Replies are shared across runs through :class:`~cradle.pipelines.runs.cache.ResponseCache`.
- **Streaming.** Items come from any iterator (:mod:`cradle.pipelines.runs.items`); only ids are
  kept in memory.
- **Private.** Log lines carry item ids, counts and HTTP statuses, never text.

Other detectors (``local:``, ``hf:``, anything with ``predict``) are called in batches through
``predict`` (posts) or ``predict_dialogue`` (dialogue turns), off the event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from cradle.data import Dialogue, Prediction, Status
from cradle.data.datasets import Dataset
from cradle.detectors.llm import ItemResult, LLMDetector, run_sync
from cradle.pipelines.runs.cache import ResponseCache
from cradle.pipelines.runs.items import ItemKind, WorkItem
from cradle.pipelines.runs.limits import AdaptiveConcurrency, LimitedGate, rate_limiter_for
from cradle.pipelines.runs.pricing import estimate_cost
from cradle.pipelines.runs.rundir import RunDirectory

__all__ = [
    "RunnerError",
    "RunOptions",
    "DatasetInfo",
    "RunSummary",
    "run_items",
    "arun_items",
    "run_settings",
    "transport_settings",
]

log = logging.getLogger(__name__)

_STATUSES = (Status.OK, Status.INVALID, Status.BLOCKED, Status.ERROR)


class RunnerError(ValueError):
    """Work the runner cannot do as asked (mixed item kinds, duplicate ids, a detector that cannot
    label the items)."""


@dataclass(frozen=True)
class RunOptions:
    """How a run fetches its predictions (none of this changes what they say).

    Parameters
    ----------
    concurrency : int, default=8
        Most model calls in flight (API detectors); also the number of workers.
    adaptive : bool, default=True
        Halve the concurrency on HTTP 429 and let it grow back on success.
    rate_limit : float, optional
        Most calls per second to one engine endpoint, shared by all runs of the process.
    batch_size : int, default=16
        Posts per ``predict`` call for non-API detectors.
    retry_errors : bool, default=True
        On resume, ask again for items whose prediction has status ``error``.
    progress : bool, default=False
        Show a Rich progress bar (rate, ETA, status counts) on stderr.
    """

    concurrency: int = 8
    adaptive: bool = True
    rate_limit: float | None = None
    batch_size: int = 16
    retry_errors: bool = True
    progress: bool = False

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise RunnerError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.batch_size < 1:
            raise RunnerError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.rate_limit is not None and not self.rate_limit > 0:
            raise RunnerError(f"rate_limit must be positive (calls per second), got {self.rate_limit}")


@dataclass(frozen=True)
class DatasetInfo:
    """What a manifest records about the data: a name and a fingerprint of the file."""

    name: str
    fingerprint: str

    @classmethod
    def of(cls, dataset: Dataset) -> DatasetInfo:
        """The info of a loaded dataset."""
        return cls(dataset.name, dataset.fingerprint)


@dataclass
class RunSummary:
    """What a run (one session of it) did.

    Attributes
    ----------
    path : Path
        The run directory.
    n_items : int
        Items in the input.
    counts : dict
        Predictions by status over the whole run.
    new : int
        Items predicted in this session.
    resumed : int
        Items that already had a prediction.
    calls : int
        Model calls (HTTP attempts) made in this session.
    cache_hits : int
        Items answered from the response cache in this session.
    rate_limited : int
        HTTP 429 answers seen in this session.
    concurrency_cuts : int
        Times the concurrency was lowered.
    usage : dict
        Token totals over the whole run.
    usage_session : dict
        Tokens paid for in this session (cache hits excluded).
    cost_usd, cost_session_usd : float or None
        Estimates from :mod:`cradle.pipelines.runs.pricing`; ``None`` when the model has no known price.
    wall_s : float
        Seconds this session took.
    status : str
        ``"complete"``, or ``"incomplete"`` when items still need another attempt.
    """

    path: Path
    n_items: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    new: int = 0
    resumed: int = 0
    calls: int = 0
    cache_hits: int = 0
    rate_limited: int = 0
    concurrency_cuts: int = 0
    usage: dict[str, int] = field(default_factory=dict)
    usage_session: dict[str, int] = field(default_factory=dict)
    cost_usd: float | None = None
    cost_session_usd: float | None = None
    wall_s: float = 0.0
    status: str = "complete"

    @property
    def complete(self) -> bool:
        """True when every item has a prediction that needs no other attempt."""
        return self.status == "complete"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def _add_usage(total: dict[str, int], usage: Mapping[str, int] | None) -> None:
    for k, v in (usage or {}).items():
        total[k] = total.get(k, 0) + int(v)


class _Progress:
    """A Rich progress bar, or nothing."""

    def __init__(self, enabled: bool, total: int | None, done: int, console: Any) -> None:
        self._bar: Any = None
        if not enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task: Any) -> Text:
                speed = task.finished_speed or task.speed
                return Text(f"{speed:.1f} items/s" if speed else "- items/s", style="progress.data.speed")

        self._bar = Progress(
            TextColumn("[bold]predict"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[counts]}"),
            console=console,
            transient=False,
        )
        self._task = self._bar.add_task("predict", total=total, completed=done, counts="")
        self._bar.start()

    def update(self, counts: Mapping[str, int], advance: int = 1) -> None:
        if self._bar is not None:
            text = " ".join(f"{k} {counts.get(k, 0)}" for k in ("ok", "invalid", "blocked", "error", "cached"))
            self._bar.update(self._task, advance=advance, counts=text)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _describe(detector: Any, kind: ItemKind) -> dict[str, Any]:
    if hasattr(detector, "describe"):
        return dict(detector.describe(kind))
    return {"spec": getattr(detector, "spec", type(detector).__name__)}


def _check_detector(detector: Any, kind: ItemKind) -> None:
    if callable(getattr(detector, "check_kind", None)):
        detector.check_kind(kind)  # a missing prompt fails here, before any work
    if isinstance(detector, LLMDetector):
        return
    if kind == "post" and not callable(getattr(detector, "predict", None)):
        raise RunnerError(f"{type(detector).__name__} has no predict(texts): it cannot label posts")
    if kind == "turn" and not callable(getattr(detector, "predict_dialogue", None)):
        raise RunnerError(
            f"{getattr(detector, 'spec', type(detector).__name__)} has no predict_dialogue(dialogue): it cannot label dialogue turns"
        )


def run_settings(detector: Any, kind: ItemKind, dataset: DatasetInfo | None) -> dict[str, Any]:
    """What a run's predictions depend on (recorded in the manifest and compared on resume).

    Parameters
    ----------
    detector : object
        The detector of the run.
    kind : {"post", "turn"}
        What the run labels.
    dataset : DatasetInfo or None
    """
    return {
        "kind": kind,
        "detector": _describe(detector, kind),
        "dataset": asdict(dataset) if dataset is not None else None,
    }


def transport_settings(detector: Any, options: RunOptions) -> dict[str, Any]:
    """How a session fetches its predictions (recorded per session, never compared)."""
    transport: dict[str, Any] = {
        "concurrency": options.concurrency,
        "adaptive": options.adaptive,
        "rate_limit": options.rate_limit,
        "batch_size": options.batch_size,
    }
    if isinstance(detector, LLMDetector):
        transport.update(detector.transport())
    return transport


async def arun_items(
    items: Iterable[WorkItem],
    detector: Any,
    out_dir: str | Path,
    *,
    dataset: DatasetInfo | None = None,
    cache: ResponseCache | None = None,
    options: RunOptions | None = None,
    total: int | None = None,
    console: Any = None,
) -> RunSummary:
    """Label ``items`` with ``detector`` into the run directory ``out_dir`` (async).

    Parameters
    ----------
    items : iterable of WorkItem
        Posts or dialogue turns (one kind per run), e.g. from
        :func:`~cradle.pipelines.runs.items.dataset_items`. Ids must be unique.
    detector : LLMDetector or any detector
        API detectors are called per item; others in batches through ``predict`` /
        ``predict_dialogue``.
    out_dir : path
        The run directory (created, or resumed when it holds a run with the same settings).
    dataset : DatasetInfo, optional
        Name and fingerprint of the data, recorded and compared on resume.
    cache : ResponseCache, optional
        Shared reply cache (API detectors).
    options : RunOptions, optional
    total : int, optional
        Number of items, for the progress bar's ETA.
    console : rich.console.Console, optional
        Where the progress bar goes.

    Returns
    -------
    RunSummary

    Raises
    ------
    RunMismatchError
        When ``out_dir`` holds a run made with other settings.
    RunnerError, PromptError
        Before any call, when the detector cannot label these items.
    FatalProviderError
        When the provider refuses every request (the predictions so far are kept).
    """
    opts = options or RunOptions()
    started = time.monotonic()
    source = iter(items)
    first = next(source, None)
    kind: ItemKind = first.kind if first is not None else "post"
    schema: Literal["post", "dialogue"] = "post" if kind == "post" else "dialogue"
    _check_detector(detector, kind)
    is_api = isinstance(detector, LLMDetector)
    rundir = RunDirectory.open(
        out_dir,
        run_settings(detector, kind, dataset),
        schema=schema,
        transport=transport_settings(detector, opts),
        retry_errors=opts.retry_errors,
    )

    summary = RunSummary(path=rundir.path)
    counts: Counter[str] = Counter()
    seen: set[str] = set()
    usage_session: dict[str, int] = {}
    concurrency = AdaptiveConcurrency(opts.concurrency, adaptive=opts.adaptive)
    done_before = sum(1 for i in rundir.records if not rundir.needs(i))
    progress = _Progress(False, None, 0, None)

    def pending() -> Iterator[WorkItem]:
        for item in itertools.chain([first] if first is not None else [], source):
            if item.kind != kind:
                raise RunnerError(f"item {item.id!r} is a {item.kind} but this run labels {kind}s: one kind per run")
            if item.id in seen:
                raise RunnerError(f"duplicate item id {item.id!r}")
            seen.add(item.id)
            if rundir.needs(item.id):
                yield item
            else:
                summary.resumed += 1

    def record(item: WorkItem, pred: Prediction, *, calls: int, cached: bool) -> None:
        pred = pred.with_id(item.id)
        rundir.append(pred)
        summary.new += 1
        summary.calls += calls
        counts[pred.status.value] += 1
        if cached:
            summary.cache_hits += 1
            counts["cached"] += 1
        else:
            _add_usage(usage_session, pred.usage)
        log.debug("item %s: %s", item.id, pred.status.value)
        progress.update(counts)

    log.info("run %s: %d item(s) already done", rundir.path, done_before)
    status = "failed"
    try:
        progress = _Progress(opts.progress, total, done_before, console)
        if is_api:
            await _run_api(pending(), detector, schema, kind, rundir, cache, opts, concurrency, record)
        else:
            await _run_batched(pending(), detector, kind, opts, record)
        remaining = [i for i in seen if rundir.needs(i)]
        status = "complete" if not remaining else "incomplete"
        rundir.compact(order=None)
    except (asyncio.CancelledError, KeyboardInterrupt):
        status = "interrupted"
        raise
    finally:
        progress.stop()
        summary.n_items = len(seen)
        summary.status = status
        summary.rate_limited = concurrency.rate_limited
        summary.concurrency_cuts = concurrency.cuts
        relevant = (
            [rundir.records[i] for i in seen if i in rundir.records]
            if status in ("complete", "incomplete")
            else list(rundir.records.values())
        )
        summary.counts = {s.value: 0 for s in _STATUSES}
        for p in relevant:
            summary.counts[p.status.value] = summary.counts.get(p.status.value, 0) + 1
            _add_usage(summary.usage, p.usage)
        summary.usage_session = usage_session
        if is_api:
            summary.cost_usd = estimate_cost(detector.engine, detector.model, summary.usage)
            summary.cost_session_usd = estimate_cost(detector.engine, detector.model, usage_session)
        summary.wall_s = round(time.monotonic() - started, 3)
        session = {
            k: getattr(summary, k)
            for k in ("new", "resumed", "calls", "cache_hits", "rate_limited", "concurrency_cuts", "wall_s")
        }
        session["usage"] = usage_session
        rundir.finish(
            status,  # type: ignore[arg-type]
            session,
            {"n_items": summary.n_items, "counts": summary.counts, "usage": summary.usage, "cost_usd": summary.cost_usd},
        )
    log.info("run %s: %s, %d new, %d calls, %d cache hits", rundir.path, status, summary.new, summary.calls, summary.cache_hits)
    return summary


async def _run_api(
    pending: Iterator[WorkItem],
    detector: LLMDetector,
    schema: Any,
    kind: ItemKind,
    rundir: RunDirectory,
    cache: ResponseCache | None,
    opts: RunOptions,
    concurrency: AdaptiveConcurrency,
    record: Any,
) -> None:
    rate = rate_limiter_for(f"{detector.engine}|{detector.base_url}", opts.rate_limit) if opts.rate_limit else None
    gate = LimitedGate(concurrency, rate)
    loop = asyncio.get_running_loop()
    finished: deque[tuple[WorkItem, ItemResult]] = deque()
    flush_scheduled = False
    failure: BaseException | None = None  # a recording failure (disk full, ...), raised in the workers
    cuts_seen = 0

    def flush() -> None:
        """Record finished items: the prediction line first, then the cache entry."""
        nonlocal flush_scheduled, cuts_seen, failure
        flush_scheduled = False
        try:
            while finished:
                item, result = finished.popleft()
                record(item, result.prediction, calls=result.calls, cached=result.cached)
                if result.cache_entry is not None and cache is not None:
                    cache.put(*result.cache_entry)
        except Exception as exc:  # a callback's exception would be swallowed by the loop: hand it over
            if failure is None:
                failure = exc
        if concurrency.cuts != cuts_seen:
            cuts_seen = concurrency.cuts
            log.warning("rate limited (HTTP 429): concurrency lowered to %d", concurrency.current)

    async def worker(client: Any) -> None:
        nonlocal flush_scheduled
        for item in pending:
            if failure is not None:
                raise failure
            request = detector.request_for_post(item.text) if kind == "post" else detector.request_for_turn(item.history)
            result = await detector.aresolve(
                request, schema, client=client, gate=gate, cache=cache, defer_cache=True, item_id=item.id
            )
            # Bookkeeping runs after the callbacks already due, so that this worker (and the
            # others answered in the same round) send their next request first.
            finished.append((item, result))
            if not flush_scheduled:
                flush_scheduled = True
                loop.call_soon(flush)

    async with detector.open_client(opts.concurrency) as client:
        tasks = [asyncio.ensure_future(worker(client)) for _ in range(opts.concurrency)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            flush()  # whatever finished is recorded, even when the run stops
    if failure is not None:
        raise failure


def _error_prediction(exc: BaseException) -> Prediction:
    return Prediction(status=Status.ERROR, reason=f"{type(exc).__name__}: {exc}")


async def _run_batched(pending: Iterator[WorkItem], detector: Any, kind: ItemKind, opts: RunOptions, record: Any) -> None:
    if kind == "post":
        while True:
            batch = list(itertools.islice(pending, opts.batch_size))
            if not batch:
                return
            try:
                preds = await asyncio.to_thread(detector.predict, [i.text for i in batch])
                if len(preds) != len(batch):
                    raise RunnerError(
                        f"{getattr(detector, 'spec', 'the detector')} returned {len(preds)} predictions for {len(batch)} texts"
                    )
            except Exception as exc:  # one failed batch fails its items, not the run
                log.warning("a batch of %d item(s) failed (%s)", len(batch), type(exc).__name__)
                preds = [_error_prediction(exc)] * len(batch)
            for item, pred in zip(batch, preds):
                record(item, pred, calls=0, cached=False)
    else:
        for _, group_iter in itertools.groupby(pending, key=lambda i: id(i.dialogue)):
            group = list(group_iter)
            dialogue: Dialogue = group[0].dialogue  # type: ignore[assignment]
            try:
                preds = await asyncio.to_thread(detector.predict_dialogue, dialogue)
                by_turn = {t.turn_id: p for t, p in zip(dialogue.user_turns, preds)}
                if len(preds) != len(dialogue.user_turns):
                    raise RunnerError(
                        f"{getattr(detector, 'spec', 'the detector')} returned {len(preds)} predictions for {len(dialogue.user_turns)} user turns"
                    )
            except Exception as exc:
                log.warning("dialogue %s failed (%s)", dialogue.id, type(exc).__name__)
                by_turn = {t.turn_id: _error_prediction(exc) for t in dialogue.user_turns}
            for item in group:
                record(item, by_turn[cast(int, item.turn_id)], calls=0, cached=False)


def run_items(
    items: Iterable[WorkItem],
    detector: Any,
    out_dir: str | Path,
    *,
    dataset: DatasetInfo | None = None,
    cache: ResponseCache | None = None,
    options: RunOptions | None = None,
    total: int | None = None,
    console: Any = None,
) -> RunSummary:
    """Synchronous twin of :func:`arun_items` (same parameters, same result).

    Examples
    --------
    >>> import tempfile
    >>> from cradle.data import Prediction
    >>> from cradle.pipelines.runs.items import WorkItem
    >>> class Always:
    ...     spec = "example:always-no-crisis"
    ...     def predict(self, texts):
    ...         return [Prediction(labels=("no_crisis",)) for _ in texts]
    >>> s = run_items([WorkItem("p1", "hello"), WorkItem("p2", "hi")], Always(), tempfile.mkdtemp())
    >>> s.counts["ok"], s.new, s.status
    (2, 2, 'complete')
    """
    return run_sync(
        arun_items(items, detector, out_dir, dataset=dataset, cache=cache, options=options, total=total, console=console)
    )
