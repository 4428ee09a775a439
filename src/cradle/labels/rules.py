"""Clinical consistency rules for post label sets.

Three rules make a label set consistent, applied in this order:

1. ``severity`` -- within one time frame, the more severe label of a pair subsumes the milder:
   active suicidal ideation subsumes passive ideation, and rape subsumes sexual harassment.
   This is the label-level form of the annotators' "same incident" rule: a label set cannot
   tell whether two labels of one time frame come from one incident, so they are treated as
   one. Pairs across time frames (``suicideideation_passive_past`` with
   ``suicideideation_active_ongoing``) are kept.
2. ``ongoing_over_past`` -- when one crisis type is both ongoing and past, only ``_ongoing``
   is kept.
3. ``no_crisis_alone`` -- ``no_crisis`` cannot stand beside a crisis label; the crisis
   labels are kept.

Severity runs first so that the result keeps as much as the rules allow: from
``{passive_ongoing, passive_past, active_ongoing}`` it yields
``{active_ongoing, passive_past}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cradle.labels.normalize import normalize_post_label
from cradle.labels.schema import POST_LABELS, CrisisType, PostLabel, TimeFrame, post_label

__all__ = ["SEVERITY_PAIRS", "RuleFiring", "ConsistencyResult", "apply_clinical_rules", "is_consistent"]

#: (more severe, milder) crisis types: within one time frame the first subsumes the second.
SEVERITY_PAIRS: tuple[tuple[CrisisType, CrisisType], ...] = (
    (CrisisType.SUICIDE_IDEATION_ACTIVE, CrisisType.SUICIDE_IDEATION_PASSIVE),
    (CrisisType.RAPE, CrisisType.SEXUAL_HARASSMENT),
)


@dataclass(frozen=True)
class RuleFiring:
    """One application of a rule.

    Attributes
    ----------
    rule : str
        ``"severity"``, ``"ongoing_over_past"`` or ``"no_crisis_alone"``.
    removed : PostLabel
        The label the rule dropped.
    kept : PostLabel
        The label that caused the drop.
    message : str
        A sentence a reviewer can read.
    """

    rule: str
    removed: PostLabel
    kept: PostLabel
    message: str


@dataclass(frozen=True)
class ConsistencyResult:
    """Labels after the rules, in canonical order, and the rules that fired."""

    labels: tuple[PostLabel, ...]
    fired: tuple[RuleFiring, ...]

    @property
    def changed(self) -> bool:
        """True when at least one rule fired."""
        return bool(self.fired)


def apply_clinical_rules(labels: Iterable[PostLabel | str]) -> ConsistencyResult:
    """Make a post label set clinically consistent and report every rule that fired.

    Parameters
    ----------
    labels : iterable of PostLabel or str
        Labels in any accepted spelling; duplicates are ignored.

    Returns
    -------
    ConsistencyResult
        The consistent labels in canonical order and the firings, in the order applied.

    Examples
    --------
    >>> r = apply_clinical_rules(["rape_past", "sexualharassment_past", "rape_ongoing"])
    >>> [x.value for x in r.labels]
    ['rape_ongoing']
    >>> [f.rule for f in r.fired]
    ['severity', 'ongoing_over_past']
    """
    current = {normalize_post_label(x) if isinstance(x, str) else PostLabel(x) for x in labels}
    fired: list[RuleFiring] = []

    for severe, mild in SEVERITY_PAIRS:
        for frame in TimeFrame:
            hi, lo = post_label(severe, frame), post_label(mild, frame)
            if hi in current and lo in current:
                current.discard(lo)
                fired.append(
                    RuleFiring(
                        "severity",
                        lo,
                        hi,
                        f"{hi.value} subsumes {lo.value} in the same time frame",
                    )
                )

    for crisis in CrisisType:
        now, before = post_label(crisis, TimeFrame.ONGOING), post_label(crisis, TimeFrame.PAST)
        if now in current and before in current:
            current.discard(before)
            fired.append(
                RuleFiring(
                    "ongoing_over_past",
                    before,
                    now,
                    f"{crisis.value} is both ongoing and past: only {now.value} is kept",
                )
            )

    crises = sorted((x for x in current if x is not PostLabel.NO_CRISIS), key=POST_LABELS.index)
    if PostLabel.NO_CRISIS in current and crises:
        current.discard(PostLabel.NO_CRISIS)
        fired.append(
            RuleFiring(
                "no_crisis_alone",
                PostLabel.NO_CRISIS,
                crises[0],
                "no_crisis cannot stand beside a crisis label",
            )
        )
    ordered = tuple(x for x in POST_LABELS if x in current)
    return ConsistencyResult(ordered, tuple(fired))


def is_consistent(labels: Iterable[PostLabel | str]) -> bool:
    """True when no clinical rule would change the label set.

    Examples
    --------
    >>> is_consistent(["suicideideation_passive_past", "suicideideation_active_ongoing"])
    True
    >>> is_consistent(["no_crisis", "selfharm_past"])
    False
    """
    return not apply_clinical_rules(labels).changed
