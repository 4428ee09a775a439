"""Label schemas, spelling normalisation and clinical consistency rules (no dependencies)."""

from cradle.labels.normalize import (
    EMPTY_LABEL_MARKERS,
    UnknownLabelError,
    label_key,
    normalize_dialogue_label,
    normalize_post_label,
    parse_dialogue_labels,
    parse_post_labels,
)
from cradle.labels.rules import ConsistencyResult, RuleFiring, apply_clinical_rules, is_consistent
from cradle.labels.schema import (
    CRISIS_POST_LABELS,
    DIALOGUE_LABELS,
    POST_LABELS,
    CrisisType,
    DialogueLabel,
    PostLabel,
    TimeFrame,
    confirm_label,
    confirm_to_post,
    post_label,
    post_to_confirm,
)

__all__ = [
    "CRISIS_POST_LABELS",
    "DIALOGUE_LABELS",
    "EMPTY_LABEL_MARKERS",
    "POST_LABELS",
    "ConsistencyResult",
    "CrisisType",
    "DialogueLabel",
    "PostLabel",
    "RuleFiring",
    "TimeFrame",
    "UnknownLabelError",
    "apply_clinical_rules",
    "confirm_label",
    "confirm_to_post",
    "is_consistent",
    "label_key",
    "normalize_dialogue_label",
    "normalize_post_label",
    "parse_dialogue_labels",
    "parse_post_labels",
    "post_label",
    "post_to_confirm",
]
