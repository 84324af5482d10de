"""What the terminal shows: text from tools and errors is shown as written, never read as markup."""

from __future__ import annotations

import io
import re

from rich.console import Console, RenderableType

from errand.agent import Agent
from errand.agent.events import (
    ConfirmationRequired,
    Event,
    RunFailed,
    RunFinished,
    TextDeltaEvent,
    ToolCallStarted,
    ToolResultEvent,
)
from errand.cli.console import RunRenderer
from errand.llm.scripted import ScriptedModel, ScriptedTurn, call
from errand.tools import ToolRegistry, tool


def test_square_brackets_in_a_confirmation_and_a_failure_are_shown() -> None:
    console = Console(record=True, width=200, force_terminal=False)
    renderer = RunRenderer(console)
    summary = "buy_product({'variant_id': 'V-9'}) [could not describe: Bad variant id V-9]"
    renderer.render(
        ConfirmationRequired(
            run_id="r",
            seq=1,
            step=1,
            call_id="c",
            name="buy_product",
            risk="payment",
            summary=summary,
            arguments={},
        )
    )
    renderer.render(
        RunFailed(run_id="r", seq=2, reason="stopped [bold]here[/bold] at [step 3]", kind="error")
    )
    shown = console.export_text()
    assert "[could not describe: Bad variant id V-9]" in shown
    assert "[bold]here[/bold] at [step 3]" in shown


# ---- the answer streams as Markdown; the spinner names the phase and its seconds ---------------


@tool(domain="homes")
def rank_homes(city: str) -> dict[str, object]:
    """Rank the homes of a city by value.

    Args:
        city: City name.
    """
    return {"count": 12, "best_value": {"id": "HZ-00446", "price_text": "4.56M CNY"}}


ANSWER = "**Best value:** HZ-00446 at 4.56M CNY, of 12 homes.\n\n- near a school\n- near the metro"


def _plain(renderable: RenderableType, width: int = 60) -> str:
    """What ``renderable`` shows, as plain text."""
    out = Console(record=True, width=width, height=20, file=io.StringIO(), color_system=None)
    out.print(renderable)
    return out.export_text()


class Clock:
    """A clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _events(turns: list[object], task: str = "best value home in Hangzhou") -> list[Event]:
    agent = Agent(ScriptedModel(turns), ToolRegistry([rank_homes]))
    return [ev async for ev in agent.stream(task)]


async def test_the_answer_streams_as_markdown_and_the_spinner_says_the_phase() -> None:
    """On the scripted model: while the answer is written the live area shows it rendered (bold
    without its stars, a list with bullets), under "writing the answer… N s"; when a step's
    tool results are in, the model is thinking again (never "running" then)."""
    clock = Clock()
    screen = Console(file=io.StringIO(), force_terminal=True, width=60, height=20)
    renderer = RunRenderer(screen, clock=clock)
    seen: dict[str, str] = {}
    for ev in await _events([call("rank_homes", city="Hangzhou"), ANSWER]):
        renderer.render(ev)
        clock.now += 1.5
        if isinstance(ev, ToolCallStarted):
            seen["call"] = renderer.phase
        elif isinstance(ev, ToolResultEvent):
            seen["result"] = renderer.phase
        elif (
            isinstance(ev, TextDeltaEvent) and "bullets" not in seen and "near a school" in renderer.streamed
        ):
            seen["bullets"] = _plain(renderer.view())
        elif isinstance(ev, TextDeltaEvent) and "early" not in seen and "12" in renderer.streamed:
            seen["early"] = _plain(renderer.view())
        if not isinstance(ev, RunFinished):
            assert renderer.live is not None, f"no live area after {ev.type}"
    assert seen["call"] == "running rank_homes"
    assert seen["result"] == "thinking (step 2)"
    # Part of the answer, before the run has finished: rendered, with the phase and its seconds.
    assert "Best value: HZ-00446 at 4.56M CNY, of 12" in seen["early"]
    assert "**" not in seen["early"] and "near a school" not in seen["early"]
    assert re.search(r"writing the answer… [1-9]\d* s", seen["early"]), seen["early"]
    assert "• near a school" in seen["bullets"]
    assert renderer.live is None  # the run ended: the live area is gone


async def test_on_a_pipe_the_answer_is_written_once_and_drafts_stay_out_of_it() -> None:
    """Nothing animates on a pipe: the steps, then the final answer once, rendered. Text written
    before a tool call stays (dimmed); a draft sent back for unverified figures is not the answer."""
    console = Console(record=True, width=100, force_terminal=False, file=io.StringIO())
    renderer = RunRenderer(console)
    preamble = ScriptedTurn(text="Let me rank them.", tool_calls=[call("rank_homes", city="Hangzhou")])
    for ev in await _events([preamble, "The best costs 3.99M CNY.", ANSWER]):
        renderer.render(ev)
    shown = console.export_text()
    assert shown.count("Let me rank them.") == 1
    assert "3.99M" in shown and "the agent was asked to check" in shown  # the revision, said once
    assert "The best costs" not in shown  # the withdrawn draft is not printed as an answer
    assert shown.count("Best value: HZ-00446") == 1 and "**" not in shown
    assert "writing" not in shown and "characters" not in shown
    assert shown.index("→ rank_homes") < shown.index("Best value")
