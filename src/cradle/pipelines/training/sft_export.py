"""Chat-format training examples for supervised fine-tuning (any SFT trainer).

One example per labelled post, or per user turn of a dialogue::

    {"messages": [{"role": "system", "content": SYSTEM_PROMPT_OPEN},
                  {"role": "user", "content": <short training prompt with the post>},
                  {"role": "assistant", "content": "{\\"labels\\": [...]}"}]}

The prompts come from :meth:`cradle.prompts.PromptSet.training`: the open-model system prompt
and the shortened training template for posts (the paper fine-tuned with a shortened prompt);
dialogue turns use the turn template with the conversation up to the turn. The assistant answer
is :func:`cradle.prompts.format_answer` of the gold labels, exactly what the parser reads back.
Examples keep the order of the data file; the file holds texts, so treat it as sensitive.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cradle.data import DataError, Dataset, Dialogue, Post, RowIssue
from cradle.data._text import first_json_object, read_utf8
from cradle.prompts import Message, PromptSet, format_answer

__all__ = [
    "ChatExample",
    "post_example",
    "turn_examples",
    "chat_examples",
    "write_chat_jsonl",
    "read_chat_jsonl",
    "is_chat_jsonl",
    "load_examples",
]

#: One training example: ``{"messages": [system, user, assistant]}``.
ChatExample = dict[str, list[Message]]


def _training_prompts(prompts: PromptSet | None) -> PromptSet:
    return prompts if prompts is not None else PromptSet.training("hf")


def post_example(post: Post, prompts: PromptSet | None = None) -> ChatExample:
    """The chat example of one labelled post.

    Parameters
    ----------
    post : Post
        A post with labels.
    prompts : PromptSet, optional
        Defaults to :meth:`PromptSet.training`.

    Returns
    -------
    dict
        ``{"messages": [...]}`` ending with the assistant answer.

    Raises
    ------
    ValueError
        When the post has no labels.

    Examples
    --------
    >>> from cradle.data import Post
    >>> from cradle.labels import PostLabel
    >>> ex = post_example(Post("p1", "I am fine.", (PostLabel.NO_CRISIS,)))
    >>> [m["role"] for m in ex["messages"]], ex["messages"][-1]["content"]
    (['system', 'user', 'assistant'], '{"labels": ["no_crisis"]}')
    """
    if not post.labels:
        raise ValueError(f"post {post.id!r} has no labels to train on")
    messages = _training_prompts(prompts).post_messages(post.text)
    return {"messages": [*messages, {"role": "assistant", "content": format_answer(x.value for x in post.labels)}]}


def turn_examples(dialogue: Dialogue, prompts: PromptSet | None = None) -> Iterator[ChatExample]:
    """One chat example per user turn of a dialogue; the answer is the labels new at that turn.

    Examples
    --------
    >>> from cradle.data import Dialogue, Turn
    >>> d = Dialogue("d0", (Turn(0, "user", "hi"), Turn(1, "listener", "hello"), Turn(2, "user", "bad week")))
    >>> [ex["messages"][-1]["content"] for ex in turn_examples(d)]
    ['{"labels": []}', '{"labels": []}']
    """
    ps = _training_prompts(prompts)
    for turn in dialogue.user_turns:
        messages = ps.turn_messages(dialogue.history(turn.turn_id))
        yield {"messages": [*messages, {"role": "assistant", "content": format_answer(x.value for x in turn.labels)}]}


def chat_examples(dataset: Dataset, prompts: PromptSet | None = None) -> list[ChatExample]:
    """Every training example of a dataset (posts, or dialogue user turns).

    Raises
    ------
    DataError
        When posts carry no labels (naming the file and a few ids).
    """
    if dataset.kind == "dialogues":
        return [ex for d in dataset.dialogues for ex in turn_examples(d, prompts)]
    unlabelled = [p.id for p in dataset.posts if not p.labels]
    if unlabelled:
        raise DataError.single(dataset.path, f"{len(unlabelled)} post(s) carry no labels to train on, e.g. {unlabelled[:5]}", field="labels")
    return [post_example(p, prompts) for p in dataset.posts]


def write_chat_jsonl(examples: Sequence[ChatExample], path: str | Path) -> int:
    """Write examples as JSON Lines; return how many were written."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        for ex in examples:
            fh.write(json.dumps(ex, ensure_ascii=False) + "\n")
    return len(examples)


def read_chat_jsonl(path: str | Path) -> list[ChatExample]:
    """Read chat examples written by :func:`write_chat_jsonl` (or any ``{"messages": [...]}`` JSONL).

    Raises
    ------
    DataError
        ``file:line:field`` for a line that is not an object with a list of messages ending with
        an assistant message.
    """
    file = str(path)
    issues: list[RowIssue] = []
    out: list[ChatExample] = []
    for n, line in enumerate(read_utf8(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            issues.append(RowIssue(file, n, "", f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        msgs = rec.get("messages") if isinstance(rec, dict) else None
        ok = isinstance(msgs, list) and msgs and all(isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in msgs)
        if not ok:
            issues.append(RowIssue(file, n, "messages", "expected a non-empty list of {role, content} messages"))
        elif msgs[-1]["role"] != "assistant":
            issues.append(RowIssue(file, n, "messages", f"the last message must be the assistant's answer, not {msgs[-1]['role']!r}"))
        else:
            out.append({"messages": msgs})
    if issues:
        raise DataError(issues)
    return out


def is_chat_jsonl(path: str | Path) -> bool:
    """True when ``path`` is a JSON Lines file whose first record holds ``messages``."""
    p = Path(path)
    if p.suffix.lower() not in (".jsonl", ".ndjson", ".json") or not p.is_file():
        return False
    rec = first_json_object(p)
    return rec is not None and "messages" in rec


def load_examples(spec: str, data_dir: str | Path | None = None, prompts: PromptSet | None = None) -> tuple[list[ChatExample], dict[str, Any]]:
    """Training examples from a labelled dataset (file or name) or from a chat JSONL.

    Parameters
    ----------
    spec : str
        A dataset file or name (posts or dialogues, with labels), or a ``.jsonl`` of
        ``{"messages": [...]}`` such as ``cradle sft-export`` writes.
    data_dir : path, optional
        Local folder laid out like the hub repositories (for dataset names).
    prompts : PromptSet, optional
        Defaults to :meth:`PromptSet.training` (ignored for a chat JSONL).

    Returns
    -------
    (list of ChatExample, dict)
        The examples, and ``{"source", "kind", "fingerprint", "examples"}`` for a model card.
    """
    from cradle.data import file_fingerprint, load_dataset

    if is_chat_jsonl(spec):
        examples = read_chat_jsonl(spec)
        return examples, {"source": spec, "kind": "chat", "fingerprint": file_fingerprint(spec), "examples": len(examples)}
    dataset = load_dataset(spec, data_dir)
    examples = chat_examples(dataset, prompts)
    return examples, {"source": spec, "kind": dataset.kind, "fingerprint": dataset.fingerprint, "examples": len(examples)}
