"""Training sets from the votes of several runs, and their distribution tables (section 4.3).

The runs label an unlabelled corpus; :func:`~cradle.pipelines.labelling.ensemble.ensemble_runs` votes over
whole label sets (non-ok predictions cast no vote). Two subsets are kept:

- ``consensus``: the items whose winning set has at least ``min_agree`` votes (default 2, the
  paper's ">= 2 of 3 agree"): agreement ``all`` or ``partial``;
- ``unanimous``: the items where every run answered ``ok`` with the same set (agreement
  ``all``).

Items of full disagreement are dropped (there is no fallback when building training data), and
so are winning sets without any label (a post needs at least one label, ``no_crisis``
included). The result is written in the CRADLE Bench CSV layout
(``question_id, question_text, final_labels``).

Distribution tables (:func:`label_distribution`), as in the paper:

- label counts and shares over all labels;
- labels per post: how many posts carry 1, 2, 3, 4 (and more, when present) labels;
- temporal distribution over all labels: ``ongoing``, ``past``, ``no_crisis``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cradle.data import DataError, Post, read_posts, resolve_dataset_path, write_posts_csv
from cradle.data.alignment import check_ids
from cradle.labels import POST_LABELS, PostLabel
from cradle.pipelines.labelling.ensemble import EnsembleResult, Run, ensemble_runs, percentages, run_schema

__all__ = ["Subset", "SUBSETS", "TrainingSet", "read_texts", "build_training_set", "label_distribution", "write_training_set"]

Subset = Literal["consensus", "unanimous"]
SUBSETS: tuple[Subset, ...] = ("consensus", "unanimous")


@dataclass
class TrainingSet:
    """A voted training set.

    Attributes
    ----------
    subset : {"consensus", "unanimous"}
    posts : list of Post
        The kept posts with their voted labels, in the order of the texts.
    n_input : int
        Items voted on.
    dropped : dict
        Reason -> number of items dropped: ``disagreement`` (full disagreement), ``partial``
        (a majority but not unanimous; ``unanimous`` subset only), ``no_label`` (the winning
        set is empty).
    agreement : dict
        The ensemble's agreement summary over all input items.
    """

    subset: Subset
    posts: list[Post]
    n_input: int
    dropped: dict[str, int]
    agreement: dict[str, Any]

    def stats(self) -> dict[str, Any]:
        """The summary and the distribution tables, as written next to the CSV."""
        return {
            "subset": self.subset,
            "n_input": self.n_input,
            "n_posts": len(self.posts),
            "dropped": dict(self.dropped),
            "agreement": self.agreement,
            **label_distribution(self.posts),
        }


def read_texts(spec: str, data_dir: str | Path | None = None) -> list[Post]:
    """Read the corpus behind a training set: posts with ids and texts (labels not needed).

    Parameters
    ----------
    spec : str
        A ``.csv`` in the CRADLE Bench layout (``question_id``, ``question_text``), a ``.jsonl``
        of ``{"id", "text"}``, or a dataset name such as ``synthetic:posts-train``.
    data_dir : path, optional
        Local folder laid out like the hub repositories (for dataset names).

    Raises
    ------
    DataError
        For a missing file, a dialogue file, or bad rows (``file:row:field``).
    """
    path = resolve_dataset_path(spec, data_dir)
    if path.suffix.lower() == ".parquet":
        raise DataError.single(path, "training sets are built from posts; this is a dialogue file")
    posts = read_posts(path, labels_field=None)
    if not posts:
        raise DataError.single(path, "no posts in the file")
    return posts


def _check_coverage(runs: Sequence[Run], texts: Sequence[Post], texts_name: str) -> None:
    check_ids(
        runs[0].predictions,
        (p.id for p in texts),
        texts_name,
        missing="{n} voted item(s) have no text here, e.g. {ids}",
        extra=f"{{n}} post(s) have no prediction in run {runs[0].name!r} ({runs[0].path}), e.g. {{ids}}",
    )


def build_training_set(
    runs: Sequence[Run],
    texts: Sequence[Post],
    *,
    subset: Subset = "consensus",
    min_agree: int = 2,
    texts_name: str = "texts",
) -> tuple[TrainingSet, EnsembleResult]:
    """Vote, keep the requested subset, and attach the texts.

    Parameters
    ----------
    runs : sequence of Run
        At least two runs over the same post ids (post labels).
    texts : sequence of Post
        The corpus; every post must have a prediction in the runs and vice versa. Labels the
        posts may carry are ignored.
    subset : {"consensus", "unanimous"}, default="consensus"
    min_agree : int, default=2
        Votes a label set needs for ``consensus``.
    texts_name : str
        How errors name the corpus (its path).

    Returns
    -------
    (TrainingSet, EnsembleResult)

    Raises
    ------
    ValueError
        For an unknown subset.
    DataError
        When the runs hold dialogue labels, or runs and texts do not cover the same ids.

    Examples
    --------
    >>> from cradle.data import Post, Prediction
    >>> def run(name, labels):
    ...     return Run(name, name, {"p1": Prediction(labels, id="p1")})
    >>> ts, _ = build_training_set([run("a", ("no_crisis",)), run("b", ("no_crisis",)), run("c", ("rape_past",))],
    ...                            [Post("p1", "text")])
    >>> [(p.id, [x.value for x in p.labels]) for p in ts.posts]
    [('p1', ['no_crisis'])]
    """
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {list(SUBSETS)}; got {subset!r}")
    for run in runs:
        if run_schema(run) == "dialogue":
            raise DataError.single(run.path, "training sets are built from post labels; this run holds dialogue labels", field="labels")
    result = ensemble_runs(runs, min_agree=min_agree)
    _check_coverage(runs, texts, texts_name)
    decided = {p.id: (p, it) for p, it in zip(result.predictions, result.items, strict=True)}
    dropped = {"disagreement": 0, "partial": 0, "no_label": 0}
    kept: list[Post] = []
    for post in texts:
        pred, item = decided[post.id]
        if item.agreement == "none":
            dropped["disagreement"] += 1
        elif subset == "unanimous" and item.agreement != "all":
            dropped["partial"] += 1
        elif not pred.labels:
            dropped["no_label"] += 1
        else:
            labels = tuple(x for x in POST_LABELS if x.value in pred.labels)
            kept.append(Post(post.id, post.text, labels, post.meta))
    if subset == "consensus":
        del dropped["partial"]
    ts = TrainingSet(subset, kept, len(texts), dropped, result.summary)
    return ts, result


def _table(counts: dict[str, int]) -> dict[str, dict[str, float]]:
    shares = percentages(counts)
    return {k: {"count": v, "percent": shares[k]} for k, v in counts.items()}


def label_distribution(posts: Sequence[Post]) -> dict[str, Any]:
    """The paper's distribution tables of a labelled post set.

    Parameters
    ----------
    posts : sequence of Post
        Labelled posts.

    Returns
    -------
    dict
        ``n_labels``; ``labels``: every post label -> ``{count, percent}`` (percent of all
        labels); ``labels_per_post``: ``"1"``..``"4"`` (and higher when present) ->
        ``{count, percent}`` (percent of posts); ``temporal``: ``ongoing`` / ``past`` /
        ``no_crisis`` -> ``{count, percent}`` (percent of all labels). Percentages are rounded
        to two decimals so that each table sums to 100.

    Examples
    --------
    >>> from cradle.data import Post
    >>> from cradle.labels import PostLabel as L
    >>> d = label_distribution([Post("a", "t", (L.RAPE_PAST, L.SELFHARM_ONGOING)), Post("b", "t", (L.NO_CRISIS,))])
    >>> d["n_labels"], d["labels_per_post"]["2"]["count"], d["temporal"]["past"]["percent"]
    (3, 1, 33.33)
    """
    label_counts = {x.value: 0 for x in POST_LABELS}
    per_post: dict[str, int] = {str(k): 0 for k in range(1, 5)}
    temporal = {"ongoing": 0, "past": 0, "no_crisis": 0}
    for post in posts:
        labels = post.labels or ()
        n = len(labels)
        if n:
            per_post[str(n)] = per_post.get(str(n), 0) + 1
        for lab in labels:
            label = PostLabel(lab)
            label_counts[label.value] += 1
            temporal[label.time_frame.value if label.time_frame else "no_crisis"] += 1
    per_post = {k: per_post[k] for k in sorted(per_post, key=int)}
    return {
        "n_labels": sum(label_counts.values()),
        "labels": _table(label_counts),
        "labels_per_post": _table(per_post),
        "temporal": _table(temporal),
    }


def write_training_set(ts: TrainingSet, path: str | Path) -> tuple[Path, Path]:
    """Write the posts as a CRADLE Bench CSV and the statistics as ``<stem>.stats.json`` beside it.

    Returns
    -------
    (Path, Path)
        The CSV and the statistics file.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_posts_csv(ts.posts, out)
    stats_path = out.with_name(out.stem + ".stats.json")
    stats_path.write_text(json.dumps(ts.stats(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out, stats_path
