"""The two label schemas: 15 post labels and 16 dialogue (Alert-Confirm) labels.

Labels are plain ``str`` enums so that they compare equal to their canonical strings,
serialise to JSON as those strings and sort alphabetically.
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "CrisisType",
    "TimeFrame",
    "PostLabel",
    "DialogueLabel",
    "POST_LABELS",
    "DIALOGUE_LABELS",
    "CRISIS_POST_LABELS",
    "post_label",
    "confirm_label",
    "post_to_confirm",
    "confirm_to_post",
]


class CrisisType(str, Enum):
    """The seven crisis types shared by both schemas.

    The value is the stem used by post labels; :attr:`code` is the dialogue abbreviation.
    """

    SUICIDE_IDEATION_ACTIVE = "suicideideation_active"
    SUICIDE_IDEATION_PASSIVE = "suicideideation_passive"
    SELF_HARM = "selfharm"
    DOMESTIC_VIOLENCE = "domesticviolence"
    RAPE = "rape"
    SEXUAL_HARASSMENT = "sexualharassment"
    CHILD_ABUSE = "childabuse_endangerment"

    @property
    def code(self) -> str:
        """Abbreviation used in dialogue confirm labels (``SI_active``, ``CA``, ...)."""
        return _TYPE_CODES[self]

    def __str__(self) -> str:
        return self.value


_TYPE_CODES = {
    CrisisType.SUICIDE_IDEATION_ACTIVE: "SI_active",
    CrisisType.SUICIDE_IDEATION_PASSIVE: "SI_passive",
    CrisisType.SELF_HARM: "SH",
    CrisisType.DOMESTIC_VIOLENCE: "DV",
    CrisisType.RAPE: "RA",
    CrisisType.SEXUAL_HARASSMENT: "SHA",
    CrisisType.CHILD_ABUSE: "CA",
}


class TimeFrame(str, Enum):
    """Whether a crisis is happening now (or its risk persists) or is disclosed as over."""

    ONGOING = "ongoing"
    PAST = "past"

    def __str__(self) -> str:
        return self.value


class PostLabel(str, Enum):
    """The 15 labels of CRADLE Bench posts (canonical spellings)."""

    SUICIDEIDEATION_ACTIVE_ONGOING = "suicideideation_active_ongoing"
    SUICIDEIDEATION_ACTIVE_PAST = "suicideideation_active_past"
    SUICIDEIDEATION_PASSIVE_ONGOING = "suicideideation_passive_ongoing"
    SUICIDEIDEATION_PASSIVE_PAST = "suicideideation_passive_past"
    SELFHARM_ONGOING = "selfharm_ongoing"
    SELFHARM_PAST = "selfharm_past"
    DOMESTICVIOLENCE_ONGOING = "domesticviolence_ongoing"
    DOMESTICVIOLENCE_PAST = "domesticviolence_past"
    RAPE_ONGOING = "rape_ongoing"
    RAPE_PAST = "rape_past"
    SEXUALHARASSMENT_ONGOING = "sexualharassment_ongoing"
    SEXUALHARASSMENT_PAST = "sexualharassment_past"
    CHILDABUSE_ENDANGERMENT_ONGOING = "childabuse_endangerment_ongoing"
    CHILDABUSE_ENDANGERMENT_PAST = "childabuse_endangerment_past"
    NO_CRISIS = "no_crisis"

    @property
    def crisis_type(self) -> CrisisType | None:
        """The crisis type, or ``None`` for ``no_crisis``."""
        if self is PostLabel.NO_CRISIS:
            return None
        return CrisisType(self.value.rsplit("_", 1)[0])

    @property
    def time_frame(self) -> TimeFrame | None:
        """``ongoing`` or ``past``, or ``None`` for ``no_crisis``."""
        if self is PostLabel.NO_CRISIS:
            return None
        return TimeFrame(self.value.rsplit("_", 1)[1])

    def __str__(self) -> str:
        return self.value


class DialogueLabel(str, Enum):
    """The 16 labels of CRADLE-Dialogue user turns: two alerts and fourteen confirms."""

    ALERT_ONGOING = "alert_ongoing"
    ALERT_PAST = "alert_past"
    CONFIRM_CA_ONGOING = "confirm_CA_ongoing"
    CONFIRM_CA_PAST = "confirm_CA_past"
    CONFIRM_DV_ONGOING = "confirm_DV_ongoing"
    CONFIRM_DV_PAST = "confirm_DV_past"
    CONFIRM_RA_ONGOING = "confirm_RA_ongoing"
    CONFIRM_RA_PAST = "confirm_RA_past"
    CONFIRM_SH_ONGOING = "confirm_SH_ongoing"
    CONFIRM_SH_PAST = "confirm_SH_past"
    CONFIRM_SHA_ONGOING = "confirm_SHA_ongoing"
    CONFIRM_SHA_PAST = "confirm_SHA_past"
    CONFIRM_SI_ACTIVE_ONGOING = "confirm_SI_active_ongoing"
    CONFIRM_SI_ACTIVE_PAST = "confirm_SI_active_past"
    CONFIRM_SI_PASSIVE_ONGOING = "confirm_SI_passive_ongoing"
    CONFIRM_SI_PASSIVE_PAST = "confirm_SI_passive_past"

    @property
    def is_alert(self) -> bool:
        """True for ``alert_ongoing`` and ``alert_past``."""
        return self.value.startswith("alert_")

    @property
    def is_confirm(self) -> bool:
        """True for the fourteen ``confirm_*`` labels."""
        return self.value.startswith("confirm_")

    @property
    def time_frame(self) -> TimeFrame:
        """The time frame every dialogue label carries."""
        return TimeFrame(self.value.rsplit("_", 1)[1])

    @property
    def crisis_type(self) -> CrisisType | None:
        """The crisis type of a confirm label; ``None`` for alerts."""
        if self.is_alert:
            return None
        code = self.value[len("confirm_") :].rsplit("_", 1)[0]
        return _CODE_TYPES[code]

    def __str__(self) -> str:
        return self.value


_CODE_TYPES = {code: t for t, code in _TYPE_CODES.items()}

#: The 15 post labels in the canonical column order used by every metric.
POST_LABELS: tuple[PostLabel, ...] = tuple(PostLabel)
#: The 14 post labels that name a crisis (all but ``no_crisis``).
CRISIS_POST_LABELS: tuple[PostLabel, ...] = tuple(x for x in PostLabel if x is not PostLabel.NO_CRISIS)
#: The 16 dialogue labels in the canonical column order used by every metric.
DIALOGUE_LABELS: tuple[DialogueLabel, ...] = tuple(DialogueLabel)


def post_label(crisis_type: CrisisType | str, time_frame: TimeFrame | str) -> PostLabel:
    """Build the post label for a crisis type and a time frame.

    Examples
    --------
    >>> post_label(CrisisType.RAPE, "past").value
    'rape_past'
    """
    return PostLabel(f"{CrisisType(crisis_type).value}_{TimeFrame(time_frame).value}")


def confirm_label(crisis_type: CrisisType | str, time_frame: TimeFrame | str) -> DialogueLabel:
    """Build the dialogue confirm label for a crisis type and a time frame.

    Examples
    --------
    >>> confirm_label(CrisisType.SUICIDE_IDEATION_ACTIVE, "ongoing").value
    'confirm_SI_active_ongoing'
    """
    return DialogueLabel(f"confirm_{CrisisType(crisis_type).code}_{TimeFrame(time_frame).value}")


def post_to_confirm(label: PostLabel | str) -> DialogueLabel | None:
    """Map a post label to the dialogue confirm label of the same crisis and time frame.

    Returns ``None`` for ``no_crisis``, which has no dialogue counterpart.

    Examples
    --------
    >>> post_to_confirm("selfharm_past").value
    'confirm_SH_past'
    """
    label = PostLabel(label)
    if label.crisis_type is None or label.time_frame is None:
        return None
    return confirm_label(label.crisis_type, label.time_frame)


def confirm_to_post(label: DialogueLabel | str) -> PostLabel | None:
    """Map a dialogue confirm label to its post label; ``None`` for alert labels.

    Examples
    --------
    >>> confirm_to_post("confirm_CA_ongoing").value
    'childabuse_endangerment_ongoing'
    """
    label = DialogueLabel(label)
    if label.crisis_type is None:
        return None
    return post_label(label.crisis_type, label.time_frame)
