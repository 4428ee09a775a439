"""The shared id check used by scoring, dialogue scoring, ensembles, agreement and training sets."""

from __future__ import annotations

import pytest

from cradle.data import DataError
from cradle.data.alignment import check_ids, compare_ids, id_issues, repeated_ids


def test_compare_counts_each_kind_once_in_order():
    c = compare_ids(["a", "b", "c", "d"], ["d", "x", "b", "x", "b", None, "y"])
    assert c.missing == ["a", "c"]
    assert c.extra == ["x", "y"]  # each extra id once, in the order found
    assert c.repeated == ["x", "b"]
    assert c.unnamed == 1
    assert not c.matches
    assert compare_ids(["a", "b"], ["b", "a"]).matches


def test_issue_order_and_example_cap():
    c = compare_ids([f"g{i}" for i in range(9)], ["z", "z"])
    issues = id_issues(c, "f.jsonl", missing="{n} missing, e.g. {ids}", extra="{n} extra, e.g. {ids}", repeated="{n} rep {ids}")
    assert [i.reason for i in issues] == [
        "1 rep ['z']",
        "9 missing, e.g. ['g0', 'g1', 'g2', 'g3', 'g4']",
        "1 extra, e.g. ['z']",
    ]
    assert all(i.file == "f.jsonl" and i.field == "id" and i.row == 0 for i in issues)


def test_kinds_without_a_template_are_not_reported():
    c = compare_ids(["a"], ["a", "a", None])
    assert id_issues(c, "f", missing="{n}", extra="{n}") == []
    assert [i.reason for i in id_issues(c, "f", unnamed="{n} without id")] == ["1 without id"]


def test_braces_in_names_survive():
    with pytest.raises(DataError, match=r"1 item\(s\) of run \{x\}.jsonl are missing here, e\.g\. \['a'\]"):
        check_ids(["a"], [], "b", missing="{n} item(s) of run {x}.jsonl are missing here, e.g. {ids}")


def test_check_ids_returns_the_comparison_when_all_match():
    assert check_ids(["a", "b"], ["b", "a"], "f", missing="{n}", extra="{n}").matches


def test_repeated_ids():
    assert repeated_ids([]) == []
    assert repeated_ids(["a", "b", "a", "b", "a"]) == ["a", "b", "a"]
