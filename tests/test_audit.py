"""``cradle audit``: clinical-rule violations and error classes of a hand-made run, counted exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cradle.data import DataError, Prediction, Status, write_predictions
from cradle.interfaces.cli.app import app
from cradle.interfaces.report import write_report
from cradle.metrics.audit import error_classes, rule_violations
from cradle.pipelines.runs.audit import audit_run

SI_A_ON, SI_A_PAST = "suicideideation_active_ongoing", "suicideideation_active_past"
SI_P_ON, SI_P_PAST = "suicideideation_passive_ongoing", "suicideideation_passive_past"

# id: (predicted labels or None for a blocked answer, gold labels)
RUN = {
    "a": (["no_crisis", "selfharm_past"], ["selfharm_past"]),  # no_crisis beside a crisis
    "b": ([SI_A_ON, SI_P_ON], [SI_P_ON]),  # active + passive, same frame (gold kept: no confusion)
    "c": ([SI_A_ON, SI_P_PAST], [SI_P_ON]),  # rules allow it; vs gold: active for passive, passive in the wrong frame
    "d": (["rape_past", "sexualharassment_past"], ["rape_past"]),  # rape + harassment, same frame
    "e": (["rape_ongoing", "sexualharassment_past"], ["rape_past"]),  # rules allow it; rape in the wrong frame
    "f": (["selfharm_ongoing", "selfharm_past"], ["selfharm_ongoing"]),  # both frames of one type
    "g": ([SI_P_ON, SI_P_PAST, SI_A_ON], [SI_A_PAST]),  # active+passive ongoing, passive both frames; passive for active, active wrong frame
    "h": (["no_crisis", "rape_past", "rape_ongoing", "sexualharassment_ongoing"], ["no_crisis"]),  # three rules at once
    "i": (None, ["childabuse_endangerment_ongoing"]),  # blocked: counts for nothing
    "j": (["no_crisis"], ["no_crisis"]),
    "k": (["childabuse_endangerment_past"], ["sexualharassment_past"]),  # child abuse where gold has none
    "l": (["childabuse_endangerment_ongoing"], ["childabuse_endangerment_past"]),  # child abuse, wrong frame
}

VIOLATIONS = {
    "n": 12,
    "no_crisis_with_crisis": 2,
    "active_and_passive_same_frame": 2,
    "rape_and_harassment_same_frame": 2,
    "both_time_frames": 3,
    "any": 6,
    "both_time_frames_by_type": {
        "suicideideation_active": 0,
        "suicideideation_passive": 1,
        "selfharm": 1,
        "domesticviolence": 0,
        "rape": 1,
        "sexualharassment": 0,
        "childabuse_endangerment": 0,
    },
    "examples": {
        "no_crisis_with_crisis": ["a", "h"],
        "active_and_passive_same_frame": ["b", "g"],
        "rape_and_harassment_same_frame": ["d", "h"],
        "both_time_frames": ["f", "g", "h"],
        "any": ["a", "b", "d", "f", "g"],  # five examples at most
    },
}
ERRORS = {
    "n": 12,
    "childabuse_without_gold": 1,
    "active_passive_confusion": 2,
    "wrong_time_frame": 4,
    "active_for_passive": 1,
    "passive_for_active": 1,
    "wrong_time_frame_by_type": {
        "suicideideation_active": 1,
        "suicideideation_passive": 1,
        "selfharm": 0,
        "domesticviolence": 0,
        "rape": 1,
        "sexualharassment": 0,
        "childabuse_endangerment": 1,
    },
    "examples": {
        "childabuse_without_gold": ["k"],
        "active_passive_confusion": ["c", "g"],
        "wrong_time_frame": ["c", "e", "g", "l"],
        "active_for_passive": ["c"],
        "passive_for_active": ["g"],
    },
}


def make_run(root: Path, items: dict = RUN) -> Path:
    run = root / "run"
    run.mkdir()
    preds = [
        Prediction(tuple(p), id=k) if p is not None else Prediction(status=Status.BLOCKED, reason="filter", id=k)
        for k, (p, _) in items.items()
    ]
    write_predictions(preds, run / "predictions.jsonl")
    return run


def make_gold(root: Path, items: dict = RUN) -> Path:
    path = root / "gold.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for k, (_, g) in items.items():
            fh.write(json.dumps({"id": k, "text": f"post {k}", "labels": g}) + "\n")
    return path


def test_audit_json_counts_the_hand_made_run_exactly(tmp_path):
    run, gold = make_run(tmp_path), make_gold(tmp_path)
    res = CliRunner().invoke(app, ["audit", str(run), "--gold", str(gold), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["n"] == 12 and out["n_ok"] == 11
    assert out["violations"] == VIOLATIONS
    assert out["errors"] == ERRORS
    assert out["run"].endswith("predictions.jsonl") and out["gold"]


def test_audit_without_gold_counts_rules_only(tmp_path):
    run = make_run(tmp_path)
    res = CliRunner().invoke(app, ["audit", str(run), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["violations"] == VIOLATIONS and out["errors"] is None and out["gold"] is None
    tables = CliRunner().invoke(app, ["audit", str(run)])
    assert tables.exit_code == 0, tables.output
    assert "no_crisis beside a crisis label" in tables.output and "Pass --gold" in tables.output


def test_rule_violations_follow_the_clinical_rules():
    # passive_past with active_ongoing may coexist; rape_ongoing with harassment_past too
    assert rule_violations([("x", [SI_P_PAST, SI_A_ON]), ("y", ["rape_ongoing", "sexualharassment_past"])])["any"] == 0
    # a label set the rules leave unchanged breaks none; one they change breaks at least one
    from cradle.labels import is_consistent

    for _, (pred, _) in RUN.items():
        if pred is not None:
            assert (rule_violations([("x", pred)])["any"] == 0) == is_consistent(pred), pred


def test_error_classes_need_the_gold_label_missing():
    # gold has both degrees in one frame and the prediction keeps one: no confusion counted
    e = error_classes([("x", [SI_A_ON, SI_P_PAST], [SI_A_ON])])
    assert e["active_passive_confusion"] == 0 and e["wrong_time_frame"] == 0
    # child abuse predicted where gold has it in the other frame: a wrong frame, not a false child abuse
    e = error_classes([("x", ["childabuse_endangerment_past"], ["childabuse_endangerment_ongoing"])])
    assert e["childabuse_without_gold"] == 0 and e["wrong_time_frame"] == 1


def test_audit_refuses_mismatched_ids_and_dialogue_runs(tmp_path):
    run = make_run(tmp_path)
    gold = make_gold(tmp_path, {**RUN, "z": (None, ["no_crisis"])})
    with pytest.raises(DataError, match=r"1 gold item\(s\) have no prediction, e.g. \['z'\]"):
        audit_run(run, str(gold))
    dlg = tmp_path / "dlg.jsonl"
    write_predictions([Prediction(("alert_ongoing",), id="d1:0")], dlg)
    res = CliRunner().invoke(app, ["audit", str(dlg)])
    assert res.exit_code != 0 and "dialogue labels" in res.output


def test_report_has_the_audit_section(tmp_path):
    run, gold = make_run(tmp_path), make_gold(tmp_path)
    html = write_report([run], tmp_path / "r.html", gold=str(gold)).read_text(encoding="utf-8")
    section = html[html.index('id="audit"') :]
    section = section[: section.index("</section>")]
    rows = dict(
        (text.strip(), cells)
        for text, cells in (
            (r.split("</td>")[0].split("<td>")[-1].split("<span")[0], [c.split(">")[-1] for c in r.split("</td>")[1:-1]])
            for r in section.split("<tr>")[1:]
        )
    )
    assert rows["no_crisis beside a crisis label"] == ["2"]
    assert rows["one crisis type both ongoing and past"] == ["3"]
    assert rows["any rule broken"] == ["6"]
    assert rows["child abuse predicted, none in gold"] == ["1"]
    assert rows["right type, wrong time frame"] == ["4"]
    assert rows["active/passive ideation confused"] == ["2"]
