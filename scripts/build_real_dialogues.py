"""Conversations built from the real-text corpus, for tuning and checking the monitor (issue 12).

Each voted post of a split becomes one dialogue: a few opening user turns of small talk (none,
two or four: the crisis is revealed early, mid or late), then the post's own sentences spread
over two to four user turns, with a listener turn between every two user turns. Small talk and
listener lines are short neutral lines written for this script; every word of a post's turns is
the poster's. A post voted ``no_crisis`` gives an ordinary conversation (no label anywhere: the
monitor must stay quiet); a crisis post carries its confirm labels (``post_to_confirm``) on its
**last** user turn.

The turn where a real post's disclosure becomes explicit is not annotated, so only the
dialogue-level figures (which labels a conversation raises) and the ordinary-conversation
figures (false alarms) are meaningful on these dialogues; turn timing is measured on the
synthetic dialogues, whose turns are annotated.

    python scripts/build_real_dialogues.py            # corpus/real/dialogues/{dev,test}.jsonl
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

from cradle.data import Dialogue, Turn, load_dataset, write_dialogues_nested
from cradle.labels import DIALOGUE_LABELS, post_to_confirm

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261203
OPENERS = [
    "hey, are you there?", "hi", "can I talk to someone for a bit?", "evening. long day", "hello, is this the chat?",
    "hey, got a minute?", "um hi", "not sure how this works", "hi there, first time here", "hey sorry to bother you",
]
SMALL_TALK = [
    "work was busy again, same as always", "I didn't sleep much", "it's raining here all day", "I just got home",
    "my coffee went cold while I was on the phone", "the weekend went by too fast", "I've been meaning to message for a while",
    "I had to take the bus because the car is in the shop", "I made pasta for dinner", "my phone is almost dead",
]
LISTENER = [
    "I'm here, take your time.", "Thanks for reaching out. What's on your mind?", "That sounds like a lot. Tell me more?",
    "I'm listening.", "How are you feeling right now?", "Mm, go on.", "That makes sense. What happened next?",
    "I'm glad you told me.", "How long has it been like this?", "You don't have to rush, I'm here.",
]
_SENT = re.compile(r"(?<=[.!?])\s+")


def build(posts, seed: int = SEED) -> list[Dialogue]:
    """One dialogue per post (see the module docstring)."""
    rng = random.Random(seed)
    out: list[Dialogue] = []
    for k, post in enumerate(posts):
        reveal = ("early", "mid", "late")[k % 3]
        lead = {"early": 0, "mid": 2, "late": 4}[reveal]
        user: list[str] = [rng.choice(OPENERS)] if lead else []
        user += rng.sample(SMALL_TALK, max(0, lead - 1))
        sentences = [s for s in _SENT.split(post.text) if s.strip()]
        parts = min(len(sentences), rng.randint(2, 4))
        size = -(-len(sentences) // max(1, parts))
        body = [" ".join(sentences[i : i + size]) for i in range(0, len(sentences), size)] or [post.text]
        user += body
        confirms = sorted({c for c in (post_to_confirm(x) for x in post.labels) if c is not None}, key=list(DIALOGUE_LABELS).index)
        turns: list[Turn] = []
        for i, text in enumerate(user):
            last = i == len(user) - 1
            turns.append(Turn(len(turns), "user", text, tuple(confirms) if last else ()))
            if not last:
                turns.append(Turn(len(turns), "listener", rng.choice(LISTENER)))
        out.append(Dialogue(f"rd-{post.id}", tuple(turns), {"reveal": reveal, "benign": not confirms, "post": post.id}))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--splits", type=Path, default=ROOT / "corpus" / "real" / "splits")
    ap.add_argument("--out", type=Path, default=ROOT / "corpus" / "real" / "dialogues")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("dev", "test"):
        posts = load_dataset(str(args.splits / f"{name}.csv")).posts
        dialogues = build(posts, SEED + (name == "test"))
        write_dialogues_nested(dialogues, args.out / f"{name}.jsonl")
        benign = sum(bool(d.meta["benign"]) for d in dialogues)
        print(f"{name}: {len(dialogues)} dialogues ({benign} ordinary), {sum(len(d.user_turns) for d in dialogues)} user turns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
