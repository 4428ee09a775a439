"""Five few-shot example posts for the evaluation prompt.

Every example is invented and written by the cradle authors for this package; none is taken or
paraphrased from a dataset. Together they show each of the seven crisis types, both time frames,
``no_crisis``, and the rules that trip models most often: a friend's story and a fight between
siblings are not the writer's crisis; a minor raped by an adult also gets child abuse; passive
ideation in the past may stand beside active ideation now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from cradle.labels import POST_LABELS, PostLabel

__all__ = ["FewShotExample", "FEW_SHOT_EXAMPLES", "format_examples"]


@dataclass(frozen=True)
class FewShotExample:
    """One example post with its labels and the reason for them.

    Attributes
    ----------
    text : str
        The post.
    labels : tuple of PostLabel
        Its labels, in canonical order.
    why : str
        The reasoning, for readers of the code and the docs (not sent to models).
    """

    text: str
    labels: tuple[PostLabel, ...]
    why: str


FEW_SHOT_EXAMPLES: tuple[FewShotExample, ...] = (
    FewShotExample(
        text=(
            "19, second year at uni. Lately I go to bed hoping I just won't wake up in the morning. "
            "I don't have a plan and I'm not going to do anything, I'm just so tired of all of it. "
            "When my head gets really loud I scratch my arms until they bleed, I did it again on "
            "Sunday. Nobody here knows."
        ),
        labels=(PostLabel.SUICIDEIDEATION_PASSIVE_ONGOING, PostLabel.SELFHARM_ONGOING),
        why="A wish not to wake up with no plan is passive ideation; recent deliberate injury is ongoing self-harm.",
    ),
    FewShotExample(
        text=(
            "Something I have never told anyone. When I was thirteen my mum's boyfriend came into my "
            "room at night and forced himself on me, more than once. He moved out when I was fifteen. "
            "I'm 31 now with kids of my own and some days it still feels like yesterday."
        ),
        labels=(PostLabel.RAPE_PAST, PostLabel.CHILDABUSE_ENDANGERMENT_PAST),
        why="Rape of a minor by an adult is both rape and child abuse; the writer is an adult recalling it, so both are past.",
    ),
    FewShotExample(
        text=(
            "Two years ago I finally left my ex-husband. He took every paycheck I earned and shoved me "
            "into walls when he was angry. I thought life was better now, but my new supervisor keeps "
            "making comments about my body, and last week he put his hand on my waist in the stock room "
            "even after I stepped away. I really need this job."
        ),
        labels=(PostLabel.DOMESTICVIOLENCE_PAST, PostLabel.SEXUALHARASSMENT_ONGOING),
        why="Partner abuse that ended when she left is past domestic violence; unwanted touching and remarks at work continue.",
    ),
    FewShotExample(
        text=(
            "my best friend told me her stepdad hits her and i dont know how to help, should i tell a "
            "teacher?? also my brother (hes 15, im 14) and i got into a fight over the tv and he called "
            "me an idiot. home is annoying sometimes but im ok"
        ),
        labels=(PostLabel.NO_CRISIS,),
        why="The abuse happens to a friend, not the writer; a fight between siblings close in age is not child abuse.",
    ),
    FewShotExample(
        text=(
            "Last winter I used to wish I could just disappear, but I never thought about actually doing "
            "anything. This time is different. I've written letters to my parents and my sister and I've "
            "picked the weekend after my exams. I'm only posting because I don't know who else would read it."
        ),
        labels=(PostLabel.SUICIDEIDEATION_ACTIVE_ONGOING, PostLabel.SUICIDEIDEATION_PASSIVE_PAST),
        why="Letters and a chosen date are preparation (active, now); last winter's wish to disappear was passive and is over.",
    ),
)


def format_examples(examples: Sequence[FewShotExample] = FEW_SHOT_EXAMPLES) -> str:
    """Render examples as ``Post: ...`` / ``Answer: {"labels": [...]}`` blocks.

    Parameters
    ----------
    examples : sequence of FewShotExample

    Returns
    -------
    str
        The blocks separated by blank lines; labels in canonical order.

    Examples
    --------
    >>> print(format_examples(FEW_SHOT_EXAMPLES[3:4]).splitlines()[-1])
    Answer: {"labels": ["no_crisis"]}
    """
    return _format_examples(tuple(examples))


@lru_cache(maxsize=32)
def _format_examples(examples: tuple[FewShotExample, ...]) -> str:
    # every prompt of a run renders the same examples: once is enough
    blocks = []
    for ex in examples:
        labels = ", ".join(f'"{x.value}"' for x in POST_LABELS if x in ex.labels)
        blocks.append(f'Post: {ex.text}\nAnswer: {{"labels": [{labels}]}}')
    return "\n\n".join(blocks)
