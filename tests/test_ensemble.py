"""``cradle ensemble``: majority vote over whole label sets, checked against votes worked by hand."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cradle.data import Prediction, Status, read_predictions
from cradle.interfaces.cli.app import app
from cradle.pipelines.labelling.ensemble import Run, ensemble_runs, percentages, read_run

SI = "suicideideation_passive_ongoing"
SH = "selfharm_ongoing"
RP = "rape_past"
NC = "no_crisis"

# item -> (run a, run b, run c); a tuple of labels is an ok answer, a string a non-ok status
RUNS = {
    "p1": ((SI,), (SI,), (SI,)),  # all agree
    "p2": ((SI, SH), (SI, SH), (SI,)),  # 2:1 on whole sets
    "p3": ((SH,), (SH,), "blocked"),  # one run casts no vote; two still win
    "p4": ((RP,), (NC,), (SH,)),  # three different sets: full disagreement
    "p5": ((RP,), "invalid", (NC,)),  # one abstains, the other two tie 1:1
    "p6": ("blocked", "error", "blocked"),  # nobody votes
    "p7": ((SI,), (SH, SI), (SI,)),  # labels in another order are the same set
    "p8": ((NC,), (RP,), (NC,)),  # 2:1 where the fallback run (c) is in the majority
}
# by hand: item -> (labels, status, agreement) without fallback
EXPECTED = {
    "p1": ((SI,), "ok", "all"),
    "p2": ((SI, SH), "ok", "partial"),
    "p3": ((SH,), "ok", "partial"),
    "p4": ((), "disagreement", "none"),
    "p5": ((), "disagreement", "none"),
    "p6": ((), "blocked", "none"),
    "p7": ((SI,), "ok", "partial"),
    "p8": ((NC,), "ok", "partial"),
}
# with --fallback c, only the full disagreements change: they take run c's answer
EXPECTED_FALLBACK_C = {**EXPECTED, "p4": ((SH,), "ok", "none"), "p5": ((NC,), "ok", "none"), "p6": ((), "blocked", "none")}


def _write_run(path: Path, answers: dict[str, tuple[str, ...] | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for item_id, answer in answers.items():
        if isinstance(answer, str):
            lines.append({"id": item_id, "labels": [], "status": answer, "reason": "test"})
        else:
            lines.append({"id": item_id, "labels": list(answer), "status": "ok", "raw": "never copied"})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


@pytest.fixture
def three_runs(tmp_path: Path) -> list[Path]:
    a = _write_run(tmp_path / "run_a" / "predictions.jsonl", {k: v[0] for k, v in RUNS.items()}).parent  # a run directory
    b = _write_run(tmp_path / "b.jsonl", {k: v[1] for k, v in RUNS.items()})  # a predictions file
    c = _write_run(tmp_path / "c.jsonl", {k: v[2] for k, v in RUNS.items()})
    return [a, b, c]


def _invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _canon(labels) -> tuple[str, ...]:
    order = [SI, SH, RP, NC]
    return tuple(sorted(labels, key=lambda x: [*order, x].index(x)))


def _check(out: Path, expected: dict) -> None:
    preds = {p.id: p for p in read_predictions(out / "predictions.jsonl")}
    assert list(preds) == list(RUNS)
    for item_id, (labels, status, _) in expected.items():
        assert (set(preds[item_id].labels), preds[item_id].status.value) == (set(labels), status), item_id
        assert preds[item_id].raw is None  # raw replies are not carried into the ensemble
    votes = [json.loads(x) for x in (out / "votes.jsonl").read_text().splitlines()]
    assert {v["id"]: v["agreement"] for v in votes} == {k: v[2] for k, v in expected.items()}
    assert votes[2]["votes"]["c"] == {"status": "blocked", "labels": None}
    assert votes[2]["votes"]["run_a"] == {"status": "ok", "labels": [SH]}


def test_majority_vote_without_fallback(three_runs, tmp_path):
    out = tmp_path / "ens"
    res = _invoke("ensemble", *three_runs, "--out", out)
    assert res.exit_code == 0, res.output
    _check(out, EXPECTED)
    summary = json.loads((out / "agreement.json").read_text())
    assert summary["counts"] == {"all": 1, "partial": 4, "none": 3}
    assert summary["decisions"] == {"vote": 5, "fallback": 0, "disagreement": 2, "no_votes": 1}
    assert summary["percent"] == {"all": 12.5, "partial": 50.0, "none": 37.5}
    assert sum(summary["percent"].values()) == pytest.approx(100.0)
    assert [r["name"] for r in summary["runs"]] == ["run_a", "b", "c"]
    assert "all agree" in res.output and "37.50" in res.output
    reason = {p.id: p.reason for p in read_predictions(out / "predictions.jsonl")}
    assert "reached 2 of 3" in reason["p4"] and "reached 2 of 3" in reason["p5"] and "no run gave an ok answer" in reason["p6"]


def test_majority_vote_with_fallback_among_the_runs(three_runs, tmp_path):
    out = tmp_path / "ens"
    res = _invoke("ensemble", *three_runs, "--out", out, "--fallback", three_runs[2], "--json")
    assert res.exit_code == 0, res.output
    _check(out, EXPECTED_FALLBACK_C)
    printed = json.loads(res.stdout)
    assert printed["fallback"] == "c" and printed["decisions"]["fallback"] == 3
    p6 = next(p for p in read_predictions(out / "predictions.jsonl") if p.id == "p6")
    assert "fallback run 'c'" in (p6.reason or "")


def test_separate_fallback_run_does_not_vote(three_runs, tmp_path):
    judge = _write_run(tmp_path / "judge" / "b.jsonl", {k: (RP,) for k in RUNS})  # same file name as a voter
    out = tmp_path / "ens"
    res = _invoke("ensemble", *three_runs, "--out", out, "--fallback", judge)
    assert res.exit_code == 0, res.output
    expected = {k: ((RP,), "ok", "none") if v[2] == "none" else v for k, v in EXPECTED.items()}
    _check(out, expected)
    assert json.loads((out / "agreement.json").read_text())["fallback"]["name"] == "b (fallback)"


def test_two_two_tie_among_four_runs_is_a_disagreement(tmp_path):
    paths = [_write_run(tmp_path / f"r{i}.jsonl", {"x": labels, "y": (NC,)}) for i, labels in enumerate([(RP,), (RP,), (SH,), (SH,)])]
    out = tmp_path / "ens"
    assert _invoke("ensemble", *paths, "--out", out).exit_code == 0
    preds = {p.id: p for p in read_predictions(out / "predictions.jsonl")}
    assert preds["x"].status is Status.DISAGREEMENT and preds["y"].labels == (NC,)
    assert "2 label sets tie at 2 votes" in (preds["x"].reason or "")
    # three of four required: even a 3:1 wins, a 2:2 does not
    assert _invoke("ensemble", *paths[:3], "--out", tmp_path / "e3", "--min-agree", "3").exit_code == 0
    assert {p.id: p.status.value for p in read_predictions(tmp_path / "e3" / "predictions.jsonl")} == {"x": "disagreement", "y": "ok"}


def _reference_vote(answers: list[tuple[str, ...] | str], k: int) -> tuple[tuple[str, ...] | None, str]:
    """An independent majority vote: (winning set or None, agreement category)."""
    ballots = [frozenset(a) for a in answers if not isinstance(a, str)]
    counts = Counter(ballots)
    best = max(counts.values(), default=0)
    leaders = [s for s, n in counts.items() if n == best]
    if best >= k and len(leaders) == 1:
        return _canon(leaders[0]), "all" if len(ballots) == len(answers) and len(counts) == 1 else "partial"
    return None, "none"


@pytest.mark.parametrize("seed", range(5))
def test_random_votes_match_reference(seed):
    rng = random.Random(seed)
    choices: list[tuple[str, ...] | str] = [(SI,), (SH,), (SI, SH), (NC,), (), "blocked", "invalid"]
    n_runs = rng.choice([3, 4, 5])
    k = rng.randint(1, n_runs)
    table = {f"i{j}": [rng.choice(choices) for _ in range(n_runs)] for j in range(60)}
    runs = [
        Run(f"r{r}", f"r{r}", {i: Prediction(a, id=i) if not isinstance(a, str) else Prediction((), Status(a), id=i) for i, row in table.items() for a in [row[r]]})
        for r in range(n_runs)
    ]
    result = ensemble_runs(runs, min_agree=k)
    for pred, item in zip(result.predictions, result.items, strict=True):
        winner, agreement = _reference_vote(table[pred.id], k)
        assert item.agreement == agreement
        if winner is None:
            assert not pred.ok and pred.labels == ()
        else:
            assert pred.ok and _canon(pred.labels) == winner
    assert sum(result.summary["percent"].values()) == pytest.approx(100.0)
    assert sum(result.summary["counts"].values()) == 60


def test_dialogue_turns_vote_per_user_turn(tmp_path):
    answers = [
        {"d0:0": (), "d0:2": ("alert_ongoing",), "d1:0": ("confirm_SH_past",)},
        {"d0:0": (), "d0:2": ("alert_ongoing",), "d1:0": ("confirm_SH_ongoing",)},
        {"d0:0": ("alert_past",), "d0:2": ("alert_ongoing", "confirm_DV_ongoing"), "d1:0": ("confirm_SH_past",)},
    ]
    paths = [_write_run(tmp_path / f"r{i}.jsonl", a) for i, a in enumerate(answers)]
    out = tmp_path / "ens"
    res = _invoke("ensemble", *paths, "--out", out, "--labels", "dialogue")
    assert res.exit_code == 0, res.output
    preds = {p.id: p for p in read_predictions(out / "predictions.jsonl", "dialogue")}
    assert preds["d0:0"].ok and preds["d0:0"].labels == ()  # two empty answers win
    assert preds["d0:2"].labels == ("alert_ongoing",)
    assert preds["d1:0"].labels == ("confirm_SH_past",)


def test_mixed_schemas_are_refused(tmp_path):
    a = _write_run(tmp_path / "a.jsonl", {"x": (NC,)})
    b = _write_run(tmp_path / "b.jsonl", {"x": ("alert_past",)})
    res = _invoke("ensemble", a, b, "--out", tmp_path / "o")
    assert res.exit_code == 2 and "mix post and dialogue labels" in res.output


def test_runs_must_cover_the_same_items(three_runs, tmp_path):
    short = _write_run(tmp_path / "short.jsonl", {"p1": (SI,), "zz": (NC,)})
    res = _invoke("ensemble", three_runs[0], short, "--out", tmp_path / "o")
    assert res.exit_code == 2
    assert "short.jsonl" in res.output and "7 item(s) of run 'run_a' have no prediction here" in res.output
    assert "1 prediction(s) match no item" in res.output


def test_usage_errors(three_runs, tmp_path):
    res = _invoke("ensemble", *three_runs, "--out", tmp_path / "o", "--min-agree", "4")
    assert res.exit_code == 2 and "--min-agree 4 is more than the 3 runs" in res.output
    res = _invoke("ensemble", three_runs[0], "--out", tmp_path / "o")
    assert res.exit_code == 2 and "at least 2 runs" in res.output
    (tmp_path / "empty_dir").mkdir()
    res = _invoke("ensemble", three_runs[0], tmp_path / "empty_dir", "--out", tmp_path / "o")
    assert res.exit_code == 2 and "run directory has no predictions.jsonl" in res.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "p1", "labels": ["rape_pats"], "status": "ok"}\n')
    res = _invoke("ensemble", three_runs[1], bad, "--out", tmp_path / "o")
    assert res.exit_code == 2 and "bad.jsonl:1:labels" in res.output and "rape_past" in res.output


def test_label_order_does_not_split_a_vote():
    runs = [Run(n, n, {"x": Prediction(labels, id="x")}) for n, labels in (("a", (SI, SH)), ("b", (SH, SI)), ("c", (NC,)))]
    result = ensemble_runs(runs)
    assert set(result.predictions[0].labels) == {SI, SH} and result.items[0].agreement == "partial"


def test_read_run_names_and_percentages():
    assert percentages({"all": 685, "partial": 272, "none": 43}) == {"all": 68.5, "partial": 27.2, "none": 4.3}
    shares = percentages({"a": 2, "b": 2, "c": 2}, digits=2)
    assert sum(shares.values()) == pytest.approx(100.0) and sorted(shares.values()) == [33.33, 33.33, 33.34]
    with pytest.raises(ValueError, match="at least 2 runs"):
        ensemble_runs([Run("a", "a", {})])


def test_read_run_rejects_missing_path(tmp_path):
    from cradle.data import DataError

    with pytest.raises(DataError, match="run not found"):
        read_run(tmp_path / "nope")


def test_cradle_run_directories_keep_the_last_record(three_runs, tmp_path):
    run_dir = tmp_path / "evaluated"
    path = _write_run(run_dir / "predictions.jsonl", {k: v[1] for k, v in RUNS.items()})
    (run_dir / "manifest.json").write_text("{}", encoding="utf-8")
    with open(path, "a", encoding="utf-8") as fh:  # a retried item, then a line torn by a crash
        fh.write(json.dumps({"id": "p4", "labels": [SH], "status": "ok"}) + "\n" + '{"id": "p5", "lab')
    out = tmp_path / "ens"
    res = _invoke("ensemble", three_runs[0], run_dir, three_runs[2], "--out", out)
    assert res.exit_code == 0, res.output
    p4 = next(p for p in read_predictions(out / "predictions.jsonl") if p.id == "p4")
    assert p4.labels == (SH,)  # evaluated now says SH, as does c: 2 of 3
    meta = json.loads((out / "agreement.json").read_text())
    assert [len(r["fingerprint"]) for r in meta["runs"]] == [16, 16, 16]
    # an evaluation run is never overwritten by an ensemble
    res = _invoke("ensemble", *three_runs, "--out", run_dir)
    assert res.exit_code == 2 and "no ensemble wrote" in res.output
    assert _invoke("ensemble", *three_runs, "--out", out).exit_code == 0  # an ensemble directory is rewritten
