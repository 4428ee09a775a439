"""Speed of ``local:default`` on this machine: throughput, latency, cold start, memory, size.

Baseline in the same run: the same model applied through scikit-learn's own
``TfidfVectorizer.transform`` (what a pickled scikit-learn pipeline would do), to show what the
NumPy inference path buys.

    python benchmarks/local_speed.py [--n 2000]

Targets (issue 5): batch >= 300 posts/s on posts of ~120 words, single-post p50 < 30 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from cradle.data import load_dataset
from cradle.detectors.local import LocalDetector, default_model_path


def posts_of_about(words: int, n: int) -> list[str]:
    """Synthetic test posts joined and cut to ``words`` words each (no external text)."""
    pool = " ".join(p.text for p in load_dataset("synthetic:posts-test").posts).split()
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(pool) - words, size=n)
    return [" ".join(pool[s : s + words]) for s in starts]


def cold_start() -> tuple[float, float]:
    code = (
        "import time, resource; t=time.perf_counter();"
        "from cradle.detectors import load_detector; d=load_detector('local:default'); d.predict(['first text']);"
        "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    wall = time.perf_counter() - t0
    return wall, float(out[1]) / 1024


def dist_size(name: str) -> float:
    try:
        files = metadata.files(name) or []
    except metadata.PackageNotFoundError:
        return 0.0
    total = 0
    for f in files:
        p = Path(f.locate())
        if p.is_file():
            total += p.stat().st_size
    return total / 1e6


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    texts = posts_of_about(120, args.n)
    det = LocalDetector.load("default")
    det.predict(texts[:10])

    t0 = time.perf_counter()
    det.predict(texts)
    batch = time.perf_counter() - t0
    lat = []
    for t in texts[:300]:
        s = time.perf_counter()
        det.predict([t])
        lat.append((time.perf_counter() - s) * 1000)

    # baseline: the same vocabulary and weights through scikit-learn's transform
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer

    m = det.model
    vecs = []
    for b in m.blocks:
        v = TfidfVectorizer(analyzer=b.analyzer, ngram_range=b.ngram_range, sublinear_tf=True, vocabulary=b.vocabulary)
        v.idf_ = b.idf
        vecs.append(v)
    t0 = time.perf_counter()
    x = sparse.hstack([v.transform(texts) for v in vecs]).tocsr()
    _ = m.calibrate(np.asarray(x @ m.coef[: x.shape[1]]))
    base = time.perf_counter() - t0

    wall, rss = cold_start()
    model_mb = sum(f.stat().st_size for f in default_model_path().iterdir()) / 1e6
    print(f"posts: {len(texts)} of 120 words; cores: {os.cpu_count()}")
    print(f"batch throughput        {len(texts) / batch:8.0f} posts/s   (target >= 300)")
    print(f"sklearn-transform base  {len(texts) / base:8.0f} posts/s   (ratio ours/base {base / batch:.2f}x; base has no windowing)")
    print(f"single post latency     p50 {statistics.median(lat):.2f} ms, p99 {np.percentile(lat, 99):.2f} ms   (target p50 < 30 ms)")
    print(f"cold start              {wall:.2f} s process start to first prediction; peak RSS {rss:.0f} MB")
    print(f"model folder            {model_mb:.1f} MB on disk")
    core = ["cradle-risk", "numpy", "scikit-learn", "scipy", "pydantic", "pydantic-core", "typer", "rich", "httpx", "fastapi", "starlette", "uvicorn", "jinja2"]
    print("installed sizes (MB)    " + ", ".join(f"{n} {dist_size(n):.0f}" for n in core if dist_size(n)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
