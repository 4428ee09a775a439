"""Conversations with annotated turns built from short real texts, for alerts and turn timing.

``build_real_dialogues.py`` spreads a whole post over several turns, so the turn where its crisis
becomes explicit is unknown. Here every user turn is one whole short text whose own votes are
known, so each turn's gold label is known too:

The kinds below come in turn (warn then disclose, disclose, the same again, warn only, ordinary)
while texts last; warning sentences are the scarcest, so once they run out the rest are
disclosures and ordinary conversations (dev: 16 warn-then-disclose, 65 disclose, 8 warn-only, 22
ordinary).

- **warn, then disclose**: an opener, small talk, a sentence voted
  ``warning`` (gold ``alert_<frame>``), one or two turns voted ``none``, then a short text with
  crisis labels (gold: its confirm labels). The alert's frame is ongoing when any of the
  disclosure's labels is ongoing, else past;
- **disclose**: small talk, ``none`` turns, then the short crisis text (confirms only);
- **warn only**: a ``warning`` sentence among ``none`` ones (gold ``alert_ongoing``);
- **ordinary**: ``none`` sentences and small talk only (no label: the monitor must stay quiet).

Texts come from the warning round (``corpus/real/warning/splits``) and the short-text round
(``corpus/real/short/splits``) of the same split, so dev dialogues hold only dev texts. The
sentences of one dialogue are drawn independently, so they mostly come from different writers
(two may share a parent post; this is not checked): the dialogues test timing and false alarms
on real wording, not a real person's story. Listener lines and small talk are the short
neutral lines of ``build_real_dialogues.py``.

    python scripts/build_alert_dialogues.py          # corpus/real/alert_dialogues/{dev,test}.jsonl
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_real_dialogues import LISTENER, OPENERS, SMALL_TALK  # noqa: E402
from build_real_pool import read_jsonl  # noqa: E402

from cradle.data import Dialogue, Turn, load_dataset, write_dialogues_nested  # noqa: E402
from cradle.labels import DIALOGUE_LABELS, DialogueLabel, PostLabel, TimeFrame, post_to_confirm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261206



def build(warning_rows: list[dict], short_posts, seed: int = SEED) -> list[Dialogue]:
    """The dialogues of one split (see the module docstring)."""
    rng = random.Random(seed)
    warnings = [r["text"] for r in warning_rows if r["answer"] == "warning"]
    quiet = [r["text"] for r in warning_rows if r["answer"] == "none"]
    crises = [p for p in short_posts if any(x.value != "no_crisis" for x in p.labels)]
    rng.shuffle(warnings)
    rng.shuffle(quiet)
    rng.shuffle(crises)
    order = list(DIALOGUE_LABELS)
    out: list[Dialogue] = []

    def take_quiet(k: int) -> list[str]:
        return [quiet.pop() if quiet and rng.random() < 0.7 else rng.choice(SMALL_TALK) for _ in range(k)]

    def dialogue(did: str, users: list[tuple[str, tuple[str, ...]]], kind: str) -> Dialogue:
        turns: list[Turn] = []
        for i, (text, labels) in enumerate(users):
            turns.append(Turn(len(turns), "user", text, tuple(DialogueLabel(x) for x in labels)))
            if i < len(users) - 1:
                turns.append(Turn(len(turns), "listener", rng.choice(LISTENER)))
        return Dialogue(did, tuple(turns), {"kind": kind, "benign": kind == "ordinary"})

    k = 0
    while crises or warnings:
        kind = ("warn_then_disclose", "disclose", "warn_then_disclose", "disclose", "warn_only", "ordinary")[k % 6]
        if kind in ("warn_then_disclose", "disclose") and not crises:
            kind = "warn_only"
        if kind in ("warn_then_disclose", "warn_only") and not warnings:
            kind = "disclose" if crises else "ordinary"
        users: list[tuple[str, tuple[str, ...]]] = [(rng.choice(OPENERS), ())]
        users += [(t, ()) for t in take_quiet(rng.randint(0, 2))]
        if kind in ("warn_then_disclose", "disclose"):
            post = crises.pop()
            confirms = tuple(sorted({c.value for c in (post_to_confirm(x) for x in post.labels) if c is not None}, key=lambda c: order.index(c)))  # type: ignore[arg-type]
            if kind == "warn_then_disclose":
                ongoing = any(PostLabel(x.value).time_frame is TimeFrame.ONGOING for x in post.labels if x.value != "no_crisis")
                users.append((warnings.pop(), ("alert_ongoing" if ongoing else "alert_past",)))
                users += [(t, ()) for t in take_quiet(rng.randint(1, 2))]
            users.append((post.text, confirms))
        elif kind == "warn_only":
            users.append((warnings.pop(), ("alert_ongoing",)))
            users += [(t, ()) for t in take_quiet(rng.randint(1, 2))]
        else:
            users += [(t, ()) for t in take_quiet(rng.randint(2, 4))]
        out.append(dialogue(f"ad-{k:04d}", users, kind))
        k += 1
    while quiet and len(quiet) >= 3:  # what is left becomes ordinary conversations
        users = [(rng.choice(OPENERS), ())] + [(t, ()) for t in take_quiet(rng.randint(2, 4))]
        out.append(dialogue(f"ad-{k:04d}", users, "ordinary"))
        k += 1
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warning", type=Path, default=ROOT / "corpus" / "real" / "warning" / "splits")
    ap.add_argument("--short", type=Path, default=ROOT / "corpus" / "real" / "short" / "splits")
    ap.add_argument("--out", type=Path, default=ROOT / "corpus" / "real" / "alert_dialogues")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("dev", "test"):
        dialogues = build(read_jsonl(args.warning / f"{name}.jsonl"), load_dataset(str(args.short / f"{name}.csv")).posts, SEED + (name == "test"))
        write_dialogues_nested(dialogues, args.out / f"{name}.jsonl")
        kinds: dict[str, int] = {}
        for d in dialogues:
            kinds[d.meta["kind"]] = kinds.get(d.meta["kind"], 0) + 1
        print(f"{name}: {len(dialogues)} dialogues {kinds}, {sum(len(d.user_turns) for d in dialogues)} user turns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
