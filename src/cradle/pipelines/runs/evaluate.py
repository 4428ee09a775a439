"""Evaluation runs: build a detector from a spec, label a dataset into a run directory, score it.

What ``cradle predict``, ``cradle evaluate`` and ``cradle demo`` do, as a Python API::

    from cradle.pipelines.runs.evaluate import evaluate
    dataset, summary, scores = evaluate("synthetic:posts-test", "local:default", "runs/local")
    scores["all_samples"]["micro_f1"]

A run directory holds ``manifest.json``, ``predictions.jsonl`` (resumable, see
:mod:`cradle.pipelines.runs.runner`) and, once scored, ``scores.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cradle.data.datasets import Dataset
    from cradle.pipelines.runs.runner import RunSummary

__all__ = [
    "API_ENGINES",
    "GENERATIVE_ENGINES",
    "SCORES_NAME",
    "EvaluationError",
    "build_detector",
    "detector_for_dataset",
    "predict_dataset",
    "score_run",
    "evaluate",
]

#: Engines reached over HTTP (per-item calls, response cache, key from the environment).
API_ENGINES = frozenset({"openai", "openai-compatible", "anthropic", "gemini"})
#: Engines that generate text from a prompt (decoding and prompt options apply).
GENERATIVE_ENGINES = API_ENGINES | {"hf"}


class EvaluationError(ValueError):
    """A run that cannot go on as asked: options that do not apply to the engine, or a provider
    that refuses every request (the predictions made so far are kept)."""


def build_detector(
    spec: str,
    *,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    prompt_file: Path | None = None,
    system_prompt_file: Path | None = None,
    api_key_env: str | None = None,
    timeout: float = 120.0,
    max_attempts: int = 6,
) -> Any:
    """Build the detector a spec names, passing each engine only the options it takes.

    Decoding and prompt options left unset take the published-protocol defaults. Setting one
    for an engine that does not generate text (``local:``) is an error.

    Raises
    ------
    SpecError, MissingAPIKeyError, PromptError, EvaluationError
    """
    from cradle.detectors import load_detector, parse_spec

    parsed = parse_spec(spec)
    generative = {
        "temperature": temperature,
        "top_p": top_p,
        "max_tokens": max_tokens,
        "prompt_file": prompt_file,
        "system_prompt_file": system_prompt_file,
    }
    if parsed.engine not in GENERATIVE_ENGINES:
        given = [f"--{k.replace('_', '-')}" for k, v in generative.items() if v is not None]
        if api_key_env:
            given.append("--api-key-env")
        if given:
            raise EvaluationError(
                f"{', '.join(given)} do(es) not apply to {parsed.engine}: specs (only to {', '.join(sorted(GENERATIVE_ENGINES))})"
            )
        return load_detector(spec)
    options: dict[str, Any] = {k: v for k, v in generative.items() if v is not None}
    if parsed.engine in API_ENGINES:
        options.update(timeout=timeout, max_attempts=max_attempts)
        if api_key_env:
            options["api_key_env"] = api_key_env
    elif api_key_env:
        raise EvaluationError(f"--api-key-env does not apply to {parsed.engine}: specs")
    return load_detector(spec, **options)


def detector_for_dataset(detector: Any, kind: str) -> Any:
    """``detector``, or for dialogues (``kind == "dialogues"``) a turn detector running it when it
    has no ``predict_dialogue`` (``local:`` labels turns incrementally through its wrapper)."""
    if kind == "dialogues" and not callable(getattr(detector, "predict_dialogue", None)):
        from cradle.pipelines.monitor import turn_detector_for

        return turn_detector_for(detector)
    return detector


def predict_dataset(
    data: str,
    spec: str,
    out: Path,
    *,
    data_dir: Path | None = None,
    concurrency: int = 8,
    cache: Path | None = None,
    no_cache: bool = False,
    rate_limit: float | None = None,
    progress: bool = True,
    console: Any = None,
    ray: bool = False,
    shards: int | None = None,
    **detector_options: Any,
) -> tuple[Dataset, RunSummary]:
    """Build the detector (a missing key fails here, before any work), load the data and run.

    Parameters
    ----------
    data : str
        A file or dataset name.
    spec : str
        Detector spec.
    out : Path
        Run directory.
    data_dir, concurrency, cache, no_cache, rate_limit, progress
        As the command-line options of ``cradle predict``.
    console : rich.console.Console, optional
        Where the progress bar goes.
    ray : bool, default=False
        Shard the items over Ray workers (:func:`cradle.pipelines.runs.sharded.run_sharded`; local
        Ray, or the cluster at ``RAY_ADDRESS``); same run directory, same predictions.
    shards : int, optional
        With ``ray``: number of shards (default: the CPUs Ray reports).
    **detector_options
        Passed to :func:`build_detector`.

    Returns
    -------
    (Dataset, RunSummary)

    Raises
    ------
    EvaluationError
        When the provider refuses every request (bad key, unknown model, no quota).
    """
    from cradle.data import load_dataset
    from cradle.detectors.llm import LLMDetector
    from cradle.detectors.providers import FatalProviderError
    from cradle.pipelines.runs.items import dataset_items
    from cradle.pipelines.runs.runner import DatasetInfo, RunOptions, run_items

    if shards is not None and not ray:
        raise EvaluationError("--shards applies to sharded runs only: add --ray")
    detector = build_detector(spec, **detector_options)
    dataset = load_dataset(data, data_dir)
    detector = detector_for_dataset(detector, dataset.kind)
    total = len(dataset) if dataset.kind == "posts" else dataset.n_user_turns  # type: ignore[union-attr]
    from cradle.pipelines.runs.cache import ResponseCache, default_cache_path

    use_cache = isinstance(detector, LLMDetector) and not no_cache
    options = RunOptions(concurrency=concurrency, rate_limit=rate_limit, progress=progress and not ray)
    if ray:
        from functools import partial

        from cradle.pipelines.runs.sharded import run_sharded

        try:
            summary = run_sharded(
                list(dataset_items(dataset)),
                partial(_make_detector, spec, dataset.kind, detector_options),
                out,
                dataset=DatasetInfo.of(dataset),
                cache_path=(cache or default_cache_path()) if use_cache else None,
                options=options,
                shards=shards,
            )
        except FatalProviderError as exc:
            raise EvaluationError(f"{exc}. Predictions made so far are kept in {out}.") from None
        return dataset, summary
    response_cache = ResponseCache(cache or default_cache_path()) if use_cache else None
    try:
        summary = run_items(
            dataset_items(dataset),
            detector,
            out,
            dataset=DatasetInfo.of(dataset),
            cache=response_cache,
            options=options,
            total=total,
            console=console,
        )
    except FatalProviderError as exc:
        raise EvaluationError(f"{exc}. Predictions made so far are kept in {out}.") from None
    finally:
        if response_cache is not None:
            response_cache.close()
    return dataset, summary


def _make_detector(spec: str, kind: str, options: dict[str, Any]) -> Any:
    """Build the detector of a run in a Ray worker (picklable through :func:`functools.partial`)."""
    return detector_for_dataset(build_detector(spec, **options), kind)


#: File name of the scores inside a run directory.
SCORES_NAME = "scores.json"


def score_run(dataset: Dataset, out: Path, *, bootstrap: int = 0, seed: int = 0) -> dict[str, Any]:
    """Score the predictions of run directory ``out`` against ``dataset`` and write ``scores.json``.

    Returns
    -------
    dict
        The score object (the one ``cradle score --json`` prints).

    Raises
    ------
    DataError
        When predictions and gold items do not match one to one, or gold posts lack labels.
    """
    from cradle.data import read_predictions
    from cradle.pipelines.runs.rundir import PREDICTIONS_NAME
    from cradle.pipelines.runs.scoring import json_safe

    pred_path = out / PREDICTIONS_NAME
    if dataset.kind == "dialogues":
        from cradle.metrics.dialogue import score_dialogues

        preds = read_predictions(pred_path, "dialogue")
        result = score_dialogues(dataset.dialogues, preds, bootstrap=bootstrap, seed=seed)
    else:
        from cradle.pipelines.runs.scoring import score_posts

        preds = read_predictions(pred_path, "post")
        result = score_posts(dataset.posts, preds, bootstrap=bootstrap, seed=seed)
    tmp = out / (SCORES_NAME + ".tmp")
    tmp.write_text(json.dumps(json_safe(result), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out / SCORES_NAME)
    return result


def evaluate(
    data: str, spec: str, out: str | Path, *, bootstrap: int = 0, seed: int = 0, **options: Any
) -> tuple[Dataset, RunSummary, dict[str, Any]]:
    """Predict ``data`` with ``spec`` into ``out`` (resumable, cached), then score the run.

    Parameters
    ----------
    data : str
        A file or a dataset name (``cradle-bench:test``, ``synthetic:dialogues-test``, ...).
    spec : str
        Detector spec.
    out : path
        Run directory.
    bootstrap, seed : int
        Bootstrap resamples for 95% intervals (0: none) and their seed.
    **options
        Passed to :func:`predict_dataset` (``data_dir``, ``concurrency``, ``cache``, decoding
        and prompt options, ...).

    Returns
    -------
    (Dataset, RunSummary, dict)
        The gold data, the run summary and the score object written to ``scores.json``.

    Examples
    --------
    >>> import tempfile
    >>> _, summary, scores = evaluate("synthetic:posts-test", "local:default", tempfile.mkdtemp(), progress=False)
    >>> summary.counts["ok"] == scores["n"] == 314
    True
    """
    options.setdefault("progress", False)
    dataset, summary = predict_dataset(data, spec, Path(out), **options)
    return dataset, summary, score_run(dataset, Path(out), bootstrap=bootstrap, seed=seed)
