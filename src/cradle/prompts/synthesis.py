"""The prompt that turns a labelled post into a conversation, and the reader of the reply.

A chat model is asked to write a conversation between the person who wrote a post (the user)
and a listener, message by message, following a plan: which user message first shows warning
signs, which one makes each crisis explicit. The labels themselves are never shown to the model;
the plan is written as plain instructions, and the labels are placed on the planned turns by
:mod:`cradle.pipelines.labelling.synthesize`. All wording is our own.

The model answers one JSON object ``{"messages": [{"speaker": "user" | "listener", "text":
"..."}, ...]}``; :func:`parse_conversation` reads it (code fences, reasoning blocks and a
``User:`` prefix inside a text are tolerated).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from cradle.labels import CrisisType, DialogueLabel, TimeFrame, normalize_dialogue_label
from cradle.prompts.parsing import strip_reasoning

__all__ = [
    "SYNTHESIS_PROMPT_VERSION",
    "SYNTHESIS_SYSTEM_PROMPT",
    "SYNTHESIS_TEMPLATE",
    "LISTENER_KINDS",
    "ConversationFormatError",
    "describe_label",
    "render_synthesis_prompt",
    "synthesis_fingerprint",
    "parse_conversation",
]

#: Version of the wording below; part of every run manifest. Bump it when the wording changes.
SYNTHESIS_PROMPT_VERSION = "cradle-synthesis-1"

SYNTHESIS_SYSTEM_PROMPT = (
    "You write realistic example conversations for building and testing a tool that notices when "
    "someone in a conversation may be in crisis. Write in plain, believable language, without graphic "
    "detail and never with instructions for self-harm or suicide. Reply with exactly one JSON object "
    "and nothing else."
)

#: Who the user talks to, by the short name a plan uses.
LISTENER_KINDS: dict[str, str] = {
    "ai": "an AI assistant in a chat app",
    "peer": "a peer supporter on a forum's chat, someone with lived experience but no clinical training",
    "counsellor": "a trained counsellor in an online counselling session",
    "crisis_line": "a volunteer on a text crisis line",
    "friend": "a close friend, texting",
}

_TYPE_WORDS: dict[CrisisType, str] = {
    CrisisType.SUICIDE_IDEATION_ACTIVE: "thoughts of ending their life with a method, an intent, a plan or steps taken to prepare",
    CrisisType.SUICIDE_IDEATION_PASSIVE: "a wish to be dead, not to wake up or to disappear, without any plan or intent",
    CrisisType.SELF_HARM: "hurting themself on purpose without wanting to die (or strong urges to do so)",
    CrisisType.DOMESTIC_VIOLENCE: "abuse by a current or former partner (physical, emotional, financial or controlling)",
    CrisisType.RAPE: "a sexual act with penetration done to them without their consent",
    CrisisType.SEXUAL_HARASSMENT: "unwanted sexual remarks, advances or touching, without penetration",
    CrisisType.CHILD_ABUSE: "physical or sexual abuse, or physical neglect, by an adult while they were a minor (or now, if they are a minor)",
}
_FRAME_WORDS: dict[TimeFrame, str] = {
    TimeFrame.ONGOING: "happening now, or still a present risk",
    TimeFrame.PAST: "in the past and over",
}

SYNTHESIS_TEMPLATE = """\
Write a conversation between a USER and a LISTENER. The listener is {listener}. The user is the person who wrote the post below and talks about their own life; keep the facts of the post (who, what, when), but let them come out gradually, in the user's own voice, the way people really type in a chat (short messages, some typos or lowercase are fine).

The post:
\"\"\"
{post}
\"\"\"

Write exactly {n_messages} messages. They alternate, starting with the user: messages 1, 3, 5, ... are the user's, messages 2, 4, 6, ... the listener's. User messages have 5 to 80 words, listener messages 10 to 60 words.

Plan for the user's messages:
{plan}

A disclosure is explicit when a reader could name the kind of crisis and whether it is happening now or is over. Before the first warning sign or disclosure, the user talks about everyday things, hints vaguely at most, or deflects. After a disclosure, the conversation may keep talking about it, but no other crisis appears unless the plan says so. The listener responds naturally for their role and never names a diagnosis.{attempt_note}

Answer with one JSON object and nothing else:
{{"messages": [{{"speaker": "user", "text": "..."}}, {{"speaker": "listener", "text": "..."}}, ...]}}"""


class ConversationFormatError(ValueError):
    """A reply that is not a usable conversation (the message says what is wrong)."""


def describe_label(label: DialogueLabel | str) -> str:
    """The instruction that stands for one dialogue label in a plan.

    Examples
    --------
    >>> describe_label("confirm_SH_past")
    'makes explicit, for the first time, hurting themself on purpose without wanting to die (or strong urges to do so), in the past and over'
    >>> describe_label("alert_ongoing")
    'shows the first warning signs that something serious is happening now, without yet saying what it is'
    """
    lab = normalize_dialogue_label(label.value if isinstance(label, DialogueLabel) else str(label))
    if lab.is_alert:
        when = "is happening now" if lab.time_frame is TimeFrame.ONGOING else "happened in the past"
        return f"shows the first warning signs that something serious {when}, without yet saying what it is"
    assert lab.crisis_type is not None
    return f"makes explicit, for the first time, {_TYPE_WORDS[lab.crisis_type]}, {_FRAME_WORDS[lab.time_frame]}"


def render_synthesis_prompt(
    post: str,
    *,
    n_messages: int,
    steps: Mapping[int, Sequence[str]],
    listener: str = "peer",
    attempt: int = 1,
) -> str:
    """The user message asking for one conversation.

    Parameters
    ----------
    post : str
        The labelled post the conversation is built from.
    n_messages : int
        Messages in all (user first, alternating).
    steps : mapping of int to sequence of str
        1-based message number (a user message: odd) -> the dialogue labels planned there. An
        empty mapping asks for a conversation with no crisis of the user's own.
    listener : str
        A key of :data:`LISTENER_KINDS`.
    attempt : int, default=1
        Attempts after the first add a line asking for the format, so that they are new requests.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        For an unknown listener kind, a planned message that is not the user's or is out of range.

    Examples
    --------
    >>> p = render_synthesis_prompt("I cut again last week.", n_messages=8, steps={5: ["confirm_SH_ongoing"]})
    >>> "Message 5: makes explicit" in p and "exactly 8 messages" in p and "confirm_SH" not in p
    True
    """
    if listener not in LISTENER_KINDS:
        raise ValueError(f"unknown listener kind {listener!r}; choose one of {sorted(LISTENER_KINDS)}")
    if n_messages < 2:
        raise ValueError(f"a conversation needs at least 2 messages, not {n_messages}")
    lines: list[str] = []
    for number in sorted(steps):
        if number < 1 or number > n_messages or number % 2 == 0:
            raise ValueError(f"message {number} is not a user message of a {n_messages}-message conversation")
        if steps[number]:
            lines.append(f"- Message {number}: " + "; and ".join(describe_label(x) for x in steps[number]) + ".")
    if not lines:
        lines.append(
            "- No crisis of the user's own appears at all: no suicidal thoughts, self-harm, abuse, rape, sexual harassment "
            "or partner violence happening to them. The conversation may sound worrying at moments (a figure of speech, "
            "someone else's story, a stressful week), as the post does, but it never describes such a crisis of the user's own."
        )
    note = (
        ""
        if attempt <= 1
        else f"\n\n(Attempt {attempt}: the previous answer could not be used. Follow the JSON format and the number of messages exactly.)"
    )
    return SYNTHESIS_TEMPLATE.format(
        listener=LISTENER_KINDS[listener], post=post.strip(), n_messages=n_messages, plan="\n".join(lines), attempt_note=note
    )


def synthesis_fingerprint() -> str:
    """SHA-256 (hex, 16 characters) of the system prompt, the template and the label wording."""
    blob = json.dumps(
        {
            "version": SYNTHESIS_PROMPT_VERSION,
            "system": SYNTHESIS_SYSTEM_PROMPT,
            "template": SYNTHESIS_TEMPLATE,
            "types": {t.value: w for t, w in _TYPE_WORDS.items()},
            "frames": {f.value: w for f, w in _FRAME_WORDS.items()},
            "listeners": LISTENER_KINDS,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)
_PREFIX = re.compile(r"^\s*(user|listener)\s*:\s*", re.I)


def _candidates(text: str) -> list[str]:
    out = [m.group(1) for m in _FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        out.append(text[start : end + 1])
    start, end = text.find("["), text.rfind("]")
    if start != -1 and end > start:
        out.append(text[start : end + 1])
    return out


def parse_conversation(text: str | None) -> list[dict[str, str]]:
    """Read the messages of a reply.

    Parameters
    ----------
    text : str or None
        The model's reply.

    Returns
    -------
    list of dict
        ``{"speaker": "user" | "listener", "text": str}`` in order; the user speaks first and
        the speakers alternate.

    Raises
    ------
    ConversationFormatError
        When no JSON conversation is found, a message has another speaker or an empty text, or
        the speakers do not alternate from the user.

    Examples
    --------
    >>> parse_conversation('```json\\n{"messages": [{"speaker": "user", "text": "User: hi"}, {"speaker": "listener", "text": "hey"}]}\\n```')
    [{'speaker': 'user', 'text': 'hi'}, {'speaker': 'listener', 'text': 'hey'}]
    """
    if not text or not text.strip():
        raise ConversationFormatError("empty reply")
    body = strip_reasoning(text)
    messages: Any = None
    for cand in _candidates(body):
        try:
            obj = json.loads(cand)
        except ValueError:
            continue
        if isinstance(obj, dict):
            obj = obj.get("messages", obj.get("turns", obj.get("conversation")))
        if isinstance(obj, list):
            messages = obj
            break
    if messages is None:
        raise ConversationFormatError('no JSON object with a "messages" list in the reply')
    if not messages:
        raise ConversationFormatError("the conversation has no message")
    out: list[dict[str, str]] = []
    for k, m in enumerate(messages, start=1):
        if not isinstance(m, dict):
            raise ConversationFormatError(f"message {k} is not an object")
        speaker = str(m.get("speaker", m.get("role", ""))).strip().lower()
        if speaker not in ("user", "listener"):
            raise ConversationFormatError(f"message {k} has speaker {speaker!r}; expected 'user' or 'listener'")
        expected = "user" if k % 2 == 1 else "listener"
        if speaker != expected:
            raise ConversationFormatError(f"message {k} is the {speaker}'s; the speakers must alternate, starting with the user")
        body_text = m.get("text", m.get("content"))
        if not isinstance(body_text, str) or not _PREFIX.sub("", body_text).strip():
            raise ConversationFormatError(f"message {k} has no text")
        out.append({"speaker": speaker, "text": _PREFIX.sub("", body_text).strip()})
    return out
