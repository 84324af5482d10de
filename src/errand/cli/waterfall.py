"""`errand runs show ID --trace`: a run's steps as a waterfall in the terminal.

One row per step, model call and tool call, each with a bar placed where it ran in the run
(`errand.telemetry.timeline` lays the stored durations end to end), its time, tokens and cost.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from errand.llm.types import Usage
from errand.telemetry.timeline import Timeline

BAR = 40
"""Characters of the widest bar (the whole run), on a terminal wide enough for it."""

MARKS = {"ok": "[green]✓[/green]", "error": "[red]✗[/red]", "rejected": "[yellow]rejected[/yellow]"}


def _bar(start_ms: float, ms: float, scale: float, style: str, bar: int) -> Text:
    lead = min(int(start_ms * scale), bar - 1)
    width = max(1, round(ms * scale)) if ms > 0 else 1
    return Text(" " * lead) + Text("█" * min(width, bar - lead), style=style)


def _ms(ms: float) -> str:
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms"


def _tokens(u: Usage) -> str:
    if not (u.prompt_tokens or u.completion_tokens):
        return ""
    cached = f" ({u.cached_tokens:,} cached)" if u.cached_tokens else ""
    return f"{u.prompt_tokens:,}{cached} → {u.completion_tokens:,}"


def money(cost: float | None, currency: str) -> str:
    """A cost as people read it: ``0.00575 USD`` (six significant digits: a step costs fractions of
    a cent), ``1,234.50 USD``; ``-`` when the model has no price."""
    if cost is None:
        return "-"
    return f"{cost:,.2f} {currency}" if cost >= 100 else f"{cost:.6g} {currency}"


def render_waterfall(line: Timeline, console: Console) -> None:
    """Draw ``line``: the run, each step, its model call and tool calls, then what no step covers."""
    end = max([line.total_ms, *(s.end_ms for s in line.steps), 1.0])
    bar = max(10, min(BAR, console.width - 90))
    scale = bar / end
    table = Table(box=None, pad_edge=False)
    for name in ("", "time", "tokens (in → out)", "cost"):
        table.add_column(name, no_wrap=True, justify="left" if not name else "right")
    table.add_column(f"0 … {_ms(end)}", no_wrap=True, min_width=bar)
    table.add_row(
        f"[bold]run[/bold] {escape(line.model)}",
        _ms(line.total_ms),
        _tokens(line.usage),
        money(line.cost, line.currency),
        _bar(0, line.total_ms or end, scale, "bold", bar),
    )
    for s in line.steps:
        table.add_row(
            f"step {s.step}",
            _ms(s.end_ms - s.start_ms),
            "",
            "",
            _bar(s.start_ms, s.end_ms - s.start_ms, scale, "dim", bar),
        )
        table.add_row(
            "  model",
            _ms(s.model_ms),
            _tokens(s.usage),
            money(s.cost, line.currency),
            _bar(s.start_ms, s.model_ms, scale, "cyan", bar),
        )
        for t in s.tools:
            asked = f" [dim](asked: {t.confirmation})[/dim]" if t.confirmation else ""
            mark = MARKS.get(t.outcome, "[dim]not run[/dim]")
            table.add_row(
                f"  {escape(t.name)} {mark}{asked}",
                _ms(t.ms),
                "",
                "",
                _bar(t.start_ms, t.ms, scale, "magenta", bar),
            )
    console.print(table)
    console.print(
        f"[dim]{line.outcome} · {len(line.steps)} steps · other {_ms(line.other_ms)} "
        "(planning, confirmations, errand's own work)[/dim]"
    )
