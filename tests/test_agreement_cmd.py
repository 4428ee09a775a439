"""``cradle agreement`` end to end: kappa against scikit-learn, AC1 on Gwet's worked example."""

from __future__ import annotations

import csv
import json
import random
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, jaccard_score
from sklearn.preprocessing import MultiLabelBinarizer
from typer.testing import CliRunner

from cradle.interfaces.cli.app import app
from cradle.labels import POST_LABELS

LABELS = [x.value for x in POST_LABELS]


def _bench_csv(path: Path, sets: dict[str, list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["question_id", "question_text", "final_labels"])
        for item_id, labels in sets.items():
            w.writerow([item_id, f"text of {item_id}", ", ".join(labels)])
    return path


def _predictions(path: Path, sets: dict[str, list[str] | str]) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for item_id, labels in sets.items():
            rec = {"id": item_id, "labels": [], "status": labels} if isinstance(labels, str) else {"id": item_id, "labels": labels, "status": "ok"}
            fh.write(json.dumps(rec) + "\n")
    return path


def _agreement(*args) -> dict:
    res = CliRunner().invoke(app, ["agreement", *map(str, args), "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.fixture
def two_annotators(tmp_path):
    rng = random.Random(11)
    common = LABELS[:6] + ["no_crisis"]
    a, b = {}, {}
    for i in range(80):
        first = rng.sample(common, rng.choice([1, 1, 1, 2]))
        second = list(first) if rng.random() < 0.6 else rng.sample(common, rng.choice([1, 2]))
        a[f"q{i}"], b[f"q{i}"] = first, second
    return a, b


def test_kappa_and_jaccard_match_sklearn(two_annotators, tmp_path):
    a, b = two_annotators
    # one annotator as a Bench CSV, the other as a predictions file: any supported format
    out = _agreement(_bench_csv(tmp_path / "a.csv", a), _predictions(tmp_path / "b.jsonl", b))
    ids = list(a)
    mlb = MultiLabelBinarizer(classes=LABELS)
    ya, yb = mlb.fit_transform([a[i] for i in ids]), mlb.transform([b[i] for i in ids])
    used = [lab for j, lab in enumerate(LABELS) if ya[:, j].any() or yb[:, j].any()]
    assert out["labels"] == used and out["n"] == 80 and out["schema"] == "post"
    assert out["sample_jaccard"] == pytest.approx(jaccard_score(ya, yb, average="samples"), abs=1e-12)
    kappas = []
    for lab in used:
        j = LABELS.index(lab)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = cohen_kappa_score(ya[:, j], yb[:, j])
        kappas.append(expected)
        assert out["per_label"][lab]["kappa"] == pytest.approx(expected, abs=1e-12), lab
        assert out["per_label"][lab]["positives_a"] == int(ya[:, j].sum())
    assert out["mean_kappa"] == pytest.approx(float(np.nanmean(kappas)), abs=1e-12)
    assert out["exact_agreement"] == pytest.approx(float((ya == yb).all(axis=1).mean()))


def test_ac1_on_gwet_worked_example(tmp_path):
    """Gwet (2008): 125 items, 118 both positive, 5 positive for A only, 2 for B only.

    Percent agreement 0.944, kappa about -0.023 (the kappa paradox), AC1 0.94078 (irrCAC gives
    the same value on this table).
    """
    a = {f"g{i}": ["selfharm_ongoing"] if i < 123 else ["no_crisis"] for i in range(125)}
    b = {f"g{i}": ["selfharm_ongoing"] if i < 118 or i >= 123 else ["no_crisis"] for i in range(125)}
    out = _agreement(_bench_csv(tmp_path / "a.csv", a), _bench_csv(tmp_path / "b.csv", b))
    per = out["per_label"]["selfharm_ongoing"]
    assert per["ac1"] == pytest.approx(0.94078, abs=5e-6)
    assert per["kappa"] == pytest.approx(-0.0234, abs=1e-4)
    assert (per["positives_a"], per["positives_b"]) == (123, 120)
    # no_crisis is the complement column here: the same table, the same coefficients
    assert out["per_label"]["no_crisis"]["ac1"] == pytest.approx(per["ac1"], abs=1e-12)
    assert out["mean_ac1"] == pytest.approx(per["ac1"], abs=1e-12)
    assert out["labels"] == ["selfharm_ongoing", "no_crisis"]
    everything = _agreement(tmp_path / "a.csv", tmp_path / "b.csv", "--all-labels")
    assert len(everything["labels"]) == 15 and everything["per_label"]["rape_past"]["kappa"] is None  # NaN -> null


def test_table_output(two_annotators, tmp_path):
    a, b = two_annotators
    res = CliRunner().invoke(app, ["agreement", str(_bench_csv(tmp_path / "a.csv", a)), str(_bench_csv(tmp_path / "b.csv", b))])
    assert res.exit_code == 0, res.output
    assert "sample Jaccard" in res.output and "Gwet's AC1" in res.output and "selfharm_ongoing" in res.output


def test_non_ok_predictions_are_left_out(tmp_path):
    a = _predictions(tmp_path / "a.jsonl", {"1": ["rape_past"], "2": ["no_crisis"], "3": "blocked"})
    b = _predictions(tmp_path / "b.jsonl", {"1": ["rape_past"], "2": "invalid", "3": ["no_crisis"]})
    out = _agreement(a, b)
    assert out["n"] == 1 and out["excluded"] == 2 and out["sample_jaccard"] == 1.0
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    b.rename(run_dir / "predictions.jsonl")  # a run directory works too
    assert _agreement(a, run_dir) == {**out, "b": str(run_dir / "predictions.jsonl")}


def test_dialogue_turns(tmp_path):
    def dialogue(did, labels):
        turns = [{"speaker": "user", "text": "hello", "labels": labels[0]}, {"speaker": "listener", "text": "hi"}, {"speaker": "user", "text": "so", "labels": labels[1]}]
        return json.dumps({"id": did, "turns": turns}) + "\n"

    a = tmp_path / "a.jsonl"
    a.write_text(dialogue("x", [["alert_ongoing"], ["confirm_SH_ongoing"]]) + dialogue("y", [[], []]), encoding="utf-8")
    b = tmp_path / "b.jsonl"
    b.write_text(dialogue("x", [["alert_ongoing"], []]) + dialogue("y", [[], ["confirm_SH_ongoing"]]), encoding="utf-8")
    out = _agreement(a, b, "--labels", "dialogue")
    assert out["schema"] == "dialogue" and out["n"] == 4 and out["labels"] == ["alert_ongoing", "confirm_SH_ongoing"]
    # per turn: x:0 {alert}={alert} -> 1; x:2 {SH} vs {} -> 0; y:0 {} vs {} -> 1; y:2 {} vs {SH} -> 0
    assert out["sample_jaccard"] == pytest.approx(0.5)
    assert out["per_label"]["alert_ongoing"]["kappa"] == pytest.approx(1.0)
    # a predictions file with turn ids lines up with the dialogue file
    p = _predictions(tmp_path / "p.jsonl", {"x:0": ["alert_ongoing"], "x:2": ["confirm_SH_ongoing"], "y:0": [], "y:2": []})
    assert _agreement(a, p)["sample_jaccard"] == 1.0


def test_errors_name_the_files(tmp_path):
    a = _bench_csv(tmp_path / "a.csv", {"1": ["rape_past"], "2": ["no_crisis"]})
    b = _bench_csv(tmp_path / "b.csv", {"1": ["rape_past"], "3": ["no_crisis"]})
    res = CliRunner().invoke(app, ["agreement", str(a), str(b)])
    assert res.exit_code == 2 and "b.csv" in res.output and "1 item(s) of" in res.output and "['2']" in res.output
    res = CliRunner().invoke(app, ["agreement", str(a), str(b), "--labels", "dialogue"])
    assert res.exit_code == 2 and "--labels dialogue was asked but the file holds posts" in res.output
    res = CliRunner().invoke(app, ["agreement", str(a), str(tmp_path / "missing.csv")])
    assert res.exit_code == 2 and "missing.csv" in res.output
