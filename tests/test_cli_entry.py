"""The console script's entry point: one command module per run, and the quick exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer
from typer.main import get_command

from cradle.interfaces.cli import app as app_module


def _names(app: typer.Typer) -> set[str]:
    return set(get_command(app).commands)  # type: ignore[attr-defined]


def test_command_table_names_every_registered_command():
    assert _names(app_module.build_app()) == set(app_module.COMMANDS)
    assert _names(app_module.app) == set(app_module.COMMANDS)


@pytest.mark.parametrize("command", sorted(app_module.COMMANDS))
def test_one_command_app_holds_that_command(command):
    names = _names(app_module.build_app(command))
    assert command in names
    assert names == {c for c, m in app_module.COMMANDS.items() if m == app_module.COMMANDS[command]}


def _cradle(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cradle", *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


@pytest.mark.parametrize("full_exit", ["0", "1"])
def test_quick_exit_keeps_output_and_exit_codes(full_exit, tmp_path):
    env = {"CRADLE_FULL_EXIT": full_exit}
    ok = _cradle("detect", "my husband hit me again last night", "--json", env=env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["labels"] == ["domesticviolence_ongoing"]  # the whole line was flushed
    assert _cradle("--version", env=env).stdout == f"cradle {app_module.__version__}\n"
    typo = _cradle("predcit", env=env)
    assert typo.returncode == 2 and "predict" in typo.stderr  # the full app answers an unknown command
    missing = _cradle("score", str(tmp_path / "absent.csv"), str(tmp_path / "absent.jsonl"), env=env)
    assert missing.returncode == 2 and "absent.csv" in missing.stderr


def test_exit_now_runs_exit_handlers_and_passes_the_status(tmp_path):
    marker = tmp_path / "handler-ran"
    code = (
        "import atexit, pathlib, sys\n"
        "from cradle.interfaces.cli.app import exit_now\n"
        f"atexit.register(lambda: pathlib.Path({str(marker)!r}).write_text('yes'))\n"
        "print('unflushed', end='')\n"
        "exit_now(int(sys.argv[1]) if sys.argv[1].isdigit() else sys.argv[1])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, "3"], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, marker.read_text()) == (3, "unflushed", "yes")
    proc = subprocess.run([sys.executable, "-c", code, "bad input"], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr.strip()) == (1, "bad input")


def test_exit_now_waits_like_python_for_a_live_thread(tmp_path):
    marker = tmp_path / "thread-finished"
    code = (
        "import pathlib, threading, time\n"
        "from cradle.interfaces.cli.app import exit_now\n"
        f"threading.Thread(target=lambda: (time.sleep(0.3), pathlib.Path({str(marker)!r}).write_text('done'))).start()\n"
        "exit_now(0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and marker.read_text() == "done"
