"""``cradle trainset RUN... --texts DATA --out FILE``: a training set from the votes of several runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from cradle.interfaces.cli._common import UsageFailure, cli_errors, console, print_json


def show_distribution(stats: dict[str, Any]) -> None:
    """Print the summary and the three distribution tables of a training set."""
    from rich.table import Table

    from cradle.interfaces.cli.ensemble_cmd import agreement_table

    dropped = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in stats["dropped"].items())
    console.print(f"{stats['subset']} subset: {stats['n_posts']} of {stats['n_input']} posts, {stats['n_labels']} labels (dropped: {dropped})")
    console.print(agreement_table(stats["agreement"], title="Agreement between runs (all input posts)"))
    for key, title, unit in (
        ("labels", "Labels", "label"),
        ("labels_per_post", "Labels per post", "labels per post"),
        ("temporal", "Temporal distribution (labels)", "time frame"),
    ):
        table = Table(title=title, title_justify="left")
        table.add_column(unit)
        table.add_column("count", justify="right")
        table.add_column("%", justify="right")
        for name, cell in stats[key].items():
            table.add_row(name, str(cell["count"]), f"{cell['percent']:.2f}")
        console.print(table)


def register(app: typer.Typer) -> None:
    @app.command("trainset")
    @cli_errors
    def trainset(
        runs: Annotated[list[Path], typer.Argument(help="Run directories (holding predictions.jsonl) or predictions .jsonl files.")],
        texts: Annotated[str, typer.Option("--texts", help="The corpus the runs labelled: Bench CSV, post JSONL, or a dataset name.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="CSV to write (CRADLE Bench layout); statistics go to <stem>.stats.json.")],
        subset: Annotated[str, typer.Option(help="consensus (>= --min-agree runs agree) or unanimous (all runs agree).")] = "consensus",
        min_agree: Annotated[int, typer.Option("--min-agree", "-k", help="Votes a label set needs in the consensus subset.", min=1)] = 2,
        json_out: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON instead of tables.")] = False,
        data_dir: Annotated[Optional[Path], typer.Option(help="Local folder laid out like the hub repos.", envvar="CRADLE_DATA_DIR")] = None,
    ) -> None:
        """Build the consensus or unanimous training subset from RUN... (full disagreements dropped).

        A prediction whose status is not ok casts no vote, so an item where a run was blocked can
        still enter the consensus subset but never the unanimous one. Writes the posts with their
        voted labels in the CRADLE Bench CSV layout and prints the paper's distribution tables.
        """
        from cradle.pipelines.labelling.ensemble import read_runs
        from cradle.pipelines.labelling.trainset import SUBSETS, build_training_set, read_texts, write_training_set

        if subset not in SUBSETS:
            raise UsageFailure(f"--subset must be one of {', '.join(SUBSETS)}, not {subset!r}")
        if len(runs) < 2:
            raise UsageFailure(f"a training set needs the votes of at least 2 runs; got {len(runs)}")
        if min_agree > len(runs):
            raise UsageFailure(f"--min-agree {min_agree} is more than the {len(runs)} runs given")
        voting = read_runs(runs, "post")
        posts = read_texts(texts, data_dir)
        ts, _ = build_training_set(voting, posts, subset=subset, min_agree=min_agree, texts_name=texts)  # type: ignore[arg-type]
        csv_path, stats_path = write_training_set(ts, out)
        stats = ts.stats()
        if json_out:
            print_json(stats)
        else:
            show_distribution(stats)
            console.print(f"Wrote {csv_path} and {stats_path}.")
