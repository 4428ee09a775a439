from __future__ import annotations

import json

import pytest

from cradle.data import DataError, Post, read_posts, read_posts_csv, strip_instruction, write_posts_csv, write_posts_jsonl
from cradle.labels import PostLabel

HEADER = "question_id,question_text,final_labels\n"


def test_released_spellings_become_canonical(fixtures_dir):
    posts = read_posts_csv(fixtures_dir / "bench_spellings.csv")
    by_id = {p.id: p for p in posts}
    assert [x.value for x in by_id["q1"].labels] == ["suicideideation_active_ongoing"]
    assert [x.value for x in by_id["q2"].labels] == ["suicideideation_passive_past"]
    assert [x.value for x in by_id["q3"].labels] == ["childabuse_endangerment_past"]
    assert by_id["q4"].labels == (PostLabel.NO_CRISIS,)
    assert [x.value for x in by_id["q5"].labels] == ["selfharm_past", "domesticviolence_ongoing"]
    assert by_id["q6"].labels == (PostLabel.SEXUALHARASSMENT_ONGOING,)
    assert "For any crisis present" not in by_id["q1"].text
    assert by_id["q1"].text.endswith("last night.")


def test_strip_instruction_leaves_other_text():
    assert strip_instruction("no instruction here") == "no instruction here"


@pytest.mark.parametrize(
    "body, where, reason",
    [
        ('q1,"text",selfharm_ongoing\nq2,"other",selfharm_currently\n', ":3:final_labels", "did you mean"),
        ('q1,"",no_crisis\n', ":2:question_text", "empty text"),
        ('q1,"a",no_crisis\nq1,"b",no_crisis\n', ":3:question_id", "duplicate id 'q1' (first at row 2)"),
        ('q1,"a",\n', ":2:final_labels", "no label"),
    ],
)
def test_bad_rows_are_named(write, body, where, reason):
    path = write("bad.csv", HEADER + body)
    with pytest.raises(DataError) as info:
        read_posts_csv(path)
    message = str(info.value)
    assert f"{path}{where}" in message and reason in message


def test_every_bad_row_is_reported_not_only_the_first(write):
    path = write("bad.csv", HEADER + 'q1,"",no_crisis\nq2,"x",nope_label\nq3,"fine",no_crisis\n')
    with pytest.raises(DataError) as info:
        read_posts_csv(path)
    assert [i.row for i in info.value.issues] == [2, 3]


def test_missing_column(write):
    path = write("bad.csv", "question_id,question_text\nq1,hello\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['final_labels'\]"):
        read_posts_csv(path)


def test_headerless_file_keeps_its_first_post_out_of_the_error(write):
    secret = "I have been cutting again every night and nobody knows"
    path = write("bad.csv", f'q1,"{secret}",selfharm_ongoing\nq2,"fine",no_crisis\n')
    with pytest.raises(DataError, match=r"missing column\(s\)") as info:
        read_posts_csv(path)
    assert "cutting" not in str(info.value) and "'q1'" in str(info.value)


def test_text_in_the_labels_column_is_not_quoted_in_the_error(write):
    secret = "my stepdad hits me when he drinks and I am scared to go home"
    path = write("bad.csv", HEADER + f'q1,"hello","{secret}"\n')
    with pytest.raises(DataError, match=r"unknown post label of \d+ characters") as info:
        read_posts_csv(path)
    assert "stepdad" not in str(info.value)


def test_non_utf8_byte_names_the_line(write):
    path = write("bad.csv", HEADER.encode() + b'q1,"fine",no_crisis\nq2,"caf\xe9",no_crisis\n')
    with pytest.raises(DataError) as info:
        read_posts_csv(path)
    assert f"{path}:3" in str(info.value) and "0xe9" in str(info.value)


def test_jsonl_and_round_trip(tmp_path, write):
    path = write("p.jsonl", json.dumps({"id": "a", "text": "hi there", "labels": ["No crisis"]}) + "\n\n" + json.dumps({"id": "b", "text": "x", "labels": "rape_past"}) + "\n")
    posts = read_posts(path)
    assert [p.labels for p in posts] == [(PostLabel.NO_CRISIS,), (PostLabel.RAPE_PAST,)]
    write_posts_csv(posts, tmp_path / "out.csv")
    write_posts_jsonl(posts, tmp_path / "out.jsonl")
    assert read_posts(tmp_path / "out.csv") == posts == read_posts(tmp_path / "out.jsonl")


def test_jsonl_bad_line(write):
    path = write("p.jsonl", '{"id": "a", "text": "hi", "labels": ["no_crisis"]}\n{not json}\n')
    with pytest.raises(DataError, match=r"p.jsonl:2: not valid JSON"):
        read_posts(path)


def test_generic_columns(write):
    path = write("g.csv", "pid,body,tags\n1,hello,no_crisis\n")
    posts = read_posts_csv(path, id_field="pid", text_field="body", labels_field="tags")
    assert posts == [Post("1", "hello", (PostLabel.NO_CRISIS,))]
    unlabelled = read_posts_csv(path, id_field="pid", text_field="body", labels_field=None)
    assert unlabelled[0].labels is None
