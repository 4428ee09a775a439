"""``cradle audit RUN [--gold DATA] [--json]``: count predictions that break the clinical rules.

Without gold: predictions with ``no_crisis`` beside a crisis label, active and passive ideation
in one time frame, rape and sexual harassment in one time frame, one crisis type in both time
frames. With gold, also the known error classes: child abuse predicted where gold has none,
active/passive confusion, right type in the wrong time frame. See :mod:`cradle.metrics.audit`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from cradle.interfaces.cli._common import cli_errors, console, print_json

__all__ = ["show_audit", "register"]

_VIOLATION_ROWS = (
    "no_crisis_with_crisis",
    "active_and_passive_same_frame",
    "rape_and_harassment_same_frame",
    "both_time_frames",
    "any",
)
_ERROR_ROWS = (
    "childabuse_without_gold",
    "active_passive_confusion",
    "active_for_passive",
    "passive_for_active",
    "wrong_time_frame",
)


def _table(title: str, counts: dict[str, Any], rows: tuple[str, ...], n: int) -> Any:
    from rich.table import Table

    from cradle.metrics.audit import DESCRIPTIONS

    t = Table(title=title, title_justify="left")
    t.add_column("pattern")
    t.add_column("predictions", justify="right")
    t.add_column("share", justify="right")
    t.add_column("e.g. ids")
    for key in rows:
        text = ("  " if key.endswith(("_for_passive", "_for_active")) else "") + DESCRIPTIONS[key]
        c = int(counts.get(key, 0))
        share = f"{c / n:.1%}" if n else "-"
        t.add_row(text, str(c), share, ", ".join(counts["examples"].get(key, [])))
    return t


def show_audit(result: dict[str, Any]) -> None:
    """Print an audit object as Rich tables."""
    n = result["n"]
    console.print(f"{result['run']}: {n} predictions, {result['n_ok']} ok", highlight=False, markup=False)
    console.print(_table("Clinical-rule violations", result["violations"], _VIOLATION_ROWS, n))
    both = {k: v for k, v in result["violations"]["both_time_frames_by_type"].items() if v}
    if both:
        console.print("both time frames by type: " + ", ".join(f"{k} {v}" for k, v in both.items()), highlight=False)
    errors = result.get("errors")
    if errors is None:
        console.print("Pass --gold DATA for the error classes against gold.", highlight=False)
        return
    console.print(_table(f"Error classes against {result['gold']}", errors, _ERROR_ROWS, errors["n"]))
    wrong = {k: v for k, v in errors["wrong_time_frame_by_type"].items() if v}
    if wrong:
        console.print("wrong time frame by type: " + ", ".join(f"{k} {v}" for k, v in wrong.items()), highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("audit")
    @cli_errors
    def audit(
        run: Annotated[Path, typer.Argument(help="Run directory (predictions.jsonl) or a predictions .jsonl file of posts.")],
        gold: Annotated[Optional[str], typer.Option(help="Gold posts (file or dataset name) for the error classes.")] = None,
        json_out: Annotated[
            bool, typer.Option("--json", help="Print one JSON object with the counts instead of tables.")
        ] = False,
        data_dir: Annotated[
            Optional[Path], typer.Option(help="Local folder laid out like the hub repos.", envvar="CRADLE_DATA_DIR")
        ] = None,
    ) -> None:
        """Count RUN's predictions that break the clinical rules and, with --gold, the known error classes."""
        from cradle.pipelines.runs.audit import audit_run

        result = audit_run(run, gold, data_dir=data_dir)
        if json_out:
            print_json(result)
        else:
            show_audit(result)
