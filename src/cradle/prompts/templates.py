"""Instruction templates: the evaluation prompt, the short training prompt, the turn-level
dialogue prompt, the two system prompts, and placeholder rendering for user-supplied templates.

All wording here is our own, written from the annotation guidelines summarised in the project's
design notes. A template is plain text with ``{placeholders}``:

==================  ==========================================================================
``{post}``          the post to label (``{text}`` is an alias)
``{labels}``        the allowed label strings of the template's schema, one per line
``{definitions}``   the clinical definitions of the crisis types (post or dialogue wording)
``{rules}``         the labelling rules (post or dialogue wording)
``{examples}``      the five few-shot examples of :mod:`cradle.prompts.fewshot` (post prompts)
``{history}``       the conversation before the current user message, one ``User:`` /
                    ``Listener:`` line per message (dialogue prompts)
``{turn}``          the current user message (dialogue prompts)
==================  ==========================================================================

Only these names are replaced, in a single pass (a value is never scanned again), so a
published prompt that shows JSON such as ``{"labels": [...]}`` can be used verbatim. Any other
``{identifier}`` is an error that names the known placeholders; write ``{{identifier}}`` for a
literal ``{identifier}``. A post template must contain ``{post}`` (or ``{text}``); a dialogue
template must contain ``{turn}``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from cradle.labels import DIALOGUE_LABELS, POST_LABELS, DialogueLabel, PostLabel
from cradle.prompts.fewshot import FEW_SHOT_EXAMPLES, FewShotExample, format_examples

__all__ = [
    "PROMPT_VERSION",
    "PLACEHOLDERS",
    "PromptKind",
    "PromptError",
    "PromptTemplate",
    "PromptSet",
    "TurnLike",
    "Message",
    "SYSTEM_PROMPT_OPEN",
    "SYSTEM_PROMPT_COMMERCIAL",
    "COMMERCIAL_ENGINES",
    "POST_DEFINITIONS",
    "POST_RULES",
    "DIALOGUE_DEFINITIONS",
    "DIALOGUE_RULES",
    "EVALUATION_TEMPLATE",
    "TRAINING_TEMPLATE",
    "DIALOGUE_TURN_TEMPLATE",
    "system_prompt_for",
    "format_answer",
    "format_history",
    "load_prompt_file",
    "render_post_prompt",
    "render_turn_prompt",
]

#: Version of the built-in wording; part of every cache key and run manifest. Bump it whenever
#: a built-in template, definition, rule, system prompt or few-shot example changes.
PROMPT_VERSION = "cradle-prompts-1"

PromptKind = Literal["post", "turn"]

#: Placeholder name -> what it is replaced by.
PLACEHOLDERS: dict[str, str] = {
    "post": "the post to label",
    "text": "alias of {post}",
    "labels": "the allowed label strings, one per line",
    "definitions": "the clinical definitions of the crisis types",
    "rules": "the labelling rules",
    "examples": "the five few-shot examples (post prompts)",
    "history": "the conversation before the current user message (dialogue prompts)",
    "turn": "the current user message (dialogue prompts)",
}

Message = dict[str, str]

# --------------------------------------------------------------------------------------------
# System prompts
# --------------------------------------------------------------------------------------------

#: For open-weight models served by us (openai-compatible servers, ``hf:``): insist on JSON only.
SYSTEM_PROMPT_OPEN = (
    "You label first-person text for mental-health crises and safety risks. "
    'Reply with exactly one JSON object of the form {"labels": ["..."]} and nothing else: '
    "no explanation, no reasoning, no markdown, no code fences."
)

#: For commercial APIs: a one-line role.
SYSTEM_PROMPT_COMMERCIAL = "You are a clinical annotator who labels first-person text for mental-health crises and safety risks."

#: Engines that get :data:`SYSTEM_PROMPT_COMMERCIAL`; every other engine gets :data:`SYSTEM_PROMPT_OPEN`.
COMMERCIAL_ENGINES = frozenset({"openai", "anthropic", "gemini"})


def system_prompt_for(engine: str) -> str:
    """The built-in system prompt for an engine.

    Parameters
    ----------
    engine : str
        A registry key of :data:`cradle.detectors.ENGINES`, e.g. ``"anthropic"``.

    Returns
    -------
    str
        :data:`SYSTEM_PROMPT_COMMERCIAL` for commercial APIs, :data:`SYSTEM_PROMPT_OPEN` otherwise.

    Examples
    --------
    >>> system_prompt_for("gemini") == SYSTEM_PROMPT_COMMERCIAL
    True
    >>> system_prompt_for("openai-compatible") == SYSTEM_PROMPT_OPEN
    True
    """
    return SYSTEM_PROMPT_COMMERCIAL if engine in COMMERCIAL_ENGINES else SYSTEM_PROMPT_OPEN


# --------------------------------------------------------------------------------------------
# Guideline blocks
# --------------------------------------------------------------------------------------------

POST_DEFINITIONS = """\
- Suicidal ideation, active (suicideideation_active_*): the writer describes a method, an intent, a plan, or steps taken to prepare to end their life (for example choosing a date, gathering the means, writing goodbye letters).
- Suicidal ideation, passive (suicideideation_passive_*): the writer wishes to be dead, to not wake up or to disappear, with no method, intent or plan.
- Self-harm (selfharm_*): the writer injures themself on purpose without meaning to die, or reports urges to do so.
- Child abuse or endangerment (childabuse_endangerment_*): an adult physically or sexually abuses a minor, or physically neglects one (food, shelter, medical care). An adult writing about abuse in their own childhood is _past. It does not cover incidents between minors close in age, fights between siblings, purely verbal or emotional mistreatment, or emotional neglect on its own. When the age or authority of the person responsible is not stated, do not assume it.
- Rape (rape_*): a sexual act involving penetration without consent, whether by force, coercion, drugs or while the victim could not respond. When the victim was a minor and the perpetrator an adult, give child abuse as well.
- Domestic violence (domesticviolence_*): abuse between current or former intimate partners, whether physical, emotional, financial or controlling. Abuse of a child by a parent is not domestic violence.
- Sexual harassment (sexualharassment_*): unwanted sexual remarks, advances or touching that do not involve penetration.

Time frame: _ongoing means the crisis is happening now or its risk continues; _past means the writer describes it as over."""

POST_RULES = """\
1. Label only the writer's own experience. A friend's or relative's story, or a general opinion, does not count.
2. If one crisis type is both ongoing and past, give only the _ongoing label.
3. For one incident give only the most severe label: rape covers sexual harassment, and active ideation covers passive ideation in the same time frame (passive ideation in the past may stand beside active ideation that is ongoing).
4. Give no_crisis only when no crisis label applies, and never together with another label.
5. When the post does not give enough information to be sure, leave the label out."""

DIALOGUE_DEFINITIONS = """\
Crisis types (codes used in the labels):
- SI_active: suicidal ideation with a method, intent, plan or preparation.
- SI_passive: a wish to be dead or to disappear, with no plan or intent.
- SH: intentional self-injury without suicidal intent, or urges to self-injure.
- CA: physical or sexual abuse, or physical neglect, of a minor by an adult (not conflict between children close in age, not verbal or emotional mistreatment alone).
- RA: rape, a sexual act with penetration without consent.
- DV: abuse between current or former intimate partners (physical, emotional, financial or controlling).
- SHA: unwanted sexual remarks, advances or touching without penetration.

Label kinds:
- alert_ongoing / alert_past: the user's message shows early warning signs that something serious is happening now (ongoing) or happened before (past), but the specific crisis type cannot yet be identified.
- confirm_<TYPE>_ongoing / confirm_<TYPE>_past: the user's message makes a specific crisis type and its time frame explicitly identifiable."""

DIALOGUE_RULES = """\
1. Label only the user's latest message, reading the earlier messages as context. Listener messages are never labelled.
2. A label belongs only to the message where it first becomes warranted. Do not repeat a label that earlier user messages already justified.
3. Label only the user's own experience, not someone else's.
4. When nothing new appears in the latest message, answer with an empty list."""


# --------------------------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


class PromptError(ValueError):
    """A prompt template that cannot be used as asked (unknown or missing placeholder, bad file)."""


class TurnLike(Protocol):
    """Anything with a ``speaker`` (``"user"`` or ``"listener"``) and a ``text``, such as
    :class:`cradle.data.Turn`."""

    @property
    def speaker(self) -> str: ...

    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class PromptTemplate:
    """A user-message template with ``{placeholders}`` (see the module docstring).

    Parameters
    ----------
    text : str
        The template.
    name : str
        A short name for reports and manifests (``"evaluation"``, a file name, ...).

    Raises
    ------
    PromptError
        When the template uses an unknown placeholder, or holds neither ``{post}``/``{text}``
        nor ``{turn}``.

    Examples
    --------
    >>> t = PromptTemplate('Post: {post}\\nAnswer as {"labels": [...]}', name="mine")
    >>> t.kind
    'post'
    >>> t.render(post="hello")
    'Post: hello\\nAnswer as {"labels": [...]}'
    """

    text: str
    name: str = "custom"
    placeholders: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        found = {m.group(2) for m in _PLACEHOLDER.finditer(self.text) if m.group(2)}
        unknown = sorted(found - set(PLACEHOLDERS))
        if unknown:
            known = ", ".join("{" + k + "}" for k in PLACEHOLDERS)
            raise PromptError(
                f"prompt {self.name!r} uses unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}; "
                f"known placeholders are {known} (write {{{{name}}}} for a literal {{name}})"
            )
        if not found & {"post", "text", "turn"}:
            raise PromptError(
                f"prompt {self.name!r} never includes the item: a post prompt needs {{post}} (or {{text}}), "
                "a dialogue prompt needs {turn}"
            )
        if "turn" in found and found & {"post", "text"}:
            raise PromptError(
                f"prompt {self.name!r} mixes {{turn}} with {{post}}/{{text}}: a template is for posts or for dialogue turns, not both"
            )
        object.__setattr__(self, "placeholders", frozenset(found))

    @property
    def kind(self) -> PromptKind:
        """``"turn"`` when the template holds ``{turn}``, else ``"post"``."""
        return "turn" if "turn" in self.placeholders else "post"

    def render(self, **values: str) -> str:
        """Fill the placeholders in one pass.

        Parameters
        ----------
        **values : str
            One value per placeholder the template uses (``text`` may be given as ``post``).

        Returns
        -------
        str

        Raises
        ------
        PromptError
            When a placeholder of the template has no value.
        """
        if "post" in values and "text" not in values:
            values["text"] = values["post"]
        missing = sorted(self.placeholders - set(values))
        if missing:
            raise PromptError(f"prompt {self.name!r}: no value for {', '.join('{' + m + '}' for m in missing)}")

        def fill(m: re.Match[str]) -> str:
            if m.group(1):
                return "{" + m.group(1) + "}"
            return values[m.group(2)]

        return _PLACEHOLDER.sub(fill, self.text)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the template text (hex, first 16 characters)."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:16]


EVALUATION_TEMPLATE = PromptTemplate(
    """\
Read the post below and decide which crisis labels apply to the person who wrote it.

Definitions:
{definitions}

Rules:
{rules}

Allowed labels (use these exact strings):
{labels}

Examples:

{examples}

Now label this post. Answer with one JSON object and nothing else, in the form {"labels": ["label", ...]}.

Post:
\"\"\"
{post}
\"\"\"""",
    name="evaluation",
)

TRAINING_TEMPLATE = PromptTemplate(
    """\
Label the crises in this post that apply to its writer (ongoing = now, past = over; no_crisis alone when none apply). Allowed labels: {labels}
Answer as JSON {"labels": [...]}.

Post:
{post}""",
    name="training",
)

DIALOGUE_TURN_TEMPLATE = PromptTemplate(
    """\
You are watching a conversation between a user and a listener for signs that the user is in crisis. Decide which labels newly apply at the user's latest message.

{definitions}

Rules:
{rules}

Allowed labels (use these exact strings):
{labels}

Conversation so far:
{history}

User's latest message:
\"\"\"
{turn}
\"\"\"

Answer with one JSON object and nothing else, in the form {"labels": ["label", ...]} ({"labels": []} when no label applies).""",
    name="dialogue-turn",
)


def _label_list(labels: Iterable[PostLabel | DialogueLabel]) -> str:
    return "\n".join(x.value for x in labels)


_POST_LABEL_BLOCK = _label_list(POST_LABELS)
_DIALOGUE_LABEL_BLOCK = _label_list(DIALOGUE_LABELS)


def format_answer(labels: Iterable[str]) -> str:
    """The answer a model is asked to write, e.g. for training targets.

    Examples
    --------
    >>> format_answer(["selfharm_past", "no_crisis"])
    '{"labels": ["selfharm_past", "no_crisis"]}'
    """
    return json.dumps({"labels": [str(x.value if isinstance(x, (PostLabel, DialogueLabel)) else x) for x in labels]})


def format_history(history: Sequence[TurnLike]) -> str:
    """Render earlier messages as ``User: ...`` / ``Listener: ...`` lines.

    Examples
    --------
    >>> from cradle.data import Turn
    >>> print(format_history([Turn(0, "user", "hi"), Turn(1, "listener", "hello, how are you?")]))
    User: hi
    Listener: hello, how are you?
    >>> format_history([])
    '(no earlier messages)'
    """
    if not history:
        return "(no earlier messages)"
    return "\n".join(f"{'User' if t.speaker == 'user' else 'Listener'}: {t.text}" for t in history)


def render_post_prompt(
    text: str,
    template: PromptTemplate = EVALUATION_TEMPLATE,
    examples: Sequence[FewShotExample] = FEW_SHOT_EXAMPLES,
) -> str:
    """The user message that asks for the labels of one post.

    Parameters
    ----------
    text : str
        The post.
    template : PromptTemplate, default=EVALUATION_TEMPLATE
        A post template (holding ``{post}`` or ``{text}``).
    examples : sequence of FewShotExample
        What ``{examples}`` expands to.

    Returns
    -------
    str

    Raises
    ------
    PromptError
        When ``template`` is a dialogue template.

    Examples
    --------
    >>> p = render_post_prompt("I am fine.", TRAINING_TEMPLATE)
    >>> p.endswith("Post:\\nI am fine.") and "no_crisis" in p
    True
    """
    if template.kind != "post":
        raise PromptError(f"prompt {template.name!r} is a dialogue template ({{turn}}); posts need {{post}}")
    return template.render(
        post=text,
        labels=_POST_LABEL_BLOCK,
        definitions=POST_DEFINITIONS,
        rules=POST_RULES,
        examples=format_examples(examples),
        history="",
        turn="",
    )


def render_turn_prompt(history: Sequence[TurnLike], template: PromptTemplate = DIALOGUE_TURN_TEMPLATE) -> str:
    """The user message that asks for the labels of the last user message of ``history``.

    Parameters
    ----------
    history : sequence of TurnLike
        The conversation up to and including the user message to label (its last element).
    template : PromptTemplate, default=DIALOGUE_TURN_TEMPLATE
        A dialogue template (holding ``{turn}``).

    Returns
    -------
    str

    Raises
    ------
    PromptError
        When ``template`` is a post template, or the last message of ``history`` is not the user's.

    Examples
    --------
    >>> from cradle.data import Turn
    >>> p = render_turn_prompt([Turn(0, "user", "hey"), Turn(1, "listener", "hi!"), Turn(2, "user", "rough week")])
    >>> "User: hey\\nListener: hi!" in p and '\"\"\"\\nrough week\\n\"\"\"' in p
    True
    """
    if template.kind != "turn":
        raise PromptError(f"prompt {template.name!r} is a post template ({{post}}); dialogue turns need {{turn}}")
    if not history or history[-1].speaker != "user":
        raise PromptError("the last message of the history must be the user message to label")
    return template.render(
        turn=history[-1].text,
        history=format_history(history[:-1]),
        labels=_DIALOGUE_LABEL_BLOCK,
        definitions=DIALOGUE_DEFINITIONS,
        rules=DIALOGUE_RULES,
        examples="",
        post="",
    )


def load_prompt_file(path: str | Path) -> PromptTemplate:
    """Read a user-message template from a UTF-8 text file.

    Parameters
    ----------
    path : path
        The file; its placeholders are described in the module docstring.

    Returns
    -------
    PromptTemplate
        Named after the file.

    Raises
    ------
    PromptError
        When the file cannot be read or the template is not usable.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise PromptError(f"prompt file {str(p)!r} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptError(f"cannot read prompt file {str(p)!r}: {exc}") from None
    return PromptTemplate(text.rstrip("\n"), name=p.name)


def _read_system_file(path: str | Path) -> str:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig").strip()
    except FileNotFoundError:
        raise PromptError(f"system prompt file {str(p)!r} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptError(f"cannot read system prompt file {str(p)!r}: {exc}") from None
    if not text:
        raise PromptError(f"system prompt file {str(p)!r} is empty")
    return text


@dataclass(frozen=True)
class PromptSet:
    """Everything that turns an item into chat messages: a system prompt and the templates.

    Parameters
    ----------
    system : str
        The system prompt (``""`` sends none).
    post : PromptTemplate or None
        The template for posts; ``None`` when this set cannot label posts.
    turn : PromptTemplate or None
        The template for dialogue turns; ``None`` when this set cannot label turns.
    examples : tuple of FewShotExample
        What ``{examples}`` expands to.

    Examples
    --------
    >>> ps = PromptSet.default("openai")
    >>> [m["role"] for m in ps.post_messages("hello")]
    ['system', 'user']
    >>> ps.fingerprint("post") == PromptSet.default("anthropic").fingerprint("post")
    True
    """

    system: str
    post: PromptTemplate | None = EVALUATION_TEMPLATE
    turn: PromptTemplate | None = DIALOGUE_TURN_TEMPLATE
    examples: tuple[FewShotExample, ...] = FEW_SHOT_EXAMPLES

    @classmethod
    def default(cls, engine: str) -> PromptSet:
        """The published-protocol prompts for ``engine`` (its system prompt and both templates)."""
        return cls(system=system_prompt_for(engine))

    @classmethod
    def training(cls, engine: str = "hf") -> PromptSet:
        """The short training prompt for posts (and the dialogue template for turns)."""
        return cls(system=system_prompt_for(engine), post=TRAINING_TEMPLATE)

    @classmethod
    def from_files(cls, engine: str, prompt_file: str | Path | None = None, system_file: str | Path | None = None) -> PromptSet:
        """The default set with a user template and/or a system prompt read from files.

        A template file replaces the built-in template of its kind (post or dialogue turn) and
        leaves the other kind unavailable, so that a run never mixes a custom prompt with ours.

        Raises
        ------
        PromptError
            For an unreadable file or an unusable template.
        """
        system = _read_system_file(system_file) if system_file else system_prompt_for(engine)
        if prompt_file is None:
            return cls(system=system)
        tpl = load_prompt_file(prompt_file)
        return cls(system=system, post=tpl if tpl.kind == "post" else None, turn=tpl if tpl.kind == "turn" else None)

    def template(self, kind: PromptKind) -> PromptTemplate:
        """The template for ``kind``.

        Raises
        ------
        PromptError
            When this set has no template of that kind (e.g. a post prompt file used on dialogues).
        """
        tpl = self.post if kind == "post" else self.turn
        if tpl is None:
            other = self.turn if kind == "post" else self.post
            need = "{post}" if kind == "post" else "{turn} (and usually {history})"
            have = f" ({other.name!r} is a {other.kind} template)" if other else ""
            raise PromptError(f"no prompt for {kind}s{have}: a {kind} prompt file needs {need}")
        return tpl

    def _messages(self, user: str) -> list[Message]:
        if self.system:
            return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]
        return [{"role": "user", "content": user}]

    def post_messages(self, text: str) -> list[Message]:
        """Chat messages (system, then user) asking for the labels of one post."""
        return self._messages(render_post_prompt(text, self.template("post"), self.examples))

    def turn_messages(self, history: Sequence[TurnLike]) -> list[Message]:
        """Chat messages asking for the labels of the last (user) message of ``history``."""
        return self._messages(render_turn_prompt(history, self.template("turn")))

    def fingerprint(self, kind: PromptKind) -> str:
        """SHA-256 (hex, 16 characters) of everything that shapes the prompt for ``kind``:
        the version, the system prompt, the template and, for posts, the rendered examples."""
        parts: Mapping[str, str] = {
            "version": PROMPT_VERSION,
            "system": self.system,
            "template": self.template(kind).text,
            "examples": format_examples(self.examples) if kind == "post" else "",
            "definitions": POST_DEFINITIONS + POST_RULES if kind == "post" else DIALOGUE_DEFINITIONS + DIALOGUE_RULES,
        }
        blob = json.dumps(parts, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()[:16]

    def describe(self, kind: PromptKind) -> dict[str, str]:
        """What a run manifest records about the prompt for ``kind``."""
        return {"version": PROMPT_VERSION, "hash": self.fingerprint(kind), "template": self.template(kind).name}
