"""Reading text files strictly: UTF-8 (BOM tolerated), a bad byte named by line and column."""

from __future__ import annotations

from pathlib import Path

from cradle.data.errors import DataError

__all__ = ["read_utf8"]


def read_utf8(path: str | Path) -> str:
    """Return the file's text; raise :class:`DataError` naming the line of a non-UTF-8 byte."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise DataError.single(p, "file not found") from None
    except IsADirectoryError:
        raise DataError.single(p, "is a directory, not a file") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = raw[exc.start : exc.start + 1].hex()
        raise DataError.single(p, f"byte 0x{byte} at column {col} is not valid UTF-8", row=line) from None
