"""How close the evaluation runner gets to the concurrency limit, and how it resumes.

Starts a loopback chat server (``tests/fake_providers.py``) that answers each request after
``--delay`` seconds, writes ``--n`` posts, and times the real command line::

    cradle predict POSTS --model openai-compatible:http://127.0.0.1:PORT/v1#bench \\
        --out WORK/run --concurrency 16 --cache WORK/cache.sqlite

With 600 posts, 200 ms and concurrency 16 the ideal is 600 x 0.2 / 16 = 7.5 s; the target is a
ratio (wall / ideal) of at most 1.15, measured on the whole process (start-up included). Then:

- the same command again: the target is 0 server calls in under 2 s;
- ``--kill-at 0.5``: a fresh run killed with SIGKILL at about half way, then rerun; the rerun
  must end with exactly N unique predictions and make one server call per missing item;
- ``--faults 0.1``: 10% of calls of each fault kind (429, 500, 503, hang, non-JSON body,
  malformed reply, prose around the JSON, content filter, refusal); every item must end with
  a status.

Usage::

    python benchmarks/runner_limit.py                    # limit + rerun
    python benchmarks/runner_limit.py --kill-at 0.5      # + kill -9 and resume
    python benchmarks/runner_limit.py --faults 0.1       # + fault injection run
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fake_providers import FakeProviderServer  # noqa: E402

_LABELS = [
    "no_crisis",
    "selfharm_ongoing",
    "rape_past",
    "suicideideation_passive_ongoing",
    "domesticviolence_past,sexualharassment_ongoing",
]
_FAULTS = ("rate_limit", "server_error", "unavailable", "hang", "bad_body", "malformed", "prose", "filter", "refusal")


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
    args = ap.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="cradle-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "posts.jsonl"
    if not data.exists():
        write_posts(data, args.n)
    ok = True
    print(f"work folder: {work}")

    with FakeProviderServer(delay=args.delay) as srv:
        run, cache = work / "run", work / "cache.sqlite"
        cmd = command(data, srv.openai_base, run, cache, args.concurrency, [])
        print("command:", " ".join(cmd[1:]))
        ideal = args.n * args.delay / args.concurrency

        srv.reset_counts()
        wall, _ = run_cli(cmd)
        ratio = wall / ideal
        lines, unique, statuses = count_predictions(run / "predictions.jsonl")
        verdict = "PASS" if ratio <= 1.15 or srv.calls == 0 else "FAIL"
        ok &= verdict == "PASS"
        print(
            f"run 1: {unique} predictions, {srv.calls} server calls, wall {wall:.2f} s (runner {session_wall(run):.2f} s), "
            f"ideal {ideal:.2f} s, ratio {ratio:.3f} (limit 1.15): {verdict}"
        )

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
