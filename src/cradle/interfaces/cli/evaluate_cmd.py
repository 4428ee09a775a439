"""``cradle evaluate DATA --model SPEC --out RUN_DIR``: predict, then score with the published metrics.

Runs ``cradle predict`` (resumable, cached) and scores the whole run against the gold labels of
DATA: posts with :func:`cradle.pipelines.runs.scoring.score_posts` ("valid only" and "all samples"),
dialogues with :func:`cradle.metrics.dialogue.score_dialogues`. Writes ``RUN_DIR/scores.json``
(the object ``cradle score --json`` prints) and prints the tables (or that object with
``--json``). Rerunning a finished evaluation makes no model call.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cradle.interfaces.cli._common import cli_errors, err_console, print_json
from cradle.interfaces.cli.predict_cmd import (
    ApiKeyEnvOpt,
    CacheOpt,
    ConcurrencyOpt,
    DataArg,
    DataDirOpt,
    MaxAttemptsOpt,
    MaxTokensOpt,
    ModelOpt,
    NoCacheOpt,
    OutOpt,
    PromptFileOpt,
    QuietOpt,
    RateLimitOpt,
    SystemPromptFileOpt,
    TemperatureOpt,
    TimeoutOpt,
    TopPOpt,
    run_predict,
    show_run_summary,
)

__all__ = ["register"]

def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    @cli_errors
    def evaluate(
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
        bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for 95% intervals (0: none).", min=0)] = 0,
        seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
        json_out: Annotated[bool, typer.Option("--json", help="Print the scores as one JSON object instead of tables.")] = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Predict DATA with the --model detector into the --out run directory, then score it (OUT/scores.json and tables)."""
        from cradle.interfaces.cli.score_cmd import show_scores
        from cradle.pipelines.runs.evaluate import SCORES_NAME, score_run

        dataset, summary = run_predict(
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
        )
        if not quiet:
            show_run_summary(summary)
        result = score_run(dataset, out, bootstrap=bootstrap, seed=seed)
        from cradle.interfaces.report import write_report

        report = write_report([out], out / "report.html", gold=dataset, data_dir=data_dir)
        if json_out:
            print_json(result)
        else:
            show_scores(result)
            err_console.print(f"Wrote {out / SCORES_NAME} and {report}", highlight=False, soft_wrap=True, markup=False)
