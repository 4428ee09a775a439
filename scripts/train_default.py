"""Rebuild the TF-IDF model shipped as ``local:fast`` from the bundled synthetic corpus.

    python scripts/train_default.py

Trains on ``synthetic:posts-train`` with thresholds from ``synthetic:posts-dev`` and the
settings chosen in ``docs/local-detector.md``; writes ``src/cradle/resources/models/fast``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "cradle" / "resources" / "models" / "fast"

if __name__ == "__main__":
    cmd = [sys.executable, "-m", "cradle", "train", "synthetic:posts-train", "--dev", "synthetic:posts-dev", "--out", str(OUT), "--no-cues", "--C", "8"]
    sys.exit(subprocess.call(cmd))
