from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from cradle.data import Post, Status
from cradle.detectors import SpecError, load_detector
from cradle.detectors.local import MAX_CHARS, LocalDetector, LocalModel
from cradle.detectors.local.features import TfidfBlock, char_wb_ngrams, word_ngrams
from cradle.labels import PostLabel, is_consistent
from cradle.pipelines.training.train_local import TrainSettings, fbeta_threshold, train_local_model

TEXT = st.text(alphabet=st.characters(min_codepoint=9, max_codepoint=0x2FF), max_size=80)


@settings(max_examples=200, deadline=None)
@given(TEXT)
def test_analyzers_equal_sklearn(text):
    assert word_ngrams(text) == TfidfVectorizer(analyzer="word", ngram_range=(1, 2)).build_analyzer()(text)
    assert char_wb_ngrams(text) == TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5)).build_analyzer()(text)


def test_tfidf_block_equals_sklearn_transform():
    docs = ["I keep thinking about it", "he hit me again last night", "the exam is killing me", "I used to cut", "again and again it happens"]
    for analyzer, rng in (("word", (1, 2)), ("char_wb", (2, 5))):
        vec = TfidfVectorizer(analyzer=analyzer, ngram_range=rng, sublinear_tf=True)
        ref = vec.fit_transform(docs).toarray()
        block = TfidfBlock(analyzer, rng, dict(vec.vocabulary_), vec.idf_)
        for i, d in enumerate(docs):
            idx, val = block.transform_one(d)
            row = np.zeros(ref.shape[1])
            row[idx] = val
            np.testing.assert_allclose(row, ref[i], atol=1e-12)


def _tiny_corpus() -> list[Post]:
    """A small labelled set built here: enough signal for a model to learn."""
    templates = {
        ("selfharm_ongoing",): ["I cut my arm again tonight {}", "still cutting myself every night {}"],
        ("selfharm_past",): ["years ago I used to cut, clean now {}", "back in school I burned myself, not anymore {}"],
        ("domesticviolence_ongoing",): ["my husband hits me and takes my money {}", "my boyfriend still controls my phone {}"],
        ("no_crisis",): ["lovely walk with the dog today {}", "this exam is killing me lol {}", "baked bread this weekend {}"],
        ("selfharm_ongoing", "domesticviolence_ongoing"): ["my husband hits me so I cut again {}"],
    }
    fillers = ["", "honestly", "idk", "again", "today", "please", "ok", "so tired"]
    posts = []
    for labels, texts in templates.items():
        for t in texts:
            for f in fillers:
                posts.append(Post(f"{len(posts)}", t.format(f).strip(), tuple(PostLabel(x) for x in labels)))
    return posts


@pytest.fixture(scope="module")
def tiny_model() -> LocalModel:
    posts = _tiny_corpus()
    return train_local_model(posts[::2] + posts[1::4], posts[3::4], TrainSettings(folds=3, min_df=1))


@pytest.mark.parametrize("factored", [True, False])
def test_train_save_load_predict(tmp_path, factored):
    posts = _tiny_corpus()
    model = train_local_model(posts, None, TrainSettings(folds=3, min_df=1, factored=factored, use_cues=not factored))
    det = LocalDetector(model, "local:test")
    before = det.predict(["my husband hits me", "baked bread today", "I cut again tonight"])
    model.save(tmp_path / "m")
    loaded = load_detector(f"local:{tmp_path / 'm'}")
    after = loaded.predict(["my husband hits me", "baked bread today", "I cut again tonight"])
    assert [p.labels for p in before] == [p.labels for p in after]
    for a, b in zip(before, after):
        assert a.scores.keys() == b.scores.keys()
        assert max(abs(a.scores[k] - b.scores[k]) for k in a.scores) < 1e-5  # float32 weights on disk
    assert "domesticviolence_ongoing" in after[0].labels and after[1].labels == ("no_crisis",)
    assert all(is_consistent(p.labels) for p in after)
    assert all(0.0 <= v <= 1.0 for p in after for v in p.scores.values())
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["format_version"] == 1 and len(meta["thresholds"]) == 15 and meta["training"]["n_posts"] == len(posts)


def test_bad_inputs_get_a_status(tiny_model):
    det = LocalDetector(tiny_model)
    out = det.predict(["", "fine text", "x" * (MAX_CHARS + 1)])
    assert [p.status for p in out] == [Status.INVALID, Status.OK, Status.INVALID]
    assert out[0].reason == "empty text" and str(MAX_CHARS) in out[2].reason


def test_long_texts_are_windowed(tiny_model):
    det = LocalDetector(tiny_model, window_words=20, window_stride=10, window_min_words=30)
    filler = " ".join(["we went to the market and bought apples and pears"] * 20)
    short = det.predict_proba(["I cut my arm again tonight"])[0]
    long = det.predict_proba([filler + " I cut my arm again tonight " + filler])[0]
    j = tiny_model.labels.index("selfharm_ongoing")
    unwindowed = LocalDetector(tiny_model, window_min_words=10_000).predict_proba([filler + " I cut my arm again tonight " + filler])[0]
    assert long[j] > unwindowed[j] and long[j] > 0.5 * short[j]


def test_model_folder_errors(tmp_path, tiny_model):
    with pytest.raises(SpecError, match="model.json is missing"):
        load_detector(f"local:{tmp_path}")
    tiny_model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    meta["format_version"] = 99
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(SpecError, match="version 99"):
        load_detector(f"local:{tmp_path / 'm'}")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=1, max_size=30))
def test_fbeta_threshold_is_optimal(pairs):
    y = np.array([a for a, _ in pairs])
    p = np.array([b for _, b in pairs])
    t = fbeta_threshold(y, p, beta=2.0)

    def f2(th):
        pred = p >= th
        tp = (pred & y).sum()
        fp = (pred & ~y).sum()
        fn = (~pred & y).sum()
        return 5 * tp / (5 * tp + 4 * fn + fp) if tp else 0.0

    if y.sum() == 0:
        assert t == 0.5
    else:
        best = max(f2(th) for th in np.r_[p, 0.0])
        assert f2(t) == pytest.approx(best)


@pytest.mark.parametrize(
    "text, label",
    [
        ("I bought the pills and wrote the note tonight", "suicideideation_active_ongoing"),
        ("this exam is killing me lol", "no_crisis"),
    ],
)
def test_default_model_acceptance_sentences(text, label):
    proc = subprocess.run([sys.executable, "-m", "cradle", "detect", text, "--json"], capture_output=True, text=True, check=True)
    rec = json.loads(proc.stdout)
    assert label in rec["labels"] and rec["status"] == "ok"
    if label == "no_crisis":
        assert rec["labels"] == ["no_crisis"]


def test_detect_reads_stdin():
    proc = subprocess.run([sys.executable, "-m", "cradle", "detect", "-", "--json"], input="hello there friend\n\nmy dog is cute\n", capture_output=True, text=True, check=True)
    assert len(proc.stdout.splitlines()) == 2
