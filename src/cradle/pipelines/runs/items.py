"""Work items of a run: a post, or one user turn of a dialogue with the history up to it.

Items are produced lazily from posts, dialogues or a loaded dataset, so that a run can stream
a corpus of any size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from cradle.data import Dialogue, Post, Turn
from cradle.data.datasets import Dataset

__all__ = ["ItemKind", "WorkItem", "post_items", "turn_items", "dataset_items"]

ItemKind = Literal["post", "turn"]


@dataclass(frozen=True)
class WorkItem:
    """One thing to label.

    Attributes
    ----------
    id : str
        The prediction id: the post id, or ``"<dialogue id>:<turn_id>"`` for a turn.
    text : str
        The post, or the user message to label.
    dialogue : Dialogue or None
        The dialogue of a turn item.
    turn_id : int or None
        The turn of a turn item.

    Examples
    --------
    >>> from cradle.data import Dialogue, Turn
    >>> d = Dialogue("d7", (Turn(0, "user", "hi"), Turn(1, "listener", "hello"), Turn(2, "user", "bad day")))
    >>> [(i.id, i.kind, len(i.history)) for i in turn_items([d])]
    [('d7:0', 'turn', 1), ('d7:2', 'turn', 3)]
    """

    id: str
    text: str
    dialogue: Dialogue | None = None
    turn_id: int | None = None

    @property
    def kind(self) -> ItemKind:
        """``"turn"`` for a dialogue turn, else ``"post"``."""
        return "turn" if self.dialogue is not None else "post"

    @property
    def history(self) -> tuple[Turn, ...]:
        """The dialogue up to and including this turn (empty for a post)."""
        if self.dialogue is None or self.turn_id is None:
            return ()
        return self.dialogue.history(self.turn_id)


def post_items(posts: Iterable[Post]) -> Iterator[WorkItem]:
    """One item per post."""
    for p in posts:
        yield WorkItem(p.id, p.text)


def turn_items(dialogues: Iterable[Dialogue]) -> Iterator[WorkItem]:
    """One item per user turn, in dialogue order."""
    for d in dialogues:
        for t in d.user_turns:
            yield WorkItem(d.item_id(t), t.text, d, t.turn_id)


def dataset_items(dataset: Dataset) -> Iterator[WorkItem]:
    """The items of a loaded dataset (posts, or the user turns of its dialogues)."""
    if dataset.kind == "dialogues":
        return turn_items(dataset.dialogues)
    return post_items(dataset.posts)
