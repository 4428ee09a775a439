"""The local detector's model folder: load, save and score, with NumPy only.

A model folder holds three files:

- ``model.json``: format version, labels, per-label thresholds, feature settings, provenance
  (training data fingerprint, package version, dev metrics);
- ``vocab.json``: the terms of each TF-IDF block in column order;
- ``weights.npz``: IDF vectors, the linear weights (features x labels), intercepts, the Platt
  calibration of each label and the scaling of the cue features.

Nothing is pickled, so a folder is safe to load and readable by any version of the package
that knows its ``format_version``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cradle.detectors.local.features import CUE_NAMES, SparseRow, TfidfBlock, cue_features, stack_rows

__all__ = ["FORMAT", "FORMAT_VERSION", "LocalModel", "ModelFormatError", "combine_heads"]

FORMAT = "cradle-local-detector"
FORMAT_VERSION = 1


class ModelFormatError(ValueError):
    """A folder that is not a readable local model (missing file, other format or version)."""


def combine_heads(p: np.ndarray, heads: list[str], labels: list[str]) -> np.ndarray:
    """Label probabilities from the calibrated heads of a factored model.

    ``P(T_ongoing) = P(type T) * P(ongoing | T)``, ``P(T_past) = P(type T) * (1 - P(ongoing | T))``
    and ``no_crisis`` has its own head.
    """
    col = {h: j for j, h in enumerate(heads)}
    out = np.zeros(p.shape[:-1] + (len(labels),))
    for k, lab in enumerate(labels):
        if lab == "no_crisis":
            out[..., k] = p[..., col["no_crisis"]]
            continue
        stem, frame = lab.rsplit("_", 1)
        p_type = p[..., col[f"type:{stem}"]]
        p_now = p[..., col[f"time:{stem}"]]
        out[..., k] = p_type * (p_now if frame == "ongoing" else 1.0 - p_now)
    return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


@dataclass
class LocalModel:
    """A linear multi-label model over TF-IDF and cue features.

    Attributes
    ----------
    labels : list of str
        Output columns (the 15 post labels).
    blocks : list of TfidfBlock
    coef : ndarray of shape (n_features, n_labels)
    intercept : ndarray of shape (n_labels,)
    platt_a, platt_b : ndarray of shape (n_labels,)
        Calibration: ``p = sigmoid(a * z + b)`` for the raw logit ``z``.
    thresholds : ndarray of shape (n_labels,)
        Decision threshold of each label on the calibrated score.
    use_cues : bool
    cue_mean, cue_scale : ndarray
        Standardisation of the cue features (times ``cue_weight``).
    meta : dict
        Everything else written to ``model.json`` (provenance, settings, metrics).
    heads : list of str or None
        For a factored model, the names of the linear heads (``type:T``, ``time:T`` and
        ``no_crisis``); ``coef`` then has one column per head and label scores are
        ``P(T) * P(ongoing | T)`` and ``P(T) * (1 - P(ongoing | T))``. ``None`` for a flat
        model with one head per label.
    """

    labels: list[str]
    blocks: list[TfidfBlock]
    coef: np.ndarray
    intercept: np.ndarray
    platt_a: np.ndarray
    platt_b: np.ndarray
    thresholds: np.ndarray
    use_cues: bool = True
    cue_mean: np.ndarray = field(default_factory=lambda: np.zeros(len(CUE_NAMES)))
    cue_scale: np.ndarray = field(default_factory=lambda: np.ones(len(CUE_NAMES)))
    meta: dict[str, Any] = field(default_factory=dict)
    heads: list[str] | None = None

    # ----------------------------------------------------------------- features
    @property
    def n_tfidf(self) -> int:
        return sum(b.size for b in self.blocks)

    def featurize(self, text: str) -> SparseRow:
        """The sparse feature row of one text (TF-IDF blocks, then the cue columns)."""
        rows = [b.transform_one(text) for b in self.blocks]
        if self.use_cues:
            cues = (cue_features(text) - self.cue_mean) / self.cue_scale
            rows.append((np.arange(len(CUE_NAMES), dtype=np.int64) + self.n_tfidf, cues))
        return stack_rows(rows)

    # ------------------------------------------------------------------ scoring
    def linear_scores(self, texts: list[str]) -> np.ndarray:
        """``X @ coef`` without the intercept, shape ``(n_texts, n_heads)``.

        The model is linear, so the score of a weighted combination of texts is the same
        combination of their linear scores: the dialogue monitor keeps a decayed sum of these
        (a vector of ``n_labels`` numbers) instead of the texts.
        """
        out = np.zeros((len(texts), self.coef.shape[1]))
        for i, t in enumerate(texts):
            idx, val = self.featurize(t)
            if idx.size:
                out[i] = val @ self.coef[idx]
        return out

    def calibrate(self, linear: np.ndarray) -> np.ndarray:
        """Calibrated label probabilities from linear scores (intercept, Platt, then heads to labels)."""
        z = linear + self.intercept
        p = _sigmoid(self.platt_a * z + self.platt_b)
        if self.heads is None:
            return p
        return combine_heads(p, self.heads, self.labels)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Calibrated per-label probabilities, shape ``(n_texts, n_labels)``."""
        return self.calibrate(self.linear_scores(texts))

    # ---------------------------------------------------------------------- I/O
    def save(self, folder: str | Path) -> Path:
        """Write the three files of a model folder (created if needed)."""
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        meta = {
            **self.meta,
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "labels": self.labels,
            "thresholds": {lab: float(t) for lab, t in zip(self.labels, self.thresholds)},
            "blocks": [{"analyzer": b.analyzer, "ngram_range": list(b.ngram_range), "size": b.size} for b in self.blocks],
            "use_cues": self.use_cues,
            "cue_names": list(CUE_NAMES),
            "heads": self.heads,
        }
        (path / "model.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        vocab = {}
        for b in self.blocks:
            terms = [""] * b.size
            for term, j in b.vocabulary.items():
                terms[j] = term
            vocab[b.analyzer] = terms
        (path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        arrays = {f"idf_{b.analyzer}": b.idf.astype(np.float64) for b in self.blocks}
        np.savez_compressed(
            path / "weights.npz",
            coef=self.coef.astype(np.float32),
            intercept=self.intercept,
            platt_a=self.platt_a,
            platt_b=self.platt_b,
            cue_mean=self.cue_mean,
            cue_scale=self.cue_scale,
            **arrays,
        )
        return path

    @classmethod
    def load(cls, folder: str | Path) -> LocalModel:
        """Read a model folder written by :meth:`save`.

        Raises
        ------
        ModelFormatError
            Naming the missing file, or the format and version found.
        """
        path = Path(folder)
        for name in ("model.json", "vocab.json", "weights.npz"):
            if not (path / name).is_file():
                raise ModelFormatError(f"{path} is not a local model folder: {name} is missing (train one with `cradle train`)")
        meta = json.loads((path / "model.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise ModelFormatError(
                f"{path}/model.json has format {meta.get('format')!r} version {meta.get('format_version')!r}; "
                f"this package reads {FORMAT!r} version {FORMAT_VERSION}"
            )
        vocab = json.loads((path / "vocab.json").read_text(encoding="utf-8"))
        with np.load(path / "weights.npz") as w:
            arrays = {k: w[k] for k in w.files}
        blocks: list[TfidfBlock] = []
        offset = 0
        for spec in meta["blocks"]:
            terms = vocab[spec["analyzer"]]
            idf = arrays[f"idf_{spec['analyzer']}"]
            blocks.append(TfidfBlock(spec["analyzer"], tuple(spec["ngram_range"]), {t: j for j, t in enumerate(terms)}, idf, offset))
            offset += len(terms)
        labels = list(meta["labels"])
        thresholds = np.array([meta["thresholds"][lab] for lab in labels])
        known = {"labels", "thresholds", "blocks", "use_cues", "cue_names", "heads"}
        return cls(
            labels=labels,
            blocks=blocks,
            coef=arrays["coef"].astype(np.float64),
            intercept=arrays["intercept"],
            platt_a=arrays["platt_a"],
            platt_b=arrays["platt_b"],
            thresholds=thresholds,
            use_cues=bool(meta.get("use_cues", True)),
            cue_mean=arrays["cue_mean"],
            cue_scale=arrays["cue_scale"],
            meta={k: v for k, v in meta.items() if k not in known},
            heads=meta.get("heads"),
        )
