"""Does a turn cost more late in a conversation? ``DialogueMonitor`` with ``local:default``.

    python benchmarks/monitor_turn_cost.py [--conversations 300] [--late 60] [--early 5]

Builds long conversations from the messages of the bundled synthetic dialogues (user and
listener alternate). In each conversation the same user message is placed at user turn
``--early`` and at user turn ``--late``, so the two timings differ only by the position in the
conversation. Prints the median ``observe`` latency at both positions over all conversations,
their ratio (target: at most 1.5) and the size of the monitor's state at both positions.
For comparison it prints the length of the LLM turn prompt at the same positions, which grows
with the conversation unless a history window is set. Exits with status 1 when the ratio is
above 1.5.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import random
import statistics
import sys
import time

from cradle.data import Turn, load_dataset
from cradle.detectors import load_detector
from cradle.pipelines.monitor import DialogueMonitor
from cradle.prompts import render_turn_prompt

TARGET = 1.5


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conversations", type=int, default=300)
    ap.add_argument("--early", type=int, default=5, help="User turn (1-based) timed early in the conversation.")
    ap.add_argument("--late", type=int, default=60, help="User turn (1-based) timed late in the conversation.")
    ap.add_argument("--model", default="local:default")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not 1 <= args.early < args.late:
        ap.error("need 1 <= --early < --late")

    dialogues = [d for split in ("train", "dev", "test") for d in load_dataset(f"synthetic:dialogues-{split}").dialogues]  # type: ignore[union-attr]
    users = [t.text for d in dialogues for t in d.turns if t.is_user]
    listeners = [t.text for d in dialogues for t in d.turns if not t.is_user]
    rng = random.Random(args.seed)
    detector = load_detector(args.model)
    warm = DialogueMonitor(detector)
    for text in users[:50]:
        warm.observe_text("user", text)

    early_ns: list[int] = []
    late_ns: list[int] = []
    state_sizes: dict[str, list[int]] = {"early": [], "late": []}
    prompt_chars: dict[str, list[int]] = {"early": [], "late": []}
    gc.disable()
    try:
        for _ in range(args.conversations):
            probe = rng.choice(users)
            monitor = DialogueMonitor(detector)
            history: list[Turn] = []
            for k in itertools.count(1):
                text = probe if k in (args.early, args.late) else rng.choice(users)
                turn = Turn(len(history), "user", text)
                start = time.perf_counter_ns()
                monitor.observe(turn)
                elapsed = time.perf_counter_ns() - start
                history.append(turn)
                if k in (args.early, args.late):
                    where = "early" if k == args.early else "late"
                    (early_ns if where == "early" else late_ns).append(elapsed)
                    state_sizes[where].append(len(json.dumps({**monitor.state_dict(), "events": []})))
                    prompt_chars[where].append(len(render_turn_prompt(history)))
                if k == args.late:
                    break
                reply = Turn(len(history), "listener", rng.choice(listeners))
                monitor.observe(reply)
                history.append(reply)
    finally:
        gc.enable()

    early = statistics.median(early_ns) / 1e6
    late = statistics.median(late_ns) / 1e6
    ratio = late / early
    print(
        f"{args.model}: {args.conversations} conversations of {2 * args.late - 1} messages, the same user message timed at both positions"
    )
    print(f"median observe() latency: user turn {args.early} {early:.3f} ms, user turn {args.late} {late:.3f} ms")
    print(f"ratio late/early: {ratio:.2f} (target <= {TARGET})")
    print(
        f"monitor state (without events): {statistics.median(state_sizes['early']):.0f} bytes at turn {args.early}, "
        f"{statistics.median(state_sizes['late']):.0f} bytes at turn {args.late}"
    )
    print(
        f"for comparison, an LLM turn prompt without a history window: {statistics.median(prompt_chars['early']):,.0f} characters "
        f"at turn {args.early}, {statistics.median(prompt_chars['late']):,.0f} at turn {args.late}"
    )
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
