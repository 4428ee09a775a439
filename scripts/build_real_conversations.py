"""Ordinary conversations written by real people, for measuring the monitor's false alarms.

Source
    Topical-Chat (Amazon Alexa AI), https://github.com/alexa/Topical-Chat, release TCS-1.1
    (upstream commit 7c939229cbcf6f55f6977b341a5a2f2fe982d53f). Human-human text chats between
    two Amazon Mechanical Turk workers, each typing their own messages, about news, sports,
    films, music, science, fashion, politics and books, loosely grounded in reading material.
    No LLM-generated or scripted text.

Licence
    Community Data License Agreement - Sharing - Version 1.0 (CDLA-Sharing-1.0); full text in
    ``corpus/conversations/raw/TOPICAL_CHAT_DATALICENSE``. Use and publication of the data are
    allowed, commercial included; data we publish (this subset and the files built from it)
    must stay under CDLA-Sharing-1.0, carry the licence text, keep the attribution and say
    that it was changed. Results of computational use (scores, trained models) are free of
    these conditions (section 3.5), provided they hold no more than a de minimis part of the data.

Citation
    Karthik Gopalakrishnan, Behnam Hedayatnia, Qinlang Chen, Anna Gottardi, Sanjeev Kwatra,
    Anu Venkatesh, Raefer Gabriel, Dilek Hakkani-Tur. "Topical-Chat: Towards Knowledge-Grounded
    Open-Domain Conversations." Proc. Interspeech 2019, 1891-1895. doi:10.21437/Interspeech.2019-3079

What was kept
    ``corpus/conversations/raw/topical_chat.jsonl`` is a changed subset (CDLA-Sharing 3.1(b)):
    1,000 conversations drawn with a fixed seed from the four public files
    valid_freq/valid_rare/test_freq/test_rare (2,156 conversations; train.json was not used),
    each cut to its first 16 messages, keeping per message only the author (agent 1 or 2), the
    text and the author's own sentiment tag; reading-set keys, ratings and article URLs dropped.
    This script turns each conversation into cradle's nested dialogue layout: agent_1 (who
    always writes first) is ``user``, agent_2 ``listener``; turns keep the source order (the
    two agents alternate strictly in the source); empty messages are skipped; a conversation
    needs 4 to 16 turns (longer ones are cut); no labels anywhere (ordinary conversations).
    Conversations are split 50/50 by conversation with a fixed seed into dev and test.

Commands
    python scripts/build_real_conversations.py
        # corpus/conversations/raw/topical_chat.jsonl -> corpus/conversations/{dev,test}.jsonl
    python scripts/build_real_conversations.py --make-raw /work/sources/topical_chat
        # first rebuild the raw subset from the upstream conversation files in that folder
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "corpus" / "conversations"
RAW = OUT_DIR / "raw" / "topical_chat.jsonl"
UPSTREAM_FILES = ("valid_freq", "valid_rare", "test_freq", "test_rare")
UPSTREAM_COMMIT = "7c939229cbcf6f55f6977b341a5a2f2fe982d53f"
RAW_SEED = 2019
SPLIT_SEED = 20261203
RAW_COUNT = 1000
MIN_TURNS, MAX_TURNS = 4, 16
SOURCE = "Topical-Chat (Gopalakrishnan et al., Interspeech 2019), github.com/alexa/Topical-Chat"
LICENCE = "CDLA-Sharing-1.0"
CHANGED = "changed by cradle: first 16 messages, agents renamed user/listener (see corpus/conversations/README.md)"
NOTICE = (
    "Changed subset of Topical-Chat (c) Amazon.com, Inc. or its affiliates, "
    "https://github.com/alexa/Topical-Chat, licensed under CDLA-Sharing-1.0 "
    "(text: TOPICAL_CHAT_DATALICENSE). Changes by cradle: 1000 of the 2156 valid/test "
    "conversations, first 16 messages each, fields reduced to agent, message, sentiment."
)


def make_raw(src: Path, dest: Path = RAW) -> int:
    """Write the seeded, cut-down subset of the upstream valid/test files to ``dest``."""
    convs: list[tuple[str, str, dict]] = []
    for name in UPSTREAM_FILES:
        data = json.loads((src / f"{name}.json").read_text(encoding="utf-8"))
        convs.extend((cid, name, c) for cid, c in data.items())
    convs.sort(key=lambda x: x[0])
    chosen = random.Random(RAW_SEED).sample(convs, RAW_COUNT)
    chosen.sort(key=lambda x: x[0])
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(json.dumps({"_notice": NOTICE, "upstream_commit": UPSTREAM_COMMIT}, ensure_ascii=False) + "\n")
        for cid, name, c in chosen:
            msgs = [
                {"agent": t["agent"], "message": t["message"], "sentiment": t.get("sentiment")} for t in c["content"][:MAX_TURNS]
            ]
            fh.write(json.dumps({"conversation_id": cid, "upstream_file": name, "content": msgs}, ensure_ascii=False) + "\n")
    return len(chosen)


def read_raw(path: Path = RAW) -> list[dict]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            if "conversation_id" in rec:
                out.append(rec)
    return out


def to_dialogue(rec: dict) -> dict | None:
    """One raw conversation -> a nested cradle dialogue, or None if under MIN_TURNS turns."""
    msgs = [m for m in rec["content"] if (m.get("message") or "").strip()]
    if not msgs:
        return None
    first = msgs[0]["agent"]
    turns = [
        {"speaker": "user" if m["agent"] == first else "listener", "text": m["message"].strip(), "labels": []} for m in msgs
    ][:MAX_TURNS]
    if len(turns) < MIN_TURNS:
        return None
    return {
        "id": f"topicalchat-{rec['conversation_id']}",
        "turns": turns,
        "source": f"{SOURCE}, {rec['upstream_file']}; {CHANGED}",
        "licence": LICENCE,
    }


def build(raw: Path = RAW, out_dir: Path = OUT_DIR) -> dict[str, int]:
    dialogues = [d for d in map(to_dialogue, read_raw(raw)) if d is not None]
    dialogues.sort(key=lambda d: d["id"])
    random.Random(SPLIT_SEED).shuffle(dialogues)
    half = len(dialogues) // 2
    splits = {"dev": sorted(dialogues[:half], key=lambda d: d["id"]), "test": sorted(dialogues[half:], key=lambda d: d["id"])}
    for name, items in splits.items():
        with (out_dir / f"{name}.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
            for d in items:
                fh.write(json.dumps(d, ensure_ascii=False) + "\n")
    return {name: len(items) for name, items in splits.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--make-raw", type=Path, metavar="DIR", help="rebuild the raw subset from upstream Topical-Chat files in DIR")
    ap.add_argument("--raw", type=Path, default=RAW, help=f"raw subset to read (default {RAW.relative_to(ROOT)})")
    ap.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = ap.parse_args(argv)
    if args.make_raw:
        n = make_raw(args.make_raw, args.raw)
        print(f"wrote {n} conversations to {args.raw}")
    if not args.raw.is_file():
        print(f"missing {args.raw}; run with --make-raw DIR (upstream Topical-Chat conversations/)", file=sys.stderr)
        return 1
    counts = build(args.raw, args.out_dir)
    for name, n in counts.items():
        print(f"{name}: {n} conversations -> {args.out_dir / (name + '.jsonl')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
