"""``cradle train DATA --out DIR [--dev DEV]``: train a local detector on labelled posts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cradle.interfaces.cli._common import UsageFailure, cli_errors, console


def register(app: typer.Typer) -> None:
    @app.command("train")
    @cli_errors
    def train(
        data: Annotated[str, typer.Argument(help="Labelled posts: a file or a dataset name (e.g. cradle-bench:train_consensus).")],
        out: Annotated[Path, typer.Option("--out", help="Model folder to write (load it with --model local:DIR).")],
        dev: Annotated[Optional[str], typer.Option(help="Labelled posts for the thresholds (default: out-of-fold scores).")] = None,
        cues: Annotated[bool, typer.Option("--cues/--no-cues", help="Add the time-frame and first-person cue features.")] = False,
        factored: Annotated[bool, typer.Option("--factored/--flat", help="Crisis-type and time-frame heads (default) or one head per label.")] = True,
        c: Annotated[float, typer.Option("--C", help="Inverse regularisation strength.")] = 8.0,
        beta: Annotated[float, typer.Option(help="F-beta of the per-label threshold search (2 = recall first).")] = 2.0,
        seed: Annotated[int, typer.Option(help="Seed of the cross-validation folds.")] = 0,
        data_dir: Annotated[Optional[Path], typer.Option(help="Local folder laid out like the hub repos.", envvar="CRADLE_DATA_DIR")] = None,
    ) -> None:
        """Train a local detector on labelled posts and write a versioned model folder."""
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from cradle.data import load_dataset
        from cradle.detectors.local import LocalDetector
        from cradle.pipelines.runs.scoring import score_posts
        from cradle.pipelines.training.train_local import TrainSettings, train_local_model

        train_ds = load_dataset(data, data_dir)
        if train_ds.kind != "posts":
            raise UsageFailure(f"{data} holds dialogues; `cradle train` trains on labelled posts")
        dev_ds = load_dataset(dev, data_dir) if dev else None
        if dev_ds is not None and dev_ds.kind != "posts":
            raise UsageFailure(f"{dev} holds dialogues; --dev needs labelled posts")
        settings = TrainSettings(use_cues=cues, factored=factored, C=c, beta=beta, seed=seed)
        provenance = {"data": data, "data_fingerprint": train_ds.fingerprint}
        if dev_ds is not None:
            provenance.update({"dev": dev, "dev_fingerprint": dev_ds.fingerprint})
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("training", total=1.0)
            try:
                model = train_local_model(
                    train_ds.posts,
                    dev_ds.posts if dev_ds else None,
                    settings,
                    progress=lambda step, frac: bar.update(task, completed=frac, description=step),
                    provenance=provenance,
                )
            except ValueError as exc:  # too few posts, unlabelled posts, a single class: the data's fault
                raise UsageFailure(f"cannot train on {data}: {exc}") from None
        if dev_ds is not None:
            det = LocalDetector(model)
            preds = [p.with_id(x.id) for p, x in zip(det.predict([x.text for x in dev_ds.posts]), dev_ds.posts)]
            scores = score_posts(dev_ds.posts, preds)["all_samples"]
            model.meta["dev_metrics"] = {k: round(v, 4) for k, v in scores.items() if isinstance(v, float)}
            console.print("dev: " + ", ".join(f"{k} {v:.3f}" for k, v in model.meta["dev_metrics"].items()))
        path = model.save(out)
        console.print(f"wrote {path} ({len(train_ds.posts)} posts, {model.meta['training']['seconds']} s); use it with --model local:{path}")
