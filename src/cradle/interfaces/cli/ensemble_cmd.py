"""``cradle ensemble RUN... --out RUN_DIR``: majority vote of several runs over whole label sets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from cradle.interfaces.cli._common import UsageFailure, cli_errors, console, print_json

if TYPE_CHECKING:
    from rich.table import Table

    from cradle.pipelines.labelling.ensemble import EnsembleResult


def agreement_table(summary: dict[str, Any], title: str = "Agreement between runs") -> Table:
    """Counts and percentages of the agreement categories (all agree / partial / none)."""
    from rich.table import Table

    names = {"all": "all agree", "partial": "partial (majority)", "none": "none (full disagreement)"}
    table = Table(title=title, title_justify="left")
    table.add_column("agreement")
    table.add_column("items", justify="right")
    table.add_column("%", justify="right")
    for key, label in names.items():
        table.add_row(label, str(summary["counts"][key]), f"{summary['percent'][key]:.2f}")
    table.add_row("total", str(summary["n"]), "100.00", style="bold")
    return table


def show_ensemble(result: EnsembleResult, out_dir: Path) -> None:
    """Print the agreement table and what happened to the disagreements."""
    console.print(agreement_table(result.summary))
    d = result.summary["decisions"]
    line = f"{d['vote']} decided by vote"
    if result.fallback:
        line += f", {d['fallback']} by fallback run {result.fallback!r}"
    else:
        line += f", {d['disagreement']} left without label (status disagreement)"
    if d["no_votes"]:
        line += f", {d['no_votes']} without any ok answer"
    console.print(line + ".")
    console.print(f"Wrote {out_dir / 'predictions.jsonl'}, agreement.json and votes.jsonl.")


def register(app: typer.Typer) -> None:
    @app.command("ensemble")
    @cli_errors
    def ensemble(
        runs: Annotated[list[Path], typer.Argument(help="Run directories (holding predictions.jsonl) or predictions .jsonl files.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write (predictions.jsonl, agreement.json, votes.jsonl).")],
        fallback: Annotated[
            Optional[Path], typer.Option(help="Run whose answer is taken on full disagreement (one of RUN, or another run).")
        ] = None,
        min_agree: Annotated[int, typer.Option("--min-agree", "-k", help="Votes a label set needs to win.", min=1)] = 2,
        labels: Annotated[Optional[str], typer.Option(help="Label schema: post or dialogue (default: detected).")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print the agreement summary as JSON instead of a table.")] = False,
    ) -> None:
        """Majority vote of RUN... over whole label sets (a set chosen by >= K runs wins).

        A prediction whose status is not ok (blocked, invalid, error) casts no vote. On full
        disagreement (no set reaches K votes, or the top sets tie) the item takes the --fallback
        run's answer, or no label with status `disagreement`. Works for posts and for dialogue
        user turns alike.
        """
        from cradle.pipelines.labelling.ensemble import Run, ensemble_runs, read_run, read_runs, write_ensemble

        if labels not in (None, "post", "dialogue"):
            raise UsageFailure(f"--labels must be post or dialogue, not {labels!r}")
        if len(runs) < 2:
            raise UsageFailure(f"an ensemble needs at least 2 runs; got {len(runs)}")
        if min_agree > len(runs):
            raise UsageFailure(f"--min-agree {min_agree} is more than the {len(runs)} runs given")
        voting = read_runs(runs, labels)  # type: ignore[arg-type]
        fallback_run = None
        if fallback is not None:
            same = [r for r, p in zip(voting, runs, strict=True) if p.resolve() == fallback.resolve()]
            if same:
                fallback_run = same[0]
            else:
                fallback_run = read_run(fallback, labels)  # type: ignore[arg-type]
                if fallback_run.name in {r.name for r in voting}:
                    fallback_run = Run(f"{fallback_run.name} (fallback)", fallback_run.path, fallback_run.predictions)
        result = ensemble_runs(voting, min_agree=min_agree, fallback=fallback_run)
        write_ensemble(result, out, voting, fallback_run)
        if json_out:
            print_json({"runs": result.runs, "fallback": result.fallback, "min_agree": min_agree, **result.summary})
        else:
            show_ensemble(result, out)
