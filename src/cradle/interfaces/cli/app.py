"""The ``cradle`` command. Each command lives in its own module with a ``register(app)``.

Command modules import heavy libraries inside their functions so that ``cradle --help`` stays
fast. The console script goes further: it imports only the module of the command it runs
(:data:`COMMANDS`), and leaves without the interpreter's teardown (:func:`exit_now`). Both
matter to short runs: ``benchmarks/runner_limit.py`` times the whole process.

``app`` (every command) is built on first use, for ``typer.testing.CliRunner`` and for tools
that list the commands.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import sys
import threading
from typing import Any

import typer

from cradle import __version__

__all__ = ["COMMANDS", "build_app", "exit_now", "main"]  # and ``app``, built on first use

#: Command name -> the module of ``cradle.interfaces.cli`` that registers it (a test checks this
#: table against what the modules register).
COMMANDS: dict[str, str] = {
    "agreement": "agreement_cmd",
    "audit": "audit_cmd",
    "demo": "demo_cmd",
    "detect": "detect_cmd",
    "ensemble": "ensemble_cmd",
    "evaluate": "evaluate_cmd",
    "finetune": "finetune_cmd",
    "merge-adapter": "finetune_cmd",
    "sft-export": "finetune_cmd",
    "predict": "predict_cmd",
    "report": "report_cmd",
    "review": "review_cmd",
    "score": "score_cmd",
    "serve": "serve_cmd",
    "synthesize": "synthesize_cmd",
    "train": "train_cmd",
    "trainset": "trainset_cmd",
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cradle {__version__}")
        raise typer.Exit()


def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """cradle: clinical crisis detection for posts and conversations."""


def build_app(command: str | None = None) -> typer.Typer:
    """The ``cradle`` Typer app.

    Parameters
    ----------
    command : str, optional
        Register only the module of this command (its siblings in that module too); any other
        value, or None, registers every command.

    Returns
    -------
    typer.Typer

    Examples
    --------
    >>> from typer.testing import CliRunner
    >>> CliRunner().invoke(build_app("score"), ["--version"]).output.startswith("cradle ")
    True
    """
    app = typer.Typer(
        name="cradle",
        help="Detect mental-health crises and safety risks in posts and conversations.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_show_locals=False,
    )
    app.callback()(_main)
    modules = [COMMANDS[command]] if command in COMMANDS else sorted(set(COMMANDS.values()))
    for name in modules:
        importlib.import_module(f"cradle.interfaces.cli.{name}").register(app)
    return app


def __getattr__(name: str) -> Any:
    if name == "app":  # every command, built once on first use
        globals()["app"] = built = build_app()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def exit_now(code: object = 0) -> None:
    """Leave the process as ``sys.exit(code)`` would, without the interpreter's teardown.

    Exit handlers run (``atexit``: logging, Ray, temporary folders) and the standard streams
    are flushed; what is skipped is the clearing of every loaded module and the last garbage
    collection, about 0.1 s after a model run, which nothing of cradle needs: every file a
    command writes is closed (and made durable where it matters) before the command returns.
    Falls back to ``sys.exit`` while a non-daemon thread other than this one is alive (Python
    would wait for it), under a profiler or debugger (``sys.getprofile``/``sys.gettrace``: they
    write their report after the program returns), on interpreters without
    ``atexit._run_exitfuncs``, and when the environment sets ``CRADLE_FULL_EXIT=1``.

    Parameters
    ----------
    code : int, str or None
        As for ``sys.exit``: None is 0; a string is written to stderr and exits with 1.
    """
    others = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon and t.is_alive()]
    watched = sys.getprofile() is not None or sys.gettrace() is not None  # a profiler or debugger reports after we return
    if others or watched or os.environ.get("CRADLE_FULL_EXIT") == "1" or not hasattr(atexit, "_run_exitfuncs"):
        sys.exit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe or stream: nothing more can be written
            stream.flush()
    os._exit(status & 0xFF)


def main() -> None:
    """Entry point of the console script: build the app for the command named in ``sys.argv``,
    run it, and leave with :func:`exit_now`.

    ``import httpx`` also imports httpx's own command line (``httpx._main``: click, pygments,
    rich's syntax highlighting) whenever click is installed, as it is with uvicorn: about 60 ms
    of every start of a command that makes HTTP calls. The console script never uses it, so it
    marks that module as absent before anything imports httpx; httpx then falls back to its
    stub ``httpx.main`` (a message to install ``httpx[cli]``). Only this process is affected,
    and only when httpx is not imported yet.
    """
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[assignment]
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    try:
        build_app(command)()
    except SystemExit as exc:  # click ends every command this way, success included
        exit_now(exc.code)
    exit_now(0)


if __name__ == "__main__":
    main()
