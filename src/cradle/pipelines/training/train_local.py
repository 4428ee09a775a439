"""Train the local detector on labelled posts (scikit-learn at training time only).

Recipe, per label (one-vs-rest over the 15 post labels):

1. features: TF-IDF of word 1-2 grams and of character 2-5 grams within words (sublinear tf,
   l2 norm), plus standardised cue features (time frame, first person, figurative, genre);
2. a logistic regression with balanced class weights;
3. calibration: out-of-fold logits (k-fold on the training posts) fit a one-dimensional
   logistic map per label (Platt scaling), so a score of 0.7 means about 70%;
4. thresholds: per label, the calibrated score that maximises F-beta (beta 2: recall first)
   on the dev posts, or on the out-of-fold scores when no dev set is given.

The fitted vocabularies and weights are exported to a :class:`~cradle.detectors.local.LocalModel`
folder that runs without scikit-learn.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from cradle import __version__
from cradle.data import Post
from cradle.detectors.local.features import CUE_NAMES, TfidfBlock, cue_features
from cradle.detectors.local.model import LocalModel
from cradle.labels import POST_LABELS

__all__ = ["TrainSettings", "HeadFit", "fit_linear_heads", "train_local_model", "fbeta_threshold", "label_matrix", "head_targets"]

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class TrainSettings:
    """Settings of :func:`train_local_model`.

    Attributes
    ----------
    use_cues : bool
        Append the dense cue features.
    C : float
        Inverse regularisation strength of the logistic regressions.
    word_max_features, char_max_features : int
        Vocabulary caps of the two TF-IDF blocks (most frequent terms kept).
    min_df : int
        Minimum number of training posts a term must appear in.
    cue_weight : float
        Scale of the standardised cue columns relative to the TF-IDF blocks.
    use_chars : bool
        Include the character n-gram block (robust to typos and spelling variants).
    balanced : bool
        Weight classes inversely to their frequency in each logistic regression.
    factored : bool
        Learn one head per crisis type (ongoing and past together) and one time-frame head
        per type (trained on the posts of that type), instead of one head per label. Each
        head then sees about twice as many positives.
    folds : int
        Folds for the out-of-fold calibration scores.
    beta : float
        F-beta of the threshold search (2: recall weighs four times precision).
    seed : int
    """

    use_cues: bool = True
    C: float = 8.0
    word_max_features: int = 40_000
    char_max_features: int = 60_000
    min_df: int = 2
    cue_weight: float = 0.5
    use_chars: bool = True
    balanced: bool = True
    factored: bool = True
    folds: int = 5
    beta: float = 2.0
    seed: int = 0


def fbeta_threshold(y: np.ndarray, p: np.ndarray, beta: float = 2.0, default: float = 0.5) -> float:
    """The threshold on ``p`` that maximises F-beta for binary truth ``y``.

    Candidates are the midpoints between distinct sorted scores; ties go to the higher
    threshold. Without positives the ``default`` is returned.

    Examples
    --------
    >>> round(fbeta_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.9])), 3)
    0.225
    """
    y = np.asarray(y).astype(bool)
    if y.sum() == 0:
        return default
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    tp = np.cumsum(ys)
    fp = np.cumsum(~ys)
    fn = ys.sum() - tp
    b2 = beta * beta
    f = (1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp)
    # only cut between distinct scores
    distinct = np.r_[ps[1:] != ps[:-1], True]
    f = np.where(distinct, f, -1)
    k = int(np.flatnonzero(f == f.max())[0])  # fewest positives among ties = highest threshold
    lower = ps[k + 1] if k + 1 < len(ps) else min(0.0, float(ps[k]))
    mid = (ps[k] + lower) / 2
    return float(mid if lower < mid <= ps[k] or lower == ps[k] else ps[k])  # adjacent floats: cut at the score


def label_matrix(posts: Sequence[Post]) -> np.ndarray:
    labels = [x.value for x in POST_LABELS]
    y = np.zeros((len(posts), len(labels)), dtype=int)
    for i, p in enumerate(posts):
        for lab in p.labels or ():
            y[i, labels.index(lab.value)] = 1
    return y


def head_targets(y: np.ndarray, labels: list[str], factored: bool) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Head names, binary targets and row masks (which posts train each head)."""
    n = y.shape[0]
    if not factored:
        return list(labels), y.copy(), np.ones_like(y, dtype=bool)
    col = {lab: j for j, lab in enumerate(labels)}
    stems = [lab.rsplit("_", 1)[0] for lab in labels if lab != "no_crisis" and lab.endswith("_ongoing")]
    names: list[str] = []
    targets: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    for stem in stems:
        now, past = y[:, col[f"{stem}_ongoing"]], y[:, col[f"{stem}_past"]]
        names.append(f"type:{stem}")
        targets.append(np.maximum(now, past))
        masks.append(np.ones(n, dtype=bool))
    for stem in stems:
        now, past = y[:, col[f"{stem}_ongoing"]], y[:, col[f"{stem}_past"]]
        names.append(f"time:{stem}")
        targets.append(now)
        masks.append((now + past) > 0)
    names.append("no_crisis")
    targets.append(y[:, col["no_crisis"]])
    masks.append(np.ones(n, dtype=bool))
    return names, np.stack(targets, axis=1), np.stack(masks, axis=1)


@dataclass
class HeadFit:
    """Linear heads fitted on a feature matrix, with their calibration and out-of-fold logits."""

    heads: list[str]
    coef: np.ndarray
    intercept: np.ndarray
    platt_a: np.ndarray
    platt_b: np.ndarray
    oof: np.ndarray


def fit_features(texts: Sequence[str], s: TrainSettings) -> tuple[Any, list[TfidfBlock], np.ndarray, np.ndarray]:
    """Fit the recipe's features on ``texts``: word (and char) TF-IDF blocks and standardised cues.

    Returns
    -------
    x : scipy.sparse.csr_matrix of shape (n_texts, n_features)
    blocks : list of TfidfBlock
        The fitted vocabularies, in column order, as a :class:`LocalModel` reads them.
    cue_mean, cue_scale : ndarray
        Standardisation of the cue columns (``cue_scale`` includes ``1 / cue_weight``).
    """
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer

    word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=s.min_df, max_features=s.word_max_features, dtype=np.float64)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=s.min_df, max_features=s.char_max_features, dtype=np.float64)
    xw = word.fit_transform(texts)
    xc = char.fit_transform(texts) if s.use_chars else None
    blocks_x = [xw] + ([xc] if xc is not None else [])
    cue_mean = np.zeros(len(CUE_NAMES))
    cue_scale = np.ones(len(CUE_NAMES))
    if s.use_cues:
        cues = np.vstack([cue_features(t) for t in texts])
        cue_mean = cues.mean(axis=0)
        std = cues.std(axis=0)
        cue_scale = np.where(std > 0, std, 1.0) / s.cue_weight
        blocks_x.append(sparse.csr_matrix((cues - cue_mean) / cue_scale))
    x = sparse.hstack(blocks_x).tocsr()

    blocks = [TfidfBlock("word", (1, 2), {t: int(i) for t, i in word.vocabulary_.items()}, word.idf_.copy(), 0)]
    if xc is not None:
        blocks.append(TfidfBlock("char_wb", (2, 5), {t: int(i) for t, i in char.vocabulary_.items()}, char.idf_.copy(), xw.shape[1]))
    return x, blocks, cue_mean, cue_scale


def fit_linear_heads(x: Any, y: np.ndarray, labels: list[str], s: TrainSettings, *, progress: Progress | None = None) -> HeadFit:
    """Fit the heads of the recipe (flat or factored) on any feature matrix.

    Parameters
    ----------
    x : array or sparse matrix of shape (n_posts, n_features)
    y : ndarray of shape (n_posts, 15)
        Label indicator matrix in the order of ``labels``.
    labels : list of str
    s : TrainSettings

    Returns
    -------
    HeadFit
        Weights, intercepts, Platt parameters and out-of-fold logits (with intercept).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold

    report = progress or (lambda step, frac: None)

    def fit(xm: Any, yv: np.ndarray) -> tuple[np.ndarray, float]:
        if yv.sum() < 2 or yv.sum() > len(yv) - 2:
            prior = (yv.sum() + 0.5) / (len(yv) + 1.0)
            return np.zeros(xm.shape[1]), float(np.log(prior / (1 - prior)))
        clf = LogisticRegression(C=s.C, class_weight="balanced" if s.balanced else None, solver="liblinear", max_iter=2000, random_state=s.seed)
        clf.fit(xm, yv)
        return clf.coef_[0], float(clf.intercept_[0])

    heads, targets, masks = head_targets(y, labels, s.factored)
    n_heads = len(heads)
    oof = np.zeros((y.shape[0], n_heads))
    folds = list(KFold(n_splits=s.folds, shuffle=True, random_state=s.seed).split(np.arange(y.shape[0])))
    total = s.folds * n_heads + n_heads
    done = 0
    for tr, te in folds:
        for j in range(n_heads):
            rows = tr[masks[tr, j]]
            w, b = fit(x[rows], targets[rows, j])
            oof[te, j] = x[te] @ w + b
            done += 1
            report("cross-validation", done / total)
    coef = np.zeros((x.shape[1], n_heads))
    intercept = np.zeros(n_heads)
    for j in range(n_heads):
        rows = np.flatnonzero(masks[:, j])
        coef[:, j], intercept[j] = fit(x[rows], targets[rows, j])
        done += 1
        report("final fit", done / total)

    report("calibration", 1.0)
    platt_a = np.ones(n_heads)
    platt_b = np.zeros(n_heads)
    for j in range(n_heads):
        rows = np.flatnonzero(masks[:, j])
        if 0 < targets[rows, j].sum() < len(rows):
            cal = LogisticRegression(C=1e4, solver="lbfgs", max_iter=1000)
            cal.fit(oof[rows][:, [j]], targets[rows, j])
            platt_a[j], platt_b[j] = float(cal.coef_[0, 0]), float(cal.intercept_[0])

    return HeadFit(heads, coef, intercept, platt_a, platt_b, oof)


def train_local_model(
    train: Sequence[Post],
    dev: Sequence[Post] | None = None,
    settings: TrainSettings | None = None,
    *,
    progress: Progress | None = None,
    provenance: dict[str, Any] | None = None,
) -> LocalModel:
    """Fit a local detector.

    Parameters
    ----------
    train : sequence of Post
        Labelled training posts.
    dev : sequence of Post, optional
        Labelled posts for the thresholds (out-of-fold training scores are used otherwise).
    settings : TrainSettings, optional
    progress : callable, optional
        Called as ``progress(step_name, fraction_done)``.
    provenance : dict, optional
        Stored under ``training`` in ``model.json`` (data names, fingerprints).

    Returns
    -------
    LocalModel

    Raises
    ------
    ValueError
        When a post has no labels or fewer than 10 posts are given.
    """
    from sklearn import __version__ as sklearn_version
    s = settings or TrainSettings()
    report = progress or (lambda step, frac: None)
    started = time.time()
    if len(train) < 10:
        raise ValueError(f"need at least 10 training posts, got {len(train)}")
    unlabelled = [p.id for p in train if not p.labels]
    if unlabelled:
        raise ValueError(f"{len(unlabelled)} training post(s) have no labels, e.g. {unlabelled[:5]}")
    texts = [p.text for p in train]
    y = label_matrix(train)
    labels = [x.value for x in POST_LABELS]

    report("features", 0.0)
    x, blocks, cue_mean, cue_scale = fit_features(texts, s)

    report("fitting", 0.0)
    fitted = fit_linear_heads(x, y, labels, s, progress=report)
    heads, coef, intercept, platt_a, platt_b, oof = fitted.heads, fitted.coef, fitted.intercept, fitted.platt_a, fitted.platt_b, fitted.oof
    n_labels = len(labels)

    model = LocalModel(
        labels=labels,
        blocks=blocks,
        coef=coef,
        intercept=intercept,
        platt_a=platt_a,
        platt_b=platt_b,
        thresholds=np.full(n_labels, 0.5),
        use_cues=s.use_cues,
        cue_mean=cue_mean,
        cue_scale=cue_scale,
        heads=heads if s.factored else None,
    )

    if dev:
        dev_y = label_matrix(dev)
        from cradle.detectors.local.detector import LocalDetector

        dev_p = LocalDetector(model).predict_proba([p.text for p in dev])
        source = "dev"
    else:
        dev_y = y
        dev_p = model.calibrate(oof - intercept)
        source = "out-of-fold"
    model.thresholds = np.array([fbeta_threshold(dev_y[:, j], dev_p[:, j], s.beta) for j in range(n_labels)])

    model.meta = {
        "cradle_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "variant": ("factored " if s.factored else "flat ") + ("tfidf+cues" if s.use_cues else "tfidf"),
        "settings": asdict(s),
        "thresholds_from": source,
        "training": {
            "n_posts": len(train),
            "n_dev": len(dev) if dev else 0,
            "label_counts": {lab: int(c) for lab, c in zip(labels, y.sum(axis=0))},
            "seconds": round(time.time() - started, 2),
            "scikit_learn": sklearn_version,
            "python": platform.python_version(),
            **(provenance or {}),
        },
    }
    return model
