"""Clinical-rule audit of post predictions: the paper's failure patterns, counted.

Two families of counts, each over predictions (one post counts once per pattern, however many
labels take part in it):

**Rule violations** (no gold needed): predicted label sets that break the clinical rules of
:mod:`cradle.labels.rules`.

- ``no_crisis_with_crisis``: ``no_crisis`` beside a crisis label.
- ``active_and_passive_same_frame``: active and passive suicidal ideation in one time frame
  (active subsumes passive; ``passive_past`` with ``active_ongoing`` is allowed).
- ``rape_and_harassment_same_frame``: rape and sexual harassment in one time frame (rape
  subsumes harassment).
- ``both_time_frames``: one crisis type both ``_ongoing`` and ``_past`` (only ``_ongoing``
  should be kept); ``both_time_frames_by_type`` splits it by type.

**Error classes** (against gold), the failure patterns the benchmark paper names:

- ``childabuse_without_gold``: a child-abuse label predicted on a post whose gold set has none.
- ``active_passive_confusion``: in a time frame where gold has one degree of suicidal
  ideation, the prediction lacks it and has the other degree instead; split into
  ``active_for_passive`` (gold passive, predicted active) and ``passive_for_active``.
- ``wrong_time_frame``: a crisis type gold has in one time frame is predicted only in the other
  (``selfharm_past`` gold, ``selfharm_ongoing`` predicted); ``wrong_time_frame_by_type``
  splits it by type.

Only ``ok`` predictions carry labels; the callers pass label sets (empty for any other status)
so that these functions stay pure. Each count comes with up to five example ids.

Examples
--------
>>> v = rule_violations([("a", ["no_crisis", "selfharm_past"]), ("b", ["rape_past", "rape_ongoing"])])
>>> v["no_crisis_with_crisis"], v["both_time_frames"], v["any"]
(1, 1, 2)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from cradle.labels import CrisisType, PostLabel, TimeFrame, normalize_post_label, post_label
from cradle.labels.rules import SEVERITY_PAIRS

__all__ = ["RULE_VIOLATIONS", "ERROR_CLASSES", "DESCRIPTIONS", "rule_violations", "error_classes"]

#: The rule-violation counters, in report order.
RULE_VIOLATIONS = (
    "no_crisis_with_crisis",
    "active_and_passive_same_frame",
    "rape_and_harassment_same_frame",
    "both_time_frames",
)
#: The error-class counters, in report order.
ERROR_CLASSES = ("childabuse_without_gold", "active_passive_confusion", "wrong_time_frame")

#: A short phrase for every counter (for tables and reports).
DESCRIPTIONS = {
    "no_crisis_with_crisis": "no_crisis beside a crisis label",
    "active_and_passive_same_frame": "active and passive ideation, same time frame",
    "rape_and_harassment_same_frame": "rape and sexual harassment, same time frame",
    "both_time_frames": "one crisis type both ongoing and past",
    "any": "any rule broken",
    "childabuse_without_gold": "child abuse predicted, none in gold",
    "active_passive_confusion": "active/passive ideation confused",
    "active_for_passive": "active predicted for gold passive",
    "passive_for_active": "passive predicted for gold active",
    "wrong_time_frame": "right type, wrong time frame",
}

_EXAMPLES = 5
_PAIR_NAMES = {
    CrisisType.SUICIDE_IDEATION_ACTIVE: "active_and_passive_same_frame",
    CrisisType.RAPE: "rape_and_harassment_same_frame",
}
_CHILD_ABUSE = frozenset(post_label(CrisisType.CHILD_ABUSE, f) for f in TimeFrame)


def _labels(labels: Iterable[PostLabel | str]) -> frozenset[PostLabel]:
    return frozenset(normalize_post_label(x) if isinstance(x, str) else PostLabel(x) for x in labels)


class _Tally:
    def __init__(self, names: Sequence[str]) -> None:
        self.counts = dict.fromkeys(names, 0)
        self.examples: dict[str, list[str]] = {k: [] for k in names}

    def add(self, name: str, item_id: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1
        shown = self.examples.setdefault(name, [])
        if len(shown) < _EXAMPLES:
            shown.append(item_id)


def _violations_of(labels: Collection[PostLabel]) -> tuple[list[str], list[str]]:
    """(violated rules, crisis types predicted in both time frames) of one label set."""
    broken = []
    if PostLabel.NO_CRISIS in labels and len(labels) > 1:
        broken.append("no_crisis_with_crisis")
    for severe, mild in SEVERITY_PAIRS:
        if any(post_label(severe, f) in labels and post_label(mild, f) in labels for f in TimeFrame):
            broken.append(_PAIR_NAMES[severe])
    both = [t.value for t in CrisisType if all(post_label(t, f) in labels for f in TimeFrame)]
    if both:
        broken.append("both_time_frames")
    return broken, both


def rule_violations(predictions: Iterable[tuple[str, Iterable[PostLabel | str]]]) -> dict[str, Any]:
    """Count predicted label sets that break the clinical rules.

    Parameters
    ----------
    predictions : iterable of (id, labels)
        One predicted label set per item (empty for a prediction that is not ``ok``).

    Returns
    -------
    dict
        ``n`` (items seen), one count per name of :data:`RULE_VIOLATIONS`, ``any`` (items that
        break at least one rule), ``both_time_frames_by_type`` and ``examples`` (up to five ids
        per count).

    Examples
    --------
    >>> r = rule_violations([("x", ["suicideideation_active_ongoing", "suicideideation_passive_ongoing"]),
    ...                      ("y", ["suicideideation_active_ongoing", "suicideideation_passive_past"])])
    >>> r["active_and_passive_same_frame"], r["examples"]["active_and_passive_same_frame"]
    (1, ['x'])
    """
    tally = _Tally([*RULE_VIOLATIONS, "any"])
    by_type = {t.value: 0 for t in CrisisType}
    n = 0
    for item_id, labels in predictions:
        n += 1
        broken, both = _violations_of(_labels(labels))
        for name in broken:
            tally.add(name, item_id)
        for t in both:
            by_type[t] += 1
        if broken:
            tally.add("any", item_id)
    return {"n": n, **tally.counts, "both_time_frames_by_type": by_type, "examples": tally.examples}


def error_classes(items: Iterable[tuple[str, Iterable[PostLabel | str], Iterable[PostLabel | str]]]) -> dict[str, Any]:
    """Count the benchmark's known error patterns of predictions against gold.

    Parameters
    ----------
    items : iterable of (id, gold labels, predicted labels)
        Aligned items (predicted labels empty for a prediction that is not ``ok``).

    Returns
    -------
    dict
        ``n``, one count per name of :data:`ERROR_CLASSES`, ``active_for_passive``,
        ``passive_for_active``, ``wrong_time_frame_by_type`` and ``examples``.

    Examples
    --------
    >>> e = error_classes([("a", ["selfharm_past"], ["selfharm_ongoing", "childabuse_endangerment_past"]),
    ...                    ("b", ["suicideideation_passive_ongoing"], ["suicideideation_active_ongoing"])])
    >>> e["childabuse_without_gold"], e["wrong_time_frame"], e["active_passive_confusion"], e["active_for_passive"]
    (1, 1, 1, 1)
    """
    tally = _Tally([*ERROR_CLASSES, "active_for_passive", "passive_for_active"])
    by_type = {t.value: 0 for t in CrisisType}
    active, passive = CrisisType.SUICIDE_IDEATION_ACTIVE, CrisisType.SUICIDE_IDEATION_PASSIVE
    n = 0
    for item_id, gold_labels, predicted_labels in items:
        n += 1
        gold, pred = _labels(gold_labels), _labels(predicted_labels)
        if pred & _CHILD_ABUSE and not gold & _CHILD_ABUSE:
            tally.add("childabuse_without_gold", item_id)
        directions = []
        for want, got, name in ((passive, active, "active_for_passive"), (active, passive, "passive_for_active")):
            if any(
                post_label(want, f) in gold and post_label(want, f) not in pred and post_label(got, f) in pred for f in TimeFrame
            ):
                directions.append(name)
        for name in directions:
            tally.add(name, item_id)
        if directions:
            tally.add("active_passive_confusion", item_id)
        swapped = [
            t.value
            for t in CrisisType
            if any(
                post_label(t, f) in gold and post_label(t, f) not in pred and post_label(t, o) in pred
                for f, o in ((TimeFrame.ONGOING, TimeFrame.PAST), (TimeFrame.PAST, TimeFrame.ONGOING))
            )
        ]
        for t in swapped:
            by_type[t] += 1
        if swapped:
            tally.add("wrong_time_frame", item_id)
    return {"n": n, **tally.counts, "wrong_time_frame_by_type": by_type, "examples": tally.examples}
