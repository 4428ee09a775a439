"""The review queue, the reviewers and their decisions, kept in SQLite.

Tables (in the service's database file, beside the conversations):

- ``review_items``: one row per queued post (id, position, text, every run's vote, the
  winning set if any);
- ``review_users``: reviewer names and scrypt password hashes;
- ``review_decisions``: one row per (post, reviewer): the final labels after the clinical
  rules, the rules that fired, an optional note, and the time;
- ``review_settings``: the key that signs session cookies (made on first use, so sessions
  survive a restart).

Reviewers decide independently: each has their own progress through the same queue, and
:meth:`ReviewStore.export` writes one reviewer's labels in the CRADLE Bench CSV layout, so that
``cradle agreement`` can compare two reviewers.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cradle.data import Post, write_posts_csv
from cradle.interfaces.service.auth import hash_password, verify_password
from cradle.interfaces.service.db import connect, utc_now
from cradle.interfaces.service.queue import ReviewItem
from cradle.labels import POST_LABELS, apply_clinical_rules

__all__ = ["USER_NAME_PATTERN", "ReviewError", "StoredItem", "Decision", "ReviewStore"]

#: Reviewer names: 1-64 letters, digits, ``.``, ``_`` or ``-`` (they end up in file names).
USER_NAME_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
_NAME = re.compile(USER_NAME_PATTERN)
_MAX_NOTE_CHARS = 4000

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS review_items (
        id TEXT PRIMARY KEY,
        position INTEGER NOT NULL UNIQUE,
        text TEXT NOT NULL,
        votes TEXT NOT NULL,
        vote TEXT,
        agreement TEXT NOT NULL,
        added_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS review_users (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS review_decisions (
        item_id TEXT NOT NULL REFERENCES review_items(id),
        reviewer TEXT NOT NULL REFERENCES review_users(name),
        labels TEXT NOT NULL,
        rules TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        decided_at TEXT NOT NULL,
        PRIMARY KEY (item_id, reviewer)
    )""",
    "CREATE TABLE IF NOT EXISTS review_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
# A hash to check against when the user does not exist, so that both cases take as long.
_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


class ReviewError(ValueError):
    """A review action that cannot be done (unknown reviewer, empty label set, bad name)."""


@dataclass(frozen=True)
class StoredItem:
    """A queued post as stored.

    Attributes
    ----------
    position : int
        1-based place in the queue.
    id, text : str
    votes : dict
        Run name -> ``{"labels", "status"}``.
    vote : tuple of str or None
    agreement : str
    """

    position: int
    id: str
    text: str
    votes: dict[str, dict[str, Any]]
    vote: tuple[str, ...] | None
    agreement: str


@dataclass(frozen=True)
class Decision:
    """One reviewer's final labels for one post.

    Attributes
    ----------
    item_id, reviewer : str
    labels : tuple of str
        Canonical post labels, consistent with the clinical rules.
    rules : tuple of str
        Messages of the rules that changed the submitted set (empty when none fired).
    note : str
    decided_at : str
        ISO 8601 time in UTC.
    """

    item_id: str
    reviewer: str
    labels: tuple[str, ...]
    rules: tuple[str, ...]
    note: str
    decided_at: str


def _item(row: Any) -> StoredItem:
    vote = json.loads(row["vote"]) if row["vote"] is not None else None
    return StoredItem(
        int(row["position"]),
        row["id"],
        row["text"],
        json.loads(row["votes"]),
        tuple(vote) if vote is not None else None,
        row["agreement"],
    )


def _decision(row: Any) -> Decision:
    return Decision(
        row["item_id"],
        row["reviewer"],
        tuple(json.loads(row["labels"])),
        tuple(json.loads(row["rules"])),
        row["note"],
        row["decided_at"],
    )


class ReviewStore:
    """Queue, reviewers and decisions in one SQLite file.

    Parameters
    ----------
    path : path
        The database file (tables are created when missing).

    Examples
    --------
    >>> import tempfile, os
    >>> from cradle.interfaces.service.queue import ReviewItem
    >>> store = ReviewStore(os.path.join(tempfile.mkdtemp(), "r.db"))
    >>> store.add_items([ReviewItem("p1", "text", {}, None, "none")])
    (1, 0)
    >>> store.add_user("ana", "a long password")
    >>> d = store.decide("p1", "ana", ["rape_past", "sexualharassment_past"], note="")
    >>> d.labels, d.rules
    (('rape_past',), ('rape_past subsumes sexualharassment_past in the same time frame',))
    >>> store.progress("ana")
    (1, 1)
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        with connect(self.path, write=True) as con:
            for statement in _SCHEMA:
                con.execute(statement)

    # -- the queue ---------------------------------------------------------------------------

    def add_items(self, items: Iterable[ReviewItem]) -> tuple[int, int]:
        """Queue posts; a post already queued gets its text and votes updated, its decisions kept.

        Returns
        -------
        (int, int)
            Posts added and posts updated.
        """
        added = updated = 0
        now = utc_now()
        with connect(self.path, write=True) as con:
            last = con.execute("SELECT coalesce(max(position), 0) FROM review_items").fetchone()[0]
            for it in items:
                votes = json.dumps(it.votes, ensure_ascii=False)
                vote = json.dumps(list(it.vote)) if it.vote is not None else None
                if con.execute("SELECT 1 FROM review_items WHERE id = ?", (it.id,)).fetchone():
                    con.execute(
                        "UPDATE review_items SET text = ?, votes = ?, vote = ?, agreement = ? WHERE id = ?",
                        (it.text, votes, vote, it.agreement, it.id),
                    )
                    updated += 1
                else:
                    last += 1
                    con.execute(
                        "INSERT INTO review_items (id, position, text, votes, vote, agreement, added_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (it.id, last, it.text, votes, vote, it.agreement, now),
                    )
                    added += 1
        return added, updated

    def count(self) -> int:
        """Number of queued posts."""
        with connect(self.path) as con:
            return int(con.execute("SELECT count(*) FROM review_items").fetchone()[0])

    def item(self, position: int) -> StoredItem | None:
        """The post at a 1-based queue position, or ``None``."""
        if not 1 <= position < 2**63:  # beyond SQLite's INTEGER: no such post (not an OverflowError)
            return None
        with connect(self.path) as con:
            row = con.execute("SELECT * FROM review_items WHERE position = ?", (position,)).fetchone()
        return _item(row) if row is not None else None

    def items(self) -> list[StoredItem]:
        """Every queued post in queue order."""
        with connect(self.path) as con:
            return [_item(r) for r in con.execute("SELECT * FROM review_items ORDER BY position")]

    def next_pending(self, reviewer: str, after: int = 0) -> int | None:
        """The first position after ``after`` (wrapping around) that ``reviewer`` has not decided."""
        query = (
            "SELECT position FROM review_items i WHERE NOT EXISTS "
            "(SELECT 1 FROM review_decisions d WHERE d.item_id = i.id AND d.reviewer = ?) "
            "ORDER BY position > ? DESC, position LIMIT 1"
        )
        with connect(self.path) as con:
            row = con.execute(query, (reviewer, after)).fetchone()
        return int(row[0]) if row is not None else None

    def progress(self, reviewer: str) -> tuple[int, int]:
        """(posts decided by ``reviewer``, posts queued)."""
        with connect(self.path) as con:
            done = con.execute("SELECT count(*) FROM review_decisions WHERE reviewer = ?", (reviewer,)).fetchone()[0]
            total = con.execute("SELECT count(*) FROM review_items").fetchone()[0]
        return int(done), int(total)

    # -- reviewers ---------------------------------------------------------------------------

    def add_user(self, name: str, password: str, *, replace: bool = False) -> None:
        """Add a reviewer (or, with ``replace``, set a new password).

        Raises
        ------
        ReviewError
            For a bad name, or an existing name without ``replace``.
        cradle.interfaces.service.auth.AuthConfigError
            For a password that is too short.
        """
        if not _NAME.match(name):
            raise ReviewError(f"bad reviewer name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
        digest = hash_password(password)
        with connect(self.path, write=True) as con:
            exists = con.execute("SELECT 1 FROM review_users WHERE name = ?", (name,)).fetchone()
            if exists and not replace:
                raise ReviewError(f"reviewer {name!r} exists already; pass --replace to set a new password")
            con.execute(
                "INSERT INTO review_users (name, password_hash, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET password_hash = excluded.password_hash",
                (name, digest, utc_now()),
            )

    def check_user(self, name: str, password: str) -> bool:
        """True when ``name`` is a reviewer and ``password`` is theirs."""
        with connect(self.path) as con:
            row = con.execute("SELECT password_hash FROM review_users WHERE name = ?", (name,)).fetchone()
        if row is None:
            verify_password(password, _DUMMY_HASH)
            return False
        return verify_password(password, row["password_hash"])

    def has_user(self, name: str) -> bool:
        """True when ``name`` is a reviewer."""
        with connect(self.path) as con:
            return con.execute("SELECT 1 FROM review_users WHERE name = ?", (name,)).fetchone() is not None

    def users(self) -> list[str]:
        """Reviewer names, sorted."""
        with connect(self.path) as con:
            return [r[0] for r in con.execute("SELECT name FROM review_users ORDER BY name")]

    # -- decisions ---------------------------------------------------------------------------

    def decide(self, item_id: str, reviewer: str, labels: Sequence[str], note: str = "") -> Decision:
        """Store (or replace) a reviewer's final labels for a post, after the clinical rules.

        Parameters
        ----------
        item_id : str
        reviewer : str
        labels : sequence of str
            Post labels in any accepted spelling; at least one (``no_crisis`` when nothing
            applies).
        note : str
            Free text, at most 4,000 characters.

        Returns
        -------
        Decision
            As stored: the labels after the rules, and the messages of the rules that fired.

        Raises
        ------
        ReviewError
            Unknown post or reviewer, no label, or a note that is too long.
        cradle.labels.UnknownLabelError
            For a string that is no post label.
        """
        if not labels:
            raise ReviewError("choose at least one label (no_crisis when no crisis applies)")
        if len(note) > _MAX_NOTE_CHARS:
            raise ReviewError(f"the note has {len(note)} characters; the limit is {_MAX_NOTE_CHARS}")
        result = apply_clinical_rules(labels)
        final = tuple(x.value for x in result.labels)
        rules = tuple(f.message for f in result.fired)
        now = utc_now()
        with connect(self.path, write=True) as con:
            if con.execute("SELECT 1 FROM review_items WHERE id = ?", (item_id,)).fetchone() is None:
                raise ReviewError(f"no queued post {item_id!r}")
            if con.execute("SELECT 1 FROM review_users WHERE name = ?", (reviewer,)).fetchone() is None:
                raise ReviewError(f"no reviewer {reviewer!r}")
            con.execute(
                "INSERT INTO review_decisions (item_id, reviewer, labels, rules, note, decided_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(item_id, reviewer) DO UPDATE SET labels = excluded.labels, rules = excluded.rules, "
                "note = excluded.note, decided_at = excluded.decided_at",
                (item_id, reviewer, json.dumps(list(final)), json.dumps(list(rules)), note, now),
            )
        return Decision(item_id, reviewer, final, rules, note, now)

    def decision(self, item_id: str, reviewer: str) -> Decision | None:
        """A reviewer's decision for a post, or ``None``."""
        with connect(self.path) as con:
            row = con.execute("SELECT * FROM review_decisions WHERE item_id = ? AND reviewer = ?", (item_id, reviewer)).fetchone()
        return _decision(row) if row is not None else None

    def decisions(self, reviewer: str) -> dict[str, Decision]:
        """Item id -> decision, for one reviewer."""
        with connect(self.path) as con:
            rows = con.execute("SELECT * FROM review_decisions WHERE reviewer = ?", (reviewer,)).fetchall()
        return {r["item_id"]: _decision(r) for r in rows}

    def reviewers_with_decisions(self) -> list[str]:
        """Reviewers who decided at least one post, sorted."""
        with connect(self.path) as con:
            return [r[0] for r in con.execute("SELECT DISTINCT reviewer FROM review_decisions ORDER BY reviewer")]

    def export(self, out: str | Path, reviewer: str) -> int:
        """Write one reviewer's decisions in the CRADLE Bench CSV layout, in queue order.

        Columns ``question_id``, ``question_text``, ``final_labels`` (canonical labels,
        comma-separated). Posts the reviewer has not decided are left out.

        Returns
        -------
        int
            Rows written.

        Raises
        ------
        ReviewError
            When ``reviewer`` is unknown or decided nothing.
        """
        if not self.has_user(reviewer):
            known = ", ".join(self.users()) or "none"
            raise ReviewError(f"no reviewer {reviewer!r} (reviewers: {known})")
        decided = self.decisions(reviewer)
        if not decided:
            raise ReviewError(f"reviewer {reviewer!r} has decided no post yet")
        order = {label.value: i for i, label in enumerate(POST_LABELS)}
        posts = [
            Post(it.id, it.text, tuple(POST_LABELS[order[x]] for x in decided[it.id].labels))
            for it in self.items()
            if it.id in decided
        ]
        Path(out).expanduser().parent.mkdir(parents=True, exist_ok=True)
        write_posts_csv(posts, Path(out).expanduser())
        return len(posts)

    # -- settings ----------------------------------------------------------------------------

    def session_key(self) -> bytes:
        """The key that signs session cookies; made (32 random bytes) on first use."""
        with connect(self.path, write=True) as con:
            row = con.execute("SELECT value FROM review_settings WHERE key = 'session_key'").fetchone()
            if row is not None:
                return bytes.fromhex(row["value"])
            key = secrets.token_bytes(32)
            con.execute("INSERT INTO review_settings (key, value) VALUES ('session_key', ?)", (key.hex(),))
            return key
