"""Render a run's events in the terminal: steps, tool calls, reasoning dimmed, the answer as Markdown."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.status import Status

from errand.agent.events import (
    ConfirmationRequired,
    ConfirmationResolved,
    Event,
    ReasoningDeltaEvent,
    RunFailed,
    RunFinished,
    RunStarted,
    StepFinished,
    TextDeltaEvent,
    ToolCallStarted,
    ToolResultEvent,
)


def _args(arguments: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in arguments.items())


def show(ev: Event, *, as_json: bool, renderer: RunRenderer) -> None:
    """One event on stdout: a JSON line, or rendered for people."""
    if as_json:
        sys.stdout.write(ev.model_dump_json() + "\n")
        sys.stdout.flush()
    else:
        renderer.render(ev)


class RunRenderer:
    """Prints events as they arrive, with a spinner saying what is happening now."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.status: Status | None = None
        self._reasoning_open = False
        self._text = ""

    def _spin(self, message: str) -> None:
        if self.status is None:
            self.status = self.console.status(message, spinner="dots")
            self.status.start()
        else:
            self.status.update(message)

    def pause(self) -> None:
        """Stop the spinner (before asking the user something)."""
        if self.status is not None:
            self.status.stop()
            self.status = None

    def render(self, ev: Event) -> None:
        """Show one event."""
        c = self.console
        if isinstance(ev, RunStarted):
            c.print(f"[dim]errand · model {ev.model} · tools: {', '.join(ev.tools)}[/dim]")
            self._spin("thinking (step 1)…")
        elif isinstance(ev, ReasoningDeltaEvent):
            if not self._reasoning_open:
                c.print("[dim italic]thinking:[/dim italic] ", end="")
                self._reasoning_open = True
            c.print(f"[dim italic]{ev.text}[/dim italic]", end="", markup=False, highlight=False)
        elif isinstance(ev, TextDeltaEvent):
            self._close_reasoning()
            self._text += ev.text
            self._spin(f"writing ({len(self._text)} characters)…")
        elif isinstance(ev, ToolCallStarted):
            self._close_reasoning()
            self._text = ""
            c.print(f"[cyan]→ {ev.name}[/cyan]([dim]{_args(ev.arguments)}[/dim])", highlight=False)
            self._spin(f"running {ev.name}…")
        elif isinstance(ev, ConfirmationRequired):
            self.pause()
            c.print(f"[yellow]! {ev.name} needs your approval:[/yellow] {escape(ev.summary)}")
        elif isinstance(ev, ConfirmationResolved):
            verdict = "[green]  approved[/green]" if ev.approved else "[red]  rejected[/red]"
            c.print(f"{verdict} {ev.note}".rstrip(), highlight=False)
        elif isinstance(ev, ToolResultEvent):
            mark = "[green]✓[/green]" if ev.ok else "[red]✗[/red]"
            c.print(f"  {mark} {escape(ev.summary)} [dim]({ev.duration_ms:.0f} ms)[/dim]", highlight=False)
            for path in ev.artifacts:
                c.print(f"  [magenta]chart:[/magenta] {path}")
        elif isinstance(ev, StepFinished):
            self._spin(f"thinking (step {ev.step + 1})…")
        elif isinstance(ev, RunFinished):
            self.pause()
            self._close_reasoning()
            c.print()
            c.print(Markdown(ev.answer))
            for path in ev.artifacts:
                c.print(f"[magenta]chart:[/magenta] {path}")
            if ev.outcome == "not_done":
                c.print(
                    "[yellow]note: you asked for a change (a booking, an order) and nothing was done.[/yellow]"
                )
            if ev.unverified_numbers:
                c.print(
                    "[yellow]note: these figures do not come from any tool result: "
                    f"{', '.join(ev.unverified_numbers)}[/yellow]"
                )
            u = ev.usage
            c.print(
                f"[dim]{ev.steps} steps · {u.prompt_tokens} prompt tokens ({u.cached_tokens} cached) · "
                f"{u.completion_tokens} generated · {ev.duration_ms / 1000:.1f} s · run {ev.run_id}[/dim]"
            )
        elif isinstance(ev, RunFailed):
            self.pause()
            self._close_reasoning()
            c.print(f"[red]run failed:[/red] {escape(ev.reason)}")
            c.print(f"[dim]{ev.steps} steps · {ev.duration_ms / 1000:.1f} s · run {ev.run_id}[/dim]")

    def _close_reasoning(self) -> None:
        if self._reasoning_open:
            self.console.print()
            self._reasoning_open = False
