"""Shard a run over Ray workers (``cradle predict ... --ray``; ``pip install 'cradle-risk[ray]'``).

The run directory ``RUN`` is the same one a single-process run writes (same settings in
``manifest.json``, same ``predictions.jsonl``), so a sharded run and a plain run can resume each
other. Work goes through shard run directories ``RUN/shards/NNN``, each an ordinary run
directory (:mod:`cradle.pipelines.runs.rundir`) with the run's settings, written by one Ray task
through :func:`~cradle.pipelines.runs.runner.run_items` with the shared response cache:

1. the driver opens ``RUN`` and first takes in what any shard directory already holds (left by
   a killed driver), then removes those shard directories;
2. the items ``RUN`` still needs are cut into contiguous shards, one Ray task each;
3. a worker that dies (``kill -9``, a lost node) has its task retried by Ray (``max_retries``),
   and the retry resumes that shard's directory: the items it recorded are not asked again;
4. when the tasks end, the driver appends every shard's predictions to ``RUN`` in item order,
   only for items ``RUN`` still needs, and removes the shard directories.

Every item thus ends with exactly one prediction line in ``RUN/predictions.jsonl``, and the
predictions are those of a single-process run (the detector and cache are the same; the order of
lines is the item order).

On a cluster (``RAY_ADDRESS``), ``RUN`` and the cache file must be on a file system every worker
sees, cradle must be installed on every node, and API keys must be set in the workers'
environment. See ``docs/evaluation.md`` for pointing the shards at several vLLM servers.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from cradle.data import Prediction, Status, read_predictions
from cradle.pipelines.runs.items import WorkItem
from cradle.pipelines.runs.rundir import MANIFEST_NAME, PREDICTIONS_NAME, RunDirectory, settings_differences
from cradle.pipelines.runs.runner import (
    DatasetInfo,
    RunnerError,
    RunOptions,
    RunSummary,
    run_settings,
    transport_settings,
)

__all__ = ["SHARDS_DIR", "run_sharded"]

log = logging.getLogger(__name__)

#: Folder of a run directory that holds the shard run directories while a sharded run works.
SHARDS_DIR = "shards"
_STATUSES = ("ok", "invalid", "blocked", "error")


def _require_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RunnerError("--ray needs Ray: pip install 'cradle-risk[ray]' (ray>=2.9)") from None
    return ray


def _shard_records(root: Path, settings: dict[str, Any], schema: Literal["post", "dialogue"]) -> dict[str, Prediction]:
    """The latest prediction of every item found in the shard directories under ``root``."""
    found: dict[str, Prediction] = {}
    if not root.is_dir():
        return found
    for shard in sorted(p for p in root.iterdir() if p.is_dir()):
        manifest, preds = shard / MANIFEST_NAME, shard / PREDICTIONS_NAME
        if not manifest.is_file() or not preds.is_file():
            continue
        try:
            diffs = settings_differences(json.loads(manifest.read_text(encoding="utf-8")).get("settings", {}), settings)
        except (OSError, ValueError):
            diffs = ["unreadable manifest"]
        if diffs:
            log.warning("shard %s was made with other settings; left out (%s)", shard, diffs[0])
            continue
        for p in read_predictions(preds, schema, tolerate_torn_tail=True, allow_duplicates=True):
            prev = found.get(p.id or "")
            if prev is None or prev.status is Status.ERROR:  # a later good answer replaces an error
                found[p.id or ""] = p
    return found


def _take_in(main: RunDirectory, found: dict[str, Prediction], order: Sequence[str]) -> int:
    """Append to ``main``, in ``order``, the shard predictions of items it still needs."""
    added = 0
    for item_id in order:
        p = found.get(item_id)
        if p is None or not main.needs(item_id):
            continue
        if p.status is Status.ERROR and item_id in main.records:
            continue  # an error for an error: keep the one already there
        main.append(p)
        added += 1
    return added


def _chunks(items: Sequence[WorkItem], n: int) -> list[list[WorkItem]]:
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        stop = start + size + (1 if i < extra else 0)
        out.append(list(items[start:stop]))
        start = stop
    return [c for c in out if c]


def _run_shard(
    items: list[WorkItem],
    make_detector: Callable[[], Any],
    shard_dir: str,
    dataset: DatasetInfo | None,
    cache_path: str | None,
    options: RunOptions,
) -> dict[str, Any]:
    """One Ray task: an ordinary (resumable) run of ``items`` into ``shard_dir``."""
    from cradle.pipelines.runs.cache import ResponseCache
    from cradle.pipelines.runs.runner import run_items

    cache = ResponseCache(cache_path) if cache_path else None
    try:
        summary = run_items(items, make_detector(), shard_dir, dataset=dataset, cache=cache, options=options)
    finally:
        if cache is not None:
            cache.close()
    return summary.to_dict()


def run_sharded(
    items: Sequence[WorkItem],
    make_detector: Callable[[], Any],
    out_dir: str | Path,
    *,
    dataset: DatasetInfo | None = None,
    cache_path: str | Path | None = None,
    options: RunOptions | None = None,
    shards: int | None = None,
    address: str | None = None,
    max_retries: int = 3,
    num_cpus: float = 1.0,
) -> RunSummary:
    """Label ``items`` into the run directory ``out_dir`` with Ray tasks, one per shard.

    Parameters
    ----------
    items : sequence of WorkItem
        Posts or dialogue turns (one kind), unique ids.
    make_detector : callable
        Builds the detector; called once here (settings, checks) and once in every task. It
        must pickle (a module-level function or a :func:`functools.partial` of one).
    out_dir : path
        The run directory (the same as a single-process run of these items would use).
    dataset : DatasetInfo, optional
        Recorded and compared on resume, as for :func:`~cradle.pipelines.runs.runner.run_items`.
    cache_path : path, optional
        The response cache file every task opens (SQLite; on a cluster, a shared path).
    options : RunOptions, optional
        Per task: ``concurrency`` is the calls in flight of one shard. The progress bar is off.
    shards : int, optional
        Number of shards (default: the CPUs Ray reports, at most one per item).
    address : str, optional
        A Ray cluster to join (default: ``RAY_ADDRESS``, else a local Ray started for this run).
    max_retries : int, default=3
        Retries of a task whose worker died.
    num_cpus : float, default=1.0
        CPUs Ray reserves per task.

    Returns
    -------
    RunSummary
        Over the whole run; ``calls`` and ``cache_hits`` summed over this session's tasks.

    Raises
    ------
    RunnerError
        When Ray is not installed, the items mix kinds or repeat ids.
    RunMismatchError
        When ``out_dir`` holds a run made with other settings.
    """
    ray = _require_ray()
    opts = options or RunOptions()
    task_opts = RunOptions(
        concurrency=opts.concurrency,
        adaptive=opts.adaptive,
        rate_limit=opts.rate_limit,
        batch_size=opts.batch_size,
        retry_errors=opts.retry_errors,
        progress=False,
    )
    started = time.monotonic()
    items = list(items)
    kinds = {i.kind for i in items}
    if len(kinds) > 1:
        raise RunnerError("items mix posts and dialogue turns: one kind per run")
    ids = [i.id for i in items]
    repeated = [i for i, n in Counter(ids).items() if n > 1]
    if repeated:
        raise RunnerError(f"duplicate item id {repeated[0]!r}")
    kind = items[0].kind if items else "post"
    schema: Literal["post", "dialogue"] = "post" if kind == "post" else "dialogue"
    detector = make_detector()
    if callable(getattr(detector, "check_kind", None)):
        detector.check_kind(kind)
    settings = run_settings(detector, kind, dataset)
    main = RunDirectory.open(
        out_dir,
        settings,
        schema=schema,
        transport={**transport_settings(detector, task_opts), "ray": {"shards": shards, "address": address}},
        retry_errors=opts.retry_errors,
    )
    root = main.path / SHARDS_DIR
    summary = RunSummary(path=main.path, n_items=len(items))
    status = "failed"
    failure: BaseException | None = None
    try:
        # what a killed driver left in shard directories first, so that nothing is asked twice
        stored = main.manifest["settings"]  # as the manifests store them (JSON round trip)
        summary.new += _take_in(main, _shard_records(root, stored, schema), ids)
        shutil.rmtree(root, ignore_errors=True)
        pending = [i for i in items if main.needs(i.id)]
        summary.resumed = len(items) - len(pending) - summary.new
        if pending:
            started_ray = False
            if not ray.is_initialized():
                ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True)
                started_ray = True
            try:
                n = shards or max(1, int(ray.cluster_resources().get("CPU", 1)))
                chunks = _chunks(pending, max(1, min(n, len(pending))))
                task = ray.remote(_run_shard).options(max_retries=max_retries, num_cpus=num_cpus)
                root.mkdir(parents=True, exist_ok=True)
                refs = [
                    task.remote(
                        c, make_detector, str(root / f"{k:03d}"), dataset, str(cache_path) if cache_path else None, task_opts
                    )
                    for k, c in enumerate(chunks)
                ]
                log.info("run %s: %d item(s) in %d shard(s)", main.path, len(pending), len(refs))
                for ref in refs:
                    try:
                        s = ray.get(ref)
                    except Exception as exc:  # a task that failed for good: keep the others' work
                        failure = failure or getattr(exc, "cause", None) or exc
                        continue
                    summary.calls += int(s.get("calls", 0))
                    summary.cache_hits += int(s.get("cache_hits", 0))
                    summary.rate_limited += int(s.get("rate_limited", 0))
                    summary.concurrency_cuts += int(s.get("concurrency_cuts", 0))
                    for k, v in (s.get("usage_session") or {}).items():
                        summary.usage_session[k] = summary.usage_session.get(k, 0) + int(v)
            finally:
                if started_ray:
                    ray.shutdown()
            summary.new += _take_in(main, _shard_records(root, stored, schema), ids)
            shutil.rmtree(root, ignore_errors=True)
        status = "complete" if not any(main.needs(i) for i in ids) else "incomplete"
        main.compact(order=ids)
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        raise
    finally:
        summary.status = status
        summary.counts = {s: 0 for s in _STATUSES}
        for i in ids:
            p = main.records.get(i)
            if p is not None:
                summary.counts[p.status.value] = summary.counts.get(p.status.value, 0) + 1
                for k, v in (p.usage or {}).items():
                    summary.usage[k] = summary.usage.get(k, 0) + int(v)
        if hasattr(detector, "engine") and hasattr(detector, "model"):
            from cradle.pipelines.runs.pricing import estimate_cost

            summary.cost_usd = estimate_cost(detector.engine, detector.model, summary.usage)
            summary.cost_session_usd = estimate_cost(detector.engine, detector.model, summary.usage_session)
        summary.wall_s = round(time.monotonic() - started, 3)
        session = {
            k: getattr(summary, k)
            for k in ("new", "resumed", "calls", "cache_hits", "rate_limited", "concurrency_cuts", "wall_s")
        }
        session["usage"] = summary.usage_session
        main.finish(
            status,  # type: ignore[arg-type]
            session,
            {"n_items": summary.n_items, "counts": summary.counts, "usage": summary.usage, "cost_usd": summary.cost_usd},
        )
    if failure is not None:
        raise failure
    return summary
