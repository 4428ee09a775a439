"""CRADLE Bench and CRADLE-Dialogue as inspect_ai tasks (``pip install 'cradle-risk[inspect]'``).

Registered through inspect's entry point (``[project.entry-points.inspect_ai]`` in
``pyproject.toml``), so that once cradle is installed::

    inspect eval cradle/cradle_bench --model openai/gpt-5 -T dataset=cradle-bench:test
    inspect eval cradle/cradle_dialogue --model mockllm/model -T dataset=synthetic:dialogues-test --limit 5

Prompts, output parsing and metrics are cradle's own: the messages are those of
:class:`cradle.prompts.PromptSet` (published protocol: guidelines, rules, label list, five
few-shot examples; temperature 0, top-p 1, 1,024 new tokens), each reply is judged by
:func:`cradle.detectors.outputs.prediction_from_reply` (a ``content_filter`` stop counts as
``blocked``), and the metrics call :func:`cradle.pipelines.runs.scoring.score_posts` /
:func:`cradle.metrics.dialogue.score_dialogues` over all samples, so an inspect log reports the
numbers ``cradle score`` prints for the same predictions (:func:`predictions_from_log` writes
them out for it).

Task arguments (``-T name=value``):

- ``dataset``: a dataset name or file (default ``cradle-bench:test`` / ``cradle-dialogue:test``);
  ``data_dir``: where dataset names are found (default ``$CRADLE_DATA_DIR``).
- ``engine``: whose system prompt to use: an open-model engine (default ``openai-compatible``:
  the prompt that insists on JSON only) or a commercial one (``openai``, ``anthropic``,
  ``gemini``: a one-line role), as in the benchmark paper.
- ``prompt_file``, ``system_prompt_file``: as for ``cradle evaluate``.

Each post is one sample; each dialogue is one sample whose solver asks the model once per user
turn with the history up to that turn (so ``--limit`` counts whole dialogues and every scored
dialogue is complete).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    ModelOutput,
    get_model,
)
from inspect_ai.scorer import SampleScore, Score, Scorer, Target, metric, scorer
from inspect_ai.solver import Generate, Solver, TaskState, generate, solver

from cradle.data import Dialogue, Post, Prediction, Status, Turn, load_dataset
from cradle.detectors.outputs import prediction_from_reply
from cradle.labels import normalize_dialogue_label, normalize_post_label
from cradle.prompts import Message, PromptSet

__all__ = [
    "cradle_bench",
    "cradle_dialogue",
    "post_scorer",
    "dialogue_scorer",
    "dialogue_solver",
    "predictions_from_log",
    "prediction_from_output",
]

#: The published decoding protocol.
PROTOCOL = GenerateConfig(temperature=0.0, top_p=1.0, max_tokens=1024)
_REPLIES_KEY = "cradle_replies"


def _task_name(name: str) -> str:
    """``cradle/NAME``, the name ``inspect eval`` looks up through the entry point.

    inspect prefixes the package name itself when it sees cradle as an installed package; an
    editable install of the ``cradle-risk`` distribution is not recognised as one, so the prefix
    is written here in that case.
    """
    try:
        from inspect_ai._util.registry import registry_name
    except ImportError:  # a future inspect without this helper: name it in full
        return f"cradle/{name}"
    return name if registry_name(_task_name, name) != name else f"cradle/{name}"


def _prompts(engine: str, prompt_file: str | None, system_prompt_file: str | None) -> PromptSet:
    if prompt_file or system_prompt_file:
        return PromptSet.from_files(engine, prompt_file, system_prompt_file)
    return PromptSet.default(engine)


def _chat(messages: Sequence[Message]) -> list[ChatMessage]:
    return [
        ChatMessageSystem(content=m["content"]) if m["role"] == "system" else ChatMessageUser(content=m["content"])
        for m in messages
    ]


def prediction_from_output(output: ModelOutput, schema: str, item_id: str) -> Prediction:
    """Judge an inspect model output as cradle judges a provider reply.

    A ``content_filter`` stop is ``blocked``; a ``max_tokens`` stop is named in the reason of an
    unparseable reply; an ``error`` on the output makes an ``error`` prediction.
    """
    if output.error:
        return Prediction(status=Status.ERROR, reason=str(output.error), id=item_id)
    stop = output.stop_reason
    pred = prediction_from_reply(
        output.completion,
        "dialogue" if schema == "dialogue" else "post",
        blocked=stop == "content_filter",
        block_reason="content_filter" if stop == "content_filter" else None,
        finish_reason="length" if stop == "max_tokens" else None,
    )
    return pred.with_id(item_id)


def _prediction_record(p: Prediction) -> dict[str, Any]:
    return {"id": p.id, "labels": list(p.labels), "status": p.status.value, "reason": p.reason}


def _prediction_of(record: dict[str, Any]) -> Prediction:
    return Prediction(
        labels=tuple(record["labels"]), status=Status(record["status"]), reason=record.get("reason"), id=record["id"]
    )


# -- posts ----------------------------------------------------------------------------------


def _post_sample(post: Post, prompts: PromptSet) -> Sample:
    gold = [x.value for x in post.labels or ()]
    return Sample(id=post.id, input=_chat(prompts.post_messages(post.text)), target=gold, metadata={"gold": gold})


def _post_scores(scores: list[SampleScore]) -> dict[str, Any]:
    from cradle.pipelines.runs.scoring import score_posts

    posts, preds = [], []
    for s in scores:
        meta = s.score.metadata or {}
        posts.append(Post(str(meta["id"]), "", tuple(normalize_post_label(x) for x in meta["gold"])))
        preds.append(_prediction_of(meta))
    return score_posts(posts, preds)


def _post_metric(subset: str, key: str) -> Any:
    def compute(scores: list[SampleScore]) -> float:
        value = _post_scores(scores)[subset][key] if scores else float("nan")
        return float(value)

    return compute


@metric
def micro_f1() -> Any:
    """Micro F1 over all samples (non-ok outputs count as empty label sets)."""
    return _post_metric("all_samples", "micro_f1")


@metric
def macro_f1() -> Any:
    """Macro F1 over the 15 labels, all samples."""
    return _post_metric("all_samples", "macro_f1")


@metric
def exact_match() -> Any:
    """Subset accuracy, all samples."""
    return _post_metric("all_samples", "exact_match")


@metric
def jaccard() -> Any:
    """Sample-averaged Jaccard, all samples."""
    return _post_metric("all_samples", "jaccard")


@metric
def micro_recall() -> Any:
    """Micro recall, all samples."""
    return _post_metric("all_samples", "micro_recall")


@metric
def macro_recall() -> Any:
    """Macro recall, all samples."""
    return _post_metric("all_samples", "macro_recall")


@metric
def valid_micro_f1() -> Any:
    """Micro F1 over the valid (``ok``) outputs only."""
    return _post_metric("valid_only", "micro_f1")


@metric
def n_valid() -> Any:
    """How many outputs were valid (``ok``)."""

    def compute(scores: list[SampleScore]) -> float:
        return float(sum(1 for s in scores if (s.score.metadata or {}).get("status") == "ok"))

    return compute


@scorer(metrics=[micro_f1(), macro_f1(), exact_match(), jaccard(), micro_recall(), macro_recall(), valid_micro_f1(), n_valid()])
def post_scorer() -> Scorer:
    """Parse the reply with cradle's parser; the value is 1 for an exact label-set match, else 0.

    The score metadata carries the prediction (``labels``, ``status``, ``reason``) and the gold
    labels, from which the metrics recompute cradle's scores over all samples.
    """

    async def score(state: TaskState, target: Target) -> Score:
        pred = prediction_from_output(state.output, "post", str(state.sample_id))
        gold = list((state.metadata or {}).get("gold", target.target))
        exact = pred.ok and set(pred.labels) == set(gold)
        return Score(
            value=1.0 if exact else 0.0,
            answer=", ".join(pred.labels) if pred.ok else pred.status.value,
            explanation=pred.reason,
            metadata={**_prediction_record(pred), "gold": gold},
        )

    return score


@task(name=_task_name("cradle_bench"))
def cradle_bench(
    dataset: str = "cradle-bench:test",
    data_dir: str | None = None,
    engine: str = "openai-compatible",
    prompt_file: str | None = None,
    system_prompt_file: str | None = None,
) -> Task:
    """CRADLE Bench posts: one sample per post, the published prompt and decoding, cradle's metrics.

    Parameters
    ----------
    dataset : str
        A posts dataset name or file with gold labels.
    data_dir : str, optional
        Where dataset names are found (default ``$CRADLE_DATA_DIR``).
    engine : str
        Whose system prompt to send (see the module docstring).
    prompt_file, system_prompt_file : str, optional
        Custom user template (``{post}``, ...) and system prompt.
    """
    data = load_dataset(dataset, Path(data_dir) if data_dir else None)
    if data.kind != "posts":
        raise ValueError(f"{dataset} holds {data.kind}: use cradle/cradle_dialogue")
    prompts = _prompts(engine, prompt_file, system_prompt_file)
    samples = [_post_sample(p, prompts) for p in data.posts]  # type: ignore[union-attr]
    return Task(
        dataset=MemoryDataset(samples, name=data.name),
        solver=generate(),
        scorer=post_scorer(),
        config=PROTOCOL,
        name="cradle_bench",
        version=1,
    )


# -- dialogues ------------------------------------------------------------------------------


def _dialogue_sample(d: Dialogue) -> Sample:
    turns = [{"turn_id": t.turn_id, "speaker": t.speaker, "labels": [x.value for x in t.labels]} for t in d.turns]
    transcript = "\n".join(f"{'User' if t.is_user else 'Listener'}: {t.text}" for t in d.turns)
    # the solver needs the texts (metadata); the scores keep only the structure (no text)
    return Sample(id=d.id, input=transcript, target=[], metadata={"turns": turns, "texts": [t.text for t in d.turns]})


def _dialogue_of(dialogue_id: str, turns: Sequence[dict[str, Any]], texts: Sequence[str] | None = None) -> Dialogue:
    return Dialogue(
        dialogue_id,
        tuple(
            Turn(
                int(t["turn_id"]),
                t["speaker"],
                texts[i] if texts else "",
                tuple(normalize_dialogue_label(x) for x in t["labels"]),
            )
            for i, t in enumerate(turns)
        ),
    )


@solver
def dialogue_solver(
    engine: str = "openai-compatible", prompt_file: str | None = None, system_prompt_file: str | None = None
) -> Solver:
    """Ask the model once per user turn, with the dialogue up to that turn, cradle's turn prompt."""
    prompts = _prompts(engine, prompt_file, system_prompt_file)

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        meta = state.metadata or {}
        dialogue = _dialogue_of(str(state.sample_id), meta["turns"], meta["texts"])
        model = get_model()
        user_turns = dialogue.user_turns
        outputs = await asyncio.gather(
            *(model.generate(_chat(prompts.turn_messages(dialogue.history(t.turn_id)))) for t in user_turns)
        )
        replies = []
        for t, out in zip(user_turns, outputs):
            pred = prediction_from_output(out, "dialogue", dialogue.item_id(t))
            replies.append(_prediction_record(pred))
        state.store.set(_REPLIES_KEY, replies)
        if outputs:
            state.output = outputs[-1]
            state.messages.append(ChatMessageAssistant(content=outputs[-1].completion))
        return state

    return solve


def _dialogue_scores(scores: list[SampleScore]) -> dict[str, Any]:
    from cradle.metrics.dialogue import score_dialogues

    dialogues, preds = [], []
    for s in scores:
        meta = s.score.metadata or {}
        dialogues.append(_dialogue_of(str(meta["dialogue"]), meta["turns"]))
        preds += [_prediction_of(r) for r in meta["predictions"]]
    return score_dialogues(dialogues, preds)


def _dialogue_metric(setting: str, key: str) -> Any:
    def compute(scores: list[SampleScore]) -> float:
        return float(_dialogue_scores(scores)[setting][key]) if scores else float("nan")

    return compute


@metric
def turn_micro_f1() -> Any:
    """Turn-level micro F1 (a label counts only at the user turn where it first appears)."""
    return _dialogue_metric("turn_level", "micro_f1")


@metric
def turn_macro_f1() -> Any:
    """Turn-level macro F1."""
    return _dialogue_metric("turn_level", "macro_f1")


@metric
def dialogue_micro_f1() -> Any:
    """Dialogue-level micro F1 (labels of the whole dialogue, timing ignored)."""
    return _dialogue_metric("dialogue_level", "micro_f1")


@metric
def confirm_micro_f1() -> Any:
    """Confirm-only micro F1."""
    return _dialogue_metric("confirm_only", "micro_f1")


@scorer(metrics=[turn_micro_f1(), turn_macro_f1(), dialogue_micro_f1(), confirm_micro_f1()])
def dialogue_scorer() -> Scorer:
    """The value is the share of user turns whose predicted label set equals the gold one.

    The metadata carries every turn's prediction and the dialogue's structure (turn ids,
    speakers, gold labels; no text), from which the metrics recompute cradle's dialogue scores.
    """

    async def score(state: TaskState, target: Target) -> Score:
        meta = state.metadata or {}
        replies = state.store.get(_REPLIES_KEY, [])
        dialogue = _dialogue_of(str(state.sample_id), meta["turns"])
        gold = {dialogue.item_id(t): {x.value for x in t.labels} for t in dialogue.user_turns}
        right = sum(1 for r in replies if r["status"] == "ok" and set(r["labels"]) == gold.get(r["id"]))
        value = right / len(gold) if gold else math.nan
        statuses = [r["status"] for r in replies]
        return Score(
            value=value,
            answer="; ".join(f"{r['id']}: {', '.join(r['labels']) or '-'}" for r in replies),
            explanation=f"{right} of {len(gold)} user turns exactly right; statuses {sorted(set(statuses))}",
            metadata={"dialogue": dialogue.id, "turns": meta["turns"], "predictions": replies},
        )

    return score


@task(name=_task_name("cradle_dialogue"))
def cradle_dialogue(
    dataset: str = "cradle-dialogue:test",
    data_dir: str | None = None,
    engine: str = "openai-compatible",
    prompt_file: str | None = None,
    system_prompt_file: str | None = None,
) -> Task:
    """CRADLE-Dialogue: one sample per dialogue, one model call per user turn, cradle's metrics.

    Parameters
    ----------
    dataset : str
        A dialogues dataset name or file with gold labels.
    data_dir, engine, prompt_file, system_prompt_file
        As for :func:`cradle_bench` (a prompt file must be a turn template).
    """
    data = load_dataset(dataset, Path(data_dir) if data_dir else None)
    if data.kind != "dialogues":
        raise ValueError(f"{dataset} holds {data.kind}: use cradle/cradle_bench")
    samples = [_dialogue_sample(d) for d in data.dialogues]  # type: ignore[union-attr]
    return Task(
        dataset=MemoryDataset(samples, name=data.name),
        solver=dialogue_solver(engine, prompt_file, system_prompt_file),
        scorer=dialogue_scorer(),
        config=PROTOCOL,
        name="cradle_dialogue",
        version=1,
    )


# -- logs -----------------------------------------------------------------------------------


def predictions_from_log(log: Any) -> list[Prediction]:
    """The predictions of an inspect eval log of :func:`cradle_bench` or :func:`cradle_dialogue`.

    Parameters
    ----------
    log : EvalLog or path
        A log object, or the path of a log file (read with ``inspect_ai.log.read_eval_log``).

    Returns
    -------
    list of Prediction
        One per post, or one per user turn (ids ``DIALOGUE:TURN_ID``), as ``cradle score`` reads
        them (write them with :func:`cradle.data.write_predictions`).
    """
    if isinstance(log, (str, Path)):
        from inspect_ai.log import read_eval_log

        log = read_eval_log(str(log))
    out: list[Prediction] = []
    for sample in log.samples or []:
        for s in (sample.scores or {}).values():
            meta = s.metadata or {}
            if "predictions" in meta:
                out += [_prediction_of(r) for r in meta["predictions"]]
            elif "status" in meta:
                out.append(_prediction_of(meta))
    return out
