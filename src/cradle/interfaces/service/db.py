"""Opening the service's SQLite database: one file holds conversations and the review queue.

Every operation opens its own short-lived connection (cheap for SQLite, and safe from any
worker thread). The database runs in WAL mode so that readers never wait for a writer, and
with a busy timeout so that two writers queue instead of failing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["DatabaseFileError", "connect", "utc_now"]

_BUSY_TIMEOUT_MS = 10_000


class DatabaseFileError(ValueError):
    """The database path is a folder, or a file that is not an SQLite database."""


def utc_now() -> str:
    """The current time as an ISO 8601 string in UTC with a ``Z`` suffix, to the second.

    Examples
    --------
    >>> utc_now().endswith("Z")
    True
    """
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@contextmanager
def connect(path: str | Path, *, write: bool = False) -> Iterator[sqlite3.Connection]:
    """Open the database for one unit of work.

    Parameters
    ----------
    path : path
        The SQLite file; its folder is created when missing.
    write : bool, default=False
        Start an immediate transaction (takes the write lock at once, so a read-modify-write
        cannot be interleaved with another writer). The transaction commits when the block
        ends and rolls back when it raises.

    Yields
    ------
    sqlite3.Connection
        Rows come back as :class:`sqlite3.Row`.

    Examples
    --------
    >>> import tempfile, os
    >>> db = os.path.join(tempfile.mkdtemp(), "x.db")
    >>> with connect(db, write=True) as con:
    ...     _ = con.execute("CREATE TABLE t (v INTEGER)")
    >>> with connect(db) as con:
    ...     con.execute("SELECT count(*) FROM t").fetchone()[0]
    0
    """
    p = Path(path).expanduser()
    if p.is_dir():
        raise DatabaseFileError(f"{p} is a folder; the database must be a file (e.g. {p / 'cradle.db'})")
    p.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(p, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        con.row_factory = sqlite3.Row
        con.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        try:
            con.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):  # locked or busy: not a question of the file
                raise
            raise DatabaseFileError(f"{p} is not an SQLite database ({exc}); give a new file or one cradle made") from None
        con.execute("PRAGMA synchronous = NORMAL")
        con.execute("PRAGMA foreign_keys = ON")
        if not write:
            yield con
            return
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    finally:
        con.close()
