"""User mistakes on the command line end in a one-line message and exit code 2, never a traceback."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cradle.interfaces.cli.app import app as cli_app

WIDE = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}


def invoke(*args: str):
    return CliRunner().invoke(cli_app, list(args), env=WIDE)


def assert_clean_failure(result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and fragment in result.output, result.output


def test_a_folder_where_a_file_is_expected(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    assert_clean_failure(invoke("agreement", str(folder), str(folder)), "is a folder; give a data file")
    run = tmp_path / "run"
    run.mkdir()
    (run / "predictions.jsonl").write_text(json.dumps({"id": "p1", "labels": ["no_crisis"]}) + "\n", encoding="utf-8")
    assert_clean_failure(invoke("report", str(run), "--out", str(folder)), "Is a directory")


def test_a_file_where_a_folder_is_expected(tmp_path):
    file = tmp_path / "file.txt"
    file.write_text("x", encoding="utf-8")
    posts = tmp_path / "posts.csv"
    posts.write_text("question_id,question_text,final_labels\np1,hello,no_crisis\n", encoding="utf-8")
    assert_clean_failure(invoke("sft-export", str(posts), "--out", str(file / "out.jsonl")), "file.txt")


@pytest.mark.parametrize("command", [["review", "status"], ["review", "export", "--out", "x.csv"]])
def test_review_database_that_is_a_folder_or_not_a_database(tmp_path, command):
    folder = tmp_path / "folder"
    folder.mkdir()
    assert_clean_failure(invoke(*command, "--db", str(folder)), "is a folder")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"\x89PNG not a database" * 100)
    assert_clean_failure(invoke(*command, "--db", str(junk)), "is not an SQLite database")


def test_serve_with_a_database_that_is_not_one(tmp_path, monkeypatch):
    monkeypatch.delenv("CRADLE_TOKEN", raising=False)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"plain text, not SQLite " * 100)
    assert_clean_failure(invoke("serve", "--db", str(junk)), "is not an SQLite database")


def test_train_on_too_few_posts(tmp_path):
    posts = tmp_path / "posts.csv"
    posts.write_text("question_id,question_text,final_labels\np1,hello,no_crisis\n", encoding="utf-8")
    assert_clean_failure(invoke("train", str(posts), "--out", str(tmp_path / "model")), "need at least 10 training posts")


def test_help_texts_name_real_options_and_keep_brackets():
    r = invoke("sft-export", "--help")
    assert r.exit_code == 0 and '{"messages": [system, user, assistant]}' in r.output, r.output
    for command in ("evaluate", "predict", "synthesize", "demo"):
        r = invoke(command, "--help")
        assert r.exit_code == 0 and "--model" in r.output.split("╭")[0], (command, r.output)
        assert "SPEC" not in r.output and "RUN_DIR" not in r.output, (command, r.output)
