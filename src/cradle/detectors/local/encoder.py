"""The encoder detector: a fine-tuned sentence encoder run through ONNX Runtime on the CPU.

``local:default`` is this engine. A model folder holds:

- ``model.onnx``: token ids and attention mask in, one logit per head out (a 6-layer,
  384-wide MiniLM fine-tuned end to end on labelled posts, mean pooling, a linear layer;
  weights in int8 where that kept the dev figures);
- ``tokenizer.json``: the encoder's WordPiece tokenizer (Hugging Face ``tokenizers``);
- ``model.json``: format, labels, heads, Platt calibration per head, thresholds per label,
  chunking settings, provenance and dev figures.

A text longer than ``max_tokens`` is cut into overlapping chunks of tokens; a crisis label
takes its highest score over the chunks, ``no_crisis`` its lowest (as the TF-IDF detector does
with windows of words). Nothing is pickled; onnxruntime and tokenizers are the only run-time
dependencies beyond NumPy.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from cradle.detectors.local.model import ModelFormatError, _sigmoid, combine_heads

__all__ = ["ENCODER_FORMAT", "ENCODER_FORMAT_VERSION", "EncoderModel", "is_encoder_folder"]

ENCODER_FORMAT = "cradle-encoder-detector"
ENCODER_FORMAT_VERSION = 1
_FILES = ("model.json", "model.onnx", "tokenizer.json")


def is_encoder_folder(path: str | Path) -> bool:
    """Whether ``path`` holds an encoder model (``model.json`` of :data:`ENCODER_FORMAT`)."""
    meta = Path(path) / "model.json"
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text(encoding="utf-8")).get("format") == ENCODER_FORMAT
    except (OSError, ValueError):
        return False


#: Most single-threaded sessions one model opens (each holds its own copy of the weights).
MAX_WORKER_SESSIONS = 8


def _usable_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _open_session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


@dataclass
class EncoderModel:
    """An ONNX encoder with calibrated heads, loaded from a model folder.

    Attributes
    ----------
    folder : Path
    labels : list of str
        Output columns (the 15 post labels).
    heads : list of str
        Names of the graph's outputs: ``type:T``, ``time:T`` and ``no_crisis`` for a factored
        model (label scores ``P(T) * P(ongoing | T)`` and ``P(T) * (1 - P(ongoing | T))``),
        or the 15 labels for a flat one; then any :attr:`extra_heads` (``warning``: the
        probability that a text shows a risk signal, read by the conversation monitor).
    platt_a, platt_b : ndarray of shape (n_heads,)
        Calibration ``p = sigmoid(a * z + b)`` of each head's logit ``z``.
    thresholds : ndarray of shape (n_labels,)
    max_tokens, stride : int
        Chunk length in tokens (special tokens included) and the overlap between chunks.
    batch_size : int
        Chunks per ONNX call. 1 by default: int8 weights come with activations quantised per
        call, so a chunk scored beside others would get slightly different scores; one chunk a
        call makes every text's score independent of what it is batched with (and costs no
        throughput on the CPU, where padding is the only thing batching would add).
    meta : dict
        Everything else in ``model.json``.
    threads : int
        Cores to use. One chunk runs on a session with ``threads`` intra-op threads; several
        chunks are spread over single-threaded sessions, one per core (at most
        :data:`MAX_WORKER_SESSIONS`), opened at the first such call (measured on 2 cores: 1.5x
        the throughput of one two-threaded session, see ``benchmarks/local_speed.py``). Scores
        are the same either way: one chunk per call, and ONNX Runtime gives bit-identical
        outputs for any thread count.
    """

    folder: Path
    labels: list[str]
    heads: list[str]
    platt_a: np.ndarray
    platt_b: np.ndarray
    thresholds: np.ndarray
    max_tokens: int = 256
    stride: int = 32
    batch_size: int = 1
    meta: dict[str, Any] = field(default_factory=dict)
    threads: int = 1
    _session: Any = field(default=None, repr=False)
    _tokenizer: Any = field(default=None, repr=False)
    _workers: list[Any] = field(default_factory=list, repr=False)
    _workers_lock: Any = field(default_factory=threading.Lock, repr=False)
    _pool: Any = field(default=None, repr=False)

    # ---------------------------------------------------------------------- I/O
    @classmethod
    def load(cls, folder: str | Path, *, threads: int | None = None) -> EncoderModel:
        """Read a model folder and open its ONNX session.

        Parameters
        ----------
        folder : str or Path
        threads : int, optional
            Cores to use (default: the ``CRADLE_THREADS`` environment variable, else every
            core); see the ``threads`` attribute.

        Raises
        ------
        ModelFormatError
            Naming the missing file, the format and version found, or the missing package.
        """
        path = Path(folder)
        for name in _FILES:
            if not (path / name).is_file():
                raise ModelFormatError(f"{path} is not an encoder model folder: {name} is missing")
        meta = json.loads((path / "model.json").read_text(encoding="utf-8"))
        if meta.get("format") != ENCODER_FORMAT or meta.get("format_version") != ENCODER_FORMAT_VERSION:
            raise ModelFormatError(
                f"{path}/model.json has format {meta.get('format')!r} version {meta.get('format_version')!r}; "
                f"this package reads {ENCODER_FORMAT!r} version {ENCODER_FORMAT_VERSION}"
            )
        try:
            import onnxruntime  # noqa: F401  (opened by _open_session)
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - both are core dependencies
            raise ModelFormatError(f"the encoder detector needs onnxruntime and tokenizers ({exc.name} is missing): pip install onnxruntime tokenizers") from None
        n = max(1, threads or int(os.environ.get("CRADLE_THREADS", "0") or 0) or _usable_cores())
        session = _open_session(path / "model.onnx", n)
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        labels = list(meta["labels"])
        heads = list(meta["heads"])
        model = cls(
            folder=path,
            labels=labels,
            heads=heads,
            platt_a=np.array([meta["calibration"][h][0] for h in heads], dtype=np.float64),
            platt_b=np.array([meta["calibration"][h][1] for h in heads], dtype=np.float64),
            thresholds=np.array([meta["thresholds"][lab] for lab in labels], dtype=np.float64),
            max_tokens=int(meta.get("max_tokens", 256)),
            stride=min(int(meta.get("stride", 32)), max(0, (int(meta.get("max_tokens", 256)) - 2) // 2)),
            meta=meta,
            threads=n,
            _session=session,
            _tokenizer=tokenizer,
        )
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=model.max_tokens, stride=model.stride)
        return model

    # ------------------------------------------------------------------ scoring
    def chunks(self, texts: Sequence[str]) -> tuple[list[list[int]], np.ndarray]:
        """Token ids of every chunk and the index of the text each chunk belongs to."""
        ids: list[list[int]] = []
        owner: list[int] = []
        for i, enc in enumerate(self._tokenizer.encode_batch(list(texts))):
            for part in (enc, *enc.overflowing):
                ids.append(part.ids)
                owner.append(i)
        return ids, np.array(owner, dtype=np.int64)

    def chunk_logits(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Head logits of token-id chunks, shape ``(n_chunks, n_heads)``; batches of similar length."""
        out = np.zeros((len(ids), len(self.heads)), dtype=np.float64)
        order = sorted(range(len(ids)), key=lambda k: len(ids[k]))
        batches = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]

        def run(session: Any, batch: list[int]) -> None:
            width = max(len(ids[k]) for k in batch)
            input_ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, k in enumerate(batch):
                input_ids[row, : len(ids[k])] = ids[k]
                mask[row, : len(ids[k])] = 1
            (logits,) = session.run(None, {"input_ids": input_ids, "attention_mask": mask})
            out[batch] = logits

        if self.threads == 1 or len(batches) <= 1:
            for batch in batches:
                run(self._session, batch)
            return out
        workers, pool = self._worker_sessions()
        n = len(workers)  # ONNX Runtime releases the GIL while it runs: one thread per session
        for done in [pool.submit(lambda k: [run(workers[k], b) for b in batches[k::n]], k) for k in range(n)]:
            done.result()
        return out

    def _worker_sessions(self) -> tuple[list[Any], ThreadPoolExecutor]:
        """Single-threaded sessions of the same graph, one per core up to :data:`MAX_WORKER_SESSIONS`,
        and the thread pool that runs them (both made once, on first use)."""
        with self._workers_lock:
            if not self._workers:
                self._workers = [_open_session(self.folder / "model.onnx", 1) for _ in range(min(self.threads, MAX_WORKER_SESSIONS))]
                self._pool = ThreadPoolExecutor(len(self._workers), thread_name_prefix="cradle-encoder")
            return self._workers, self._pool

    @cached_property
    def extra_heads(self) -> list[str]:
        """Heads that feed no label (for example ``"warning"``, a risk-signal score), in graph order."""
        if self._flat_columns is not None:
            label_heads = set(self.labels)
        else:
            stems = {lab.rsplit("_", 1)[0] for lab in self.labels if lab != "no_crisis"}
            label_heads = {"no_crisis", *(f"type:{x}" for x in stems), *(f"time:{x}" for x in stems)}
        return [h for h in self.heads if h not in label_heads]

    @cached_property
    def _flat_columns(self) -> list[int] | None:
        """For a flat model (one head per label), the head of each label; ``None`` when factored."""
        return [self.heads.index(lab) for lab in self.labels] if set(self.labels) <= set(self.heads) else None

    def calibrate(self, logits: np.ndarray) -> np.ndarray:
        """Label probabilities from head logits (Platt per head, then heads to labels)."""
        p = _sigmoid(self.platt_a * logits + self.platt_b)
        if self._flat_columns is not None:
            return p[:, self._flat_columns]
        return combine_heads(p, self.heads, self.labels)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated label probabilities pooled over chunks, shape ``(n_texts, n_labels)``."""
        return self.predict_scores(texts)[0]

    def predict_scores(self, texts: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Label probabilities and the calibrated :attr:`extra_heads`, from one pass over the texts.

        Returns
        -------
        (proba, extra)
            ``proba`` as :meth:`predict_proba`; ``extra`` maps each extra head to one
            probability per text (its highest over the text's chunks).
        """
        texts = list(texts)
        extra_cols = [self.heads.index(h) for h in self.extra_heads]
        if not texts:
            return np.zeros((0, len(self.labels))), {self.heads[j]: np.zeros(0) for j in extra_cols}
        ids, owner = self.chunks(texts)
        logits = self.chunk_logits(ids)
        p = self.calibrate(logits)
        crisis = np.array([lab != "no_crisis" for lab in self.labels])
        out = np.where(crisis, 0.0, 1.0) * np.ones((len(texts), 1))  # identities of max and min over chunks
        np.maximum.at(out, (owner[:, None], np.flatnonzero(crisis)[None, :]), p[:, crisis])
        np.minimum.at(out, (owner[:, None], np.flatnonzero(~crisis)[None, :]), p[:, ~crisis])
        extra: dict[str, np.ndarray] = {}
        for j in extra_cols:
            col = np.zeros(len(texts))
            np.maximum.at(col, owner, _sigmoid(self.platt_a[j] * logits[:, j] + self.platt_b[j]))
            extra[self.heads[j]] = col
        return out, extra
