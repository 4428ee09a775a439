"""The response cache opened by several processes at once (the Ray shards' case)."""

from __future__ import annotations

import os

from cradle.pipelines.runs.cache import ResponseCache


def _open_and_write(path: str, barrier, results) -> None:
    barrier.wait()  # every process opens the new file at the same moment
    try:
        cache = ResponseCache(path)
        cache.put({"engine": "e", "model": "m", "body": {"pid": os.getpid()}}, {"text": "x", "blocked": False})
        cache.close()
        results.put("ok")
    except Exception as exc:  # reported to the parent, which asserts on it
        results.put(repr(exc))


def test_processes_opening_a_new_cache_at_once_all_succeed(tmp_path):
    """Ray shards open one new cache file together; switching it to WAL must not fail the losers."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for trial in range(4):
        path = str(tmp_path / f"c{trial}.sqlite")
        n = 6
        barrier, results = ctx.Barrier(n), ctx.Queue()
        procs = [ctx.Process(target=_open_and_write, args=(path, barrier, results)) for _ in range(n)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert sorted(results.get(timeout=10) for _ in range(n)) == ["ok"] * n
        with ResponseCache(path) as cache:
            assert len(cache) == n
