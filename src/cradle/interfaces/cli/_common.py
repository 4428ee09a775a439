"""Shared pieces of the command line: consoles, error reporting, JSON output."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

__all__ = ["console", "err_console", "cli_errors", "print_json", "UsageFailure"]

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


class UsageFailure(Exception):
    """A problem the user can fix; printed without a traceback, exit code 2."""


def _print_error(exc: BaseException) -> None:
    """Print a message verbatim: no Rich markup or emoji codes (``file:id:`` must stay as is)."""
    from rich.text import Text

    err_console.print(Text.assemble(("error: ", "bold red"), str(exc)), highlight=False, soft_wrap=True, emoji=False)


def cli_errors(func: F) -> F:
    """Turn expected failures (bad data, bad labels, bad specs, a path of the wrong kind) into a message and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from cradle.data import DataError
        from cradle.labels import UnknownLabelError

        try:
            return func(*args, **kwargs)
        except (
            DataError,
            UnknownLabelError,
            UsageFailure,
            FileNotFoundError,
            IsADirectoryError,
            NotADirectoryError,
            FileExistsError,
            PermissionError,
        ) as exc:
            _print_error(exc)
            raise typer.Exit(2) from None
        except ValueError as exc:
            if type(exc).__module__.startswith("cradle"):
                _print_error(exc)
                raise typer.Exit(2) from None
            raise

    return wrapper  # type: ignore[return-value]


def print_json(obj: Any) -> None:
    """Print exactly one JSON object on stdout (NaN written as null)."""
    from cradle.pipelines.runs.scoring import json_safe

    sys.stdout.write(json.dumps(json_safe(obj), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()
