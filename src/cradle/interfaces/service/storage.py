"""Conversation state kept in SQLite, so that a restarted service loses no conversation.

One row per conversation holds the monitor's ``state_dict()`` (JSON), the number of turns,
the events raised so far and a version number. A write names the version it read; when
another process wrote in between, :class:`ConcurrentUpdateError` is raised instead of
losing that turn.

With ``local:`` detectors the state is a fixed-size context vector and holds no text; with
LLM engines it keeps the earlier messages the model is shown (raw text). Treat the database
file as sensitive as the conversations themselves, and delete conversations you no longer need
(``DELETE /v1/conversations/{id}``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cradle.interfaces.service.db import connect, utc_now

__all__ = ["ConversationRecord", "ConversationStore", "ConcurrentUpdateError"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    n_turns INTEGER NOT NULL,
    events TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
"""


class ConcurrentUpdateError(RuntimeError):
    """The conversation changed between reading and writing it (another process wrote a turn)."""


@dataclass(frozen=True)
class ConversationRecord:
    """A stored conversation.

    Attributes
    ----------
    id : str
    state : dict
        The monitor's ``state_dict()``.
    n_turns : int
        Turns observed so far (user and listener).
    events : list of dict
        ``{"label", "turn", "score"}`` in the order they were raised.
    version : int
        Incremented by every write; 0 for a conversation not stored yet.
    created_at, updated_at : str
        ISO 8601 times in UTC.
    """

    id: str
    state: dict[str, Any]
    n_turns: int
    events: list[dict[str, Any]]
    version: int
    created_at: str
    updated_at: str


class ConversationStore:
    """Read and write conversations in one SQLite file.

    Parameters
    ----------
    path : path
        The database file (created with its table when missing).

    Examples
    --------
    >>> import tempfile, os
    >>> store = ConversationStore(os.path.join(tempfile.mkdtemp(), "s.db"))
    >>> store.save("c1", {"turns": []}, 1, [], expected_version=0)
    1
    >>> store.load("c1").n_turns
    1
    >>> store.load("nope") is None
    True
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        with connect(self.path, write=True) as con:
            con.execute(_SCHEMA)

    def load(self, conversation_id: str) -> ConversationRecord | None:
        """The stored conversation, or ``None`` when the id is unknown."""
        with connect(self.path) as con:
            row = con.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None:
            return None
        return ConversationRecord(
            id=row["id"],
            state=json.loads(row["state"]),
            n_turns=int(row["n_turns"]),
            events=json.loads(row["events"]),
            version=int(row["version"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def save(
        self,
        conversation_id: str,
        state: dict[str, Any],
        n_turns: int,
        events: list[dict[str, Any]],
        *,
        expected_version: int,
    ) -> int:
        """Write a conversation if nobody wrote it since ``expected_version`` was read.

        Parameters
        ----------
        conversation_id : str
        state : dict
            JSON-serialisable monitor state.
        n_turns : int
        events : list of dict
        expected_version : int
            The version read before the change (0 for a new conversation).

        Returns
        -------
        int
            The new version.

        Raises
        ------
        ConcurrentUpdateError
            When the stored version is not ``expected_version``.
        """
        state_json = json.dumps(state, ensure_ascii=False)
        events_json = json.dumps(events, ensure_ascii=False)
        now = utc_now()
        with connect(self.path, write=True) as con:
            row = con.execute("SELECT version FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            current = 0 if row is None else int(row["version"])
            if current != expected_version:
                raise ConcurrentUpdateError(
                    f"conversation {conversation_id!r} was changed by another request (version {current}, expected {expected_version}); send the turn again"
                )
            if row is None:
                con.execute(
                    "INSERT INTO conversations (id, state, n_turns, events, version, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)",
                    (conversation_id, state_json, n_turns, events_json, now, now),
                )
            else:
                con.execute(
                    "UPDATE conversations SET state = ?, n_turns = ?, events = ?, version = ?, updated_at = ? WHERE id = ?",
                    (state_json, n_turns, events_json, current + 1, now, conversation_id),
                )
        return current + 1

    def delete(self, conversation_id: str) -> bool:
        """Delete a conversation; ``True`` when it existed."""
        with connect(self.path, write=True) as con:
            cur = con.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            return cur.rowcount > 0

    def count(self) -> int:
        """Number of stored conversations."""
        with connect(self.path) as con:
            return int(con.execute("SELECT count(*) FROM conversations").fetchone()[0])
