"""Validate the hand-written synthetic corpus and write its fixed train/dev/test splits.

Sources: ``corpus/posts/*.jsonl`` and ``corpus/dialogues/*.jsonl`` (see ``corpus/BRIEF.md``).
Outputs: ``src/cradle/resources/synthetic/{posts,dialogues}_{train,dev,test}.*`` and a
statistics table on stdout (pasted into ``docs/datasheet.md``).

Every item is checked with the package's own label code: canonical labels, clinical
consistency rules, word counts, unique ids and texts, and for dialogues the Alert-Confirm
placement (labels on user turns only, each once, alerts before confirms). Any violation stops
the build with the item named. Splits are stratified by label set with a fixed seed, 60/20/20.

    python scripts/build_corpus.py
"""

from __future__ import annotations

import collections
import json
import random
import sys
from pathlib import Path

from cradle.data import Dialogue, Post, Turn, write_dialogues_nested, write_posts_csv
from cradle.labels import DIALOGUE_LABELS, POST_LABELS, apply_clinical_rules, normalize_dialogue_label, normalize_post_label

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "cradle" / "resources" / "synthetic"
SEED = 20261123
SHARES = (("train", 0.6), ("dev", 0.2), ("test", 0.2))


def fail(msg: str) -> None:
    print(f"corpus error: {msg}", file=sys.stderr)
    sys.exit(1)


def load_posts() -> list[Post]:
    posts: list[Post] = []
    seen_ids: set[str] = set()
    seen_text: dict[str, str] = {}
    for path in sorted((ROOT / "corpus" / "posts").glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            rec = json.loads(line)
            where = f"{path.name}:{n}"
            pid, text = rec["id"], rec["text"].strip()
            if pid in seen_ids:
                fail(f"{where}: duplicate id {pid}")
            key = " ".join(text.lower().split())
            if key in seen_text:
                fail(f"{where}: same text as {seen_text[key]}")
            seen_ids.add(pid)
            seen_text[key] = pid
            labels = [normalize_post_label(x) for x in rec["labels"]]
            result = apply_clinical_rules(labels)
            if result.changed:
                fail(f"{where}: labels break a clinical rule: {[f.message for f in result.fired]}")
            words = len(text.split())
            if not 5 <= words <= 320:
                fail(f"{where}: {words} words")
            posts.append(Post(f"syn-{pid}", text, result.labels, {"note": rec.get("note", "")}))
    return posts


def load_dialogues() -> list[Dialogue]:
    out: list[Dialogue] = []
    for path in sorted((ROOT / "corpus" / "dialogues").glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            rec = json.loads(line)
            where = f"{path.name}:{n} ({rec.get('id')})"
            turns: list[Turn] = []
            raised: set = set()
            first_confirm = None
            user_index = -1
            for k, t in enumerate(rec["turns"]):
                speaker = t["speaker"]
                labels = [normalize_dialogue_label(x) for x in t.get("labels", [])]
                if speaker == "user":
                    user_index += 1
                elif labels:
                    fail(f"{where}: labels on listener turn {k}")
                for lab in labels:
                    if lab in raised:
                        fail(f"{where}: {lab.value} raised twice")
                    if lab.is_alert and first_confirm is not None:
                        fail(f"{where}: alert after a confirm")
                    if lab.is_confirm and first_confirm is None:
                        first_confirm = user_index
                    raised.add(lab)
                if not t["text"].strip():
                    fail(f"{where}: empty turn {k}")
                turns.append(Turn(k, speaker, t["text"].strip(), tuple(x for x in DIALOGUE_LABELS if x in labels)))
            if turns[0].speaker != "user":
                fail(f"{where}: the user must speak first")
            if rec.get("benign") and raised:
                fail(f"{where}: a benign dialogue carries labels")
            meta = {k: rec[k] for k in ("reveal", "listener", "benign") if k in rec}
            out.append(Dialogue(f"syn-{rec['id']}", tuple(turns), meta))
    return out


def stratified_split(items: list, key) -> dict[str, list]:
    groups: dict[str, list] = collections.defaultdict(list)
    for it in items:
        groups[key(it)].append(it)
    rng = random.Random(SEED)
    out: dict[str, list] = {name: [] for name, _ in SHARES}
    carry = 0.0
    for k in sorted(groups):
        g = sorted(groups[k], key=lambda x: x.id)
        rng.shuffle(g)
        n = len(g)
        n_dev = round(n * 0.2 + carry)
        n_test = round(n * 0.2)
        carry = (n * 0.2 + carry) - n_dev
        out["test"] += g[:n_test]
        out["dev"] += g[n_test : n_test + n_dev]
        out["train"] += g[n_test + n_dev :]
    for v in out.values():
        v.sort(key=lambda x: x.id)
    return out


def post_key(p: Post) -> str:
    labels = [x.value for x in p.labels]
    if len(labels) > 1:
        return "multi:" + labels[0]
    return labels[0] + (":hard" if p.meta.get("note", "").startswith("hard-neg") else "")


def dialogue_key(d: Dialogue) -> str:
    labels = [x.value for x in d.labels if x.is_confirm]
    return (labels[0] if labels else ("benign" if d.meta.get("benign") else "none")) + ":" + str(d.meta.get("reveal"))


def main() -> None:
    posts = load_posts()
    dialogues = load_dialogues()
    OUT.mkdir(parents=True, exist_ok=True)
    for name, split in stratified_split(posts, post_key).items():
        write_posts_csv(split, OUT / f"posts_{name}.csv")
        counts = collections.Counter(x.value for p in split for x in p.labels)
        multi = sum(len(p.labels) > 1 for p in split)
        print(f"posts {name}: {len(split)} posts, {multi} multi-label, min crisis label count {min(counts[x.value] for x in POST_LABELS[:-1])}")
    for name, split in stratified_split(dialogues, dialogue_key).items():
        write_dialogues_nested(split, OUT / f"dialogues_{name}.jsonl")
        turns = sum(len(d.turns) for d in split)
        users = sum(len(d.user_turns) for d in split)
        print(f"dialogues {name}: {len(split)} dialogues, {turns} turns, {users} user turns")
    counts = collections.Counter(x.value for p in posts for x in p.labels)
    print("\n| label | posts |\n|---|---|")
    for lab in POST_LABELS:
        print(f"| {lab.value} | {counts[lab.value]} |")
    hard = sum(p.meta.get("note", "").startswith("hard-neg") for p in posts)
    sizes = collections.Counter(len(p.labels) for p in posts)
    words = sorted(len(p.text.split()) for p in posts)
    print(f"\nposts {len(posts)}; labels per post {dict(sorted(sizes.items()))}; hard negatives {hard}; words min {words[0]} median {words[len(words) // 2]} max {words[-1]}")
    dcounts = collections.Counter(x.value for d in dialogues for x in d.labels)
    print("\n| dialogue label | dialogues |\n|---|---|")
    for lab in DIALOGUE_LABELS:
        print(f"| {lab.value} | {dcounts[lab.value]} |")
    reveal = collections.Counter(d.meta.get("reveal") for d in dialogues)
    listener = collections.Counter(d.meta.get("listener") for d in dialogues)
    benign = sum(bool(d.meta.get("benign")) for d in dialogues)
    print(f"\ndialogues {len(dialogues)}; benign {benign}; reveal {dict(reveal)}; listeners {dict(listener)}")


if __name__ == "__main__":
    main()
