"""Errors that name the file, row and field of every bad record."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["RowIssue", "DataError"]


@dataclass(frozen=True)
class RowIssue:
    """One problem in one record.

    ``row`` counts as a spreadsheet does for CSV (the header is row 1) and as a line number for
    JSONL; 0 means the file as a whole.
    """

    file: str
    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.row}" if self.row else self.file
        return f"{where}:{self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"


class DataError(ValueError):
    """A file that cannot be read as asked; lists every problem found, not only the first.

    Attributes
    ----------
    issues : list of RowIssue
    """

    MAX_SHOWN = 25

    def __init__(self, issues: list[RowIssue]) -> None:
        self.issues = list(issues)
        shown = "\n".join(f"  {i}" for i in self.issues[: self.MAX_SHOWN])
        more = len(self.issues) - self.MAX_SHOWN
        tail = f"\n  ... and {more} more" if more > 0 else ""
        n = len(self.issues)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} in the data:\n{shown}{tail}")

    @classmethod
    def single(cls, file: str | Path, reason: str, row: int = 0, field: str = "") -> DataError:
        """A DataError with one issue."""
        return cls([RowIssue(str(file), row, field, reason)])
