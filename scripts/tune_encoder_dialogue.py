"""Tune the conversation settings of the encoder detector (``local:default``) on dev splits only.

    python scripts/tune_encoder_dialogue.py [--model-dir DIR] [--report synthetic:dialogues-test --report corpus/real/dialogues/test.jsonl]

Grid search over the settings of :class:`cradle.detectors.encoder_dialogue.EncoderDialogueSettings`
on four dev sets, used together:

- ``synthetic:dialogues-dev``: turns annotated Alert-Confirm (turn-level micro F1, alerts);
- ``corpus/real/dialogues/dev.jsonl`` (``scripts/build_real_dialogues.py``): conversations built
  from the real-text corpus's dev posts, ordinary ones included (dialogue-level micro F1, and
  the share of ordinary conversations with any confirm);
- ``corpus/real/alert_dialogues/dev.jsonl`` (``scripts/build_alert_dialogues.py``): conversations
  of short real texts whose every turn is annotated (warning signs as alerts, disclosures as
  confirms): turn-level micro F1 and alerts on real wording;
- ``corpus/conversations/dev.jsonl`` (``scripts/build_real_conversations.py``): real everyday
  conversations between people (Topical-Chat), all ordinary (share with any confirm).

Two stages. **Confirms** (alerts off): the mean of the annotated sets' turn-level micro F1 and
the real dialogue-level micro F1, among settings whose ordinary-conversation confirm rate is at
most ``--max-ordinary`` (0.05 by default) on every real set. **Alerts** (confirm settings
fixed): what the alert level is (``alert_level``: crisis level, highest label score, the
encoder's warning head when the model has one, or the warning model in ``alert/`` when the
model folder has one) and its threshold, by the mean alert
F1 of the two annotated sets, ties to turn-level micro F1, among settings that alert at most
``--max-alarms`` (0.10) of the conversations known to be ordinary (the everyday chats, and the
real alert set's conversations of sentences voted ``none``); threshold 1 (no alert) is a
candidate. Each user turn is encoded once; the
grid reuses the probabilities. Writes ``dialogue.json`` beside the model with the dev figures;
``--report`` prints figures on other sets with the chosen settings (never used for a choice).
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
from cradle.detectors.encoder_dialogue import ALERT_FOLDER, EncoderDialogueSettings, EncoderTurnDetector
from cradle.detectors.local import LocalDetector
from cradle.metrics.dialogue import score_dialogues

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / "src" / "cradle" / "resources" / "models" / "default"
REAL_DEV = ROOT / "corpus" / "real" / "dialogues" / "dev.jsonl"
CHAT_DEV = ROOT / "corpus" / "conversations" / "dev.jsonl"
CONFIRM_GRID = {
    "decay": (0.0, 0.5, 0.8),
    "context_weight": (0.0, 0.2, 0.4),
    "confirm_shift": (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5),
}
ALERT_GRID = {
    "alert_level": ("crisis", "max_label", "warning_model", "warning_head"),
    "alert_threshold": (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 1.0),
}
GRID = {**CONFIRM_GRID, **ALERT_GRID}
ALERT_DEV = ROOT / "corpus" / "real" / "alert_dialogues" / "dev.jsonl"


def turn_probas(det: EncoderTurnDetector, dialogues) -> dict[tuple[str, int], np.ndarray]:
    keys, texts = [], []
    for d in dialogues:
        for t in d.turns:
            if t.is_user and t.text.strip():
                keys.append((d.id, t.turn_id))
                texts.append(t.text)
    proba = det.detector.predict_proba(texts)
    return dict(zip(keys, proba))


def warning_probas(det: EncoderTurnDetector, dialogues) -> dict[tuple[str, int], float]:
    if not det.uses_warning:
        return {}
    keys = [(d.id, t.turn_id) for d in dialogues for t in d.turns if t.is_user and t.text.strip()]
    texts = [t.text for d in dialogues for t in d.turns if t.is_user and t.text.strip()]
    return dict(zip(keys, (float(w) for w in det.warning_proba(texts))))


def run(det: EncoderTurnDetector, dialogues, probas, warnings=None):
    preds = []
    warnings = warnings or {}
    for d in dialogues:
        state = det.start()
        for t in d.turns:
            p = det.step(state, t, probas.get((d.id, t.turn_id)), warnings.get((d.id, t.turn_id)) if det.uses_warning else None)
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
        "ordinary_alarm_rate": m["ordinary_alarm_rate"],
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
    ap.add_argument("--alert-dev", type=Path, default=ALERT_DEV)
    ap.add_argument("--max-ordinary", type=float, default=0.05)
    ap.add_argument("--max-alarms", type=float, default=0.10, help="most ordinary conversations (chat dev, and the ordinary ones of the real alert dev) that may get an alert")
    ap.add_argument("--report", action="append", default=[])
    ap.add_argument("--dry-run", action="store_true", help="print, do not write dialogue.json")
    args = ap.parse_args(argv)
    t0 = time.time()
    base = LocalDetector.load(str(args.model_dir))
    sets = {
        "synthetic_dev": load_dataset("synthetic:dialogues-dev").dialogues,
        "real_dev": load_dataset(str(args.real_dev)).dialogues,
        "alert_dev": load_dataset(str(args.alert_dev)).dialogues if args.alert_dev.is_file() else [],
        "chat_dev": load_dataset(str(args.chat_dev)).dialogues if args.chat_dev.is_file() else [],
    }
    has_warning = (args.model_dir / ALERT_FOLDER / "model.json").is_file()
    has_head = "warning" in getattr(base.model, "extra_heads", ())
    probe = EncoderTurnDetector(base, EncoderDialogueSettings(alert_level="warning_model" if has_warning else "crisis"))
    probas = {k: turn_probas(probe, v) for k, v in sets.items()}
    warns = {"warning_model": {k: warning_probas(probe, v) for k, v in sets.items()}}
    if has_head:
        head_probe = EncoderTurnDetector(base, EncoderDialogueSettings(alert_level="warning_head"))
        warns["warning_head"] = {k: warning_probas(head_probe, v) for k, v in sets.items()}

    def evaluate(settings: EncoderDialogueSettings) -> dict[str, dict[str, float]]:
        det = EncoderTurnDetector(base, settings, warning_model=probe.warning_model)  # used only at alert_level "warning_model"
        out = {}
        for name, ds in sets.items():
            preds = run(det, ds, probas[name], warns.get(settings.alert_level, {}).get(name))
            out[name] = chat_rates(ds, preds) if name == "chat_dev" else figures(ds, preds)
        return out

    def annotated_mean(f: dict[str, dict[str, float]], key: str) -> float:
        """``key`` averaged over the sets with annotated turns (synthetic dev, and real alert dev when present)."""
        values = [f[name][key] for name in ("synthetic_dev", "alert_dev") if sets[name]]
        return sum(values) / len(values)

    def feasible(f: dict[str, dict[str, float]]) -> bool:
        return all(f[k]["ordinary_confirm_rate"] <= args.max_ordinary for k in ("real_dev", "alert_dev", "chat_dev") if sets[k])

    # Stage 1: the confirm settings, alerts off (an alert never changes a confirm).
    best = None
    for values in itertools.product(*CONFIRM_GRID.values()):
        settings = EncoderDialogueSettings(**dict(zip(CONFIRM_GRID, values)), alert_threshold=1.0)
        f = evaluate(settings)
        key = (feasible(f), (annotated_mean(f, "turn_micro_f1") + f["real_dev"]["dialogue_micro_f1"]) / 2)
        if best is None or key > best[0]:
            best = (key, values)
    assert best is not None
    confirm = dict(zip(CONFIRM_GRID, best[1]))
    # Stage 2: what raises an alert and at which level, on the alert F1 of the annotated sets.
    best2 = None
    print("| alert level | threshold | alert F1 synthetic dev | alert F1 real alert dev | everyday chats alerted | ordinary real alert dev alerted | turn micro F1 (mean) |")
    print("|---|---|---|---|---|---|---|")
    for level, threshold in itertools.product(*ALERT_GRID.values()):
        if (level == "warning_model" and not has_warning) or (level == "warning_head" and not has_head):
            continue
        settings = EncoderDialogueSettings(**confirm, alert_level=level, alert_threshold=threshold)
        f = evaluate(settings)
        # false alarms on conversations known to be ordinary: everyday chats, and the real alert set's
        # conversations of sentences voted `none`
        chat = f["chat_dev"]["ordinary_alarm_rate"] if sets["chat_dev"] else 0.0
        real = f["alert_dev"]["ordinary_alarm_rate"] if sets["alert_dev"] else 0.0
        key = (max(chat, real) <= args.max_alarms, annotated_mean(f, "alert_f1"), annotated_mean(f, "turn_micro_f1"))
        real_f1 = f"{f['alert_dev']['alert_f1']:.3f}" if sets["alert_dev"] else "-"
        print(f"| {level} | {threshold} | {f['synthetic_dev']['alert_f1']:.3f} | {real_f1} | {chat:.3f} | {real:.3f} | {key[2]:.3f} |")
        if best2 is None or key > best2[0]:
            best2 = (key, settings, f)
    assert best2 is not None
    _, chosen, f = best2
    meta = {"tuned_on": [name for name, ds in sets.items() if ds],
            "objective": ("stage 1 (alerts off): mean(mean turn micro F1 of the annotated sets, real dialogue micro F1) with ordinary confirm rate "
                          f"<= {args.max_ordinary:.2f} on every real set; stage 2: mean alert F1 of the annotated sets, ties to turn micro F1, "
                          f"with at most {args.max_alarms:.2f} of ordinary conversations (chat dev, ordinary real alert dev) alerted"),
            "feasible_alerts": bool(best2[0][0]),
            "feasible": bool(best[0][0]), **f, "grid": {k: list(v) for k, v in GRID.items()},
            "model": json.loads((args.model_dir / "model.json").read_text())["created"], "seconds": round(time.time() - t0, 1)}
    chosen = EncoderDialogueSettings(**{k: getattr(chosen, k) for k in GRID}, meta=meta)
    print(json.dumps({k: getattr(chosen, k) for k in GRID}), "feasible:", best[0][0])
    for name, fig in f.items():
        print(f"{name}:", {k: round(v, 3) for k, v in fig.items()})
    if not args.dry_run:
        chosen.save(args.model_dir)
    det = EncoderTurnDetector(base, chosen, warning_model=probe.warning_model)
    for spec in args.report:
        ds = load_dataset(spec).dialogues
        preds = run(det, ds, turn_probas(det, ds), warning_probas(det, ds))
        fig = figures(ds, preds) if any(d.labels for d in ds) else chat_rates(ds, preds)
        print(spec + ":", {k: round(v, 3) for k, v in fig.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
