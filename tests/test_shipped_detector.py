"""The shipped ``local:default`` on the plain sentences that the earlier detector got wrong, and on
our own contrast pairs (who, when, figurative, support, questions, negation, news, fiction).

These sentences and pairs are ours and never training material; the floors below are regression
guards for the shipped weights (rebuild with ``scripts/train_encoder.py`` and recheck with
``python benchmarks/contrast_eval.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cradle.detectors import load_detector

PAIRS = Path(__file__).parent / "fixtures" / "contrast_pairs.jsonl"

SENTENCES = [
    ("my husband hit me again last night", {"domesticviolence_ongoing"}),
    ("My best friend told me she was raped at a party, how do I support her?", {"no_crisis"}),
    ("I'm so stressed about finals, I could just die", {"no_crisis"}),
    ("everyone would be better off without me", {"suicideideation_passive_ongoing"}),
    ("my stepdad used to beat me with a belt", {"childabuse_endangerment_past"}),
]


@pytest.fixture(scope="module")
def detector():
    return load_detector("local:default")


@pytest.mark.parametrize("text,labels", SENTENCES)
def test_plain_sentences_get_the_clinical_answer(detector, text, labels):
    assert set(detector.predict([text])[0].labels) == labels


def test_contrast_pairs_are_well_formed():
    from cradle.labels import apply_clinical_rules, normalize_post_label

    pairs = [json.loads(x) for x in PAIRS.read_text(encoding="utf-8").splitlines() if x.strip()]
    assert len(pairs) >= 25
    for p in pairs:
        assert p["a"]["text"] != p["b"]["text"] and p["a"]["labels"] != p["b"]["labels"]
        for side in ("a", "b"):
            labels = [normalize_post_label(x) for x in p[side]["labels"]]
            assert not apply_clinical_rules(labels).changed


def test_contrast_pairs_floor(detector):
    pairs = [json.loads(x) for x in PAIRS.read_text(encoding="utf-8").splitlines() if x.strip()]
    texts = [p[k]["text"] for p in pairs for k in ("a", "b")]
    want = [set(p[k]["labels"]) for p in pairs for k in ("a", "b")]
    got = [set(x.labels) for x in detector.predict(texts)]
    exact = sum(g == w for g, w in zip(got, want)) / len(want)
    assert exact >= 0.75, f"contrast texts exactly right: {exact:.2f}"
