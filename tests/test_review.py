"""The review queue, reviewers, decisions, export, and the review pages (without a browser)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cradle.data import DataError, read_posts_csv
from cradle.interfaces.cli.app import app as cli_app
from cradle.interfaces.service import create_app
from cradle.interfaces.service.auth import AuthConfigError, Session, SessionSigner, hash_password, verify_password
from cradle.interfaces.service.queue import queue_from_runs, texts_from_dataset
from cradle.interfaces.service.review_store import ReviewError, ReviewStore
from cradle.labels import UnknownLabelError

PASSWORD = "a long enough password"
TEXTS = {
    "p1": "I cut my thighs again last night.",
    "p2": "Exams are stressful but fine.",
    "p3": "Years ago a stranger forced himself on me at a party.",
    "p4": "My husband shoves me when he is drunk, it happened yesterday too.",
    "p5": "Just checking in, nothing much going on.",
}
RUNS = {
    "model-a": {
        "p1": ["selfharm_ongoing"],
        "p2": ["no_crisis"],
        "p3": ["rape_past"],
        "p4": ["domesticviolence_ongoing"],
        "p5": ["no_crisis"],
    },
    "model-b": {
        "p1": ["selfharm_ongoing"],
        "p2": ["no_crisis"],
        "p3": ["sexualharassment_past"],
        "p4": ["domesticviolence_past"],
        "p5": None,
    },
    "model-c": {
        "p1": ["selfharm_past"],
        "p2": ["no_crisis"],
        "p3": ["rape_ongoing"],
        "p4": ["domesticviolence_ongoing"],
        "p5": ["no_crisis"],
    },
}


def write_runs(root: Path) -> tuple[list[Path], Path]:
    """Three run directories and the posts file they labelled."""
    runs = []
    for name, preds in RUNS.items():
        d = root / name
        d.mkdir(parents=True)
        lines = [
            json.dumps({"id": pid, "labels": labels or [], "status": "ok" if labels is not None else "blocked"})
            for pid, labels in preds.items()
        ]
        (d / "predictions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        runs.append(d)
    posts = root / "posts.csv"
    rows = ["question_id,question_text,final_labels"] + [f'{pid},"{text}",no_crisis' for pid, text in TEXTS.items()]
    posts.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return runs, posts


@pytest.fixture
def setup(tmp_path):
    runs, posts = write_runs(tmp_path)
    store = ReviewStore(tmp_path / "review.db")
    store.add_items(queue_from_runs(runs, texts_from_dataset(str(posts))))
    store.add_user("ana", PASSWORD)
    store.add_user("ben", PASSWORD)
    return store, runs, posts, tmp_path


# -- the queue ----------------------------------------------------------------------------------------


def test_queue_holds_the_disagreements(setup):
    store, runs, posts, _ = setup
    items = {it.id: it for it in store.items()}
    assert list(items) == ["p1", "p3", "p4", "p5"]  # p2 is unanimous
    assert items["p3"].agreement == "none" and items["p3"].vote is None
    assert items["p1"].agreement == "partial" and items["p1"].vote == ("selfharm_ongoing",)
    assert items["p5"].votes["model-b"] == {"labels": None, "status": "blocked"}
    assert items["p4"].text == TEXTS["p4"]
    full = queue_from_runs(runs, texts_from_dataset(str(posts)), scope="full")
    assert [it.id for it in full] == ["p3"]


def test_queue_from_an_ensemble_run(setup):
    from cradle.pipelines.labelling.ensemble import ensemble_runs, read_runs, write_ensemble

    _, runs, posts, root = setup
    result = ensemble_runs(read_runs(runs))
    write_ensemble(result, root / "ens", read_runs(runs))
    texts = texts_from_dataset(str(posts))
    items = queue_from_runs([root / "ens"], texts)  # one ensemble run: its disagreements by default
    assert [it.id for it in items] == ["p3"]
    assert items[0].votes["model-a"]["labels"] == ["rape_past"]
    assert [it.id for it in queue_from_runs([root / "ens"], texts, scope="any")] == ["p1", "p3", "p4", "p5"]
    (root / "ens" / "votes.jsonl").unlink()  # without the votes: the predictions with status disagreement
    items = queue_from_runs([root / "ens"], texts)
    assert [(it.id, it.votes, it.vote) for it in items] == [("p3", {}, None)]


def test_queue_errors(setup):
    _, runs, posts, root = setup
    texts = texts_from_dataset(str(posts))
    with pytest.raises(
        DataError, match="one run cannot disagree with itself.*neither votes.jsonl nor predictions with status disagreement"
    ):
        queue_from_runs([runs[0]], texts)
    with pytest.raises(DataError, match="one run cannot disagree with itself"):
        queue_from_runs([root / "posts.csv"], texts)
    with pytest.raises(DataError, match=r"2 queued post id\(s\) are not in the texts"):
        queue_from_runs(runs, {k: v for k, v in texts.items() if k not in ("p3", "p4")})
    dlg = root / "dlg"
    dlg.mkdir()
    (dlg / "predictions.jsonl").write_text(json.dumps({"id": "d0:0", "labels": ["alert_past"]}) + "\n")
    (root / "dlg2").mkdir()
    (root / "dlg2" / "predictions.jsonl").write_text(json.dumps({"id": "d0:0", "labels": []}) + "\n")
    with pytest.raises(DataError, match="dialogue labels"):
        queue_from_runs([dlg, root / "dlg2"], {"d0:0": "x"})
    with pytest.raises(ValueError, match="scope must be"):
        queue_from_runs(runs, texts, scope="some")  # type: ignore[arg-type]


def test_init_again_keeps_decisions(setup):
    store, runs, posts, _ = setup
    store.decide("p3", "ana", ["rape_past"])
    added, updated = store.add_items(queue_from_runs(runs, texts_from_dataset(str(posts))))
    assert (added, updated) == (0, 4)
    assert store.decision("p3", "ana").labels == ("rape_past",)
    assert store.count() == 4


# -- reviewers ------------------------------------------------------------------------------------------


def test_passwords_are_salted_scrypt_hashes(setup):
    store, *_ = setup
    a, b = hash_password(PASSWORD), hash_password(PASSWORD)
    assert a != b and a.startswith("scrypt$") and PASSWORD not in a
    assert verify_password(PASSWORD, a) and not verify_password(PASSWORD + "x", a)
    assert (
        store.check_user("ana", PASSWORD)
        and not store.check_user("ana", "wrong password")
        and not store.check_user("nobody", PASSWORD)
    )
    with pytest.raises(ReviewError, match="exists already"):
        store.add_user("ana", PASSWORD)
    store.add_user("ana", "another long password", replace=True)
    assert store.check_user("ana", "another long password")
    with pytest.raises(ReviewError, match="bad reviewer name"):
        store.add_user("../x", PASSWORD)
    with pytest.raises(AuthConfigError, match="at least 8"):
        store.add_user("cy", "short")


def test_session_cookies_are_signed_and_expire():
    signer = SessionSigner(b"s" * 32, max_age_s=60)
    value = signer.dump(Session("ana", "csrf-token", int(time.time())))
    assert signer.load(value) == Session("ana", "csrf-token", signer.load(value).issued)
    payload, _, sig = value.rpartition(".")
    forged = SessionSigner(b"t" * 32).dump(Session("admin", "x", int(time.time())))
    assert signer.load(forged) is None
    assert signer.load(payload + "." + sig[::-1]) is None
    assert signer.load(signer.dump(Session("ana", "c", int(time.time()) - 61))) is None


# -- decisions and export ---------------------------------------------------------------------------------


def test_decide_applies_the_clinical_rules(setup):
    store, *_ = setup
    d = store.decide("p3", "ana", ["rape_past", "sexualharassment_past", "no_crisis"], note="hard one")
    assert d.labels == ("rape_past",)
    assert d.rules == (
        "rape_past subsumes sexualharassment_past in the same time frame",
        "no_crisis cannot stand beside a crisis label",
    )
    assert store.progress("ana") == (1, 4) and store.progress("ben") == (0, 4)
    with pytest.raises(ReviewError, match="at least one label"):
        store.decide("p1", "ana", [])
    with pytest.raises(UnknownLabelError, match="did you mean"):
        store.decide("p1", "ana", ["selfharm_ongoin"])
    with pytest.raises(ReviewError, match="no queued post 'p2'"):
        store.decide("p2", "ana", ["no_crisis"])


def test_next_pending_wraps_around(setup):
    store, *_ = setup
    assert store.next_pending("ana") == 1
    store.decide("p1", "ana", ["selfharm_ongoing"])
    store.decide("p4", "ana", ["domesticviolence_ongoing"])
    assert store.next_pending("ana", after=2) == 4
    assert store.next_pending("ana", after=4) == 2
    store.decide("p3", "ana", ["rape_past"])
    store.decide("p5", "ana", ["no_crisis"])
    assert store.next_pending("ana") is None


def test_export_writes_cradle_bench_csv(setup):
    store, _, _, root = setup
    store.decide("p4", "ana", ["domesticviolence_ongoing", "domesticviolence_past"])
    store.decide("p1", "ana", ["selfharm_ongoing"])
    out = root / "ana.csv"
    assert store.export(out, "ana") == 2
    assert out.read_text(encoding="utf-8").splitlines()[0] == "question_id,question_text,final_labels"
    posts = read_posts_csv(out)
    assert [(p.id, [x.value for x in p.labels]) for p in posts] == [
        ("p1", ["selfharm_ongoing"]),
        ("p4", ["domesticviolence_ongoing"]),
    ]
    assert posts[1].text == TEXTS["p4"]
    with pytest.raises(ReviewError, match="decided no post"):
        store.export(root / "ben.csv", "ben")
    with pytest.raises(ReviewError, match="no reviewer 'zed'"):
        store.export(root / "z.csv", "zed")


def test_review_commands_and_agreement_between_reviewers(tmp_path, monkeypatch):
    runs, posts = write_runs(tmp_path)
    db = tmp_path / "r.db"
    runner = CliRunner()
    r = runner.invoke(cli_app, ["review", "init", *map(str, runs), "--texts", str(posts), "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "4 posts to review (1 without a majority)" in r.output
    monkeypatch.setenv("REVIEW_PW", PASSWORD)
    for name in ("ana", "ben"):
        r = runner.invoke(cli_app, ["review", "add-user", name, "--db", str(db), "--password-env", "REVIEW_PW"])
        assert r.exit_code == 0, r.output
    r = runner.invoke(cli_app, ["review", "add-user", "cy", "--db", str(db)], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert r.exit_code == 0 and PASSWORD not in r.output
    r = runner.invoke(cli_app, ["review", "add-user", "dee", "--db", str(db), "--password-env", "NO_SUCH_VAR_FOR_CRADLE"])
    assert r.exit_code == 2 and "NO_SUCH_VAR_FOR_CRADLE" in r.output
    store = ReviewStore(db)
    for pid, a, b in (
        ("p1", "selfharm_ongoing", "selfharm_ongoing"),
        ("p3", "rape_past", "sexualharassment_past"),
        ("p4", "domesticviolence_ongoing", "domesticviolence_ongoing"),
        ("p5", "no_crisis", "no_crisis"),
    ):
        store.decide(pid, "ana", [a])
        store.decide(pid, "ben", [b])
    r = runner.invoke(cli_app, ["review", "export", "--db", str(db), "--out", str(tmp_path / "labels.csv")])
    assert r.exit_code == 0, r.output
    ana, ben = tmp_path / "labels.ana.csv", tmp_path / "labels.ben.csv"
    assert ana.is_file() and ben.is_file() and not (tmp_path / "labels.cy.csv").exists()
    r = runner.invoke(cli_app, ["review", "export", "--db", str(db), "--out", str(tmp_path / "only.csv"), "--reviewer", "ben"])
    assert r.exit_code == 0 and len(read_posts_csv(tmp_path / "only.csv")) == 4
    r = runner.invoke(cli_app, ["review", "status", "--db", str(db)])
    assert r.exit_code == 0 and "4 / 4" in r.output and "0 / 4" in r.output
    r = runner.invoke(cli_app, ["agreement", str(ana), str(ben), "--json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.output)
    assert result["n"] == 4 and result["exact_agreement"] == pytest.approx(0.75)


# -- the pages ----------------------------------------------------------------------------------------------


def visible(html: str) -> str:
    """The page's text without tags, spaces squeezed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


@pytest.fixture
def web(setup):
    store, *_ = setup
    return TestClient(create_app(db_path=store.path, detector=_NoDetector()), base_url="http://127.0.0.1"), store


class _NoDetector:
    spec = "stub:none"

    def predict(self, texts):
        raise AssertionError("the review pages never call the detector")


def sign_in(client: TestClient, name: str = "ana") -> str:
    page = client.get("/review/login")
    r = client.post(
        "/review/login",
        data={"name": name, "password": PASSWORD, "csrf": csrf_of(page.text), "next": "/review"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/review/items/1").text)


def test_pages_need_a_sign_in(web):
    client, _ = web
    r = client.get("/review/items/1", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/review/login?next=/review/items/1"
    page = client.get("/review/login")
    assert page.status_code == 200 and "Sign in" in page.text
    assert "content-security-policy" in page.headers and page.headers["x-frame-options"] == "DENY"
    r = client.post("/review/login", data={"name": "ana", "password": "wrong password", "csrf": csrf_of(page.text)})
    assert r.status_code == 401 and "Wrong name or password" in r.text
    r = client.post("/review/login", data={"name": "ana", "password": PASSWORD, "csrf": "forged"})
    assert r.status_code == 403 and "reload the page" in r.text


def test_review_flow(web):
    client, store = web
    csrf = sign_in(client)
    page = client.get("/review/items/2")
    assert TEXTS["p3"] in page.text and "no majority" in page.text and "0 of 4 decided" in visible(page.text)
    assert "Rape (past)" in page.text and "model-b" in page.text
    # without the CSRF token nothing is saved
    r = client.post("/review/items/2", data={"labels": ["rape_past"]}, follow_redirects=False)
    assert r.status_code == 403 and store.decision("p3", "ana") is None
    # a set the rules would change is shown again with the rule, not saved
    r = client.post("/review/items/2", data={"labels": ["rape_past", "sexualharassment_past"], "csrf": csrf, "note": "n"})
    assert r.status_code == 409 and "rape_past subsumes sexualharassment_past in the same time frame" in r.text
    assert re.search(r'value="rape_past"[^>]*checked', r.text) and not re.search(
        r'value="sexualharassment_past"[^>]*checked', r.text
    )
    assert store.decision("p3", "ana") is None
    r = client.post("/review/items/2", data={"csrf": csrf})
    assert r.status_code == 422 and "Choose at least one label" in r.text
    r = client.post(
        "/review/items/2", data={"labels": ["rape_past"], "csrf": csrf, "note": "stranger, years ago"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/review/items/3"
    d = store.decision("p3", "ana")
    assert d.labels == ("rape_past",) and d.note == "stranger, years ago" and d.decided_at.endswith("Z")
    assert "1 of 4 decided" in visible(client.get("/review/items/3").text)
    r = client.post("/review/items/3", data={"csrf": csrf, "action": "skip"}, follow_redirects=False)
    assert r.headers["location"] == "/review/items/4"
    for pos, label in ((1, "selfharm_ongoing"), (3, "domesticviolence_ongoing"), (4, "no_crisis")):
        r = client.post(f"/review/items/{pos}", data={"labels": [label], "csrf": csrf}, follow_redirects=False)
    assert r.headers["location"] == "/review/done"
    done = client.get("/review/done")
    assert "All 4 posts decided" in done.text and "cradle review export" in done.text
    queue = client.get("/review/queue")
    assert queue.text.count('class="decided"') == 4
    assert client.get("/review/items/9").status_code == 404
    assert "ben" not in [d.reviewer for d in store.decisions("ana").values()]


def test_sign_out_ends_the_session(web):
    client, _ = web
    csrf = sign_in(client)
    r = client.post("/review/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/review/items/1", follow_redirects=False).status_code == 303


def test_a_position_beyond_sqlite_integers_is_a_404_not_a_500(web):
    client, store = web
    csrf = sign_in(client)
    huge = "9" * 25
    assert client.get(f"/review/items/{huge}").status_code == 404
    r = client.post(f"/review/items/{huge}", data={"labels": ["no_crisis"], "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 404 and store.item(10**30) is None and store.item(-(10**30)) is None
