"""The items cradle works on: posts, and dialogues made of turns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from cradle.labels import DialogueLabel, PostLabel

__all__ = ["Post", "Turn", "Dialogue", "Speaker"]

Speaker = Literal["user", "listener"]


@dataclass(frozen=True)
class Post:
    """One first-person text and, when known, its gold labels.

    Attributes
    ----------
    id : str
        Unique within its dataset.
    text : str
        The text, with any benchmark instruction sentence already removed.
    labels : tuple of PostLabel or None
        Gold labels; ``None`` when the post is unlabelled.
    meta : dict
        Anything else the source carried (kept, never interpreted).
    """

    id: str
    text: str
    labels: tuple[PostLabel, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Turn:
    """One message of a dialogue.

    ``turn_id`` is the row number of the message within its dialogue in the released format
    (it starts at 0). ``labels`` are the gold labels that first appear at this turn (user turns
    only).
    """

    turn_id: int
    speaker: Speaker
    text: str
    labels: tuple[DialogueLabel, ...] = ()

    @property
    def is_user(self) -> bool:
        """True for a message of the user (the turns that are labelled)."""
        return self.speaker == "user"


@dataclass(frozen=True)
class Dialogue:
    """A conversation between a user and a listener.

    Examples
    --------
    >>> d = Dialogue("d0", (Turn(0, "user", "hi"), Turn(1, "listener", "hello")))
    >>> [t.turn_id for t in d.user_turns]
    [0]
    """

    id: str
    turns: tuple[Turn, ...]
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def user_turns(self) -> tuple[Turn, ...]:
        """The turns that are scored (listener turns are context only)."""
        return tuple(t for t in self.turns if t.is_user)

    def history(self, turn_id: int) -> tuple[Turn, ...]:
        """All turns up to and including ``turn_id``."""
        return tuple(t for t in self.turns if t.turn_id <= turn_id)

    def item_id(self, turn: Turn) -> str:
        """The prediction id of a user turn: ``"<dialogue id>:<turn_id>"``."""
        return f"{self.id}:{turn.turn_id}"

    @property
    def labels(self) -> tuple[DialogueLabel, ...]:
        """Every label of the dialogue, in order of appearance."""
        out: list[DialogueLabel] = []
        for t in self.turns:
            out.extend(x for x in t.labels if x not in out)
        return tuple(out)
