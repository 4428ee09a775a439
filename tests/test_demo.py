"""``cradle demo`` end to end through the CLI: offline, real and synthetic splits, scores and a report."""

from __future__ import annotations

import json
import subprocess
import sys


def test_demo_runs_offline_and_resumes(tmp_path):
    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "cradle", "demo", "--out", str(out), "--bootstrap", "50"]
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "CRADLE_DATA_DIR": str(tmp_path / "none")}
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "micro_f1" in first.stdout and "turn_level" in first.stdout and "early_warning_rate" in first.stdout
    posts = json.loads((out / "posts" / "scores.json").read_text())
    dialogues = json.loads((out / "dialogues" / "scores.json").read_text())
    assert set(posts) == {"n", "n_valid", "valid_only", "all_samples"} and posts["n"] == posts["n_valid"]
    assert {"n_dialogues", "n_user_turns", "turn_level", "dialogue_level", "confirm_only", "timing"} <= set(dialogues)
    assert 0.5 < posts["all_samples"]["micro_f1"] <= 1.0, "the shipped model should do clearly better than chance"
    real = json.loads((out / "real-posts" / "scores.json").read_text())
    assert real["n"] == real["n_valid"] > 300 and 0.5 < real["all_samples"]["micro_f1"] <= 1.0
    real_dialogues = json.loads((out / "real-dialogues" / "scores.json").read_text())
    monitor = real_dialogues["monitor"]
    assert monitor["n_ordinary"] > 100 and 0.0 <= monitor["ordinary_confirm_rate"] <= 1.0
    alerts = json.loads((out / "real-alert-dialogues" / "scores.json").read_text())
    assert alerts["n_dialogues"] > 100 and alerts["monitor"]["alert"]["gold"] > 10  # every turn annotated, alerts included
    flat = " ".join(first.stdout.split())  # the console wraps long lines
    assert "false alarms per 100 ordinary" in flat and "time to detection" in flat
    report = (out / "report.html").read_text()
    assert "<svg" in report and "http://" not in report.replace("http://www.w3.org", "")
    before = (out / "posts" / "predictions.jsonl").read_bytes()
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    assert (out / "posts" / "predictions.jsonl").read_bytes() == before
