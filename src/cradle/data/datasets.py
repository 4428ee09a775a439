"""Datasets by file path or by name.

Names:

- ``cradle-bench:{train_consensus,train_unanimous,dev,test}`` and
  ``cradle-dialogue:{train,validation,test}``: read from a local folder laid out like the hub
  repository (``--data-dir`` or ``CRADLE_DATA_DIR``), else downloaded from the Hugging Face Hub
  when ``huggingface_hub`` is installed and the machine is online;
- ``synthetic:posts-{train,dev,test}`` and ``synthetic:dialogues-{train,dev,test}``: the
  synthetic corpus shipped inside the package (see ``docs/datasheet.md``);
- ``real:posts-test`` and ``real:dialogues-test``: the held-out split of the real-text corpus
  (public Reddit posts voted by three annotators, ``docs/datasheet-real.md``) and the
  conversations built from it, shipped for the demo and for checks on real text;
  ``real:alert-dialogues-test``: conversations of short real test texts whose every user turn is
  annotated (alerts included, ``scripts/build_alert_dialogues.py``).

A path is read by its suffix; a ``.csv`` or ``.jsonl`` file is recognised as dialogues when it
has a ``turn_id`` column or ``turns`` objects.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal, Union

from cradle.data._text import csv_header, first_json_object
from cradle.data.dialogues import read_dialogues
from cradle.data.errors import DataError
from cradle.data.posts import read_posts
from cradle.data.types import Dialogue, Post

__all__ = [
    "BENCH_REPO",
    "DIALOGUE_REPO",
    "DATASET_FILES",
    "PostDataset",
    "DialogueDataset",
    "Dataset",
    "load_dataset",
    "resolve_dataset_path",
    "file_fingerprint",
    "synthetic_path",
]

BENCH_REPO = "SungJoo/Cradle-Bench"
DIALOGUE_REPO = "SungJoo/Cradle-Dialogue"
#: name -> (hub repository, path inside it)
DATASET_FILES: dict[str, tuple[str, str]] = {
    "cradle-bench:train_consensus": (BENCH_REPO, "train/train_consensus.csv"),
    "cradle-bench:train_unanimous": (BENCH_REPO, "train/train_unanimous.csv"),
    "cradle-bench:dev": (BENCH_REPO, "dev/development.csv"),
    "cradle-bench:test": (BENCH_REPO, "test/test.csv"),
    "cradle-dialogue:train": (DIALOGUE_REPO, "data/train-00000-of-00001.parquet"),
    "cradle-dialogue:validation": (DIALOGUE_REPO, "data/validation-00000-of-00001.parquet"),
    "cradle-dialogue:test": (DIALOGUE_REPO, "data/test-00000-of-00001.parquet"),
}
_SYNTHETIC = {
    f"synthetic:{kind}-{split}": f"{kind}_{split}.{'csv' if kind == 'posts' else 'jsonl'}"
    for kind in ("posts", "dialogues")
    for split in ("train", "dev", "test")
}
_REAL = {"real:posts-test": "posts_test.csv", "real:dialogues-test": "dialogues_test.jsonl", "real:alert-dialogues-test": "alert_dialogues_test.jsonl"}


def file_fingerprint(path: str | Path) -> str:
    """SHA-256 of the file's bytes (hex, first 16 characters)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


@dataclass
class PostDataset:
    """Labelled or unlabelled posts read from one file."""

    name: str
    path: Path
    posts: list[Post]
    fingerprint: str
    kind: Literal["posts"] = field(default="posts", init=False)

    def __len__(self) -> int:
        return len(self.posts)


@dataclass
class DialogueDataset:
    """Dialogues read from one file."""

    name: str
    path: Path
    dialogues: list[Dialogue]
    fingerprint: str
    kind: Literal["dialogues"] = field(default="dialogues", init=False)

    def __len__(self) -> int:
        return len(self.dialogues)

    @property
    def n_user_turns(self) -> int:
        """User turns over all dialogues (the items a turn-level run labels)."""
        return sum(len(d.user_turns) for d in self.dialogues)


Dataset = Union[PostDataset, DialogueDataset]


def synthetic_path(name: str) -> Path:
    """Path of a bundled split, e.g. ``synthetic:posts-test`` or ``real:posts-test``."""
    if name in _REAL:
        return Path(str(resources.files("cradle.resources").joinpath("real", _REAL[name])))
    if name not in _SYNTHETIC:
        raise DataError.single(name, f"unknown synthetic split; choose one of {sorted(_SYNTHETIC)}")
    return Path(str(resources.files("cradle.resources").joinpath("synthetic", _SYNTHETIC[name])))


def _hub_download(repo: str, filename: str, name: str, local_hint: str) -> Path:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise DataError.single(
            name,
            f"not found locally and huggingface_hub is not installed. Download {repo} and pass "
            f"--data-dir DIR (expects {local_hint}) or set CRADLE_DATA_DIR, or pip install 'cradle-risk[hub]'",
        ) from None
    try:
        return Path(hf_hub_download(repo_id=repo, filename=filename, repo_type="dataset"))
    except Exception as exc:  # offline, gated, or missing: say what to do instead
        raise DataError.single(
            name,
            f"could not fetch {filename} from the hub ({type(exc).__name__}). Offline? Download {repo} "
            f"elsewhere and pass --data-dir DIR (expects {local_hint}) or set CRADLE_DATA_DIR",
        ) from None


def resolve_dataset_path(spec: str, data_dir: str | Path | None = None) -> Path:
    """Turn a dataset name or path into a local file path.

    Raises
    ------
    DataError
        For an unknown name, or a benchmark file that is neither local nor downloadable; the
        message names the exact path that was looked for.
    """
    if spec in _SYNTHETIC or spec in _REAL:
        return synthetic_path(spec)
    if spec in DATASET_FILES:
        repo, filename = DATASET_FILES[spec]
        root = data_dir or os.environ.get("CRADLE_DATA_DIR")
        tried: list[Path] = []
        if root:
            base = Path(root).expanduser()
            for cand in (base / filename, base / repo.split("/")[1] / filename):
                tried.append(cand)
                if cand.is_file():
                    return cand
            hint = str(tried[0])
        else:
            hint = f"DIR/{filename}"
        return _hub_download(repo, filename, spec, hint)
    if ":" in spec and not Path(spec).exists() and spec.split(":", 1)[0] in ("cradle-bench", "cradle-dialogue", "synthetic", "real"):
        known = sorted([*DATASET_FILES, *_SYNTHETIC, *_REAL])
        raise DataError.single(spec, f"unknown dataset name; known names: {', '.join(known)}")
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError.single(spec, "file not found (and not a dataset name such as cradle-bench:test)")
    if path.is_dir():
        raise DataError.single(spec, "is a folder; give a data file (.csv, .jsonl or .parquet) or a dataset name")
    return path


def _sniff(path: Path) -> tuple[bool, str | None]:
    """Whether a file holds dialogues and, for posts, its label field (``None``: unlabelled).

    Reads only the header or the first JSON line.
    """
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return True, None
    if suffix in (".jsonl", ".json", ".ndjson"):
        rec = first_json_object(path)
        if rec is not None and ("turns" in rec or "turn_id" in rec):
            return True, None
        return False, None if rec is not None and "labels" not in rec else "labels"  # a bad line: the reader names it
    header = csv_header(path)
    if "turn_id" in header:
        return True, None
    return False, "final_labels" if "final_labels" in header or not header else None


def load_dataset(spec: str, data_dir: str | Path | None = None, kind: str | None = None) -> Dataset:
    """Load posts or dialogues from a path or a dataset name.

    Parameters
    ----------
    spec : str
        A path or a name such as ``cradle-bench:test`` or ``synthetic:dialogues-test``.
    data_dir : path, optional
        Local folder laid out like the hub repositories.
    kind : {"posts", "dialogues"}, optional
        Force the kind instead of detecting it.

    A post file without a label column (``final_labels`` in CSV, ``labels`` in JSON Lines) is
    read as an unlabelled corpus: its posts have ``labels=None`` (fine for ``predict``;
    scoring refuses it).

    Examples
    --------
    >>> ds = load_dataset("synthetic:posts-test")
    >>> ds.kind
    'posts'
    """
    path = resolve_dataset_path(spec, data_dir)
    sniffed_dialogue, labels_field = _sniff(path)
    is_dialogue = kind == "dialogues" if kind else sniffed_dialogue
    fp = file_fingerprint(path)
    if is_dialogue:
        return DialogueDataset(spec, path, read_dialogues(path), fp)
    return PostDataset(spec, path, read_posts(path, labels_field=labels_field), fp)
