"""The review page in a real browser: sign in, review three posts by keyboard, export.

Drives Debian's chromium through Playwright; skipped when either is missing.
"""

from __future__ import annotations

import itertools
import random
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from cradle.data import read_posts_csv
from cradle.interfaces.service import create_app
from cradle.interfaces.service.queue import ReviewItem
from cradle.interfaces.service.review_store import ReviewStore
from cradle.labels import POST_LABELS, apply_clinical_rules

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "a long enough password"

if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
uvicorn = pytest.importorskip("uvicorn")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _item(pid: str, text: str, votes: dict, vote: tuple | None) -> ReviewItem:
    return ReviewItem(
        pid, text, {k: {"labels": v, "status": "ok"} for k, v in votes.items()}, vote, "partial" if vote else "none"
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("review") / "review.db"
    store = ReviewStore(db)
    store.add_items(
        [
            _item(
                "p1",
                "I cut my thighs again last night.",
                {"a": ["selfharm_ongoing"], "b": ["selfharm_ongoing"], "c": ["selfharm_past"]},
                ("selfharm_ongoing",),
            ),
            _item(
                "p3",
                "Years ago a stranger forced himself on me.",
                {"a": ["rape_past"], "b": ["sexualharassment_past"], "c": ["rape_ongoing"]},
                None,
            ),
            _item(
                "p4",
                "My husband shoved me, but I left him in 2019.",
                {"a": ["domesticviolence_ongoing"], "b": ["domesticviolence_past"]},
                None,
            ),
            _item("p5", "Nothing much going on.", {"a": ["no_crisis"], "b": ["selfharm_past"]}, None),
        ]
    )
    store.add_user("ana", PASSWORD)

    class NoDetector:
        spec = "stub:none"

        def predict(self, texts):
            raise AssertionError("the review page never calls the detector")

    port = _free_port()
    srv = uvicorn.Server(
        uvicorn.Config(
            create_app(db_path=db, detector=NoDetector()), host="127.0.0.1", port=port, log_config=None, lifespan="off"
        )
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", store
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    yield pg
    context.close()
    assert not errors, errors


def checked(pg) -> list[str]:
    return pg.eval_on_selector_all("input[name=labels]:checked", "els => els.map(e => e.value)")


def test_review_three_posts_by_keyboard_and_export(server, page, tmp_path):
    base, store = server
    page.goto(base + "/review")
    assert page.url.startswith(base + "/review/login")
    page.fill("#name", "ana")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/review/items/1")
    assert "0 of 4 decided" in page.inner_text(".progress-text")
    assert page.is_visible("text=take the vote")  # the shortcuts are documented on the page

    # post 1: take the vote, save
    page.keyboard.press("v")
    assert checked(page) == ["selfharm_ongoing"]
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/review/items/2")

    # post 2: rape (past), then sexual harassment (past): the severity rule drops the milder one
    page.keyboard.press("g")
    page.keyboard.press("h")
    assert checked(page) == ["rape_past"]
    message = page.inner_text("#rule-messages")
    assert "rape_past subsumes sexualharassment_past in the same time frame" in message
    page.keyboard.press("c")
    page.keyboard.type("stranger, years ago")
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/review/items/3")

    # post 3: take model 2's labels (b), then ongoing for the same crisis wins over past
    page.keyboard.press("2")
    assert checked(page) == ["domesticviolence_past"]
    page.keyboard.press("r")
    assert checked(page) == ["domesticviolence_ongoing"]
    assert "only domesticviolence_ongoing is kept" in page.inner_text("#rule-messages")
    page.keyboard.press("r")
    page.keyboard.press("f")
    assert checked(page) == ["domesticviolence_past"]
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/review/items/4")
    assert "3 of 4 decided" in page.inner_text(".progress-text")

    # leaving with unsaved changes takes a second key press
    page.keyboard.press("n")
    page.keyboard.press("ArrowLeft")
    assert page.url == base + "/review/items/4" and "Unsaved changes" in page.inner_text("#rule-messages")
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(base + "/review/items/3")
    assert checked(page) == ["domesticviolence_past"]  # the saved decision is shown again

    out = tmp_path / "ana.csv"
    assert store.export(out, "ana") == 3
    exported = {p.id: [x.value for x in p.labels] for p in read_posts_csv(out)}
    assert exported == {"p1": ["selfharm_ongoing"], "p3": ["rape_past"], "p4": ["domesticviolence_past"]}
    assert store.decision("p3", "ana").note == "stranger, years ago"


def test_browser_rules_match_the_python_rules(server, page):
    base, _ = server
    page.goto(base + "/review/login")
    page.fill("#name", "ana")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/review/items/**")
    labels = [x.value for x in POST_LABELS]
    rng = random.Random(7)
    cases = [list(pair) for pair in itertools.combinations(labels, 2)]
    cases += [rng.sample(labels, rng.randint(0, 6)) for _ in range(300)]
    got = page.evaluate(
        "cases => cases.map(c => { const r = window.cradleApplyClinicalRules(c); return [r.labels, r.fired.map(f => [f.rule, f.removed, f.kept, f.message])]; })",
        cases,
    )
    for case, (js_labels, js_fired) in zip(cases, got, strict=True):
        py = apply_clinical_rules(case)
        assert js_labels == [x.value for x in py.labels], case
        assert js_fired == [[f.rule, f.removed.value, f.kept.value, f.message] for f in py.fired], case
