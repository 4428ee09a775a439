"""Posts, dialogues and predictions: types, readers, writers and dataset names."""

from cradle.data.datasets import (
    DATASET_FILES,
    Dataset,
    DialogueDataset,
    PostDataset,
    file_fingerprint,
    load_dataset,
    resolve_dataset_path,
    synthetic_path,
)
from cradle.data.dialogues import dialogue_rows, read_dialogues, write_dialogues, write_dialogues_nested
from cradle.data.errors import DataError, RowIssue
from cradle.data.posts import (
    BENCH_COLUMNS,
    read_posts,
    read_posts_csv,
    read_posts_jsonl,
    strip_instruction,
    write_posts_csv,
    write_posts_jsonl,
)
from cradle.data.predictions import (
    Prediction,
    Status,
    append_prediction,
    prediction_to_json,
    read_predictions,
    write_predictions,
)
from cradle.data.types import Dialogue, Post, Turn

__all__ = [
    "BENCH_COLUMNS",
    "DATASET_FILES",
    "DataError",
    "Dataset",
    "Dialogue",
    "DialogueDataset",
    "Post",
    "PostDataset",
    "Prediction",
    "RowIssue",
    "Status",
    "Turn",
    "append_prediction",
    "dialogue_rows",
    "file_fingerprint",
    "load_dataset",
    "prediction_to_json",
    "read_dialogues",
    "read_posts",
    "read_posts_csv",
    "read_posts_jsonl",
    "read_predictions",
    "resolve_dataset_path",
    "strip_instruction",
    "synthetic_path",
    "write_dialogues",
    "write_dialogues_nested",
    "write_posts_csv",
    "write_posts_jsonl",
    "write_predictions",
]
