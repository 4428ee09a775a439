"""``cradle trainset``: consensus and unanimous subsets and their distribution tables, worked by hand."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cradle.data import read_posts_csv
from cradle.interfaces.cli.app import app
from cradle.labels import POST_LABELS

SIP = "suicideideation_passive_ongoing"
SHO = "selfharm_ongoing"
SHP = "selfharm_past"
RPP = "rape_past"
RPO = "rape_ongoing"
DVP = "domesticviolence_past"
CAP = "childabuse_endangerment_past"
SXP = "sexualharassment_past"
NC = "no_crisis"

# post -> (run a, run b, run c); a string is a non-ok status
VOTES = {
    "t1": ((SIP,), (SIP,), (SIP,)),  # all
    "t2": ((RPP, SHO), (SHO, RPP), (RPP,)),  # partial
    "t3": ((NC,), (NC,), "blocked"),  # partial (c casts no vote)
    "t4": ((RPP,), (NC,), (SHO,)),  # none -> dropped
    "t5": ((SIP, SHO, RPP), (SIP, SHO, RPP), (SIP, SHO, RPP)),  # all, 3 labels
    "t6": ((), (), ()),  # all, but no label -> dropped
    "t7": ((DVP, CAP, SXP, RPO), (DVP, CAP, SXP, RPO), (NC,)),  # partial, 4 labels
    "t8": ((NC,), (NC,), (NC,)),  # all
    "t9": ((SHP,), (SHP,), (SHP,)),  # all
    "t10": ((RPP,), "invalid", (NC,)),  # none -> dropped
}
INSTRUCTION = " For any crisis present, mark whether it is Ongoing or Past. Choose all that apply."

# worked by hand from VOTES
CONSENSUS_IDS = ["t1", "t2", "t3", "t5", "t7", "t8", "t9"]
UNANIMOUS_IDS = ["t1", "t5", "t8", "t9"]
CONSENSUS_LABELS = {SIP: 2, SHO: 2, RPP: 2, NC: 2, DVP: 1, CAP: 1, SXP: 1, RPO: 1, SHP: 1}
UNANIMOUS_LABELS = {SIP: 2, SHO: 1, RPP: 1, NC: 1, SHP: 1}


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, list[Path]]:
    texts = tmp_path / "corpus.csv"
    with open(texts, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["question_id", "question_text"])  # an unlabelled corpus: no final_labels column
        for item_id in VOTES:
            w.writerow([item_id, f"post {item_id}, with a comma" + (INSTRUCTION if item_id == "t2" else "")])
    runs = []
    for r, name in enumerate("abc"):
        path = tmp_path / f"{name}.jsonl"
        with open(path, "w", encoding="utf-8") as fh:
            for item_id, answers in VOTES.items():
                a = answers[r]
                rec = {"id": item_id, "labels": [], "status": a} if isinstance(a, str) else {"id": item_id, "labels": list(a), "status": "ok"}
                fh.write(json.dumps(rec) + "\n")
        runs.append(path)
    return texts, runs


def _run(corpus, tmp_path, subset, *extra):
    texts, runs = corpus
    out = tmp_path / f"{subset}.csv"
    res = CliRunner().invoke(app, ["trainset", *map(str, runs), "--texts", str(texts), "--subset", subset, "--out", str(out), *extra])
    assert res.exit_code == 0, res.output
    return out, res


def _shares(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {k: 100 * v / total for k, v in counts.items()}


def test_consensus_subset(corpus, tmp_path):
    out, res = _run(corpus, tmp_path, "consensus")
    posts = read_posts_csv(out)
    assert [p.id for p in posts] == CONSENSUS_IDS
    by_id = {p.id: {x.value for x in p.labels or ()} for p in posts}
    assert by_id["t2"] == {RPP, SHO} and by_id["t3"] == {NC} and by_id["t7"] == {DVP, CAP, SXP, RPO}
    assert next(p.text for p in posts if p.id == "t2") == "post t2, with a comma"  # instruction stripped
    with open(out, encoding="utf-8", newline="") as fh:
        assert next(csv.reader(fh)) == ["question_id", "question_text", "final_labels"]

    stats = json.loads(out.with_name("consensus.stats.json").read_text())
    assert (stats["n_input"], stats["n_posts"], stats["n_labels"]) == (10, 7, 13)
    assert stats["dropped"] == {"disagreement": 2, "no_label": 1}
    assert stats["agreement"]["counts"] == {"all": 5, "partial": 3, "none": 2}
    assert list(stats["labels"]) == [x.value for x in POST_LABELS]
    assert {k: v["count"] for k, v in stats["labels"].items() if v["count"]} == CONSENSUS_LABELS
    for k, share in _shares({x.value: CONSENSUS_LABELS.get(x.value, 0) for x in POST_LABELS}).items():
        assert stats["labels"][k]["percent"] == pytest.approx(share, abs=0.01)
    assert {k: v["count"] for k, v in stats["labels_per_post"].items()} == {"1": 4, "2": 1, "3": 1, "4": 1}
    assert {k: v["count"] for k, v in stats["temporal"].items()} == {"ongoing": 5, "past": 6, "no_crisis": 2}
    for table in ("labels", "labels_per_post", "temporal"):
        assert sum(v["percent"] for v in stats[table].values()) == pytest.approx(100.0)
    assert "Labels per post" in res.output and "Temporal distribution" in res.output and "46.15" in res.output


def test_unanimous_subset(corpus, tmp_path):
    out, _ = _run(corpus, tmp_path, "unanimous", "--json")
    assert [p.id for p in read_posts_csv(out)] == UNANIMOUS_IDS
    stats = json.loads(out.with_name("unanimous.stats.json").read_text())
    assert (stats["n_posts"], stats["n_labels"]) == (4, 6)
    assert stats["dropped"] == {"disagreement": 2, "partial": 3, "no_label": 1}
    assert {k: v["count"] for k, v in stats["labels"].items() if v["count"]} == UNANIMOUS_LABELS
    assert {k: v["count"] for k, v in stats["labels_per_post"].items()} == {"1": 3, "2": 0, "3": 1, "4": 0}
    assert {k: v["count"] for k, v in stats["temporal"].items()} == {"ongoing": 3, "past": 2, "no_crisis": 1}
    assert stats["temporal"]["ongoing"]["percent"] == 50.0


def test_jsonl_texts_and_min_agree(corpus, tmp_path):
    texts, runs = corpus
    jl = tmp_path / "corpus.jsonl"
    jl.write_text("".join(json.dumps({"id": k, "text": f"text {k}"}) + "\n" for k in VOTES), encoding="utf-8")
    out = tmp_path / "k3.csv"
    res = CliRunner().invoke(app, ["trainset", *map(str, runs), "--texts", str(jl), "--min-agree", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    # with three votes needed, only the unanimous posts survive (t3 has two votes: c was blocked)
    assert [p.id for p in read_posts_csv(out)] == UNANIMOUS_IDS


def test_texts_must_match_the_runs(corpus, tmp_path):
    _, runs = corpus
    texts = tmp_path / "partial.csv"
    texts.write_text("question_id,question_text\nt1,hello\nt99,extra\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["trainset", *map(str, runs), "--texts", str(texts), "--out", str(tmp_path / "o.csv")])
    assert res.exit_code == 2
    assert "partial.csv" in res.output and "9 voted item(s) have no text here" in res.output
    assert "1 post(s) have no prediction in run 'a'" in res.output


def test_bad_subset_and_dialogue_runs(corpus, tmp_path):
    texts, runs = corpus
    res = CliRunner().invoke(app, ["trainset", *map(str, runs), "--texts", str(texts), "--subset", "majority", "--out", str(tmp_path / "o.csv")])
    assert res.exit_code == 2 and "--subset must be one of consensus, unanimous" in res.output
    dlg = [tmp_path / "d1.jsonl", tmp_path / "d2.jsonl"]
    for p in dlg:
        p.write_text(json.dumps({"id": "t1", "labels": ["alert_past"], "status": "ok"}) + "\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["trainset", *map(str, dlg), "--texts", str(texts), "--out", str(tmp_path / "o.csv")])
    assert res.exit_code == 2 and "d1.jsonl:1:labels" in res.output
