"""A reasoning model in the agent loop (scripted): its thinking is shown as reasoning events,
never the answer, never sent back in a later step or turn, and counted per step."""

from __future__ import annotations

import pytest

from errand.agent import Agent, Conversation
from errand.agent.events import ReasoningDeltaEvent, RunFinished, StepFinished, TextDeltaEvent
from errand.llm.scripted import ScriptedModel, ScriptedTurn, call
from errand.llm.thinking import STOP_SENTENCE
from errand.tools import ToolRegistry, tool


@tool(domain="homes")
def find_homes(city: str, max_price: int) -> dict[str, object]:
    """Find homes in a city under a price.

    Args:
        city: City name.
        max_price: Highest price in yuan.
    """
    return {"count": 1, "results": [{"id": "HZ-1", "price": 4_200_000}]}


CALL = '<tool_call>\n{"name": "find_homes", "arguments": {"city": "Hangzhou", "max_price": 6000000}}\n</tool_call>'

SHAPES = {
    "fields": [
        ScriptedTurn(
            reasoning="secret one", tool_calls=[call("find_homes", city="Hangzhou", max_price=6_000_000)]
        ),
        ScriptedTurn(reasoning="secret two", text="HZ-1 at 4,200,000 yuan."),
    ],
    "think tags": [
        ScriptedTurn(raw=f"<think>secret one</think>\n\n{CALL}"),
        ScriptedTurn(raw="<think>secret two</think>\n\nHZ-1 at 4,200,000 yuan."),
    ],
    "no opening tag": [
        ScriptedTurn(raw=f"secret one</think>\n\n{CALL}", thinking_opened=True),
        ScriptedTurn(raw="secret two</think>\n\nHZ-1 at 4,200,000 yuan.", thinking_opened=True),
    ],
}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_thinking_is_shown_never_answered_never_sent_back(shape: str) -> None:
    turns = SHAPES[shape]
    model = ScriptedModel([*turns, *turns], per_conversation=True)
    agent, chat = Agent(model, ToolRegistry([find_homes])), Conversation()
    events = [ev async for ev in agent.stream("homes in Hangzhou", conversation=chat)]
    events += [ev async for ev in agent.stream("and in Chengdu?", conversation=chat)]
    shown = "".join(e.text for e in events if isinstance(e, ReasoningDeltaEvent))
    assert shown.replace(" ", "") == "secretonesecrettwo" * 2
    finished = [e for e in events if isinstance(e, RunFinished)]
    assert [f.answer for f in finished] == ["HZ-1 at 4,200,000 yuan."] * 2
    assert not any("secret" in e.text for e in events if isinstance(e, TextDeltaEvent))
    for messages, _ in model.requests:  # no step of either turn is shown any thinking
        assert not any("secret" in m.text or "think>" in m.text for m in messages)
    assert all(s.usage.reasoning_tokens == 2 for s in events if isinstance(s, StepFinished))


async def test_thinking_past_its_budget_is_closed_and_the_step_still_acts() -> None:
    model = ScriptedModel(
        [
            ScriptedTurn(
                reasoning="a b c d e f g h",
                tool_calls=[call("find_homes", city="Hangzhou", max_price=6_000_000)],
            ),
            "HZ-1 at 4,200,000 yuan.",
        ],
        max_thinking_tokens=3,
    )
    events = [ev async for ev in Agent(model, ToolRegistry([find_homes])).stream("homes in Hangzhou")]
    shown = "".join(e.text for e in events if isinstance(e, ReasoningDeltaEvent))
    assert shown == f"a b c \n\n{STOP_SENTENCE}"
    steps = [e.usage for e in events if isinstance(e, StepFinished)]
    assert [u.reasoning_tokens for u in steps] == [3, 0]
    assert steps[0].answer_tokens > 0  # the call, written after the thinking was closed
    assert isinstance(events[-1], RunFinished) and events[-1].answer == "HZ-1 at 4,200,000 yuan."
