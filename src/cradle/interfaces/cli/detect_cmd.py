"""``cradle detect [TEXT | -]``: label one text, or one text per line from standard input."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from cradle.interfaces.cli._common import UsageFailure, cli_errors, console


def register(app: typer.Typer) -> None:
    @app.command("detect")
    @cli_errors
    def detect(
        text: Annotated[Optional[str], typer.Argument(help="The text to label; '-' or nothing reads one text per line from stdin.")] = None,
        model: Annotated[str, typer.Option("--model", "-m", help="Detector spec, e.g. local:default or openai:gpt-5.")] = "local:default",
        json_out: Annotated[bool, typer.Option("--json", help="One JSON object per text (JSON Lines).")] = False,
        top: Annotated[int, typer.Option(help="How many scores to show per text in the table.", min=0)] = 3,
    ) -> None:
        """Print the labels (and scores, where the engine has them) of one or more texts."""
        from rich.table import Table

        from cradle.data import prediction_to_json
        from cradle.detectors import load_detector

        if text is None or text == "-":
            if sys.stdin.isatty():
                raise UsageFailure("give a TEXT argument, or pipe texts into `cradle detect -` (one per line)")
            texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
        else:
            texts = [text]
        if not texts:
            raise UsageFailure("no text to label")
        detector = load_detector(model)
        predictions = detector.predict(texts)
        if json_out:
            import json

            for i, p in enumerate(predictions):
                rec = prediction_to_json(p.with_id(str(i)))
                sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")
            return
        if len(texts) == 1 and predictions[0].status.value == "ok":
            p = predictions[0]
            console.print(", ".join(p.labels))
            if p.scores and top:
                best = sorted(p.scores.items(), key=lambda kv: -kv[1])[:top]
                console.print("[dim]" + "  ".join(f"{k} {v:.2f}" for k, v in best) + "[/]")
            return
        table = Table("#", "labels", "status", "top scores")
        for i, p in enumerate(predictions):
            best = sorted((p.scores or {}).items(), key=lambda kv: -kv[1])[:top]
            table.add_row(str(i + 1), ", ".join(p.labels), p.status.value if p.ok else f"{p.status.value}: {p.reason}", "  ".join(f"{k} {v:.2f}" for k, v in best))
        console.print(table)
