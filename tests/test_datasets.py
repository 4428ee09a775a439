from __future__ import annotations

import builtins
import shutil

import pytest

from cradle.data import DataError, load_dataset, resolve_dataset_path


def test_bench_name_from_local_folder(tmp_path, fixtures_dir, monkeypatch):
    (tmp_path / "test").mkdir()
    shutil.copy(fixtures_dir / "bench_spellings.csv", tmp_path / "test" / "test.csv")
    ds = load_dataset("cradle-bench:test", data_dir=tmp_path)
    assert ds.kind == "posts" and len(ds) == 7 and len(ds.fingerprint) == 16
    monkeypatch.setenv("CRADLE_DATA_DIR", str(tmp_path))
    assert resolve_dataset_path("cradle-bench:test") == tmp_path / "test" / "test.csv"


def test_repo_named_subfolder_is_found(tmp_path, fixtures_dir):
    (tmp_path / "Cradle-Bench" / "dev").mkdir(parents=True)
    shutil.copy(fixtures_dir / "bench_spellings.csv", tmp_path / "Cradle-Bench" / "dev" / "development.csv")
    assert len(load_dataset("cradle-bench:dev", data_dir=tmp_path)) == 7


def test_offline_error_names_the_path(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_hub(name, *args, **kwargs):
        if name.startswith("huggingface_hub"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_hub)
    monkeypatch.delenv("CRADLE_DATA_DIR", raising=False)
    with pytest.raises(DataError) as info:
        load_dataset("cradle-dialogue:test", data_dir=tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "data" / "test-00000-of-00001.parquet") in msg and "--data-dir" in msg


def test_unknown_names_and_missing_files():
    with pytest.raises(DataError, match="known names"):
        load_dataset("cradle-bench:tset")
    with pytest.raises(DataError, match="file not found"):
        load_dataset("no/such/file.csv")


def test_a_folder_is_not_a_dataset(tmp_path):
    with pytest.raises(DataError, match="is a folder"):
        load_dataset(str(tmp_path))


@pytest.mark.parametrize("name, kind", [("synthetic:posts-test", "posts"), ("synthetic:dialogues-dev", "dialogues")])
def test_bundled_synthetic_splits(name, kind):
    ds = load_dataset(name)
    assert ds.kind == kind and len(ds) > 40


def test_synthetic_splits_are_disjoint_and_consistent():
    from cradle.labels import is_consistent

    ids = {}
    for split in ("train", "dev", "test"):
        posts = load_dataset(f"synthetic:posts-{split}").posts
        assert all(is_consistent(p.labels) for p in posts)
        ids[split] = {p.text for p in posts}
    assert not (ids["train"] & ids["dev"]) and not (ids["train"] & ids["test"]) and not (ids["dev"] & ids["test"])


def test_unlabelled_corpus_loads_without_labels(write):
    path = write("corpus.csv", "question_id,question_text\nq1,hello there\nq2,another post\n")
    ds = load_dataset(str(path))
    assert [p.labels for p in ds.posts] == [None, None]
    jpath = write("corpus.jsonl", '{"id": "a", "text": "hi"}\n')
    assert load_dataset(str(jpath)).posts[0].labels is None
