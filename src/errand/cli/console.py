"""Render a run's events in the terminal: steps, tool calls, reasoning dimmed, the answer as Markdown.

One live area at the bottom of the terminal shows what is being written now (the reasoning, or
the answer rendered as Markdown while it streams) and a spinner line naming the phase with its
seconds. What is final is printed above it and stays: tool calls and results, the reasoning of
a finished step, the answer once the run ends with it. On a pipe or a file nothing is animated
and only the final lines are written.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, Literal

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.markdown import Markdown
from rich.markup import escape
from rich.segment import Segment
from rich.spinner import Spinner
from rich.text import Text

from errand.agent.events import (
    ConfirmationRequired,
    ConfirmationResolved,
    Event,
    ReasoningDeltaEvent,
    RevisionRequested,
    RunFailed,
    RunFinished,
    RunStarted,
    StepFinished,
    TextDeltaEvent,
    ToolCallStarted,
    ToolResultEvent,
)

REFRESH_PER_SECOND = 8
"""How often the live area is drawn again (the spinner, the seconds, the streamed text)."""


def _args(arguments: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in arguments.items())


def show(ev: Event, *, as_json: bool, renderer: RunRenderer) -> None:
    """One event on stdout: a JSON line, or rendered for people."""
    if as_json:
        sys.stdout.write(ev.model_dump_json() + "\n")
        sys.stdout.flush()
    else:
        renderer.render(ev)


class _Tail:
    """The last lines of a renderable that fit the terminal: a long answer streams with its
    newest line in view instead of its first ones cut off by an ellipsis."""

    def __init__(self, renderable: RenderableType, reserve: int) -> None:
        self.renderable = renderable
        self.reserve = reserve

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = console.render_lines(self.renderable, options.update(height=None), pad=False)
        keep = max(1, console.height - self.reserve)
        for line in lines[-keep:]:
            yield from line
            yield Segment.line()


class RunRenderer:
    """Prints events as they arrive, with a live area saying what is happening now."""

    def __init__(self, console: Console, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.clock = clock
        self.live: Live | None = None
        self.phase = "starting"
        """What the run is doing now, in words ("running analyze_listings")."""
        self.since = clock()
        self.step = 1
        self.running: dict[str, str] = {}
        """Calls without a result yet: call id -> tool name."""
        self.streaming: Literal["reasoning", "text"] | None = None
        self.streamed = ""
        """The reasoning or the text of the current step, shown in the live area as it comes."""
        self._spinner = Spinner("dots")

    # ---- the live area ---------------------------------------------------------------------

    def seconds(self) -> int:
        """Whole seconds spent in the current phase."""
        return max(0, int(self.clock() - self.since))

    def view(self) -> RenderableType:
        """The live area now: what is being written (its last lines) and the phase line."""
        self._spinner.update(text=Text(f"{self.phase}… {self.seconds()} s", style="dim"))
        if not self.streamed.strip():
            return self._spinner
        if self.streaming == "text":
            body: RenderableType = Markdown(self.streamed)
        else:
            body = Text(self.streamed, style="dim italic")
        return Group(_Tail(body, reserve=3), self._spinner)

    def __rich__(self) -> RenderableType:
        return self.view()

    def _set_phase(self, phase: str) -> None:
        if phase != self.phase:
            self.phase, self.since = phase, self.clock()
        if self.live is None:
            self.live = Live(
                self,
                console=self.console,
                transient=True,
                refresh_per_second=REFRESH_PER_SECOND,
                vertical_overflow="crop",
            )
            self.live.start()

    def pause(self) -> None:
        """Stop the live area (before asking the user something, or at the end)."""
        if self.live is not None:
            self.live.stop()
            self.live = None

    def _thinking(self) -> str:
        return f"thinking (step {self.step})"

    def _running(self) -> str:
        names = sorted(set(self.running.values()))
        if not names:
            return self._thinking()
        return f"running {names[0]}" if len(names) == 1 else f"running {len(names)} tools"

    def _commit(self, *, as_draft: bool = True) -> None:
        """Print what streamed in the live area so it stays: reasoning dimmed, text written
        before a tool call dimmed too (it is not the answer). ``as_draft=False`` drops the text."""
        text, kind = self.streamed.strip(), self.streaming
        self.streamed, self.streaming = "", None
        if not text:
            return
        if kind == "reasoning":
            self.console.print(Text.assemble(("thinking: ", "dim italic"), (text, "dim italic")))
        elif as_draft:
            self.console.print(Text(text, style="dim"))

    # ---- events ----------------------------------------------------------------------------

    def render(self, ev: Event) -> None:
        """Show one event."""
        c = self.console
        if isinstance(ev, RunStarted):
            c.print(f"[dim]errand · model {ev.model} · tools: {', '.join(ev.tools)}[/dim]")
            self._set_phase(self._thinking())
        elif isinstance(ev, ReasoningDeltaEvent):
            if self.streaming == "text":
                self._commit()
            self.streaming = "reasoning"
            self.streamed += ev.text
            self.step = ev.step
            self._set_phase(self._thinking())
        elif isinstance(ev, TextDeltaEvent):
            if self.streaming == "reasoning":
                self._commit()
            self.streaming = "text"
            self.streamed += ev.text
            self.step = ev.step
            self._set_phase("writing the answer")
        elif isinstance(ev, StepFinished):
            if self.streaming == "reasoning":
                self._commit()
            self.step = ev.step + 1
            self._set_phase(self._thinking())
        elif isinstance(ev, ToolCallStarted):
            self._commit()
            c.print(f"[cyan]→ {ev.name}[/cyan]([dim]{escape(_args(ev.arguments))}[/dim])", highlight=False)
            self.running[ev.call_id] = ev.name
            self._set_phase(self._running())
        elif isinstance(ev, ConfirmationRequired):
            self.pause()
            c.print(f"[yellow]! {ev.name} needs your approval:[/yellow] {escape(ev.summary)}")
        elif isinstance(ev, ConfirmationResolved):
            verdict = "[green]  approved[/green]" if ev.approved else "[red]  rejected[/red]"
            if ev.edited:  # the changed call is priced and asked about again
                verdict = f"[yellow]  changed[/yellow] {escape(_args(ev.edited))}" + (
                    f" [dim]by {escape(ev.by)}[/dim]" if ev.by else ""
                )
            c.print(f"{verdict} {escape(ev.note)}".rstrip(), highlight=False)
            self._set_phase(self._running())
        elif isinstance(ev, ToolResultEvent):
            mark = "[green]✓[/green]" if ev.ok else "[red]✗[/red]"
            c.print(f"  {mark} {escape(ev.summary)} [dim]({ev.duration_ms:.0f} ms)[/dim]", highlight=False)
            for path in ev.artifacts:
                c.print(f"  [magenta]chart:[/magenta] {path}")
            self.running.pop(ev.call_id, None)
            # The step's last result: the model is at work again, not the tool.
            self._set_phase(self._running())
        elif isinstance(ev, RevisionRequested):
            self._commit(as_draft=False)
            if ev.reason == "unfinished_action":
                why = "the draft described the change instead of making it; the agent was reminded"
            elif ev.reason == "nameless":
                why = "the draft did not say which one it meant; the agent was asked to name it"
            elif ev.reason == "language":
                why = "the draft was not in the language of the request; the agent was asked to answer in it"
            else:
                why = (
                    f"the draft stated {', '.join(ev.unverified_numbers)} without a tool result; "
                    "the agent was asked to check"
                )
            c.print(f"[yellow]  {escape(why)}[/yellow]", highlight=False)
            self.step = ev.step + 1
            self._set_phase("checking the answer")
        elif isinstance(ev, RunFinished):
            self._end()
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
            self._end()
            c.print(f"[red]run failed:[/red] {escape(ev.reason)}")
            c.print(f"[dim]{ev.steps} steps · {ev.duration_ms / 1000:.1f} s · run {ev.run_id}[/dim]")

    def _end(self) -> None:
        """The run ended: reasoning stays, the streamed answer gives way to the final one."""
        if self.streaming == "reasoning":
            self._commit()
        self.streamed, self.streaming = "", None
        self.running.clear()
        self.pause()
        self.phase, self.step = "starting", 1
