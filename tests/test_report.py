"""``cradle report``: the self-contained HTML report over post and dialogue runs."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cradle.data import DataError, Dialogue, Post, Prediction, Status, Turn, read_posts_csv, write_predictions
from cradle.interfaces.cli.app import app as cli_app
from cradle.interfaces.report import frame_confusions, load_run, write_report
from cradle.labels import PostLabel
from cradle.metrics.dialogue import score_dialogues
from cradle.pipelines.runs.scoring import json_safe, score_posts

GOLD = {
    "p1": ["selfharm_ongoing"],
    "p2": ["no_crisis"],
    "p3": ["rape_past"],
    "p4": ["domesticviolence_ongoing", "suicideideation_passive_ongoing"],
    "p5": ["selfharm_past"],
    "p6": ["no_crisis"],
}
GOOD = {
    "p1": ["selfharm_ongoing"],
    "p2": ["no_crisis"],
    "p3": ["rape_past"],
    "p4": ["domesticviolence_ongoing"],
    "p5": ["selfharm_past"],
    "p6": ["no_crisis"],
}
WEAK = {
    "p1": ["selfharm_past"],
    "p2": ["no_crisis"],
    "p3": ["rape_ongoing"],
    "p4": ["domesticviolence_past"],
    "p5": None,
    "p6": ["selfharm_ongoing"],
}


def gold_file(root: Path) -> Path:
    path = root / "gold.csv"
    rows = ["question_id,question_text,final_labels"] + [f'{k},"text of {k}","{", ".join(v)}"' for k, v in GOLD.items()]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def post_run(root: Path, name: str, preds: dict, *, scores: bool = True, manifest: bool = True, spec: str = "stub:x") -> Path:
    d = root / name
    d.mkdir(parents=True)
    predictions = [
        Prediction(tuple(v), id=k) if v is not None else Prediction(status=Status.BLOCKED, reason="filter", id=k)
        for k, v in preds.items()
    ]
    write_predictions(predictions, d / "predictions.jsonl")
    if scores:
        posts = read_posts_csv(gold_file(root))
        (d / "scores.json").write_text(json.dumps(json_safe(score_posts(posts, predictions, bootstrap=50))), encoding="utf-8")
    if manifest:
        settings = {"kind": "post", "detector": {"spec": spec}, "dataset": {"name": str(root / "gold.csv"), "fingerprint": "x"}}
        (d / "manifest.json").write_text(
            json.dumps({"created": "2026-11-20T10:00:00+00:00", "settings": settings}), encoding="utf-8"
        )
    return d


def dialogue_run(root: Path) -> Path:
    dialogues = [
        Dialogue(
            "d0",
            (
                Turn(0, "user", "hi"),
                Turn(1, "listener", "hello"),
                Turn(2, "user", "x", ("alert_past",)),
                Turn(3, "user", "y", ("confirm_RA_past",)),
            ),
        ),
        Dialogue("d1", (Turn(0, "user", "hi"), Turn(1, "user", "z", ("confirm_SH_ongoing",)))),
    ]
    preds = [
        Prediction(id="d0:0"),
        Prediction(("alert_past",), id="d0:2"),
        Prediction(id="d0:3"),
        Prediction(("confirm_SH_ongoing",), id="d1:0"),
        Prediction(id="d1:1"),
    ]
    d = root / "dialogue-run"
    d.mkdir()
    write_predictions(preds, d / "predictions.jsonl")
    (d / "scores.json").write_text(json.dumps(json_safe(score_dialogues(dialogues, preds, bootstrap=50))), encoding="utf-8")
    return d


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("src", "href") and value and not value.startswith("#"):
                self.external.append(f"{tag} {key}={value}")
        if tag in ("script", "link", "img", "iframe"):
            self.external.append(tag)


def test_frame_confusions_counts_gold_against_predicted_frames():
    posts = [Post(k, "t", tuple(PostLabel(x) for x in v)) for k, v in GOLD.items()]
    preds = [Prediction(tuple(v), id=k) if v is not None else Prediction(status=Status.BLOCKED, id=k) for k, v in WEAK.items()]
    c = frame_confusions(posts, preds)
    assert c["n_posts"] == 5  # the blocked post is left out
    by = c["by_type"]
    assert by["selfharm"] == [[0, 1, 0], [0, 0, 0], [1, 0, 0]]  # p1 ongoing->past, p6 absent->ongoing
    assert by["rape"] == [[0, 0, 0], [1, 0, 0], [0, 0, 0]]
    assert by["domesticviolence"][0] == [0, 1, 0]
    assert by["suicideideation_passive"][0] == [0, 0, 1]
    assert c["total"] == [[0, 2, 1], [1, 0, 0], [1, 0, 0]]


def test_report_is_one_self_contained_file(tmp_path):
    gold = gold_file(tmp_path)
    good = post_run(tmp_path, "good-run", GOOD, spec="stub:good")
    weak = post_run(tmp_path, "weak-run", WEAK, manifest=False)
    dlg = dialogue_run(tmp_path)
    out = write_report([weak, good, dlg], tmp_path / "out" / "report.html", gold=str(gold), title="Bench & more")
    html = out.read_text(encoding="utf-8")

    checker = _Checker()
    checker.feed(html)
    assert checker.external == [], checker.external  # no script, stylesheet, image or link to load
    assert "@import" not in html and "url(" not in html
    for svg in re.findall(r"<svg .*?</svg>", html, flags=re.S):
        ET.fromstring(svg)  # every chart is well-formed SVG (labels escaped)
    assert "<title>Bench &amp; more</title>" in html

    board = html[html.index('id="leaderboard"') : html.index('id="valid"')]
    assert board.index("good-run") < board.index("weak-run")  # ranked by micro F1, best first
    assert "stub:good" in board and "95% CI" in board and re.search(r"\[\d\.\d{3}, \d\.\d{3}\]", board)
    assert "no manifest.json: named after its folder" in html
    valid = html[html.index('id="valid"') : html.index('id="per-label"')]
    assert "ok 5, blocked 1" in valid and "valid / all" in valid.lower()
    frames = html[html.index('id="frames"') : html.index('id="dialogue-leaderboard"')]
    assert "gold ongoing, predicted past: 2" in frames  # weak-run: p1 and p4
    assert "gold past, predicted ongoing: 1" in frames  # weak-run: p3
    for section in ("The three settings", "Timing", "turn level", "dialogue level", "confirm only", "early warning rate"):
        assert section in html, section
    assert "weak-run: 1 output(s) not ok" in html


def test_runs_without_scores_are_scored_against_gold(tmp_path):
    gold = gold_file(tmp_path)
    run = post_run(tmp_path, "bare", GOOD, scores=False, manifest=False)
    html = write_report([run], tmp_path / "r.html", gold=str(gold)).read_text(encoding="utf-8")
    assert "scored here against" in html
    assert '<td class="num">1.000</td>' in html  # micro F1 of a perfect run
    without_gold = write_report([run], tmp_path / "r2.html").read_text(encoding="utf-8")
    assert "no scores (no scores.json; pass --gold to score it here)" in without_gold


def test_gold_named_in_the_manifests_is_used_when_local(tmp_path):
    gold_file(tmp_path)
    a = post_run(tmp_path, "a", GOOD)
    html = write_report([a], tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'id="frames"' in html


def test_report_errors(tmp_path):
    with pytest.raises(ValueError, match="no run directory"):
        write_report([], tmp_path / "r.html")
    with pytest.raises(DataError, match="not a run directory"):
        load_run(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="has no predictions.jsonl"):
        load_run(tmp_path / "empty")
    run = post_run(tmp_path, "r", GOOD, scores=False)
    (run / "scores.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match="scores.json: not valid JSON"):
        load_run(run)


def test_report_command(tmp_path):
    gold = gold_file(tmp_path)
    run = post_run(tmp_path, "cli-run", GOOD)
    out = tmp_path / "cli.html"
    r = CliRunner().invoke(cli_app, ["report", str(run), "--out", str(out), "--gold", str(gold)])
    assert r.exit_code == 0, r.output
    assert out.is_file() and "cli-run" in out.read_text(encoding="utf-8")
    r = CliRunner().invoke(cli_app, ["report", str(tmp_path / "nope"), "--out", str(out)])
    assert r.exit_code == 2 and "not a run directory" in r.output
