"""Multi-label scores, bootstrap intervals and annotator agreement (scikit-learn semantics)."""

from cradle.metrics._validation import check_targets, label_matrix
from cradle.metrics.agreement import annotator_agreement, cohen_kappa, gwet_ac1, sample_jaccard_agreement
from cradle.metrics.bootstrap import PairedComparison, bootstrap_ci, bootstrap_weights, paired_bootstrap
from cradle.metrics.dialogue import score_dialogues
from cradle.metrics.multilabel import (
    SCALAR_METRICS,
    LabelCounts,
    count_labels,
    exact_match,
    jaccard,
    multilabel_scores,
    per_label_scores,
    precision_recall_f1,
    scores_from_counts,
)

__all__ = [
    "SCALAR_METRICS",
    "LabelCounts",
    "PairedComparison",
    "annotator_agreement",
    "bootstrap_ci",
    "bootstrap_weights",
    "check_targets",
    "cohen_kappa",
    "count_labels",
    "exact_match",
    "gwet_ac1",
    "jaccard",
    "label_matrix",
    "multilabel_scores",
    "paired_bootstrap",
    "per_label_scores",
    "precision_recall_f1",
    "sample_jaccard_agreement",
    "score_dialogues",
    "scores_from_counts",
]
