"""``cradle predict DATA --model SPEC --out RUN_DIR``: label a dataset into a resumable run directory.

The run directory gets ``predictions.jsonl`` (one line per item, written as items finish) and
``manifest.json``. Rerunning the same command resumes a killed run and makes no model call for
a finished one. Defaults follow the published protocol: temperature 0, top-p 1.0, 1,024 new
tokens, the built-in prompts. Replies are cached in a SQLite file shared by runs (``--cache``,
by default under the user cache folder; ``--no-cache`` to skip it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from cradle.interfaces.cli._common import cli_errors, err_console

if TYPE_CHECKING:
    from cradle.data.datasets import Dataset
    from cradle.pipelines.runs.runner import RunSummary

__all__ = ["run_predict", "show_run_summary", "register"]

# Options shared with ``cradle evaluate`` (Typer reads them from the signature).
DataArg = Annotated[str, typer.Argument(help="Posts or dialogues: a file, or a dataset name such as cradle-bench:test.")]
ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help="Detector spec, e.g. openai:gpt-5, openai-compatible:http://127.0.0.1:8000/v1#Qwen3-14B, local:default.",
    ),
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Run directory (created, or resumed when it holds the same run).")]
ConcurrencyOpt = Annotated[int, typer.Option(help="Most model calls in flight (lowered automatically on HTTP 429).", min=1)]
CacheOpt = Annotated[Optional[Path], typer.Option(help="Response cache file (SQLite) (default: user cache folder).")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the response cache.")]
PromptFileOpt = Annotated[
    Optional[Path],
    typer.Option(help="User-message template with placeholders ({post}, {labels}, {examples}, {turn}, {history}, ...)."),
]
SystemPromptFileOpt = Annotated[Optional[Path], typer.Option(help="System prompt to use instead of the built-in one.")]
TemperatureOpt = Annotated[Optional[float], typer.Option(help="Sampling temperature (default: 0).", min=0.0, max=2.0)]
TopPOpt = Annotated[Optional[float], typer.Option("--top-p", help="Nucleus sampling (default: 1.0).", min=0.0, max=1.0)]
MaxTokensOpt = Annotated[Optional[int], typer.Option(help="Most new tokens per reply (default: 1024).", min=1)]
TimeoutOpt = Annotated[float, typer.Option(help="Seconds to wait for one HTTP answer.", min=0.1)]
MaxAttemptsOpt = Annotated[int, typer.Option(help="Attempts per item (retries on 429, 5xx, timeouts).", min=1)]
RateLimitOpt = Annotated[Optional[float], typer.Option(help="Most calls per second to the engine (default: none).", min=0.001)]
ApiKeyEnvOpt = Annotated[
    Optional[str], typer.Option(help="Environment variable holding the API key (openai-compatible sends a key only with this).")
]
DataDirOpt = Annotated[Optional[Path], typer.Option(help="Local folder laid out like the hub repos.", envvar="CRADLE_DATA_DIR")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no run summary.")]
RayOpt = Annotated[
    bool,
    typer.Option(
        "--ray",
        help="Shard the items over Ray workers (local Ray, or the cluster at RAY_ADDRESS); pip install 'cradle-risk[ray]'.",
    ),
]
ShardsOpt = Annotated[Optional[int], typer.Option(help="With --ray: number of shards (default: the CPUs Ray reports).", min=1)]


def _tokens(usage: dict[str, int]) -> str:
    return f"{usage.get('input_tokens', 0):,} in / {usage.get('output_tokens', 0):,} out"


def show_run_summary(summary: RunSummary) -> None:
    """Print what a run did (on stderr, so that stdout stays free for results)."""
    c = summary.counts
    err_console.print(
        f"{summary.n_items} items: ok {c.get('ok', 0)}, invalid {c.get('invalid', 0)}, blocked {c.get('blocked', 0)}, error {c.get('error', 0)}"
        f"  ({summary.new} new, {summary.resumed} already done; {summary.calls} model calls, {summary.cache_hits} cache hits; {summary.wall_s:.1f} s)",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    if summary.usage:
        line = f"tokens: {_tokens(summary.usage)}"
        if summary.usage_session and summary.usage_session != summary.usage:
            line += f" (this session: {_tokens(summary.usage_session)})"
        if summary.cost_usd is not None:
            line += f"; estimated cost ${summary.cost_usd:,.4f}"
            if summary.cost_session_usd is not None and summary.usage_session != summary.usage:
                line += f" (this session ${summary.cost_session_usd:,.4f})"
        err_console.print(line, highlight=False, soft_wrap=True, markup=False)
    if summary.rate_limited:
        err_console.print(
            f"rate limited {summary.rate_limited} time(s); concurrency lowered {summary.concurrency_cuts} time(s)",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    if not summary.complete:
        err_console.print(
            f"[yellow]{c.get('error', 0)} item(s) ended in error: rerun the same command to retry them.[/]",
            highlight=False,
            soft_wrap=True,
        )
    err_console.print(f"Wrote {summary.path / 'predictions.jsonl'}", highlight=False, soft_wrap=True, markup=False)


def run_predict(data: str, model: str, out: Path, *, quiet: bool, **options: Any) -> tuple[Dataset, RunSummary]:
    """Run :func:`cradle.pipelines.runs.evaluate.predict_dataset` for a command: progress bar on a
    terminal, and Ctrl-C ends with exit code 130 and a word on how to resume."""
    from cradle.pipelines.runs.evaluate import predict_dataset

    try:
        return predict_dataset(data, model, out, progress=not quiet and err_console.is_terminal, console=err_console, **options)
    except KeyboardInterrupt:
        err_console.print(
            f"interrupted: predictions so far are in {out}; rerun the same command to resume.",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
        raise typer.Exit(130) from None


def register(app: typer.Typer) -> None:
    @app.command("predict")
    @cli_errors
    def predict(
        data: DataArg,
        model: ModelOpt,
        out: OutOpt,
        concurrency: ConcurrencyOpt = 8,
        cache: CacheOpt = None,
        no_cache: NoCacheOpt = False,
        prompt_file: PromptFileOpt = None,
        system_prompt_file: SystemPromptFileOpt = None,
        temperature: TemperatureOpt = None,
        top_p: TopPOpt = None,
        max_tokens: MaxTokensOpt = None,
        timeout: TimeoutOpt = 120.0,
        max_attempts: MaxAttemptsOpt = 6,
        rate_limit: RateLimitOpt = None,
        api_key_env: ApiKeyEnvOpt = None,
        data_dir: DataDirOpt = None,
        quiet: QuietOpt = False,
        ray: RayOpt = False,
        shards: ShardsOpt = None,
    ) -> None:
        """Label DATA with the --model detector into OUT/predictions.jsonl, OUT being the --out run directory (resumable)."""
        _, summary = run_predict(
            data,
            model,
            out,
            quiet=quiet,
            data_dir=data_dir,
            concurrency=concurrency,
            cache=cache,
            no_cache=no_cache,
            rate_limit=rate_limit,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            prompt_file=prompt_file,
            system_prompt_file=system_prompt_file,
            api_key_env=api_key_env,
            timeout=timeout,
            max_attempts=max_attempts,
            ray=ray,
            shards=shards,
        )
        if not quiet:
            show_run_summary(summary)
