"""A response cache on disk (SQLite), shared by runs, so that a reply is paid for once.

The key is a SHA-256 over everything that shapes a reply and nothing else: the engine, the
model, the base URL, the exact request body (messages, i.e. the full prompt, and decoding
parameters) and the prompt-template version. Keys, timeouts, retry and concurrency settings are
never part of it. The prompt itself is not stored, only its hash and the reply.

A cache never fails a run: a database error on read counts as a miss and one on write is
skipped, each with a warning that names the error (never the text).

Errors are never cached (nothing is stored for a request that failed), and neither are blocked
answers: a content filter may be lifted, and another run should be free to ask again. (A run
keeps its own blocked answers in its predictions file, so resuming it does not ask again.)
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["CacheError", "ResponseCache", "cache_key", "default_cache_path"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    engine TEXT NOT NULL,
    model TEXT NOT NULL,
    created REAL NOT NULL,
    reply TEXT NOT NULL
)
"""


class CacheError(ValueError):
    """A file that cannot be opened as a response cache."""


def default_cache_path() -> Path:
    """``<user cache dir>/cradle/responses.sqlite`` (platformdirs)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("cradle", appauthor=False)) / "responses.sqlite"


def cache_key(identity: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``identity``.

    Examples
    --------
    >>> cache_key({"model": "m", "body": {"b": 1, "a": 2}}) == cache_key({"body": {"a": 2, "b": 1}, "model": "m"})
    True
    """
    blob = json.dumps(identity, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


#: Seconds a new cache keeps retrying to open a database file that another process is setting up.
_OPEN_PATIENCE = 10.0


class ResponseCache:
    """Replies keyed by request identity, in one SQLite file.

    Safe to share between threads of a process and between processes (SQLite locking, WAL
    journal).

    Parameters
    ----------
    path : path
        The database file; its folder is created when missing.

    Raises
    ------
    CacheError
        When the file exists but is not a usable SQLite database.

    Examples
    --------
    >>> import tempfile, os
    >>> c = ResponseCache(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
    >>> ident = {"engine": "openai", "model": "m", "body": {"messages": []}}
    >>> c.put(ident, {"text": '{"labels": ["no_crisis"]}', "blocked": False})
    >>> c.get(ident)["text"]
    '{"labels": ["no_crisis"]}'
    >>> c.put({**ident, "model": "n"}, {"text": None, "blocked": True})  # blocked: not stored
    >>> len(c)
    1
    >>> c.close()
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # Processes that open a new file at the same moment (Ray shards) race to switch it to WAL;
        # the losers get "database is locked" at once (the busy timeout does not cover a journal
        # mode change), so opening is retried for up to _OPEN_PATIENCE seconds.
        deadline = time.monotonic() + _OPEN_PATIENCE
        while True:
            try:
                self._db = self._open()
                break
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                    raise CacheError(
                        f"{self.path} cannot be used as a response cache ({exc}); pass another --cache or --no-cache"
                    ) from None
                time.sleep(random.uniform(0.01, 0.05))
            except sqlite3.DatabaseError as exc:
                raise CacheError(
                    f"{self.path} cannot be used as a response cache ({exc}); pass another --cache or --no-cache"
                ) from None

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
        except BaseException:
            db.close()
            raise
        return db

    def get(self, identity: Mapping[str, Any]) -> dict[str, Any] | None:
        """The stored reply for ``identity``, or ``None``.

        An unreadable entry counts as a miss.
        """
        key = cache_key(identity)
        try:
            with self._lock:
                row = self._db.execute("SELECT reply FROM responses WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            log.warning("response cache %s: read failed (%s), treated as a miss", self.path, type(exc).__name__)
            return None
        if row is None:
            return None
        try:
            value = json.loads(row[0])
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def put(self, identity: Mapping[str, Any], reply: Mapping[str, Any]) -> None:
        """Store ``reply`` for ``identity`` (replacing an older one); a blocked reply is ignored."""
        if reply.get("blocked"):
            return
        key = cache_key(identity)
        blob = json.dumps(dict(reply), ensure_ascii=False)
        try:
            with self._lock:
                self._db.execute(
                    "INSERT OR REPLACE INTO responses (key, engine, model, created, reply) VALUES (?, ?, ?, ?, ?)",
                    (key, str(identity.get("engine", "")), str(identity.get("model", "")), time.time(), blob),
                )
        except sqlite3.Error as exc:
            log.warning("response cache %s: write failed (%s), reply not cached", self.path, type(exc).__name__)

    def __contains__(self, identity: Mapping[str, Any]) -> bool:
        return self.get(identity) is not None

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def clear(self, engine: str | None = None, model: str | None = None) -> int:
        """Delete entries (all, or those of one engine and/or model); return how many."""
        where, args = [], []
        if engine is not None:
            where.append("engine = ?")
            args.append(engine)
        if model is not None:
            where.append("model = ?")
            args.append(model)
        sql = "DELETE FROM responses" + (" WHERE " + " AND ".join(where) if where else "")
        with self._lock:
            return self._db.execute(sql, args).rowcount

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"
