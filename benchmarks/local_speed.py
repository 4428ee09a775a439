"""Speed of the local detectors on this machine: throughput, latency, cold start, memory, size.

``local:default`` (the encoder behind the TF-IDF screen), the encoder alone and ``local:fast``,
on 120-word windows of the synthetic test posts (crisis-dense) and on the real test posts (the
natural mix). Baselines in the same run: the encoder alone for the cascade, and scikit-learn's
own ``TfidfVectorizer.transform`` for the NumPy TF-IDF path.

    python benchmarks/local_speed.py [--n 1000]

Targets (issue 11): batch >= 150 posts/s of ~120 words, single-post p50 < 30 ms, cold start < 2 s.
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
from cradle.detectors.local import LocalDetector, default_model_path, fast_model_path


def posts_of_about(words: int, n: int) -> list[str]:
    """Synthetic test posts joined and cut to ``words`` words each (no external text)."""
    pool = " ".join(p.text for p in load_dataset("synthetic:posts-test").posts).split()
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(pool) - words, size=n)
    return [" ".join(pool[s : s + words]) for s in starts]


def cold_start(spec: str = "local:default") -> tuple[float, float]:
    code = (
        "import time, resource; t=time.perf_counter();"
        f"from cradle.detectors import load_detector; d=load_detector({spec!r}); d.predict(['first text']);"
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


def measure(det, texts: list[str]) -> tuple[float, list[float]]:
    det.predict(texts[:10])
    t0 = time.perf_counter()
    det.predict(texts)
    batch = time.perf_counter() - t0
    lat = []
    for t in texts[:200]:
        s = time.perf_counter()
        det.predict([t])
        lat.append((time.perf_counter() - s) * 1000)
    return len(texts) / batch, lat


def sklearn_baseline(det, texts: list[str]) -> float:
    """The TF-IDF model's vocabulary and weights through scikit-learn's own transform."""
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
    return len(texts) / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    args = ap.parse_args()
    synthetic = posts_of_about(120, args.n)
    real = [p.text for p in load_dataset("real:posts-test").posts]
    words = statistics.mean(len(t.split()) for t in real)
    default = LocalDetector.load("default")
    fast = LocalDetector.load("fast")
    print(f"cores: {os.cpu_count()}; synthetic texts: {len(synthetic)} of 120 words; real test posts: {len(real)} (mean {words:.0f} words)")
    print("| detector | texts | batch posts/s | single p50 ms | single p99 ms | screened out |\n|---|---|---|---|---|---|")
    rows = [("local:default" + (" (cascade)" if default.screen is not None else ""), default)]
    if default.screen is not None:
        rows.append(("encoder alone", LocalDetector.load("default", cascade=False)))
    rows.append(("local:fast (TF-IDF)", fast))
    for name, det in rows:
        for label, texts in (("synthetic 120 words", synthetic), ("real test posts", real)):
            rate, lat = measure(det, texts)
            screened = ""
            if getattr(det, "screen", None) is not None:
                levels = det.screen_levels(texts)
                screened = f"{(levels < det.screen_level).mean():.0%}"
            print(f"| {name} | {label} | {rate:.0f} | {statistics.median(lat):.1f} | {np.percentile(lat, 99):.1f} | {screened} |")
    base = sklearn_baseline(fast, synthetic)
    rate, _ = measure(fast, synthetic)
    print(f"local:fast through scikit-learn's transform: {base:.0f} posts/s (ours/sklearn {rate / base:.2f}x)")
    for spec in ("local:default", "local:fast"):
        wall, rss = cold_start(spec)
        print(f"cold start {spec:14s} {wall:.2f} s process start to first prediction; peak RSS {rss:.0f} MB")
    for name, folder in (("default", default_model_path()), ("fast", fast_model_path())):
        print(f"model folder {name}: {sum(f.stat().st_size for f in folder.iterdir()) / 1e6:.1f} MB")
    core = ["cradle-risk", "numpy", "scikit-learn", "scipy", "onnxruntime", "tokenizers", "pydantic", "pydantic-core", "typer", "rich", "httpx", "fastapi", "starlette", "uvicorn", "jinja2"]
    print("installed sizes (MB): " + ", ".join(f"{n} {dist_size(n):.0f}" for n in core if dist_size(n)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
