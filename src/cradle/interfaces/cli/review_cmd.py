"""``cradle review init | add-user | status | export``: the clinicians' review queue.

The review page itself is served by ``cradle serve --db PATH`` under ``/review``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from cradle.interfaces.cli._common import UsageFailure, cli_errors, console

review_app = typer.Typer(
    name="review",
    help="Queue disagreements for clinicians, add reviewers, export their labels (the page: cradle serve --db PATH).",
    no_args_is_help=True,
)

_DB_HELP = "The review database (the same file cradle serve --db uses)."


def export_paths(out: Path, reviewers: list[str]) -> dict[str, Path]:
    """One output file per reviewer: ``OUT`` with ``.<reviewer>`` before the suffix.

    Examples
    --------
    >>> export_paths(Path("labels.csv"), ["ana", "ben"])["ben"].name
    'labels.ben.csv'
    """
    suffix = out.suffix or ".csv"
    return {r: out.with_name(f"{out.stem}.{r}{suffix}") for r in reviewers}


@review_app.command("init")
@cli_errors
def init(
    runs: Annotated[
        list[Path], typer.Argument(help="Two or more runs (directories or predictions .jsonl), or one ensemble run directory.")
    ],
    texts: Annotated[str, typer.Option(help="The posts the runs labelled: a file or a dataset name such as cradle-bench:test.")],
    db: Annotated[Path, typer.Option(help=_DB_HELP)],
    scope: Annotated[
        Optional[str],
        typer.Option(
            help="any: every post the runs do not agree on unanimously (default for several runs); full: only posts without a majority (default for one ensemble run)."
        ),
    ] = None,
    min_agree: Annotated[int, typer.Option("--min-agree", "-k", help="Votes a label set needs to win.", min=1)] = 2,
    data_dir: Annotated[
        Optional[Path], typer.Option(help="Local folder laid out like the hub repos.", envvar="CRADLE_DATA_DIR")
    ] = None,
) -> None:
    """Load the posts on which the runs disagree into the review queue (decisions already made are kept)."""
    from cradle.interfaces.service.queue import queue_from_runs, texts_from_dataset
    from cradle.interfaces.service.review_store import ReviewStore

    if scope not in ("any", "full", None):
        raise UsageFailure(f"--scope must be 'any' or 'full'; got {scope!r}")
    items = queue_from_runs(runs, texts_from_dataset(texts, data_dir), scope=scope, min_agree=min_agree)  # type: ignore[arg-type]
    added, updated = ReviewStore(db).add_items(items)
    full = sum(1 for it in items if it.agreement == "none")
    console.print(
        f"{len(items)} posts to review ({full} without a majority): {added} added, {updated} already queued (votes refreshed). Database: {db}"
    )
    if not items:
        console.print("The runs agree on every post: nothing to review.")


@review_app.command("add-user")
@cli_errors
def add_user(
    name: Annotated[str, typer.Argument(help="Reviewer name (letters, digits, '.', '_', '-').")],
    db: Annotated[Path, typer.Option(help=_DB_HELP)],
    password_env: Annotated[
        Optional[str], typer.Option(help="Read the password from this environment variable instead of prompting.")
    ] = None,
    replace: Annotated[bool, typer.Option(help="Set a new password for an existing reviewer.")] = False,
) -> None:
    """Add a reviewer; the password is prompted for (or read from --password-env) and stored as a salted scrypt hash."""
    from cradle.interfaces.service.review_store import ReviewStore

    if password_env:
        password = os.environ.get(password_env, "")
        if not password:
            raise UsageFailure(f"--password-env names {password_env}, but that environment variable is not set (or empty)")
    else:
        password = typer.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)
    ReviewStore(db).add_user(name, password, replace=replace)
    console.print(f"Reviewer {name!r} {'updated' if replace else 'added'} in {db}.")


@review_app.command("status")
@cli_errors
def status(db: Annotated[Path, typer.Option(help=_DB_HELP)]) -> None:
    """Queue size and each reviewer's progress."""
    from rich.table import Table

    from cradle.interfaces.service.review_store import ReviewStore

    if not db.exists():
        raise UsageFailure(f"{db} does not exist; create it with cradle review init")
    store = ReviewStore(db)
    table = Table(title=f"{store.count()} posts queued", title_justify="left")
    table.add_column("reviewer")
    table.add_column("decided", justify="right")
    for user in store.users():
        done, total = store.progress(user)
        table.add_row(user, f"{done} / {total}")
    console.print(table)


@review_app.command("export")
@cli_errors
def export(
    db: Annotated[Path, typer.Option(help=_DB_HELP)],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="CSV to write (CRADLE Bench layout). Without --reviewer: one file per reviewer, OUT.<name>.csv."
        ),
    ],
    reviewer: Annotated[Optional[str], typer.Option(help="Export this reviewer's labels to OUT exactly.")] = None,
) -> None:
    """Write adjudicated labels in the CRADLE Bench CSV layout (question_id, question_text, final_labels).

    Compare two reviewers with: cradle agreement OUT.ana.csv OUT.ben.csv
    """
    from cradle.interfaces.service.review_store import ReviewStore

    if not db.exists():
        raise UsageFailure(f"{db} does not exist; create it with cradle review init")
    store = ReviewStore(db)
    if reviewer is not None:
        targets = {reviewer: out}
    else:
        names = store.reviewers_with_decisions()
        if not names:
            raise UsageFailure("no reviewer has decided any post yet")
        targets = export_paths(out, names)
    for name, path in targets.items():
        n = store.export(path, name)
        console.print(f"{name}: {n} posts -> {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review")
