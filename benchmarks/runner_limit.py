"""How close the evaluation runner gets to the concurrency limit, and how it resumes.

Starts a loopback chat server (``tests/fake_providers.py``) that answers each request after
``--delay`` seconds, writes ``--n`` posts, and times the real command line::

    cradle predict POSTS --model openai-compatible:http://127.0.0.1:PORT/v1#bench \\
        --out WORK/run --concurrency 16 --cache WORK/cache.sqlite

With 600 posts, 200 ms and concurrency 16 the ideal is 600 x 0.2 / 16 = 7.5 s; the target is a
ratio (wall / ideal) of at most 1.10, measured on the whole process (start-up included), against
the project's fake server (``--server fake``) and an independent stdlib threaded server
(``--server threaded``: HTTP/1.0, a new connection per request, backlog 5). Then:

- the same command again: the target is 0 server calls in under 2 s;
- ``--kill-at 0.5``: a fresh run killed with SIGKILL at about half way, then rerun; the rerun
  must end with exactly N unique predictions and make one server call per missing item;
- ``--faults 0.1``: 10% of calls of each fault kind (429, 500, 503, hang, non-JSON body,
  malformed reply, prose around the JSON, content filter, refusal); every item must end with
  a status.

Usage::

    python benchmarks/runner_limit.py                    # limit + rerun
    python benchmarks/runner_limit.py --server threaded  # the same against an independent server
    python benchmarks/runner_limit.py --kill-at 0.5      # + kill -9 and resume
    python benchmarks/runner_limit.py --faults 0.1       # + fault injection run
    python benchmarks/runner_limit.py --baseline         # + a bare asyncio client's time, same server
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fake_providers import FakeProviderServer, marker_labels  # noqa: E402


class ThreadedLoopbackServer:
    """An independent chat server: ``http.server.ThreadingHTTPServer`` with the standard
    library's defaults (HTTP/1.0, one connection per request, a listen backlog of 5, Nagle on),
    answering ``/v1/chat/completions`` after ``delay`` seconds with the labels of the
    ``[[labels:...]]`` marker. Nothing in it is tuned to cradle's client, unlike
    ``tests/fake_providers.py``.
    """

    def __init__(self, delay: float, *, http11: bool = False) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        owner = self

        class Handler(BaseHTTPRequestHandler):
            if http11:
                protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802
                arrived = time.monotonic()
                last = getattr(self, "_done", None)
                if last is not None:  # the client's turnaround on this connection
                    with owner._lock:
                        owner.gaps.append(arrived - last)
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
                with owner._lock:  # counted on arrival: a killed client's requests in flight belong to its run
                    owner.calls += 1
                time.sleep(owner.delay)
                text = json.dumps({"labels": marker_labels(body["messages"][-1]["content"])})
                out = json.dumps(
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body["model"],
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
                self._done = time.monotonic()

        self.delay = delay
        self.gaps: list[float] = []
        self.calls = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ThreadedLoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def openai_base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def reset_counts(self) -> None:
        with self._lock:
            self.calls = 0
            self.gaps = []

    def turnaround(self) -> str:
        """Median and 90th percentile of the time between an answer and the next request on a
        kept-alive connection (the client's own time per item)."""
        g = sorted(self.gaps)
        if not g:
            return "no kept-alive connection"
        return f"client turnaround per item: median {g[len(g) // 2] * 1000:.1f} ms, p90 {g[int(len(g) * 0.9)] * 1000:.1f} ms over {len(g)}"


def listen_counters() -> tuple[int, int]:
    """Linux ``ListenOverflows`` and ``ListenDrops`` (handshakes a full accept queue dropped)."""
    try:
        lines = Path("/proc/net/netstat").read_text().split("\n")
    except OSError:
        return 0, 0
    for head, vals in zip(lines[::2], lines[1::2]):
        if head.startswith("TcpExt:"):
            d = dict(zip(head.split()[1:], (int(v) for v in vals.split()[1:])))
            return d.get("ListenOverflows", 0), d.get("ListenDrops", 0)
    return 0, 0

_LABELS = [
    "no_crisis",
    "selfharm_ongoing",
    "rape_past",
    "suicideideation_passive_ongoing",
    "domesticviolence_past,sexualharassment_ongoing",
]
#: Target: the whole process within this factor of the ideal time.
LIMIT = 1.10
_FAULTS = ("rate_limit", "server_error", "unavailable", "hang", "bad_body", "malformed", "prose", "filter", "refusal")


def bare_client_wall(base: str, n: int, concurrency: int, spacing: float = 0.003) -> float:
    """Seconds a bare asyncio client (raw HTTP/1.1 requests, no httpx, no cache, no run folder) needs
    for ``n`` chat requests at ``concurrency`` against ``base``, connection starts ``spacing`` apart
    like cradle's transport. Run in this process, beside the server: a floor for what any Python
    client can reach on this machine, not a cradle figure."""
    import asyncio
    from urllib.parse import urlsplit

    url = urlsplit(base)
    path = f"{url.path}/chat/completions".encode()
    body = json.dumps({"model": "bench", "messages": [{"role": "user", "content": "[[labels:no_crisis]]"}]}).encode()
    head = b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (path, url.netloc.encode(), len(body))

    async def main() -> float:
        left, next_start = n, 0.0
        idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

        async def one() -> None:
            nonlocal next_start
            if idle:
                reader, writer = idle.pop()
            else:
                now = time.monotonic()
                start = max(now, next_start)
                next_start = start + spacing
                await asyncio.sleep(start - now)
                reader, writer = await asyncio.open_connection(url.hostname, url.port)
            sock = writer.get_extra_info("socket")
            if hasattr(socket, "TCP_QUICKACK"):  # as cradle's transport does, against delayed ACKs
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            writer.write(head + body)
            status = await reader.readline()
            length, close = 0, status.startswith(b"HTTP/1.0")
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                elif name.strip().lower() == b"connection" and b"close" in value.lower():
                    close = True
            if hasattr(socket, "TCP_QUICKACK"):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            json.loads(await reader.readexactly(length))
            if close:
                writer.close()
            else:
                idle.append((reader, writer))

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await one()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        for _, writer in idle:
            writer.close()
        return time.perf_counter() - t0

    return asyncio.run(main())


def write_posts(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            labels = _LABELS[i % len(_LABELS)]
            text = f"Benchmark post number {i}: a made-up week of ups and downs. [[labels:{labels}]]"
            fh.write(json.dumps({"id": f"p{i}", "text": text, "labels": labels.split(",")}) + "\n")


def command(data: Path, base: str, run: Path, cache: Path, concurrency: int, extra: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "cradle", "predict", str(data),
        "--model", f"openai-compatible:{base}#bench",
        "--out", str(run), "--concurrency", str(concurrency), "--cache", str(cache), *extra,
    ]  # fmt: skip


def run_cli(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"command failed with exit code {proc.returncode}")
    return wall, proc


def count_predictions(path: Path) -> tuple[int, int, Counter[str]]:
    """(lines, unique ids, statuses) of a predictions file; a torn last line is not counted."""
    lines, ids, statuses = 0, set(), Counter()
    if not path.exists():
        return 0, 0, statuses
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        lines += 1
        ids.add(rec["id"])
        statuses[rec["status"]] += 1
    return lines, len(ids), statuses


def session_wall(run: Path) -> float:
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    return float(manifest["sessions"][-1]["wall_s"])


def main() -> int:
    ap = argparse.ArgumentParser(description="Runner throughput, rerun and resume figures against a loopback server.")
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--delay", type=float, default=0.2, help="server seconds per answer")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--work", type=Path, default=None, help="work folder (default: a new temporary one)")
    ap.add_argument("--kill-at", type=float, default=None, help="also kill -9 a run at this fraction and resume it")
    ap.add_argument("--faults", type=float, default=None, help="also run with this fraction of calls per fault kind")
    ap.add_argument("--baseline", action="store_true", help="also time a bare asyncio client against the same server (a floor, not a cradle figure)")
    ap.add_argument(
        "--server",
        choices=("fake", "threaded", "threaded-http11"),
        default="fake",
        help="fake: tests/fake_providers.py; threaded: an independent stdlib ThreadingHTTPServer (HTTP/1.0); threaded-http11: the same with keep-alive",
    )
    args = ap.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="cradle-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "posts.jsonl"
    if not data.exists():
        write_posts(data, args.n)
    ok = True
    print(f"work folder: {work}")

    if args.server == "fake":
        server = FakeProviderServer(delay=args.delay)
    else:
        server = ThreadedLoopbackServer(args.delay, http11=args.server == "threaded-http11")
    print(f"server: {args.server}; load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with server as srv:
        run, cache = work / "run", work / "cache.sqlite"
        cmd = command(data, srv.openai_base, run, cache, args.concurrency, [])
        print("command:", " ".join(cmd[1:]))
        ideal = args.n * args.delay / args.concurrency

        srv.reset_counts()
        overflows = listen_counters()
        wall, _ = run_cli(cmd)
        overflows = tuple(b - a for a, b in zip(overflows, listen_counters()))
        ratio = wall / ideal
        lines, unique, statuses = count_predictions(run / "predictions.jsonl")
        verdict = "PASS" if ratio <= LIMIT or srv.calls == 0 else "FAIL"
        ok &= verdict == "PASS"
        print(
            f"run 1: {unique} predictions, {srv.calls} server calls, wall {wall:.2f} s (runner {session_wall(run):.2f} s), "
            f"ideal {ideal:.2f} s, ratio {ratio:.3f} (limit {LIMIT}): {verdict}"
        )
        rounds = -(-args.n // args.concurrency) * args.delay
        print(
            f"  ({-(-args.n // args.concurrency)} rounds of {args.concurrency}: {rounds:.2f} s at best; "
            f"handshakes dropped by a full accept queue: {overflows[0]}; "
            f"{srv.turnaround() if hasattr(srv, 'turnaround') else 'fake server'})"
        )

        if args.baseline:
            bare = bare_client_wall(srv.openai_base, args.n, args.concurrency)
            print(f"  bare asyncio client, same server: {bare:.2f} s, ratio {bare / ideal:.3f} (cradle's runner session above: {session_wall(run):.2f} s)")

        srv.reset_counts()
        wall, _ = run_cli(cmd)
        verdict = "PASS" if srv.calls == 0 and wall < 2.0 else "FAIL"
        ok &= verdict == "PASS"
        print(
            f"rerun: {srv.calls} server calls, wall {wall:.2f} s (runner {session_wall(run):.2f} s) (limit 0 calls, 2 s): {verdict}"
        )

        if args.kill_at is not None:
            krun = work / "run-killed"
            kcmd = command(data, srv.openai_base, krun, work / "cache-killed.sqlite", args.concurrency, [])
            srv.reset_counts()
            proc = subprocess.Popen(kcmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
            target = int(args.n * args.kill_at)
            while proc.poll() is None and count_predictions(krun / "predictions.jsonl")[0] < target:
                time.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            raw = (krun / "predictions.jsonl").read_bytes()
            torn = not raw.endswith(b"\n")
            _, before, _ = count_predictions(krun / "predictions.jsonl")
            missing = args.n - before
            calls_killed = srv.calls
            srv.reset_counts()
            wall, _ = run_cli(kcmd)
            lines, unique, statuses = count_predictions(krun / "predictions.jsonl")
            verdict = "PASS" if lines == unique == args.n and srv.calls == missing else "FAIL"
            ok &= verdict == "PASS"
            print(
                f"kill -9 at {before}/{args.n} (torn last line: {torn}; {calls_killed} calls before the kill); "
                f"rerun: {srv.calls} server calls for {missing} missing items, {lines} lines, {unique} unique ids, wall {wall:.2f} s: {verdict}"
            )

    if args.faults is not None:
        rates = {k: args.faults for k in _FAULTS}
        with FakeProviderServer(delay=args.delay, fault_rates=rates, retry_after="0.2", hang_seconds=3.0, seed=7) as srv:
            frun = work / "run-faults"
            fcmd = command(
                data,
                srv.openai_base,
                frun,
                work / "cache-faults.sqlite",
                args.concurrency,
                ["--timeout", "1", "--max-attempts", "4"],
            )
            wall, _ = run_cli(fcmd)
            lines, unique, statuses = count_predictions(frun / "predictions.jsonl")
            verdict = "PASS" if unique == args.n == sum(statuses.values()) else "FAIL"
            ok &= verdict == "PASS"
            injected = ", ".join(f"{k} {v}" for k, v in sorted(srv.faults.items()))
            manifest = json.loads((frun / "manifest.json").read_text(encoding="utf-8"))
            s = manifest["sessions"][-1]
            print(
                f"faults {args.faults:.0%} per kind ({srv.calls} calls; injected: {injected}); "
                f"statuses: {dict(statuses)}; {unique}/{args.n} items accounted for; "
                f"429s {s['rate_limited']}, concurrency cuts {s['concurrency_cuts']}; wall {wall:.2f} s: {verdict}"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
