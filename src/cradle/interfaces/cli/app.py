"""The ``cradle`` command. Each command lives in its own module with a ``register(app)``.

Command modules import heavy libraries inside their functions so that ``cradle --help`` stays
fast.
"""

from __future__ import annotations

import importlib

import typer

from cradle import __version__

app = typer.Typer(
    name="cradle",
    help="Detect mental-health crises and safety risks in posts and conversations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# One line per command module (keep sorted); each module defines register(app).
_COMMAND_MODULES = (
    "agreement_cmd",
    "audit_cmd",
    "demo_cmd",
    "detect_cmd",
    "ensemble_cmd",
    "evaluate_cmd",
    "finetune_cmd",
    "predict_cmd",
    "report_cmd",
    "review_cmd",
    "score_cmd",
    "serve_cmd",
    "synthesize_cmd",
    "train_cmd",
    "trainset_cmd",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cradle {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """cradle: clinical crisis detection for posts and conversations."""


for _name in _COMMAND_MODULES:
    importlib.import_module(f"cradle.interfaces.cli.{_name}").register(app)


def main() -> None:
    """Entry point of the console script."""
    app()


if __name__ == "__main__":
    main()
