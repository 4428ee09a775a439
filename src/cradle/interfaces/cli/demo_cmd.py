"""``cradle demo``: the embedded detector on the bundled test splits (real and synthetic), offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cradle.interfaces.cli._common import cli_errors, console, err_console

#: The bundled splits the demo evaluates, and the run folder of each.
DEMO_SPLITS = (
    ("real:posts-test", "real-posts"),
    ("real:dialogues-test", "real-dialogues"),
    ("real:alert-dialogues-test", "real-alert-dialogues"),
    ("synthetic:posts-test", "posts"),
    ("synthetic:dialogues-test", "dialogues"),
)


def register(app: typer.Typer) -> None:
    @app.command("demo")
    @cli_errors
    def demo(
        out: Annotated[Path, typer.Option(help="Folder for the two runs and the report.")] = Path("cradle-demo"),
        model: Annotated[str, typer.Option("--model", "-m", help="Detector spec.")] = "local:default",
        bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for 95% intervals (0: none).", min=0)] = 500,
    ) -> None:
        """Evaluate --model on the bundled test posts and dialogues (real and synthetic), print the metrics, write a report.

        Needs no key and no network with the default model.
        """
        from cradle.interfaces.cli.score_cmd import show_scores
        from cradle.interfaces.report import write_report
        from cradle.pipelines.runs.evaluate import predict_dataset, score_run

        console.print(
            f"[bold]cradle demo[/]: {model} on the held-out real-text test split (public Reddit posts voted by three "
            "annotators, docs/datasheet-real.md), conversations built from it (whole posts over several turns, gold on the last; "
            "and short real texts with every turn annotated, alerts included), and the synthetic test splits "
            "(docs/datasheet.md). Labels are not clinicians': these figures check the toolkit, not clinical validity."
        )
        run_dirs = []
        for name, folder in DEMO_SPLITS:
            run_dir = out / folder
            dataset, _ = predict_dataset(name, model, run_dir, progress=err_console.is_terminal, console=err_console)
            result = score_run(dataset, run_dir, bootstrap=bootstrap)
            console.rule(f"{name} ({len(dataset)} {folder})")
            show_scores(result)
            run_dirs.append(run_dir)
        report = write_report(run_dirs, out / "report.html", title=f"cradle demo: {model}")
        console.print(f"\nRuns in {', '.join(f'{out}/{folder}' for _, folder in DEMO_SPLITS)}; report: {report}")
