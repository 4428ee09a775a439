"""``cradle synthesize DATA --model SPEC --reveal early|mid|late --out FILE``: posts to dialogues.

Turns labelled posts into conversations in the CRADLE-Dialogue layout, written by a chat model
along a plan that places each label on a chosen user turn (see
:mod:`cradle.pipelines.labelling.synthesize`). Replies are cached and kept in a run directory
(``FILE.run`` by default), so an interrupted run resumes and a finished one makes no call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cradle.interfaces.cli._common import UsageFailure, cli_errors, err_console, print_json
from cradle.interfaces.cli.predict_cmd import (
    ApiKeyEnvOpt,
    CacheOpt,
    ConcurrencyOpt,
    DataDirOpt,
    MaxAttemptsOpt,
    ModelOpt,
    NoCacheOpt,
    QuietOpt,
    RateLimitOpt,
    TimeoutOpt,
    TopPOpt,
)
from cradle.pipelines.runs.evaluate import API_ENGINES, build_detector

__all__ = ["register"]

#: Decoding defaults for writing (labelling uses temperature 0 and 1,024 tokens).
SYNTHESIS_TEMPERATURE = 0.8
SYNTHESIS_MAX_TOKENS = 4096


def register(app: typer.Typer) -> None:
    @app.command("synthesize")
    @cli_errors
    def synthesize(
        data: Annotated[str, typer.Argument(help="Labelled posts: a file, or a dataset name such as synthetic:posts-train.")],
        model: ModelOpt,
        reveal: Annotated[
            str, typer.Option(help="Where the first crisis becomes explicit: early, mid or late third of the user turns.")
        ],
        out: Annotated[
            Path, typer.Option("--out", "-o", help="Dialogue file to write: .jsonl, .csv or .parquet (released row layout).")
        ],
        seed: Annotated[int, typer.Option(help="Seed of the plans (lengths, listeners, label positions).")] = 0,
        run_dir: Annotated[Optional[Path], typer.Option(help="Where replies are kept for resuming (default: OUT.run).")] = None,
        attempts: Annotated[
            int, typer.Option(help="Requests per post at most when a reply is not a usable conversation.", min=1)
        ] = 2,
        limit: Annotated[Optional[int], typer.Option(help="Only the first N posts.", min=1)] = None,
        min_messages: Annotated[int, typer.Option(help="Fewest messages per conversation.", min=6)] = 10,
        max_messages: Annotated[int, typer.Option(help="Most messages per conversation.", min=6)] = 20,
        concurrency: ConcurrencyOpt = 8,
        cache: CacheOpt = None,
        no_cache: NoCacheOpt = False,
        temperature: Annotated[float, typer.Option(help="Sampling temperature.", min=0.0, max=2.0)] = SYNTHESIS_TEMPERATURE,
        top_p: TopPOpt = None,
        max_tokens: Annotated[int, typer.Option(help="Most new tokens per reply.", min=1)] = SYNTHESIS_MAX_TOKENS,
        timeout: TimeoutOpt = 120.0,
        max_attempts: MaxAttemptsOpt = 6,
        rate_limit: RateLimitOpt = None,
        api_key_env: ApiKeyEnvOpt = None,
        data_dir: DataDirOpt = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Write conversations from the labelled posts of DATA with the --model chat model into the --out file."""
        from cradle.data import load_dataset
        from cradle.detectors import parse_spec
        from cradle.detectors.providers import FatalProviderError
        from cradle.pipelines.labelling.synthesize import REVEALS, synthesize_dialogues
        from cradle.pipelines.runs.runner import DatasetInfo, RunOptions

        if reveal not in REVEALS:
            raise UsageFailure(f"--reveal must be one of {', '.join(REVEALS)}, not {reveal!r}")
        if min_messages > max_messages:
            raise UsageFailure(f"--min-messages ({min_messages}) is above --max-messages ({max_messages})")
        engine = parse_spec(model).engine
        if engine not in API_ENGINES:
            raise UsageFailure(
                f"synthesis needs a chat model reached over an API ({', '.join(sorted(API_ENGINES))}), not {engine}:"
            )
        detector = build_detector(
            model,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            api_key_env=api_key_env,
            timeout=timeout,
            max_attempts=max_attempts,
        )
        dataset = load_dataset(data, data_dir, kind="posts")
        posts = dataset.posts[:limit] if limit else dataset.posts  # type: ignore[union-attr]
        response_cache = None
        if not no_cache:
            from cradle.pipelines.runs.cache import ResponseCache, default_cache_path

            response_cache = ResponseCache(cache or default_cache_path())
        options = RunOptions(concurrency=concurrency, rate_limit=rate_limit, progress=not quiet and err_console.is_terminal)
        try:
            result = synthesize_dialogues(
                posts,
                detector,
                out,
                reveal=reveal,
                seed=seed,
                run_dir=run_dir,
                dataset=DatasetInfo.of(dataset),  # a later run without --limit extends the same run
                cache=response_cache,
                options=options,
                attempts=attempts,
                min_messages=min_messages,
                max_messages=max_messages,
                console=err_console,
            )
        except FatalProviderError as exc:
            raise UsageFailure(f"{exc}. Replies received so far are kept in {run_dir or str(out) + '.run'}.") from None
        finally:
            if response_cache is not None:
                response_cache.close()
        if json_out:
            print_json(result.to_dict())
            return
        if not quiet:
            err_console.print(
                f"{result.n_posts} posts: wrote {result.n_written} dialogues to {result.out}, {len(result.failed)} failed "
                f"({result.calls} model calls, {result.cache_hits} cache hits); replies in {result.run_dir}",
                highlight=False,
            )
            if result.by_reveal:
                err_console.print(
                    "by reveal: " + ", ".join(f"{k} {v}" for k, v in sorted(result.by_reveal.items())), highlight=False
                )
            for pid, why in list(result.failed.items())[:10]:
                err_console.print(f"  {pid}: {why}", highlight=False, markup=False)
