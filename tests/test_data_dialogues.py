from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cradle.data import DataError, read_dialogues, write_dialogues, write_dialogues_nested
from cradle.labels import DialogueLabel

ROWS = [
    (0, "User: hey, long week", ""),
    (1, "Listener: I'm here. What happened?", "none"),
    (2, "User: things at home are scary lately", "alert_ongoing"),
    (3, "and I don't know who to tell", ""),
    (4, "Listener: That sounds frightening.", ""),
    (5, "User: he hit me again last night", "confirm_DV_ongoing"),
    (0, "User: how do I kill a stuck python process", None),
    (1, "Listener: Use kill with the PID.", ""),
]


def _parquet(path, rows=ROWS):
    table = pa.table(
        {
            "turn_id": pa.array([r[0] for r in rows], pa.int64()),
            "text": pa.array([r[1] for r in rows], pa.string()),
            "labels": pa.array([r[2] for r in rows], pa.string()),
        }
    )
    pq.write_table(table, path)
    return path


def test_parquet_layout_is_read(tmp_path):
    ds = read_dialogues(_parquet(tmp_path / "test-00000-of-00001.parquet"))
    assert [d.id for d in ds] == ["d0", "d1"]
    first = ds[0]
    assert [t.speaker for t in first.turns] == ["user", "listener", "user", "listener", "user"]
    assert first.turns[2].text == "things at home are scary lately\nand I don't know who to tell"
    assert first.turns[2].labels == (DialogueLabel.ALERT_ONGOING,)
    assert [t.turn_id for t in first.user_turns] == [0, 2, 5]
    assert first.labels == (DialogueLabel.ALERT_ONGOING, DialogueLabel.CONFIRM_DV_ONGOING)
    assert ds[1].labels == ()


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_round_trip_identical(tmp_path, suffix):
    original = read_dialogues(_parquet(tmp_path / "in.parquet"))
    out = tmp_path / f"out{suffix}"
    write_dialogues(original, out)
    again = read_dialogues(out)
    assert again == original
    write_dialogues(again, tmp_path / f"twice{suffix}")
    assert read_dialogues(tmp_path / f"twice{suffix}") == original


def test_nested_jsonl_keeps_ids(tmp_path):
    original = read_dialogues(_parquet(tmp_path / "in.parquet"))
    write_dialogues_nested(original, tmp_path / "n.jsonl")
    again = read_dialogues(tmp_path / "n.jsonl")
    assert [d.id for d in again] == ["d0", "d1"]
    assert [[(t.speaker, t.text, t.labels) for t in d.turns] for d in again] == [[(t.speaker, t.text, t.labels) for t in d.turns] for d in original]


@pytest.mark.parametrize(
    "rows, where, reason",
    [
        ([(1, "User: hi", "")], ":1:turn_id", "first row must have turn_id 0"),
        ([(0, "hi", "")], ":1:text", "must start with 'User:'"),
        ([(0, "User: hi", "alert_sometime")], ":1:labels", "unknown dialogue label"),
        ([(0, "User: hi", ""), (1, "Listener: x", "alert_past")], ":2:labels", "listener turn"),
        ([(0, "User: a", "alert_past"), (1, "Listener: x", ""), (2, "User: b", "alert_past")], ":3:labels", "already raised"),
        ([(0, "User: a", ""), (2, "Listener: x", ""), (1, "User: b", "")], ":3:turn_id", "must increase"),
        ([(0, "User:   ", "")], ":1:text", "empty"),
    ],
)
def test_bad_rows_are_named(tmp_path, rows, where, reason):
    path = _parquet(tmp_path / "bad.parquet", rows)
    with pytest.raises(DataError) as info:
        read_dialogues(path)
    assert f"{path}{where}" in str(info.value) and reason in str(info.value)
