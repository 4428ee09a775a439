"""``cradle predict --ray``: a run sharded over Ray workers equals the plain run, and resumes."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from functools import partial
from pathlib import Path

import pytest
from typer.testing import CliRunner

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'cradle-risk[ray]')")

sys.path.insert(0, str(Path(__file__).parent))

from cradle.data import Prediction, read_predictions  # noqa: E402
from cradle.interfaces.cli.app import app  # noqa: E402
from cradle.pipelines.runs.items import WorkItem  # noqa: E402
from cradle.pipelines.runs.runner import RunOptions, run_items  # noqa: E402
from cradle.pipelines.runs.sharded import SHARDS_DIR, run_sharded  # noqa: E402
from fake_providers import FakeProviderServer  # noqa: E402

pytestmark = pytest.mark.slow

_LABELS = [["no_crisis"], ["selfharm_ongoing"], ["rape_past", "sexualharassment_ongoing"], ["suicideideation_passive_ongoing"]]


def _h(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest(), 16)


def varied(message: str) -> list[str]:
    return _LABELS[_h(message) % len(_LABELS)]


@pytest.fixture(scope="module")
def local_ray():
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the test's detectors travel by value
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def by_id(path: Path) -> dict[str, Prediction]:
    preds = read_predictions(path, "post")
    assert len(preds) == len({p.id for p in preds})  # one line per item
    return {p.id: p for p in preds}


def same(a: Prediction, b: Prediction) -> bool:
    return (a.labels, a.status, a.raw, a.reason) == (b.labels, b.status, b.raw, b.reason)


def test_ray_run_equals_the_plain_run_and_they_resume_each_other(local_ray, tmp_path):
    with FakeProviderServer(answer=varied) as srv:
        spec = f"openai-compatible:{srv.openai_base}#bench"
        base = ["predict", "synthetic:posts-test", "--model", spec, "--quiet", "--concurrency", "4"]
        plain = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "plain"), "--cache", str(tmp_path / "c1.sqlite")])
        assert plain.exit_code == 0, plain.output
        srv.reset_counts()
        sharded = tmp_path / "sharded"
        res = CliRunner().invoke(
            app, [*base, "--out", str(sharded), "--cache", str(tmp_path / "c2.sqlite"), "--ray", "--shards", "3"]
        )
        assert res.exit_code == 0, res.output
        assert srv.calls == 314  # its own cache: every item asked once, none twice
        a, b = by_id(tmp_path / "plain" / "predictions.jsonl"), by_id(sharded / "predictions.jsonl")
        assert a.keys() == b.keys() and len(a) == 314
        assert all(same(a[i], b[i]) for i in a)
        assert len({a[i].labels for i in a}) == len(_LABELS)  # the answers vary: the comparison means something
        assert not (sharded / SHARDS_DIR).exists()
        m1 = json.loads((tmp_path / "plain" / "manifest.json").read_text())
        m2 = json.loads((sharded / "manifest.json").read_text())
        assert m1["settings"] == m2["settings"] and m2["status"] == "complete"
        assert m2["counts"] == {"ok": 314, "invalid": 0, "blocked": 0, "error": 0}

        srv.reset_counts()
        again = CliRunner().invoke(app, [*base, "--out", str(sharded), "--cache", str(tmp_path / "c3.sqlite"), "--ray"])
        assert again.exit_code == 0, again.output
        plain_on_sharded = CliRunner().invoke(app, [*base, "--out", str(sharded), "--cache", str(tmp_path / "c3.sqlite")])
        assert plain_on_sharded.exit_code == 0, plain_on_sharded.output
        assert srv.calls == 0  # a finished run, sharded or not, makes no call
        assert by_id(sharded / "predictions.jsonl").keys() == a.keys()


class CountingDetector:
    """Labels by a hash of the text, logs every text it labels, and (once) kills its own process
    on ``crash_on``, as a lost worker would be."""

    spec = "test:counting"

    def __init__(self, log: str, marker: str, crash_on: str | None) -> None:
        self.log, self.marker, self.crash_on = log, marker, crash_on

    def predict(self, texts):
        if self.crash_on in texts and not os.path.exists(self.marker):
            Path(self.marker).touch()
            os._exit(1)  # kill -9 of the worker: nothing of this batch is returned
        with open(self.log, "a", encoding="utf-8") as fh:
            fh.writelines(t + "\n" for t in texts)
        return [Prediction(labels=tuple(varied(t))) for t in texts]


def make_counting(log: str, marker: str, crash_on: str | None) -> CountingDetector:
    return CountingDetector(log, marker, crash_on)


def items(n: int) -> list[WorkItem]:
    return [WorkItem(f"p{i}", f"post number {i}") for i in range(n)]


def test_a_killed_worker_is_retried_and_loses_nothing_duplicates_none(local_ray, tmp_path):
    log, marker = tmp_path / "labelled.txt", tmp_path / "crashed"
    factory = partial(make_counting, str(log), str(marker), "post number 30")
    opts = RunOptions(batch_size=4)
    summary = run_sharded(items(40), factory, tmp_path / "run", options=opts, shards=2, max_retries=2)
    assert marker.exists()  # the worker of the second shard did die
    assert summary.complete and summary.counts["ok"] == 40
    labelled = log.read_text().splitlines()
    assert sorted(labelled) == sorted(i.text for i in items(40))  # every text labelled once: the retry resumed its shard
    got = by_id(tmp_path / "run" / "predictions.jsonl")
    assert list(got) == [i.id for i in items(40)]  # item order
    ref = run_items(items(40), make_counting(str(tmp_path / "ref.txt"), str(marker), None), tmp_path / "plain", options=opts)
    assert ref.complete
    want = by_id(tmp_path / "plain" / "predictions.jsonl")
    assert all(same(got[i], want[i]) for i in want)


def test_shards_left_by_a_killed_driver_are_taken_in_first(local_ray, tmp_path):
    log, marker = tmp_path / "labelled.txt", tmp_path / "never"
    factory = partial(make_counting, str(log), str(marker), None)
    run = tmp_path / "run"
    # what a driver killed mid-run leaves: a shard directory with part of the items, a torn line
    left = run_items(items(40)[:13], factory(), run / SHARDS_DIR / "000", options=RunOptions(batch_size=5))
    assert left.new == 13
    with open(run / SHARDS_DIR / "000" / "predictions.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"id": "p13", "lab')
    log.unlink()
    summary = run_sharded(items(40), factory, run, shards=2)
    assert summary.complete and summary.new == 40 and summary.counts["ok"] == 40
    assert sorted(log.read_text().splitlines()) == sorted(i.text for i in items(40)[13:])  # only the missing ones asked
    assert list(by_id(run / "predictions.jsonl")) == [i.id for i in items(40)]
    assert not (run / SHARDS_DIR).exists()


def test_shards_without_ray_is_refused(tmp_path):
    res = CliRunner().invoke(
        app, ["predict", "synthetic:posts-test", "--model", "local:default", "--out", str(tmp_path / "r"), "--shards", "2"]
    )
    assert res.exit_code != 0 and "add --ray" in res.output
    assert not (tmp_path / "r").exists()


def test_ray_missing_is_a_clear_error(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    res = CliRunner().invoke(
        app, ["predict", "synthetic:posts-test", "--model", "local:default", "--out", str(tmp_path / "r"), "--ray"]
    )
    assert res.exit_code != 0 and "pip install 'cradle-risk[ray]'" in res.output
