"""``cradle score`` end to end, checked against scikit-learn computed independently."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, jaccard_score, precision_recall_fscore_support
from sklearn.preprocessing import MultiLabelBinarizer

from cradle.labels import POST_LABELS

LABELS = [x.value for x in POST_LABELS]
GOLD = {
    "a": ["selfharm_ongoing"],
    "b": ["no_crisis"],
    "c": ["rape_past", "childabuse_endangerment_past"],
    "d": ["suicideideation_passive_ongoing"],
    "e": ["domesticviolence_ongoing", "suicideideation_active_ongoing"],
    "f": ["no_crisis"],
}
PRED = {
    "a": (["selfharm_ongoing"], "ok"),
    "b": (["selfharm_past"], "ok"),
    "c": (["rape_past"], "ok"),
    "d": ([], "blocked"),
    "e": (["domesticviolence_ongoing", "suicideideation_passive_ongoing"], "ok"),
    "f": ([], "invalid"),
}


@pytest.fixture
def files(tmp_path):
    gold = tmp_path / "gold.csv"
    lines = ["question_id,question_text,final_labels"] + [f'{k},"text {k}","{", ".join(v)}"' for k, v in GOLD.items()]
    gold.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pred = tmp_path / "pred.jsonl"
    pred.write_text("".join(json.dumps({"id": k, "labels": v, "status": s}) + "\n" for k, (v, s) in PRED.items()), encoding="utf-8")
    return gold, pred


def _sklearn(ids):
    mlb = MultiLabelBinarizer(classes=LABELS)
    yt = mlb.fit_transform([GOLD[i] for i in ids])
    yp = mlb.transform([PRED[i][0] if PRED[i][1] == "ok" else [] for i in ids])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {"exact_match": accuracy_score(yt, yp), "jaccard": jaccard_score(yt, yp, average="samples")}
        for avg in ("micro", "macro"):
            p, r, f, _ = precision_recall_fscore_support(yt, yp, average=avg)
            out.update({f"{avg}_precision": p, f"{avg}_recall": r, f"{avg}_f1": f})
        p, r, f, s = precision_recall_fscore_support(yt, yp, average=None)
    per = {lab: (p[j], r[j], f[j], s[j]) for j, lab in enumerate(LABELS)}
    return out, per


def test_score_json_agrees_with_sklearn(files):
    gold, pred = files
    proc = subprocess.run([sys.executable, "-m", "cradle", "score", str(gold), str(pred), "--json"], capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout)
    assert set(result) == {"n", "n_valid", "valid_only", "all_samples"}
    assert result["n"] == 6 and result["n_valid"] == 4
    for key, ids in (("all_samples", list(GOLD)), ("valid_only", ["a", "b", "c", "e"])):
        expected, per = _sklearn(ids)
        for metric, value in expected.items():
            assert result[key][metric] == pytest.approx(value, abs=1e-12), (key, metric)
        assert set(result[key]["per_label"]) == set(LABELS)
        for lab, (p, r, f, s) in per.items():
            got = result[key]["per_label"][lab]
            assert (got["precision"], got["recall"], got["f1"], got["support"]) == pytest.approx((p, r, f, s), abs=1e-12)


def test_score_with_bootstrap_has_intervals(files):
    from typer.testing import CliRunner

    from cradle.interfaces.cli.app import app

    gold, pred = files
    res = CliRunner().invoke(app, ["score", str(gold), str(pred), "--json", "--bootstrap", "200", "--seed", "3"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    lo, hi = out["all_samples"]["ci"]["micro_f1"]
    assert lo <= out["all_samples"]["micro_f1"] <= hi
    again = json.loads(CliRunner().invoke(app, ["score", str(gold), str(pred), "--json", "--bootstrap", "200", "--seed", "3"]).stdout)
    assert again == out
    assert np.isfinite(lo)


def test_mismatched_ids_are_counted(files, tmp_path):
    from typer.testing import CliRunner

    from cradle.interfaces.cli.app import app

    gold, _ = files
    pred = tmp_path / "p.jsonl"
    pred.write_text(json.dumps({"id": "a", "labels": ["no_crisis"], "status": "ok"}) + "\n" + json.dumps({"id": "zz", "labels": [], "status": "error"}) + "\n")
    res = CliRunner().invoke(app, ["score", str(gold), str(pred)])
    assert res.exit_code == 2
    assert "5 gold item(s) have no prediction" in res.output and "1 prediction(s) match no gold item" in res.output
    assert "predictions:id:" in res.output  # printed verbatim, no emoji or markup


def test_human_output_is_a_table(files):
    from typer.testing import CliRunner

    from cradle.interfaces.cli.app import app

    gold, pred = files
    res = CliRunner().invoke(app, ["score", str(gold), str(pred)])
    assert res.exit_code == 0 and "micro_f1" in res.output and "valid only" in res.output


def test_repeated_prediction_ids_are_an_error():
    from cradle.data import DataError, Post, Prediction
    from cradle.labels import PostLabel
    from cradle.pipelines.runs.scoring import score_posts

    posts = [Post("a", "x", (PostLabel.NO_CRISIS,))]
    preds = [Prediction(labels=("no_crisis",), id="a"), Prediction(labels=("rape_past",), id="a")]
    with pytest.raises(DataError, match="1 repeated prediction id"):
        score_posts(posts, preds)


def test_non_numeric_scores_name_the_line(tmp_path):
    from cradle.data import DataError, read_predictions

    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "a", "labels": ["no_crisis"], "scores": {"no_crisis": "high"}}) + "\n")
    with pytest.raises(DataError, match=r"p.jsonl:1:scores"):
        read_predictions(path)
