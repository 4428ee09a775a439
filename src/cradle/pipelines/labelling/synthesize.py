"""Synthetic dialogues from labelled posts: plan the labels, have a chat model write, validate.

For every post, :func:`plan_dialogue` decides (deterministically from the seed and the post id)
how long the conversation is, which listener the user talks to, at which user turn each crisis
of the post becomes explicit (the ``reveal``: in the first, middle or last third of the user
turns) and, when the reveal is not the first user turn, whether an alert comes one or two user
turns before it. A post labelled ``no_crisis`` becomes a conversation without labels.

:class:`DialogueWriter` is the chat model seen as an API detector, so that the evaluation
runner (:func:`cradle.pipelines.runs.runner.run_items`) drives it: replies are cached in the shared
response cache, every reply is appended to a run directory as it arrives, a killed run resumes
where it stopped, a finished one makes no call, and reopening a run with other settings is
refused. A reply that is not a usable conversation (bad JSON, wrong number of messages) is
asked again with a new request, up to ``attempts`` times.

The labels are placed on the planned turns (never read from the model), the dialogues are
written with :func:`cradle.data.write_dialogues` in the CRADLE-Dialogue layout, and the file is
read back with :func:`cradle.data.read_dialogues` and compared with what was meant to be
written. The run directory also gets ``plans.jsonl``: for every written dialogue its id in the
file (``d0``, ``d1``, ...), its post and its plan.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from cradle.data import DataError, Dialogue, Post, Prediction, RowIssue, Status, Turn, read_dialogues, write_dialogues
from cradle.detectors.llm import LLMDetector
from cradle.detectors.providers import ChatReply, ChatRequest
from cradle.labels import DIALOGUE_LABELS, DialogueLabel, TimeFrame, post_to_confirm
from cradle.pipelines.runs.cache import ResponseCache
from cradle.pipelines.runs.items import WorkItem
from cradle.pipelines.runs.rundir import PREDICTIONS_NAME
from cradle.pipelines.runs.runner import DatasetInfo, RunOptions, RunSummary, run_items
from cradle.prompts.synthesis import (
    LISTENER_KINDS,
    SYNTHESIS_PROMPT_VERSION,
    SYNTHESIS_SYSTEM_PROMPT,
    ConversationFormatError,
    parse_conversation,
    render_synthesis_prompt,
    synthesis_fingerprint,
)

__all__ = [
    "REVEALS",
    "Reveal",
    "SynthesisError",
    "DialoguePlan",
    "plan_dialogue",
    "DialogueWriter",
    "SynthesisResult",
    "synthesize_dialogues",
]

Reveal = Literal["early", "mid", "late"]
#: The reveal positions: the first confirm falls in this third of the user turns.
REVEALS: tuple[str, ...] = ("early", "mid", "late")
PLANS_NAME = "plans.jsonl"
_ORDER = {x.value: k for k, x in enumerate(DIALOGUE_LABELS)}


class SynthesisError(ValueError):
    """Synthesis that cannot run as asked (unlabelled posts, a detector that is no chat model,
    a written file that does not read back as planned)."""


@dataclass(frozen=True)
class DialoguePlan:
    """What one conversation must look like.

    Attributes
    ----------
    post_id : str
    reveal : str
        ``"early"``, ``"mid"`` or ``"late"``; ``"none"`` for a post without a crisis.
    n_messages : int
        Messages in all; the user writes the odd-numbered ones (1-based), starting the talk.
    listener : str
        A key of :data:`cradle.prompts.synthesis.LISTENER_KINDS`.
    labels : dict
        User-turn index (0-based, among user turns) -> dialogue labels first appearing there.
    """

    post_id: str
    reveal: str
    n_messages: int
    listener: str
    labels: dict[int, tuple[str, ...]] = field(default_factory=dict)

    @property
    def n_user_turns(self) -> int:
        """User messages in the conversation."""
        return (self.n_messages + 1) // 2

    @property
    def steps(self) -> dict[int, tuple[str, ...]]:
        """1-based message number -> labels, as the prompt names them."""
        return {2 * u + 1: labs for u, labs in self.labels.items()}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        out["labels"] = {str(k): list(v) for k, v in sorted(self.labels.items())}
        return out

    def dialogue(self, dialogue_id: str, messages: Sequence[Mapping[str, str]]) -> Dialogue:
        """The labelled dialogue from the written messages.

        Raises
        ------
        ConversationFormatError
            When the number of messages is not the planned one.
        """
        if len(messages) != self.n_messages:
            raise ConversationFormatError(f"the reply has {len(messages)} messages; the plan asked for {self.n_messages}")
        turns = []
        for k, m in enumerate(messages):
            labels = tuple(DialogueLabel(x) for x in self.labels.get(k // 2, ())) if k % 2 == 0 else ()
            turns.append(Turn(k, "user" if k % 2 == 0 else "listener", m["text"], labels))
        meta = {"post_id": self.post_id, "reveal": self.reveal, "listener": self.listener}
        return Dialogue(dialogue_id, tuple(turns), meta)


def _third(n_user: int, reveal: str) -> range:
    a, b = -(-n_user // 3), -(-2 * n_user // 3)  # ceil(n/3), ceil(2n/3)
    return {"early": range(0, a), "mid": range(a, b), "late": range(b, n_user)}[reveal]


def plan_dialogue(
    post: Post,
    reveal: str,
    *,
    seed: int = 0,
    min_messages: int = 10,
    max_messages: int = 20,
    alert_rate: float = 0.6,
) -> DialoguePlan:
    """Plan the conversation of one labelled post.

    Parameters
    ----------
    post : Post
        Must carry labels.
    reveal : {"early", "mid", "late"}
        Third of the user turns holding the first confirm.
    seed : int, default=0
        With the post id, fixes every random choice.
    min_messages, max_messages : int
        Range of the conversation length (at least 6 messages, so that each third has a user
        turn).
    alert_rate : float, default=0.6
        Chance that an alert precedes the first confirm when the reveal is not the first user
        turn; the alert sits one or two user turns before it, with the confirm's time frame.

    Returns
    -------
    DialoguePlan
        Several crises of one post are confirmed on consecutive user turns from the reveal on
        (sharing the last user turn when the conversation ends first).

    Raises
    ------
    SynthesisError
        For an unlabelled post, an unknown reveal or an impossible length range.

    Examples
    --------
    >>> from cradle.labels import PostLabel
    >>> plan = plan_dialogue(Post("p1", "...", (PostLabel.SELFHARM_PAST,)), "late", seed=1)
    >>> u = min(u for u, labs in plan.labels.items() if "confirm_SH_past" in labs)
    >>> u >= -(-2 * plan.n_user_turns // 3)
    True
    """
    if reveal not in REVEALS:
        raise SynthesisError(f"reveal must be one of {', '.join(REVEALS)}, not {reveal!r}")
    if post.labels is None:
        raise SynthesisError(f"post {post.id!r} carries no labels: synthesis needs labelled posts")
    if not 6 <= min_messages <= max_messages:
        raise SynthesisError(f"need 6 <= min_messages <= max_messages, got {min_messages} and {max_messages}")
    rng = random.Random(f"{seed}:{post.id}:{reveal}")
    n_messages = rng.randint(min_messages, max_messages)
    listener = rng.choice(sorted(LISTENER_KINDS))
    confirms = sorted({c.value for c in (post_to_confirm(x) for x in post.labels) if c is not None}, key=_ORDER.__getitem__)
    if not confirms:
        return DialoguePlan(post.id, "none", n_messages, listener)
    n_user = (n_messages + 1) // 2
    first = rng.choice(list(_third(n_user, reveal)))
    rng.shuffle(confirms)
    labels: dict[int, list[str]] = {}
    for k, c in enumerate(confirms):
        labels.setdefault(min(first + k, n_user - 1), []).append(c)
    if first >= 1 and rng.random() < alert_rate:
        frame = DialogueLabel(confirms[0]).time_frame
        at = rng.randint(max(0, first - 2), first - 1)
        labels.setdefault(at, []).append("alert_ongoing" if frame is TimeFrame.ONGOING else "alert_past")
    ordered = {u: tuple(sorted(labs, key=_ORDER.__getitem__)) for u, labs in sorted(labels.items())}
    return DialoguePlan(post.id, reveal, n_messages, listener, ordered)


class DialogueWriter(LLMDetector):
    """A chat model that writes conversations, driven by the evaluation runner like any API detector.

    An item's text is the whole synthesis prompt (:func:`render_synthesis_prompt`); a reply is
    ``ok`` when it parses as a conversation (:func:`parse_conversation`), ``invalid`` with the
    reason otherwise, ``blocked`` when the provider withheld it. The reply stays in the
    prediction's ``raw`` field; the prediction carries no label.

    Parameters
    ----------
    base : LLMDetector
        The model, its decoding parameters, transport settings and cache.
    settings : dict
        What else shapes the output (reveal, seed, lengths); recorded in the run manifest, so
        that a run directory is never resumed with other settings.
    """

    def __init__(self, base: LLMDetector, settings: Mapping[str, Any]) -> None:
        super().__init__(
            base.provider,
            spec=base.spec,
            prompts=base.prompts,
            temperature=base.temperature,
            top_p=base.top_p,
            max_tokens=base.max_tokens,
            timeout=base.timeout,
            retry=base.retry,
            concurrency=base.concurrency,
            cache=base.cache,
        )
        self.settings = dict(settings)

    def __repr__(self) -> str:
        return f"DialogueWriter({self.spec!r}, temperature={self.temperature}, max_tokens={self.max_tokens})"

    def request_for_post(self, text: str) -> ChatRequest:
        """The request for one synthesis prompt."""
        return self._request([{"role": "system", "content": SYNTHESIS_SYSTEM_PROMPT}, {"role": "user", "content": text}])

    def reply_to_prediction(self, reply: ChatReply, schema: Any = "post") -> Prediction:  # type: ignore[override]
        """``ok`` for a reply that reads as a conversation, else ``invalid`` or ``blocked``."""
        if reply.blocked:
            return Prediction(
                status=Status.BLOCKED, raw=reply.text, reason=reply.block_reason or "blocked by the provider", usage=reply.usage
            )
        try:
            parse_conversation(reply.text)
        except ConversationFormatError as exc:
            stop = (
                " (generation stopped at the max-token limit)"
                if reply.finish_reason in ("length", "max_tokens", "MAX_TOKENS")
                else ""
            )
            return Prediction(status=Status.INVALID, raw=reply.text, reason=f"{exc}{stop}", usage=reply.usage)
        return Prediction(status=Status.OK, raw=reply.text, usage=reply.usage)

    def describe(self, kind: Any = "post") -> dict[str, Any]:
        """The manifest entry: model, decoding, the synthesis prompt and settings."""
        out = super().describe("post")
        out["prompt"] = {"name": "synthesis", "version": SYNTHESIS_PROMPT_VERSION, "fingerprint": synthesis_fingerprint()}
        out["synthesis"] = self.settings
        return out


@dataclass
class SynthesisResult:
    """What :func:`synthesize_dialogues` did.

    Attributes
    ----------
    out : Path
        The dialogue file written.
    run_dir : Path
        Replies, manifest and ``plans.jsonl``.
    n_posts : int
    n_written : int
        Dialogues in ``out``.
    failed : dict
        Post id -> why no usable conversation came back.
    by_reveal : dict
        Written dialogues per reveal (``"none"`` for posts without a crisis).
    label_counts : dict
        Labels in the written dialogues.
    sessions : list of RunSummary
        One runner session per attempt that had work.
    """

    out: Path
    run_dir: Path
    n_posts: int = 0
    n_written: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    by_reveal: dict[str, int] = field(default_factory=dict)
    label_counts: dict[str, int] = field(default_factory=dict)
    sessions: list[RunSummary] = field(default_factory=list)

    @property
    def calls(self) -> int:
        """Model calls made now (cache hits and resumed replies excluded)."""
        return sum(s.calls for s in self.sessions)

    @property
    def cache_hits(self) -> int:
        """Replies taken from the cache, over all sessions."""
        return sum(s.cache_hits for s in self.sessions)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "out": str(self.out),
            "run_dir": str(self.run_dir),
            "n_posts": self.n_posts,
            "n_written": self.n_written,
            "n_failed": len(self.failed),
            "failed": self.failed,
            "by_reveal": self.by_reveal,
            "label_counts": self.label_counts,
            "calls": self.calls,
            "cache_hits": self.cache_hits,
        }


def _item_id(post_id: str, attempt: int) -> str:
    return post_id if attempt == 1 else f"{post_id}#attempt{attempt}"


def _read_replies(run_dir: Path) -> dict[str, Prediction]:
    from cradle.data import read_predictions

    path = run_dir / PREDICTIONS_NAME
    if not path.exists():
        return {}
    return {p.id or "": p for p in read_predictions(path, "post", allow_duplicates=True, tolerate_torn_tail=True)}


def synthesize_dialogues(
    posts: Sequence[Post],
    detector: LLMDetector,
    out: str | Path,
    *,
    reveal: str,
    seed: int = 0,
    run_dir: str | Path | None = None,
    dataset: DatasetInfo | None = None,
    cache: ResponseCache | None = None,
    options: RunOptions | None = None,
    attempts: int = 2,
    min_messages: int = 10,
    max_messages: int = 20,
    console: Any = None,
) -> SynthesisResult:
    """Turn labelled posts into labelled conversations written by a chat model.

    Parameters
    ----------
    posts : sequence of Post
        Labelled posts; ids must be unique.
    detector : LLMDetector
        The chat model (from ``load_detector("openai:...")`` and the like).
    out : path
        Dialogue file to write (``.jsonl``, ``.csv`` or ``.parquet``, the released row layout).
    reveal : {"early", "mid", "late"}
    seed : int, default=0
        Fixes the plans.
    run_dir : path, optional
        Where replies are kept (default: ``<out>.run`` beside ``out``); rerunning with the same
        directory resumes.
    dataset : DatasetInfo, optional
        Name and fingerprint of the posts, recorded in the manifest.
    cache : ResponseCache, optional
        Shared reply cache.
    options : RunOptions, optional
        Concurrency, rate limit, progress bar.
    attempts : int, default=2
        Requests per post at most; a later attempt is a new request (its prompt says so).
    min_messages, max_messages : int
        Range of conversation lengths.
    console : rich.console.Console, optional
        Where the progress bar goes.

    Returns
    -------
    SynthesisResult

    Raises
    ------
    SynthesisError
        For unlabelled posts, duplicate ids, ``attempts < 1``, or a written file that does not
        read back as planned.
    RunMismatchError
        When ``run_dir`` holds a run with other settings.
    FatalProviderError
        When the provider refuses every request (replies so far are kept).

    Examples
    --------
    A post without a crisis makes a plan without labels:

    >>> from cradle.labels import PostLabel
    >>> plan_dialogue(Post("p2", "long week", (PostLabel.NO_CRISIS,)), "mid").labels
    {}
    """
    if reveal not in REVEALS:
        raise SynthesisError(f"reveal must be one of {', '.join(REVEALS)}, not {reveal!r}")
    if attempts < 1:
        raise SynthesisError(f"attempts must be at least 1, got {attempts}")
    if not isinstance(detector, LLMDetector):
        raise SynthesisError(
            f"{getattr(detector, 'spec', type(detector).__name__)} is not a chat model: synthesis needs an API engine (openai:, anthropic:, gemini:, openai-compatible:)"
        )
    ids = [p.id for p in posts]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise SynthesisError(f"{len(dupes)} duplicate post id(s), e.g. {dupes[:5]}")
    out = Path(out)
    run_path = Path(run_dir) if run_dir is not None else out.with_name(out.name + ".run")
    settings = {"reveal": reveal, "seed": seed, "min_messages": min_messages, "max_messages": max_messages}
    writer = DialogueWriter(detector, settings)
    plans = {p.id: plan_dialogue(p, reveal, seed=seed, min_messages=min_messages, max_messages=max_messages) for p in posts}
    texts = {p.id: p.text for p in posts}
    result = SynthesisResult(out=out, run_dir=run_path, n_posts=len(posts))
    written: dict[str, list[dict[str, str]]] = {}
    for attempt in range(1, attempts + 1):
        todo = [pid for pid in ids if pid not in written]
        if not todo:
            break
        items = [
            WorkItem(
                _item_id(pid, attempt),
                render_synthesis_prompt(
                    texts[pid],
                    n_messages=plans[pid].n_messages,
                    steps=plans[pid].steps,
                    listener=plans[pid].listener,
                    attempt=attempt,
                ),
            )
            for pid in todo
        ]
        result.sessions.append(
            run_items(items, writer, run_path, dataset=dataset, cache=cache, options=options, total=len(items), console=console)
        )
        replies = _read_replies(run_path)
        for pid in todo:
            reply = replies.get(_item_id(pid, attempt))
            if reply is None:
                result.failed[pid] = "no reply"
                continue
            if not reply.ok:
                result.failed[pid] = f"{reply.status.value}: {reply.reason}"
                continue
            try:
                messages = parse_conversation(reply.raw)
                plans[pid].dialogue("check", messages)
            except ConversationFormatError as exc:
                result.failed[pid] = f"invalid: {exc}"
                continue
            written[pid] = messages
            result.failed.pop(pid, None)
    order = [pid for pid in ids if pid in written]
    dialogues = [plans[pid].dialogue(f"d{k}", written[pid]) for k, pid in enumerate(order)]
    out.parent.mkdir(parents=True, exist_ok=True)
    write_dialogues(dialogues, out)
    _check_written(out, dialogues)
    with open(run_path / PLANS_NAME, "w", encoding="utf-8") as fh:
        for d, pid in zip(dialogues, order, strict=True):
            fh.write(json.dumps({"id": d.id, **plans[pid].to_dict()}, ensure_ascii=False) + "\n")
    result.n_written = len(dialogues)
    for d in dialogues:
        result.by_reveal[d.meta["reveal"]] = result.by_reveal.get(d.meta["reveal"], 0) + 1
        for lab in d.labels:
            result.label_counts[lab.value] = result.label_counts.get(lab.value, 0) + 1
    return result


def _check_written(path: Path, dialogues: Sequence[Dialogue]) -> None:
    """Read the file back and compare it with what was meant to be written."""
    try:
        again = read_dialogues(path)
    except DataError as exc:
        raise SynthesisError(f"{path} does not read back as dialogues:\n{exc}") from None
    issues: list[RowIssue] = []
    if len(again) != len(dialogues):
        issues.append(RowIssue(str(path), 0, "", f"{len(again)} dialogues read back, {len(dialogues)} written"))
    for want, got in zip(dialogues, again, strict=False):
        if [(t.speaker, t.text, t.labels) for t in want.turns] != [(t.speaker, t.text, t.labels) for t in got.turns]:
            issues.append(RowIssue(str(path), 0, "", f"dialogue {want.id} ({want.meta.get('post_id')}) reads back differently"))
    if issues:
        raise SynthesisError(str(DataError(issues)))
