"""``errand eval``: run a suite, show pass^1 and pass^k per domain and difficulty, write the reports."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from errand.errors import ConfigError

if TYPE_CHECKING:  # the heavy modules load when the command runs, not with every `errand` call
    from errand.config import Settings
    from errand.eval.environment import Environment
    from errand.eval.runner import Attempt, ModelSource, RunConfig
    from errand.eval.tasks import Task
    from errand.llm.base import ChatModel

console = Console()
err_console = Console(stderr=True)

SHOW_TRANSCRIPTS = 8
"""Failures shown in full on the terminal; more are listed by name (all are in report.md)."""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "run"


def eval_command(
    suite: Annotated[
        str, typer.Option("--suite", help="'builtin', a YAML task file or folder, or an environment folder.")
    ] = "builtin",
    k: Annotated[int, typer.Option("--k", min=1, help="k of pass^k.")] = 1,
    n: Annotated[
        int | None, typer.Option("--n", min=1, help="Attempts per task (at least k; default k).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", "-m", help="A .gguf file, a bundled model (1.5b, 0.5b), or a server's model name."
        ),
    ] = None,
    tasks: Annotated[
        str | None,
        typer.Option(
            "--tasks", help="Only these: comma-separated id globs, or a domain, difficulty or category."
        ),
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option(
            "--sample", min=1, help="About this many tasks, spread like the suite over domain and difficulty."
        ),
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Attempts run at once.")] = 1,
    replay: Annotated[
        bool, typer.Option("--replay", help="Run each task's reference calls instead of a model.")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds one attempt may take.")] = 300.0,
    max_steps: Annotated[int, typer.Option("--max-steps", help="Most model steps per user message.")] = 10,
    out: Annotated[Path, typer.Option("--out", help="Folder for the reports.")] = Path("eval-results"),
    keep: Annotated[bool, typer.Option("--keep", help="Keep each attempt's database.")] = False,
    transcripts: Annotated[
        bool,
        typer.Option("--transcripts", help="Show every failure's transcript here, not only the first few."),
    ] = False,
    fail_under: Annotated[
        float | None, typer.Option("--fail-under", help="Exit 1 when pass^1 (in %) is below this.")
    ] = None,
) -> None:
    """Grade the agent on a suite of errands: pass^1, pass^k, steps, tokens and time per domain."""
    from errand.eval import report
    from errand.eval.catalog import load_suite
    from errand.eval.runner import RunConfig, reference_model
    from errand.eval.tasks import select, stratified

    attempts_per_task = n or k
    if attempts_per_task < k:
        raise ConfigError(
            f"--n {attempts_per_task} is fewer than --k {k}: pass^k needs n >= k attempts per task."
        )
    s = load_suite(suite)
    chosen = select(s.tasks, tasks)
    if sample is not None:
        chosen = stratified(chosen, sample)
    if not chosen:
        raise ConfigError(f"No task of suite {s.name!r} matches {tasks!r}.")

    chat_model: ChatModel | None = None
    settings_temperature, settings_output = 0.0, 768
    # A replay builds requests with the defaults, so its pictures are read by OCR (and proved readable).
    request_settings: Settings | None = None
    if replay:
        model_name = "reference"
        model_for: ModelSource = reference_model
    else:
        from errand.cli.common import load_model, settings_for_model

        settings = settings_for_model(model)
        if settings.resolved_model_backend() == "embedded" and jobs > 1:
            err_console.print(
                "[yellow]the embedded model serves one conversation at a time: --jobs 1[/yellow]"
            )
            jobs = 1
        chat_model = load_model(settings)
        model_name = chat_model.name
        settings_temperature, settings_output = settings.temperature, settings.max_output_tokens
        request_settings = settings
        shared = chat_model

        def model_for(_task: object) -> ChatModel:
            return shared

    config = RunConfig(
        n=attempts_per_task,
        jobs=jobs,
        timeout_s=timeout,
        max_steps=max_steps,
        temperature=settings_temperature,
        max_output_tokens=settings_output,
        replay=replay,
        keep=keep,
        settings=request_settings,
    )
    started = datetime.now().astimezone()
    t0 = time.perf_counter()
    env = s.make_env()
    results: list[Attempt] = []
    folder = out / f"{started:%Y%m%d-%H%M%S}-{_slug(s.name)}-{_slug(model_name)}"
    folder.mkdir(parents=True, exist_ok=True)
    # One line per attempt as it ends: a long eval stopped half-way (Ctrl-C, a session's end)
    # still says what it measured, and the report below covers the attempts made.
    log = folder / "attempts.jsonl"
    interrupted = False
    try:
        with Progress(
            TextColumn("[bold]eval[/bold] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=False,
        ) as bar:
            job = bar.add_task("", total=len(chosen) * attempts_per_task)

            def done(a: Attempt) -> None:
                results.append(a)
                with log.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(a.to_json(), ensure_ascii=False, default=str) + "\n")
                passed = sum(r.passed for r in results)
                bar.update(job, advance=1, description=f"{passed}/{len(results)} passed · last {a.task_id}")

            try:
                attempts = asyncio.run(_run(chosen, env, model_for, config, done, chat_model))
            except KeyboardInterrupt:
                attempts, interrupted = list(results), True
    finally:
        env.close()
    if interrupted and not attempts:
        raise typer.Exit(130)

    meta = report.Meta(
        suite=s.name,
        model=model_name,
        k=k,
        n=attempts_per_task,
        replay=replay,
        started=started.isoformat(timespec="seconds"),
        duration_s=time.perf_counter() - t0,
        jobs=jobs,
        timeout_s=timeout,
        tasks=len({a.task_id for a in attempts}) if interrupted else len(chosen),
        selection=" ".join(
            x
            for x in (
                tasks and f"--tasks {tasks}",
                sample and f"--sample {sample}",
                interrupted
                and f"(interrupted: {len(attempts)} of {len(chosen) * attempts_per_task} attempts)",
            )
            if x
        ),
    )
    paths = report.write(meta, attempts, folder)
    rows = report.summarize(attempts, k)
    _show_failures(attempts, transcripts)
    console.print(
        report.table(rows, k, title=f"{s.name} · {model_name} · {len(chosen)} tasks × {attempts_per_task}")
    )
    console.print(f"reports: {paths['markdown']} · {paths['json']} · {paths['chart']}")
    if interrupted:
        err_console.print(f"[yellow]interrupted: the reports cover {len(attempts)} attempt(s)[/yellow]")
        raise typer.Exit(130)
    overall = rows[-1]
    if replay and overall.passed < overall.attempts:
        err_console.print(f"[red]replay failed on {overall.attempts - overall.passed} attempt(s)[/red]")
        raise typer.Exit(1)
    if fail_under is not None and 100 * overall.pass1 < fail_under:
        err_console.print(f"[red]pass^1 {100 * overall.pass1:.1f}% is under {fail_under:g}%[/red]")
        raise typer.Exit(1)


async def _run(
    chosen: list[Task],
    env: Environment,
    model_for: ModelSource,
    config: RunConfig,
    done: Callable[[Attempt], None],
    model: ChatModel | None,
) -> list[Attempt]:
    """Run the attempts, then release the model (its server and weights)."""
    from errand.eval.runner import run_tasks

    try:
        return await run_tasks(chosen, env, model_for, config, on_attempt=done)
    finally:
        if model is not None:
            await model.aclose()


def _show_failures(attempts: list[Attempt], everything: bool) -> None:
    from errand.eval import report

    failed = [a for a in attempts if not a.passed]
    for i, a in enumerate(failed):
        console.rule(f"[red]failed[/red] {a.task_id} · attempt {a.index + 1}", align="left")
        if a.failure:
            console.print(f"[red]{a.failure}[/red]", highlight=False)
        for c in a.failed_checks:
            console.print(f"[red]✗[/red] {c.name}" + (f" — {c.detail}" if c.detail else ""), highlight=False)
        if everything or i < SHOW_TRANSCRIPTS:
            for line in report.transcript_lines(a):
                console.print(f"  {line}", style="dim", highlight=False, markup=False)
    if failed and not everything and len(failed) > SHOW_TRANSCRIPTS:
        console.print(
            f"[dim]{len(failed) - SHOW_TRANSCRIPTS} more transcripts in report.md (or --transcripts)[/dim]"
        )
