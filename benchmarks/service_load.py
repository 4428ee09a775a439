"""Load on ``cradle serve`` over loopback: requests/s and p50/p99 latency, zero errors expected.

    python benchmarks/service_load.py [--requests 2000] [--conversations 100] [--turns 10]
                                      [--concurrency 8] [--batch 1] [--max-seconds 60]

Starts ``cradle serve`` (``--model``, default ``local:default``) in its own process on a free
port of 127.0.0.1 with a fresh database, waits for ``/healthz``, then runs two phases with
``--concurrency`` client threads, each keeping one HTTP connection open:

1. ``POST /v1/detect``: ``--requests`` calls of ``--batch`` texts drawn from the bundled
   synthetic posts;
2. ``POST /v1/conversations/{id}/turns``: ``--conversations`` conversations of ``--turns`` turns
   (user and listener alternate, messages from the bundled synthetic dialogues); the turns of
   one conversation are sent in order, conversations run in parallel.

Each phase stops early after ``--max-seconds``. Prints one line per phase (requests, errors,
wall time, requests/s, p50 and p99 latency in ms) and exits with status 1 when any request
failed or got a status other than 200. ``--json`` prints the figures as JSON instead.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from cradle.data import load_dataset


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


class Phase:
    """Latencies and errors of one phase, filled by several threads."""

    def __init__(self, name: str, deadline: float) -> None:
        self.name = name
        self.deadline = deadline
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def record(self, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies.append(seconds)
            if error:
                self.errors.append(error)

    def figures(self, wall: float) -> dict[str, Any]:
        n = len(self.latencies)
        return {
            "endpoint": self.name,
            "requests": n,
            "errors": len(self.errors),
            "wall_s": round(wall, 2),
            "requests_per_s": round(n / wall, 1) if wall > 0 else None,
            "p50_ms": round(1000 * _percentile(self.latencies, 50), 2),
            "p99_ms": round(1000 * _percentile(self.latencies, 99), 2),
            "mean_ms": round(1000 * statistics.fmean(self.latencies), 2) if n else None,
            "first_errors": self.errors[:3],
        }


def _call(phase: Phase, client: httpx.Client, url: str, body: dict[str, Any]) -> None:
    start = time.perf_counter()
    error = None
    try:
        r = client.post(url, json=body)
        if r.status_code != 200:
            error = f"{r.status_code}: {r.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    phase.record(time.perf_counter() - start, error)


def _run_phase(phase: Phase, jobs: list[Callable[[httpx.Client], None]], base: str, concurrency: int) -> float:
    """Run jobs on ``concurrency`` threads, one keep-alive client per thread; returns the wall time."""
    local = threading.local()
    clients: list[httpx.Client] = []

    def run(job: Callable[[httpx.Client], None]) -> None:
        if time.monotonic() > phase.deadline:
            return
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=base, timeout=30)
            clients.append(client)
        job(client)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(run, jobs))
    wall = time.perf_counter() - start
    for c in clients:
        c.close()
    return wall


def _start_server(model: str, port: int, db: Path) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "cradle",
        "serve",
        "--port",
        str(port),
        "--db",
        str(db),
        "--model",
        model,
        "--log-level",
        "warning",
    ]
    env = {k: v for k, v in os.environ.items() if k != "CRADLE_TOKEN"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"cradle serve exited with status {proc.returncode}:\n{proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("cradle serve did not answer /healthz within 60 s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000, help="Calls of /v1/detect.")
    ap.add_argument("--batch", type=int, default=1, help="Texts per /v1/detect call.")
    ap.add_argument("--conversations", type=int, default=100)
    ap.add_argument("--turns", type=int, default=10, help="Turns per conversation (user and listener alternate).")
    ap.add_argument("--concurrency", type=int, default=8, help="Client threads.")
    ap.add_argument("--max-seconds", type=float, default=60.0, help="Stop each phase after this long.")
    ap.add_argument("--model", default="local:default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = ap.parse_args(argv)
    for name in ("requests", "batch", "conversations", "turns", "concurrency"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1")

    rng = random.Random(args.seed)
    posts = [p.text for p in load_dataset("synthetic:posts-test").posts]  # type: ignore[union-attr]
    dialogues = load_dataset("synthetic:dialogues-test").dialogues  # type: ignore[union-attr]
    users = [t.text for d in dialogues for t in d.turns if t.is_user]
    listeners = [t.text for d in dialogues for t in d.turns if not t.is_user]

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="cradle-load-") as tmp:
        proc = _start_server(args.model, port, Path(tmp) / "service.db")
        try:
            results = []
            detect = Phase("POST /v1/detect", time.monotonic() + args.max_seconds)
            bodies = [{"texts": rng.sample(posts, args.batch)} for _ in range(args.requests)]
            jobs = [lambda c, b=b: _call(detect, c, "/v1/detect", b) for b in bodies]
            results.append(detect.figures(_run_phase(detect, jobs, base, args.concurrency)))

            turns = Phase("POST /v1/conversations/{id}/turns", time.monotonic() + args.max_seconds)
            scripts = [
                [
                    ("user" if k % 2 == 0 else "listener", rng.choice(users if k % 2 == 0 else listeners))
                    for k in range(args.turns)
                ]
                for _ in range(args.conversations)
            ]

            def converse(client: httpx.Client, cid: str, script: list[tuple[str, str]]) -> None:
                for speaker, text in script:
                    if time.monotonic() > turns.deadline:
                        return
                    _call(turns, client, f"/v1/conversations/{cid}/turns", {"speaker": speaker, "text": text})

            jobs = [lambda c, i=i, s=s: converse(c, f"load-{i}", s) for i, s in enumerate(scripts)]
            results.append(turns.figures(_run_phase(turns, jobs, base, args.concurrency)))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    if args.json:
        print(
            json.dumps({"model": args.model, "concurrency": args.concurrency, "batch": args.batch, "phases": results}, indent=2)
        )
    else:
        print(
            f"cradle serve on loopback, model {args.model}, {args.concurrency} client threads, batch {args.batch}, {os.cpu_count()} CPUs"
        )
        print(f"{'endpoint':<36} {'requests':>8} {'errors':>6} {'wall s':>7} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}")
        for r in results:
            print(
                f"{r['endpoint']:<36} {r['requests']:>8} {r['errors']:>6} {r['wall_s']:>7.2f} {r['requests_per_s']:>8.1f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f}"
            )
        for r in results:
            for e in r["first_errors"]:
                print(f"  {r['endpoint']}: {e}")
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
