"""``cradle score GOLD PRED``: score a predictions file against gold data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from cradle.interfaces.cli._common import cli_errors, console, print_json


def score_files(gold: str, pred: Path, *, data_dir: Optional[Path], bootstrap: int, seed: int) -> dict[str, Any]:
    """Load both files and score them with the metrics of their kind (posts or dialogues)."""
    from cradle.data import load_dataset, read_predictions

    dataset = load_dataset(gold, data_dir)
    if dataset.kind == "dialogues":
        from cradle.metrics.dialogue import score_dialogues

        preds = read_predictions(pred, "dialogue")
        return score_dialogues(dataset.dialogues, preds, bootstrap=bootstrap, seed=seed)
    from cradle.pipelines.runs.scoring import score_posts

    preds = read_predictions(pred, "post")
    return score_posts(dataset.posts, preds, bootstrap=bootstrap, seed=seed)


def show_scores(result: dict[str, Any]) -> None:
    """Print a score object as Rich tables."""
    from cradle.interfaces.tables import metrics_table, per_label_table

    if "turn_level" in result:
        from cradle.interfaces.tables import fmt

        console.print(f"{result['n_dialogues']} dialogues, {result['n_user_turns']} user turns")
        console.print(metrics_table({k: result[k] for k in ("turn_level", "dialogue_level", "confirm_only")}, title="Dialogue scores"))
        console.print(per_label_table(result["turn_level"], title="Turn level, per label"))
        timing = result.get("timing") or {}
        if timing:
            console.print("Timing: " + ", ".join(f"{k} {fmt(v) if isinstance(v, float) else v}" for k, v in timing.items() if not isinstance(v, dict)))
        mon = result.get("monitor") or {}
        if mon:
            alert, ttd = mon["alert"], mon["time_to_detection"]
            console.print(
                f"Monitor: ordinary dialogues {mon['n_ordinary']}, with a confirm {fmt(mon['ordinary_confirm_rate'])}, "
                f"false alarms per 100 ordinary {fmt(mon['false_alarms_per_100_ordinary'], 1)}; "
                f"alert precision {fmt(alert['precision'])} recall {fmt(alert['recall'])} F1 {fmt(alert['f1'])} "
                f"(gold {alert['gold']}, raised {alert['predicted']}); "
                f"time to detection mean {fmt(ttd['mean'], 2)} median {fmt(ttd['median'], 1)} user turns, detected {fmt(ttd['detected'])}"
            )
        return
    console.print(f"{result['n']} items, {result['n_valid']} valid")
    console.print(metrics_table({"valid only": result["valid_only"], "all samples": result["all_samples"]}))
    console.print(per_label_table(result["all_samples"], title="Per label (all samples)"))


def register(app: typer.Typer) -> None:
    @app.command("score")
    @cli_errors
    def score(
        gold: Annotated[str, typer.Argument(help="Gold data: a file or a dataset name such as cradle-bench:test.")],
        pred: Annotated[Path, typer.Argument(help="Predictions JSONL.", exists=False)],
        json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
        bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for 95% intervals (0: none).", min=0)] = 0,
        seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
        data_dir: Annotated[Optional[Path], typer.Option(help="Local folder laid out like the hub repos.", envvar="CRADLE_DATA_DIR")] = None,
    ) -> None:
        """Score PRED against GOLD with the published metrics (scikit-learn semantics)."""
        result = score_files(gold, pred, data_dir=data_dir, bootstrap=bootstrap, seed=seed)
        if json_out:
            print_json(result)
        else:
            show_scores(result)
