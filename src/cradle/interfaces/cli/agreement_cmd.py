"""``cradle agreement A B``: agreement between two annotators (Jaccard, Cohen's kappa, Gwet's AC1)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from cradle.interfaces.cli._common import UsageFailure, cli_errors, console, print_json


def show_agreement(result: dict[str, Any]) -> None:
    """Print the summary and the per-label table of an agreement result."""
    from rich.table import Table

    from cradle.interfaces.tables import fmt

    excluded = f", {result['excluded']} left out for a non-ok prediction" if result["excluded"] else ""
    console.print(f"{result['n']} {result['schema']} items compared{excluded}")
    summary = Table(title="Agreement", title_justify="left")
    summary.add_column("measure")
    summary.add_column("value", justify="right")
    for key, name in (
        ("sample_jaccard", "sample Jaccard"),
        ("exact_agreement", "exact agreement"),
        ("mean_kappa", "mean Cohen's kappa"),
        ("mean_ac1", "mean Gwet's AC1"),
    ):
        summary.add_row(name, fmt(result[key]))
    console.print(summary)
    per = Table(title="Per label", title_justify="left")
    for col, justify in (("label", "left"), ("A", "right"), ("B", "right"), ("kappa", "right"), ("AC1", "right")):
        per.add_column(col, justify=justify)  # type: ignore[arg-type]
    for label, v in result["per_label"].items():
        per.add_row(label, str(v["positives_a"]), str(v["positives_b"]), fmt(v["kappa"]), fmt(v["ac1"]))
    console.print(per)
    console.print("[dim]A, B: items each annotator gave the label. kappa is '-' where undefined (a constant column on both sides).[/]")


def register(app: typer.Typer) -> None:
    @app.command("agreement")
    @cli_errors
    def agreement(
        a: Annotated[str, typer.Argument(help="First annotator: a dataset file or name, a predictions JSONL, or a run directory.")],
        b: Annotated[str, typer.Argument(help="Second annotator, same items.")],
        labels: Annotated[Optional[str], typer.Option(help="Label schema: post or dialogue (default: detected).")] = None,
        all_labels: Annotated[bool, typer.Option("--all-labels", help="Report every label of the schema, not only the labels used.")] = False,
        json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
        data_dir: Annotated[Optional[Path], typer.Option(help="Local folder laid out like the hub repos.", envvar="CRADLE_DATA_DIR")] = None,
    ) -> None:
        """Sample Jaccard, per-label Cohen's kappa and Gwet's AC1 (and their means) between A and B.

        Items are matched by id (dialogue user turns as DIALOGUE:TURN). An item whose prediction is
        not ok in either file is left out and counted.
        """
        from cradle.pipelines.labelling.agreement import compare_annotators, read_annotations

        if labels not in (None, "post", "dialogue"):
            raise UsageFailure(f"--labels must be post or dialogue, not {labels!r}")
        ann_a = read_annotations(a, labels, data_dir)  # type: ignore[arg-type]
        ann_b = read_annotations(b, labels or ann_a.schema, data_dir)  # type: ignore[arg-type]
        result = compare_annotators(ann_a, ann_b, all_labels=all_labels)
        if json_out:
            print_json(result)
        else:
            show_agreement(result)
