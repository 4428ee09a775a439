"""Alert-Confirm dialogue scores, checked against independent computations."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, jaccard_score, precision_recall_fscore_support

from cradle.data import DataError, Dialogue, Prediction, Status, Turn, write_dialogues_nested, write_predictions
from cradle.labels import DIALOGUE_LABELS, DialogueLabel
from cradle.metrics import SCALAR_METRICS
from cradle.metrics.dialogue import (
    CONFIRM_LABELS,
    LABELS,
    AlignedTurns,
    align_dialogue_predictions,
    confirm_only_scores,
    dialogue_level_scores,
    score_dialogues,
    timing_scores,
    tolerance_matches,
    turn_level_scores,
)

# Four dialogues, listed as user turns only: (gold labels, predicted labels) per user turn.
#  A: alert_past predicted one turn early, confirm_RA_past one turn late;
#  B: confirm_SH_ongoing on time, then repeated on the next user turn;
#  C: no label on either side;
#  D: no gold label, a false alert.
CASES = {
    "A": [([], ["alert_past"]), (["alert_past"], []), (["confirm_RA_past"], []), ([], ["confirm_RA_past"])],
    "B": [([], []), (["confirm_SH_ongoing"], ["confirm_SH_ongoing"]), ([], ["confirm_SH_ongoing"])],
    "C": [([], []), ([], [])],
    "D": [([], ["alert_ongoing"]), ([], [])],
}


def _dialogue(did: str, rows: list[tuple[list[str], list[str]]]) -> Dialogue:
    turns = []
    for k, (gold, _) in enumerate(rows):
        turns.append(Turn(2 * k, "user", f"user message {k}", tuple(DialogueLabel(x) for x in gold)))
        turns.append(Turn(2 * k + 1, "listener", f"listener reply {k}"))
    return Dialogue(did, tuple(turns))


@pytest.fixture
def case():
    dialogues = [_dialogue(did, rows) for did, rows in CASES.items()]
    preds = [Prediction(labels=tuple(p), id=f"{did}:{2 * k}") for did, rows in CASES.items() for k, (_, p) in enumerate(rows)]
    return dialogues, preds


def _sk(gold: list[list[str]], pred: list[list[str]], labels) -> dict[str, float]:
    labels = list(labels)
    yt = np.array([[lab in g for lab in labels] for g in gold], dtype=int)
    yp = np.array([[lab in p for lab in labels] for p in pred], dtype=int)
    out: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for avg in ("micro", "macro"):
            p, r, f, _ = precision_recall_fscore_support(yt, yp, average=avg, zero_division=0)
            out[f"{avg}_precision"], out[f"{avg}_recall"], out[f"{avg}_f1"] = p, r, f
        out["exact_match"] = accuracy_score(yt, yp)
        out["jaccard"] = jaccard_score(yt, yp, average="samples", zero_division=1.0)
    return out


def test_turn_level_matches_sklearn_on_hand_made_cases(case):
    dialogues, preds = case
    result = score_dialogues(dialogues, preds)
    gold = [g for rows in CASES.values() for g, _ in rows]
    pred = [p for rows in CASES.values() for _, p in rows]
    expected = _sk(gold, pred, LABELS)
    for key in SCALAR_METRICS:
        assert result["turn_level"][key] == pytest.approx(expected[key]), key
    # by hand: one true positive (B's on-time confirm), five predictions, three gold labels
    assert result["turn_level"]["micro_precision"] == pytest.approx(1 / 5)
    assert result["turn_level"]["micro_recall"] == pytest.approx(1 / 3)
    assert result["turn_level"]["micro_f1"] == pytest.approx(2 / 8)
    assert result["turn_level"]["per_label"]["confirm_SH_ongoing"] == {
        "precision": 0.5,
        "recall": 1.0,
        "f1": pytest.approx(2 / 3),
        "support": 1,
    }
    assert result["n_dialogues"] == 4 and result["n_user_turns"] == 11


def test_dialogue_level_and_confirm_only_match_sklearn(case):
    dialogues, preds = case
    result = score_dialogues(dialogues, preds)
    gold_d = [sorted({x for g, _ in rows for x in g}) for rows in CASES.values()]
    pred_d = [sorted({x for _, p in rows for x in p}) for rows in CASES.values()]
    expected = _sk(gold_d, pred_d, LABELS)
    for key in SCALAR_METRICS:
        assert result["dialogue_level"][key] == pytest.approx(expected[key]), key
    assert result["dialogue_level"]["micro_f1"] == pytest.approx(6 / 7)
    assert result["dialogue_level"]["exact_match"] == pytest.approx(3 / 4)

    confirm = set(CONFIRM_LABELS)
    gold_c = [[x for x in g if x in confirm] for rows in CASES.values() for g, _ in rows]
    pred_c = [[x for x in p if x in confirm] for rows in CASES.values() for _, p in rows]
    expected = _sk(gold_c, pred_c, CONFIRM_LABELS)
    for key in SCALAR_METRICS:
        assert result["confirm_only"][key] == pytest.approx(expected[key]), key
    assert result["confirm_only"]["micro_f1"] == pytest.approx(2 / 5)
    assert set(result["confirm_only"]["per_label"]) == confirm


def test_timing_by_hand(case):
    dialogues, preds = case
    t = score_dialogues(dialogues, preds)["timing"]
    assert (t["n_gold"], t["early"], t["on_time"], t["late"], t["missed"]) == (3, 1, 1, 1, 0)
    assert t["by_kind"]["alert"] == {
        "n_gold": 1,
        "early": 1,
        "on_time": 0,
        "late": 0,
        "missed": 0,
        "mean_offset": -1.0,
        "median_offset": -1.0,
    }
    assert t["by_kind"]["confirm"]["late"] == 1 and t["by_kind"]["confirm"]["mean_offset"] == 0.5
    # A's confirm is warned by the early alert_past, B's by the confirm itself
    assert t["early_warning_rate"] == 1.0
    # one label in D matches nothing; four dialogues
    assert t["false_alarms_per_dialogue"] == pytest.approx(0.25)
    # C and D have no gold label; D is alarmed
    assert t["false_alarm_dialogue_rate"] == pytest.approx(0.5)
    # +/- 1 turn: A's two labels and B's first confirm match; B's repeat and D's alert do not
    assert (t["tolerance_precision"], t["tolerance_recall"], t["tolerance_f1"]) == pytest.approx((3 / 5, 1.0, 0.75))


def test_early_warning_needs_a_matching_time_frame_and_no_later_than_the_confirm():
    gold = [[[], [], ["confirm_DV_past"]], [[], ["confirm_SI_passive_ongoing"]]]
    pred = [[["alert_ongoing"], [], []], [[], ["confirm_SI_passive_ongoing"]]]
    # dialogue 0: an alert of the other time frame does not warn; dialogue 1: the confirm itself does
    t = timing_scores(AlignedTurns.from_label_sets(gold, pred))
    assert t["early_warning_rate"] == 0.5
    late = timing_scores(AlignedTurns.from_label_sets([[["confirm_SH_past"], []]], [[[], ["alert_past"]]]))
    assert late["early_warning_rate"] == 0.0 and late["missed"] == 1


def test_failed_predictions_count_as_empty_and_valid_only_drops_their_dialogues(case):
    dialogues, preds = case
    broken = [Prediction(labels=p.labels, status=Status.ERROR, id=p.id) if p.id == "B:2" else p for p in preds]
    result = score_dialogues(dialogues, broken)
    assert result["n_invalid_turns"] == 1 and result["n_valid_dialogues"] == 3
    # B's on-time confirm is lost: no true positive left at the turn level
    assert result["turn_level"]["micro_precision"] == 0.0
    valid = [d for d in dialogues if d.id != "B"]
    alone = score_dialogues(valid, [p for p in preds if not p.id.startswith("B:")])
    for key in ("turn_level", "dialogue_level", "confirm_only"):
        assert result["valid_only"][key] == alone[key]


def test_alignment_errors_name_the_problem(case):
    dialogues, preds = case
    with pytest.raises(DataError, match=r"1 user turn\(s\) have no prediction, e.g. \['A:0'\]"):
        score_dialogues(dialogues, preds[1:])
    with pytest.raises(DataError, match=r"match no user turn .*\['A:1'\]"):
        score_dialogues(dialogues, [*preds, Prediction(id="A:1")])
    with pytest.raises(DataError, match="unknown dialogue label 'selfharm_past'"):
        score_dialogues(dialogues, [Prediction(labels=("selfharm_past",), id="A:0"), *preds[1:]])
    with pytest.raises(ValueError, match="no dialogues"):
        score_dialogues([], [])
    with pytest.raises(ValueError, match="no user turn"):
        score_dialogues([Dialogue("x", (Turn(0, "listener", "hello?"),))], [])


def test_bootstrap_intervals_resample_dialogues(case):
    dialogues, preds = case
    r1 = score_dialogues(dialogues, preds, bootstrap=200, seed=3)
    r2 = score_dialogues(dialogues, preds, bootstrap=200, seed=3)
    assert r1 == r2
    for key in ("turn_level", "dialogue_level", "confirm_only"):
        assert set(r1[key]["ci"]) == set(SCALAR_METRICS)
        lo, hi = r1[key]["ci"]["micro_f1"]
        assert lo <= hi
    assert {"early_warning_rate", "tolerance_f1", "false_alarms_per_dialogue"} <= set(r1["timing"]["ci"])
    # a single dialogue resamples to itself: the interval collapses onto the point value
    one = score_dialogues(dialogues[:1], preds[:4], bootstrap=100)
    assert one["turn_level"]["ci"]["micro_f1"] == [one["turn_level"]["micro_f1"]] * 2


def test_tolerance_matches_is_optimal_on_small_cases():
    assert tolerance_matches([], [1, 2], 3) == 0
    assert tolerance_matches([2, 3], [1, 4], 1) == 2  # a greedy choice of 3 for 2 would lose one
    assert tolerance_matches([0], [0, 0], 0) == 1
    with pytest.raises(ValueError, match="tolerance"):
        tolerance_matches([1], [1], -1)


# ------------------------------------------------------------------------------ properties

_label_sets = st.lists(st.sampled_from(LABELS), max_size=3, unique=True)
_dialogues = st.lists(st.lists(st.tuples(_label_sets, _label_sets), min_size=1, max_size=6), min_size=1, max_size=5)


def _table(data) -> AlignedTurns:
    return AlignedTurns.from_label_sets([[g for g, _ in d] for d in data], [[p for _, p in d] for d in data])


@settings(max_examples=60, deadline=None)
@given(_dialogues)
def test_zero_tolerance_f1_is_turn_micro_f1(data):
    aligned = _table(data)
    assert timing_scores(aligned, tolerance=0)["tolerance_f1"] == pytest.approx(turn_level_scores(aligned)["micro_f1"])


@settings(max_examples=60, deadline=None)
@given(_dialogues, st.integers(0, 3))
def test_tolerance_f1_grows_with_the_window_and_outcomes_add_up(data, k):
    aligned = _table(data)
    a, b = timing_scores(aligned, tolerance=k), timing_scores(aligned, tolerance=k + 1)
    assert b["tolerance_f1"] >= a["tolerance_f1"] - 1e-12
    assert a["early"] + a["on_time"] + a["late"] + a["missed"] == a["n_gold"] == int(aligned.y_true.sum())


@settings(max_examples=60, deadline=None)
@given(_dialogues)
def test_settings_match_sklearn_on_random_tables(data):
    aligned = _table(data)
    gold = [g for d in data for g, _ in d]
    pred = [p for d in data for _, p in d]
    for key, value in _sk(gold, pred, LABELS).items():
        assert turn_level_scores(aligned)[key] == pytest.approx(value), key
    gold_d = [{x for g, _ in d for x in g} for d in data]
    pred_d = [{x for _, p in d for x in p} for d in data]
    for key, value in _sk(gold_d, pred_d, LABELS).items():
        assert dialogue_level_scores(aligned)[key] == pytest.approx(value), key
    confirm = set(CONFIRM_LABELS)
    for key, value in _sk(
        [[x for x in g if x in confirm] for g in gold], [[x for x in p if x in confirm] for p in pred], CONFIRM_LABELS
    ).items():
        assert confirm_only_scores(aligned)[key] == pytest.approx(value), key


@settings(max_examples=40, deadline=None)
@given(_dialogues)
def test_a_perfect_detector_is_on_time_everywhere(data):
    gold = []
    for d in data:  # as in real gold data, a label sits only on the turn where it first appears
        seen: set[str] = set()
        gold.append([[x for x in g if not (x in seen or seen.add(x))] for g, _ in d])
    t = timing_scores(AlignedTurns.from_label_sets(gold, gold))
    assert t["on_time"] == t["n_gold"] and t["missed"] == 0 and t["false_alarms_per_dialogue"] == 0.0
    assert turn_level_scores(AlignedTurns.from_label_sets(gold, gold))["exact_match"] == 1.0


def test_from_label_sets_validates_shapes():
    with pytest.raises(ValueError, match="gold has 1 dialogues but pred has 2"):
        AlignedTurns.from_label_sets([[[]]], [[[]], [[]]])
    with pytest.raises(ValueError, match="dialogue 0: gold has 1 user turns but pred has 2"):
        AlignedTurns.from_label_sets([[[]]], [[[], []]])
    assert len(DIALOGUE_LABELS) == len(LABELS) == 16


# ------------------------------------------------------------------------------ command line


def test_cli_score_json_for_dialogues(case, tmp_path):
    from typer.testing import CliRunner

    from cradle.interfaces.cli.app import app

    dialogues, preds = case
    gold = tmp_path / "gold.jsonl"
    write_dialogues_nested(dialogues, gold)
    pred = tmp_path / "pred.jsonl"
    write_predictions(preds, pred)
    out = CliRunner().invoke(app, ["score", str(gold), str(pred), "--json", "--bootstrap", "50"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert {"n_dialogues", "n_user_turns", "turn_level", "dialogue_level", "confirm_only", "timing"} <= set(result)
    for key in ("turn_level", "dialogue_level", "confirm_only"):
        assert set(SCALAR_METRICS) | {"per_label", "ci"} == set(result[key])
    assert set(result["turn_level"]["per_label"]) == set(LABELS)
    assert result["turn_level"]["micro_f1"] == pytest.approx(0.25)
    tables = CliRunner().invoke(app, ["score", str(gold), str(pred)])
    assert tables.exit_code == 0 and "turn_level" in tables.stdout and "early_warning_rate" in tables.stdout


def test_a_dialogue_without_user_turns_counts_as_an_empty_dialogue(case):
    dialogues, preds = case
    quiet = Dialogue("E", (Turn(0, "listener", "anyone there?"),))
    result = score_dialogues([*dialogues, quiet], preds)
    assert result["n_dialogues"] == 5 and result["n_user_turns"] == 11
    assert result["dialogue_level"]["exact_match"] == pytest.approx(4 / 5)
    assert result["timing"]["false_alarm_dialogue_rate"] == pytest.approx(1 / 3)
    with pytest.raises(DataError, match="duplicate dialogue id"):
        score_dialogues([*dialogues, dialogues[0]], preds)


def test_align_keeps_dialogue_order(case):
    dialogues, preds = case
    aligned = align_dialogue_predictions(dialogues, list(reversed(preds)))
    assert aligned.dialogue_ids == ("A", "B", "C", "D") and aligned.bounds.tolist() == [0, 4, 7, 9, 11]


def test_repeated_turn_prediction_ids_are_an_error():
    from cradle.data import DataError, Dialogue, Prediction, Turn
    from cradle.metrics.dialogue import score_dialogues

    d = Dialogue("d0", (Turn(0, "user", "hi"), Turn(1, "listener", "hello")))
    preds = [Prediction(id="d0:0"), Prediction(labels=("alert_past",), id="d0:0")]
    with pytest.raises(DataError, match="1 repeated prediction id"):
        score_dialogues([d], preds)
