"""Tune the conversation settings of the encoder detector (``local:default``) on dev splits only.

    python scripts/tune_encoder_dialogue.py [--model-dir DIR] [--report synthetic:dialogues-test --report corpus/real/dialogues/test.jsonl]

Grid search over the four numbers of :class:`cradle.detectors.encoder_dialogue.EncoderDialogueSettings`.
Two dev sets, used together:

- ``synthetic:dialogues-dev``: turns annotated Alert-Confirm (turn-level micro F1, alerts);
- ``corpus/real/dialogues/dev.jsonl`` (``scripts/build_real_dialogues.py``): conversations built
  from the real-text corpus's dev posts, ordinary ones included (dialogue-level micro F1, and
  the share of ordinary conversations with any confirm);
- ``corpus/conversations/dev.jsonl`` (``scripts/build_real_conversations.py``): real everyday
  conversations between people (Topical-Chat), all ordinary (share with any confirm).

The objective is the mean of the synthetic turn-level micro F1 and the real dialogue-level
micro F1, among settings whose ordinary-conversation confirm rate is at most
``--max-ordinary`` (0.05 by default) on both real sets; ties go to the higher alert F1. Alerts are part of the
design, so the grid holds alert thresholds below 1 only (1 would never raise one). Each user turn is encoded
once; the grid reuses the probabilities. Writes ``dialogue.json`` beside the model with the dev
figures; ``--report`` prints figures on other sets with the chosen settings (never used for the
choice).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

from cradle.data import load_dataset
from cradle.detectors.encoder_dialogue import EncoderDialogueSettings, EncoderTurnDetector
from cradle.detectors.local import LocalDetector
from cradle.metrics.dialogue import score_dialogues

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / "src" / "cradle" / "resources" / "models" / "default"
REAL_DEV = ROOT / "corpus" / "real" / "dialogues" / "dev.jsonl"
CHAT_DEV = ROOT / "corpus" / "conversations" / "dev.jsonl"
GRID = {
    "decay": (0.0, 0.5, 0.8),
    "context_weight": (0.0, 0.2, 0.4),
    "confirm_shift": (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5),
    "alert_threshold": (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
}


def turn_probas(det: EncoderTurnDetector, dialogues) -> dict[tuple[str, int], np.ndarray]:
    keys, texts = [], []
    for d in dialogues:
        for t in d.turns:
            if t.is_user and t.text.strip():
                keys.append((d.id, t.turn_id))
                texts.append(t.text)
    proba = det.detector.predict_proba(texts)
    return dict(zip(keys, proba))


def run(det: EncoderTurnDetector, dialogues, probas):
    preds = []
    for d in dialogues:
        state = det.start()
        for t in d.turns:
            p = det.step(state, t, probas.get((d.id, t.turn_id)))
            if p is not None:
                preds.append(p.with_id(d.item_id(t)))
    return preds


def figures(dialogues, preds) -> dict[str, float]:
    s = score_dialogues(dialogues, preds, zero_division=0.0)
    m = s["monitor"]
    return {
        "turn_micro_f1": s["turn_level"]["micro_f1"],
        "dialogue_micro_f1": s["dialogue_level"]["micro_f1"],
        "confirm_only_micro_f1": s["confirm_only"]["micro_f1"],
        "alert_precision": m["alert"]["precision"],
        "alert_recall": m["alert"]["recall"],
        "alert_f1": m["alert"]["f1"],
        "ordinary_confirm_rate": m["ordinary_confirm_rate"],
        "false_alarms_per_100_ordinary": m["false_alarms_per_100_ordinary"],
        "time_to_detection_mean": m["time_to_detection"]["mean"],
        "early_warning_rate": s["timing"]["early_warning_rate"],
    }


def chat_rates(dialogues, preds) -> dict[str, float]:
    """Ordinary-conversation figures of a set without any gold label (no F1 to compute)."""
    if not dialogues:
        return {"ordinary_confirm_rate": 0.0, "ordinary_alarm_rate": 0.0, "false_alarms_per_100_ordinary": 0.0}
    from cradle.metrics.dialogue import align_dialogue_predictions, monitor_scores

    m = monitor_scores(align_dialogue_predictions(dialogues, preds))
    return {k: m[k] for k in ("ordinary_confirm_rate", "ordinary_alarm_rate", "false_alarms_per_100_ordinary")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--real-dev", type=Path, default=REAL_DEV)
    ap.add_argument("--chat-dev", type=Path, default=CHAT_DEV)
    ap.add_argument("--max-ordinary", type=float, default=0.05)
    ap.add_argument("--report", action="append", default=[])
    ap.add_argument("--dry-run", action="store_true", help="print, do not write dialogue.json")
    args = ap.parse_args(argv)
    t0 = time.time()
    base = LocalDetector.load(str(args.model_dir))
    syn = load_dataset("synthetic:dialogues-dev").dialogues
    real = load_dataset(str(args.real_dev)).dialogues
    chat = load_dataset(str(args.chat_dev)).dialogues if args.chat_dev.is_file() else []
    probe = EncoderTurnDetector(base, EncoderDialogueSettings())
    p_syn, p_real, p_chat = turn_probas(probe, syn), turn_probas(probe, real), turn_probas(probe, chat)
    best = None
    for values in itertools.product(*GRID.values()):
        settings = EncoderDialogueSettings(**dict(zip(GRID, values)))
        det = EncoderTurnDetector(base, settings)
        fs, fr = figures(syn, run(det, syn, p_syn)), figures(real, run(det, real, p_real))
        fc = chat_rates(chat, run(det, chat, p_chat))
        feasible = fr["ordinary_confirm_rate"] <= args.max_ordinary and fc["ordinary_confirm_rate"] <= args.max_ordinary
        key = (feasible, (fs["turn_micro_f1"] + fr["dialogue_micro_f1"]) / 2, fs["alert_f1"])
        if best is None or key > best[0]:
            best = (key, settings, fs, fr, fc)
    assert best is not None
    _, chosen, fs, fr, fc = best
    meta = {"tuned_on": ["synthetic:dialogues-dev", str(args.real_dev.relative_to(ROOT) if args.real_dev.is_relative_to(ROOT) else args.real_dev)],
            "objective": f"mean(synthetic turn micro F1, real dialogue micro F1) with ordinary confirm rate <= {args.max_ordinary:.2f} on real and chat dev",
            "feasible": bool(best[0][0]), "synthetic_dev": fs, "real_dev": fr, "chat_dev": fc, "grid": {k: list(v) for k, v in GRID.items()},
            "model": json.loads((args.model_dir / "model.json").read_text())["created"], "seconds": round(time.time() - t0, 1)}
    chosen = EncoderDialogueSettings(**{k: getattr(chosen, k) for k in GRID}, meta=meta)
    print(json.dumps({k: getattr(chosen, k) for k in GRID}), "feasible:", best[0][0])
    print("synthetic dev:", {k: round(v, 3) for k, v in fs.items()})
    print("real dev:     ", {k: round(v, 3) for k, v in fr.items()})
    print("chat dev:     ", {k: round(v, 3) for k, v in fc.items()})
    if not args.dry_run:
        chosen.save(args.model_dir)
    det = EncoderTurnDetector(base, chosen)
    for spec in args.report:
        ds = load_dataset(spec).dialogues
        preds = run(det, ds, turn_probas(det, ds))
        fig = figures(ds, preds) if any(d.labels for d in ds) else chat_rates(ds, preds)
        print(spec + ":", {k: round(v, 3) for k, v in fig.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
