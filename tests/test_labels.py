from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cradle.labels import (
    CRISIS_POST_LABELS,
    DIALOGUE_LABELS,
    POST_LABELS,
    CrisisType,
    DialogueLabel,
    PostLabel,
    UnknownLabelError,
    apply_clinical_rules,
    confirm_to_post,
    is_consistent,
    normalize_dialogue_label,
    normalize_post_label,
    parse_dialogue_labels,
    parse_post_labels,
    post_to_confirm,
)


def test_schema_sizes():
    assert len(POST_LABELS) == 15 and len(CRISIS_POST_LABELS) == 14
    assert len(DIALOGUE_LABELS) == 16
    assert sum(x.is_alert for x in DialogueLabel) == 2


@pytest.mark.parametrize(
    "spelling, canonical",
    [
        ("suicideideation(active)_ongoing", "suicideideation_active_ongoing"),
        ("suicideideation(passive)_past", "suicideideation_passive_past"),
        ("childabuseendangerment_past", "childabuse_endangerment_past"),
        ("No crisis", "no_crisis"),
        ("  SelfHarm_Ongoing ", "selfharm_ongoing"),
        ("sexual harassment - past", "sexualharassment_past"),
        ("Domestic Violence Ongoing", "domesticviolence_ongoing"),
        ("suicidal_ideation_active_past", "suicideideation_active_past"),
        ("child_abuse_ongoing", "childabuse_endangerment_ongoing"),
    ],
)
def test_released_and_model_spellings(spelling, canonical):
    assert normalize_post_label(spelling).value == canonical


def test_unknown_label_names_it_and_suggests():
    with pytest.raises(UnknownLabelError) as info:
        normalize_post_label("selfharm_current")
    assert "selfharm_current" in str(info.value)
    assert info.value.suggestion in ("selfharm_ongoing", "selfharm_past")
    with pytest.raises(UnknownLabelError, match="dialogue label 'alert_now'"):
        normalize_dialogue_label("alert_now")


def test_parse_fields():
    assert parse_post_labels("rape_past, childabuseendangerment_past, rape_past") == [
        PostLabel.RAPE_PAST,
        PostLabel.CHILDABUSE_ENDANGERMENT_PAST,
    ]
    assert parse_dialogue_labels("") == [] and parse_dialogue_labels("none") == [] and parse_dialogue_labels(None) == []
    assert parse_dialogue_labels("alert_past; confirm_SI_passive_past") == [DialogueLabel.ALERT_PAST, DialogueLabel.CONFIRM_SI_PASSIVE_PAST]


def test_post_confirm_mapping_is_a_bijection():
    confirms = {post_to_confirm(x) for x in CRISIS_POST_LABELS}
    assert confirms == {x for x in DialogueLabel if x.is_confirm}
    for x in CRISIS_POST_LABELS:
        assert confirm_to_post(post_to_confirm(x)) is x
    assert post_to_confirm("no_crisis") is None and confirm_to_post("alert_ongoing") is None
    assert post_to_confirm("childabuse_endangerment_ongoing").value == "confirm_CA_ongoing"
    assert CrisisType.SEXUAL_HARASSMENT.code == "SHA"


@pytest.mark.parametrize(
    "given_labels, expected, rules",
    [
        (["selfharm_ongoing", "selfharm_past"], ["selfharm_ongoing"], ["ongoing_over_past"]),
        (["no_crisis", "rape_past"], ["rape_past"], ["no_crisis_alone"]),
        (["suicideideation_active_ongoing", "suicideideation_passive_ongoing"], ["suicideideation_active_ongoing"], ["severity"]),
        (["rape_past", "sexualharassment_past"], ["rape_past"], ["severity"]),
        (["rape_past", "sexualharassment_ongoing"], ["rape_past", "sexualharassment_ongoing"], []),
        (["suicideideation_passive_past", "suicideideation_active_ongoing"], ["suicideideation_active_ongoing", "suicideideation_passive_past"], []),
        (["no_crisis"], ["no_crisis"], []),
    ],
)
def test_rules_report_what_fired(given_labels, expected, rules):
    r = apply_clinical_rules(given_labels)
    assert [x.value for x in r.labels] == [x for x in (y.value for y in POST_LABELS) if x in expected]
    assert [f.rule for f in r.fired] == rules
    assert is_consistent(given_labels) == (not rules)


@given(st.sets(st.sampled_from(POST_LABELS)))
def test_rules_are_idempotent_and_shrinking(labels):
    r = apply_clinical_rules(labels)
    assert set(r.labels) <= set(labels)
    assert is_consistent(r.labels)
    assert apply_clinical_rules(r.labels).labels == r.labels
    if labels:
        assert r.labels, "rules never empty a non-empty set"
