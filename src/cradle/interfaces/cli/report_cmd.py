"""``cradle report RUN... --out report.html``: one self-contained HTML report comparing runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cradle.interfaces.cli._common import cli_errors, console


def register(app: typer.Typer) -> None:
    @app.command("report")
    @cli_errors
    def report(
        runs: Annotated[
            list[Path], typer.Argument(help="Run directories (predictions.jsonl; scores.json and manifest.json when present).")
        ],
        out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path("report.html"),
        gold: Annotated[
            Optional[str],
            typer.Option(
                help="Gold data (file or dataset name): scores runs without scores.json and adds the ongoing-vs-past confusions."
            ),
        ] = None,
        title: Annotated[Optional[str], typer.Option(help="Title of the report.")] = None,
        data_dir: Annotated[
            Optional[Path], typer.Option(help="Local folder laid out like the hub repos.", envvar="CRADLE_DATA_DIR")
        ] = None,
    ) -> None:
        """Write one self-contained HTML report comparing RUN... (charts inline, nothing loaded from the network).

        Leaderboard with 95% intervals, valid-only vs all samples with status counts, per-label
        precision/recall/F1, ongoing-vs-past confusions; for dialogues the three settings and timing.
        """
        from cradle.interfaces.report import write_report

        path = write_report(runs, out, gold, title=title, data_dir=data_dir)
        console.print(f"Wrote {path} ({path.stat().st_size // 1024} KiB) for {len(runs)} run(s).")
