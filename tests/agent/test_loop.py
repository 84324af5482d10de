"""The agent loop on the scripted model: calls, observations, budgets, confirmations."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Annotated

import pytest

from errand.agent import Agent, Budget, Conversation, Decision, approve_all, prompts, reject_all
from errand.agent.events import (
    ConfirmationRequired,
    ReasoningDeltaEvent,
    RevisionRequested,
    RunFailed,
    RunFinished,
    RunStarted,
    ToolResultEvent,
)
from errand.errors import ToolError
from errand.llm.scripted import ScriptedModel, ScriptedTurn, call
from errand.llm.types import Message
from errand.tools import FromResults, FromUser, ToolContext, ToolRegistry, tool

executed: list[str] = []


@tool(domain="homes")
def find_homes(city: str, max_price: int) -> dict[str, object]:
    """Find homes in a city under a price.

    Args:
        city: City name.
        max_price: Highest price in yuan.
    """
    executed.append(f"find_homes:{city}")
    if city == "Atlantis":
        raise ToolError("Unknown city 'Atlantis'. Known cities: Hangzhou, Chengdu.")
    return {"count": 2, "results": [{"id": "HZ-1", "price": 4_200_000}, {"id": "HZ-2", "price": 5_100_000}]}


@tool(domain="homes")
def broken() -> str:
    """A tool with a bug."""
    raise ZeroDivisionError("division by zero")


@tool(domain="homes", risk="write", confirm_text=lambda a: f"Book a viewing of {a['listing_id']}")
def book_viewing(listing_id: Annotated[str, FromResults("id")], ctx: ToolContext) -> dict[str, str]:
    """Book a viewing.

    Args:
        listing_id: The listing.
    """
    executed.append(f"book_viewing:{listing_id}:{ctx.idempotency_key}")
    return {"viewing": "V-1", "listing_id": listing_id}


@tool(domain="homes", risk="write", confirm_text=lambda a: f"Book a viewing of {a['listing_id']}")
def refuse_viewing(listing_id: Annotated[str, FromResults("id")]) -> str:
    """Book a viewing, which the service refuses.

    Args:
        listing_id: The listing.
    """
    raise ToolError("No viewings this week.")


@tool(domain="weather")
def weather(city: str) -> str:
    """Weather in a city."""
    return "sunny"


def registry() -> ToolRegistry:
    return ToolRegistry([find_homes, broken, book_viewing, weather])


@pytest.fixture(autouse=True)
def _reset() -> None:
    executed.clear()


async def events_of(agent: Agent, task: str, **kw: object) -> list[object]:
    return [ev async for ev in agent.stream(task, **kw)]  # type: ignore[arg-type]


async def test_call_then_answer_streams_events_in_order() -> None:
    model = ScriptedModel([call("find_homes", city="Hangzhou", max_price=6_000_000), "HZ-1 at 4,200,000."])
    events = await events_of(Agent(model, registry()), "homes in Hangzhou")
    types = [e.type for e in events]  # type: ignore[attr-defined]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert types.index("tool_call") < types.index("tool_result") < types.index("text_delta")
    assert [e.seq for e in events] == list(range(1, len(events) + 1))  # type: ignore[attr-defined]
    final = events[-1]
    assert isinstance(final, RunFinished)
    assert final.answer == "HZ-1 at 4,200,000." and final.steps == 2
    assert final.unverified_numbers == []
    assert executed == ["find_homes:Hangzhou"]
    # the observation the model saw on step 2 is the tool's JSON
    step2_messages = model.requests[1][0]
    assert step2_messages[-1].role == "tool" and '"HZ-1"' in step2_messages[-1].text


async def test_a_request_over_the_context_window_fails_before_any_model_call() -> None:
    model = ScriptedModel(["never"])
    model.context_window = 500
    events = await events_of(Agent(model, registry()), "Find homes in Hangzhou. " * 200)
    final = events[-1]
    assert isinstance(final, RunFailed) and "maximum context length is 500 tokens" in final.reason
    assert model.requests == []  # the model never saw it (it would spend minutes on a CPU)
    model = ScriptedModel([call("find_homes", city="Hangzhou", max_price=6_000_000), "HZ-1 at 4,200,000."])
    model.context_window = 4096
    assert isinstance((await events_of(Agent(model, registry()), "homes in Hangzhou"))[-1], RunFinished)


async def test_history_is_append_only_between_steps() -> None:
    model = ScriptedModel(
        [call("find_homes", city="Hangzhou", max_price=1), call("weather", city="Hangzhou"), "done"]
    )
    await Agent(model, registry()).run("homes and weather in Hangzhou")
    for (before, _), (after, _) in zip(model.requests, model.requests[1:], strict=False):
        assert after[: len(before)] == before
    # what the prompt shows of the tools is the same, in the same order (the prefix is stable) ...
    shown = [[t.to_openai() for t in tools] for _, tools in model.requests]
    assert shown[0] == shown[1] == shown[2]
    # ... while what a call may hold at decode time follows the results: no id before a search
    first, second = (next(t for t in tools if t.name == "book_viewing") for _, tools in model.requests[:2])
    assert not first.callable and second.callable
    assert second.decode_parameters is not None
    assert second.decode_parameters["properties"]["listing_id"]["enum"] == ["HZ-1", "HZ-2"]


async def test_invented_numbers_are_flagged() -> None:
    model = ScriptedModel([call("find_homes", city="Hangzhou", max_price=1), "HZ-1 costs 3,999,000 yuan."])
    final = await Agent(model, registry(), budget=Budget(max_revisions=0)).run("homes")
    assert isinstance(final, RunFinished) and final.unverified_numbers == ["3,999,000"]


async def test_invalid_arguments_go_back_to_the_model() -> None:
    model = ScriptedModel(
        [
            call("find_homes", city="Hangzhou", max_price="cheap"),
            call("find_homes", city="Hangzhou", max_price=5),
            "ok",
        ]
    )
    events = await events_of(Agent(model, registry()), "homes")
    results = [e for e in events if isinstance(e, ToolResultEvent)]
    assert not results[0].ok and "max_price" in results[0].content and "integer" in results[0].content
    assert results[1].ok and executed == ["find_homes:Hangzhou"]


async def test_tool_errors_and_bugs_become_observations() -> None:
    model = ScriptedModel([call("find_homes", city="Atlantis", max_price=1), call("broken"), "sorry"])
    events = await events_of(Agent(model, registry()), "homes")
    results = [e for e in events if isinstance(e, ToolResultEvent)]
    assert "Known cities: Hangzhou" in results[0].content and not results[0].ok
    assert "ZeroDivisionError" in results[1].content
    assert isinstance(events[-1], RunFinished)


async def test_after_a_lookup_that_went_wrong_the_next_step_must_call_again_once() -> None:
    model = ScriptedModel(
        [
            call("find_homes", city="Atlantis", max_price=1),
            call("find_homes", city="Atlantis", max_price=2),
            "There are no homes in Atlantis.",
        ]
    )
    events = await events_of(Agent(model, registry()), "homes in Atlantis")
    assert isinstance(events[-1], RunFinished)
    # step 1 always calls; step 2 follows a failed lookup; step 3 may answer (once per run)
    assert [s.tool_choice for s in model.settings] == ["required", "required", "auto"]


async def test_a_search_that_found_nothing_is_asked_again_once() -> None:
    """dev sh-best-earbuds-under-300: a search for a made-up word matched nothing and the 1.5B
    answered "I can't assist with that". Nothing found is put like an error: the model is told
    to drop what the user did not give, and the next step calls again (once per run)."""

    @tool()
    def search_things(query: str) -> dict[str, object]:
        """Search things.

        Args:
            query: What to find.
        """
        found = [] if query == "earbudz" else [{"id": "P-1", "name": query}]
        return {"matches": len(found), "results": found}

    model = ScriptedModel(
        [call("search_things", query="earbudz"), call("search_things", query="earbuds"), "P-1 is it."]
    )
    events = await events_of(Agent(model, ToolRegistry([search_things])), "earbuds?")
    assert [s.tool_choice for s in model.settings] == ["required", "required", "auto"]
    seen = [m.text for m in model.requests[1][0] if m.role == "tool"]
    assert seen[-1].endswith(prompts.AFTER_NOTHING)
    assert isinstance(events[-1], RunFinished) and events[-1].answer == "P-1 is it."


async def test_a_refused_write_is_told_not_retried() -> None:
    model = ScriptedModel(
        [
            call("find_homes", city="Hangzhou", max_price=6_000_000),
            call("refuse_viewing", listing_id="HZ-1"),
            "It was refused: no viewings this week.",
        ]
    )
    reg = ToolRegistry([find_homes, refuse_viewing])
    events = await events_of(Agent(model, reg, approver=approve_all), "book a viewing of HZ-1")
    assert isinstance(events[-1], RunFinished)
    assert model.settings[2].tool_choice == "auto"  # the refusal is the user's to hear


async def test_an_answer_that_leaves_out_a_refusal_gets_it_and_says_nothing_was_done() -> None:
    """The 1.5B answered a sold-out train by asking for the user's email: the refusal is the news."""
    reg = ToolRegistry([find_homes, refuse_viewing, book_viewing])
    model = ScriptedModel(
        [
            call("find_homes", city="Hangzhou", max_price=6_000_000),
            call("refuse_viewing", listing_id="HZ-1"),
            "Anything else?",
        ]
    )
    final = await Agent(model, reg, approver=approve_all).run("book a viewing of HZ-1")
    assert isinstance(final, RunFinished) and final.outcome == "not_done"
    assert final.answer == "Anything else?\n\nNot done: No viewings this week."
    said = ScriptedModel([call("refuse_viewing", listing_id="HZ-1"), "No viewings this week."])
    final = await Agent(said, reg, approver=approve_all).run("viewing for HZ-1 pls")
    assert isinstance(final, RunFinished) and final.answer == "No viewings this week."  # said once
    # a later write that goes through is the outcome: no refusal line
    retried = ScriptedModel(
        [
            call("refuse_viewing", listing_id="HZ-1"),
            call("book_viewing", listing_id="HZ-1"),
            "Booked V-1 instead.",
        ]
    )
    final = await Agent(retried, reg, approver=approve_all).run("book a viewing of HZ-1")
    assert isinstance(final, RunFinished) and final.outcome == "answered"
    assert "Not done" not in final.answer


async def test_an_answer_loses_what_the_model_copied_from_errands_own_words() -> None:
    """Two dev answers were the request again with its '(Now: ...)' line, and a repeat guard's
    message in a <tool_response> tag."""
    model = ScriptedModel(
        [
            call("find_homes", city="Hangzhou", max_price=6_000_000),
            "Homes in Hangzhou under 6 million, please.\n\n(Now: 2026-11-29 12:00, Sunday.)\n\n"
            "<tool_response>\nThe result is above. If it answers the request, reply to the user now "
            "using its figures.\n</tool_response>\n\nHZ-1 at 4,200,000.",
        ]
    )
    final = await Agent(model, registry()).run("homes in Hangzhou under 6 million, please")
    assert isinstance(final, RunFinished) and final.answer == "HZ-1 at 4,200,000."
    # the 0.5B's answers on `test`: two of errand's instructions on consecutive lines, whole
    echoed = (prompts.AFTER_RESULT + "\n" + prompts.FINAL_STEP).strip() + "\nHZ-1 at 4,200,000."
    model = ScriptedModel([call("find_homes", city="Hangzhou", max_price=6_000_000), echoed])
    final = await Agent(model, registry()).run("homes in Hangzhou under 6 million, please")
    assert isinstance(final, RunFinished) and final.answer == "HZ-1 at 4,200,000."
    # dev fd-ambiguous-restaurant: the request and its date line, and nothing else, is no answer:
    # asked once more (its year is no ungrounded figure); an echo again is then shown as it was
    request = "homes in Hangzhou under 6 million, please"
    echo = "Homes in Hangzhou under 6 million, please.\n\n(Now: 2026-11-29 12:00, Sunday.)"
    again = f"{echo}\n\nResults: 2 found, top HZ-1"  # with what the lookup found, as its tool card says
    for second, shown in (("HZ-1 at 4,200,000.", "HZ-1 at 4,200,000."), (echo, again)):
        model = ScriptedModel([call("find_homes", city="Hangzhou", max_price=6_000_000), echo, second])
        events = await events_of(Agent(model, registry()), request)
        (revision,) = [e for e in events if isinstance(e, RevisionRequested)]
        assert revision.reason == "nameless" and model.requests[2][0][-1].text == prompts.SAYS_NOTHING
        assert isinstance(events[-1], RunFinished) and events[-1].answer == shown
    # the worked examples' label (`errand.agent.examples`) before the answer
    model = ScriptedModel(
        [call("find_homes", city="Hangzhou", max_price=6_000_000), "Answer: HZ-1 at 4,200,000."]
    )
    final = await Agent(model, registry()).run("homes in Hangzhou under 6 million, please")
    assert isinstance(final, RunFinished) and final.answer == "HZ-1 at 4,200,000."


async def test_an_answer_naming_an_id_no_tool_returned_is_sent_back_once() -> None:
    model = ScriptedModel(
        [
            call("find_homes", city="Hangzhou", max_price=6_000_000),
            "HZ-00077 at 4,200,000.",
            "HZ-1 at 4,200,000.",
        ]
    )
    events = await events_of(Agent(model, registry()), "homes in Hangzhou")
    (revision,) = [e for e in events if isinstance(e, RevisionRequested)]
    assert revision.unverified_numbers == ["HZ-00077"]
    assert "HZ-00077" in model.requests[2][0][-1].text
    assert isinstance(events[-1], RunFinished) and events[-1].answer == "HZ-1 at 4,200,000."
    model = ScriptedModel(
        [call("book_viewing", listing_id="HZ-00077"), "HZ-00077 is booked.", "Nothing was booked."]
    )
    events = await events_of(Agent(model, registry(), approver=approve_all), "book a viewing")
    (revision,) = [e for e in events if isinstance(e, RevisionRequested)]  # errand's refusal is no source
    assert revision.unverified_numbers == ["HZ-00077"]
    model = ScriptedModel([call("find_homes", city="Hangzhou", max_price=6_000_000), "hz-00042 is yours."])
    events = await events_of(Agent(model, registry()), "is listing HZ-00042 in Hangzhou still for sale?")
    assert not [e for e in events if isinstance(e, RevisionRequested)]  # the user wrote it


async def test_a_run_that_booked_and_then_ran_out_of_steps_ends_with_its_receipt() -> None:
    @tool(domain="homes", risk="write")
    def reserve(listing_id: Annotated[str, FromResults("id")]) -> dict[str, str]:
        """Reserve a home.

        Args:
            listing_id: The listing.
        """
        return {"booking_id": "BK-000042", "listing_id": listing_id}

    search = call("find_homes", city="Hangzhou", max_price=6_000_000)
    model = ScriptedModel([search, call("reserve", listing_id="HZ-1"), search, search])
    reg = ToolRegistry([find_homes, reserve])
    events = await events_of(
        Agent(model, reg, approver=approve_all, budget=Budget(max_steps=3)), "reserve HZ-1"
    )
    final = events[-1]
    assert isinstance(final, RunFinished), final  # it booked: a failed run that charged would lie
    assert final.answer.startswith("Done:") and "did not answer within 3 steps" in final.answer
    assert final.answer.endswith("Reference: BK-000042")


async def test_unknown_tool_lists_the_real_ones() -> None:
    model = ScriptedModel([call("fly_to_moon"), "ok"])
    events = await events_of(Agent(model, registry()), "homes")
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert "fly_to_moon" in result.content and "find_homes" in result.content


async def test_a_repeated_call_is_caught_and_the_next_step_answers() -> None:
    """The 0.5B repeated compare_listings until the guard stopped the run: after one repeat the
    next step is offered no tools, so a model that follows its grammar answers from the result."""
    same = call("find_homes", city="Hangzhou", max_price=1)
    model = ScriptedModel([same, same, "HZ-1, the only one."])
    events = await events_of(Agent(model, registry()), "homes")
    results = [e for e in events if isinstance(e, ToolResultEvent)]
    assert executed == ["find_homes:Hangzhou"]  # ran once
    assert "already called find_homes" in results[1].content
    offered = model.requests[2][1]  # the same tools shown (a cached prefix), none callable
    assert offered and not any(t.callable for t in offered)
    assert model.requests[2][0][-1].text == prompts.FINAL_STEP
    assert isinstance(events[-1], RunFinished) and events[-1].answer == "HZ-1, the only one."


async def test_repeated_calls_end_the_run_where_the_backend_calls_anyway() -> None:
    same = call("find_homes", city="Hangzhou", max_price=1)
    model = ScriptedModel([same, same, same, same, same, same, "never"])  # a script ignores grammars
    events = await events_of(Agent(model, registry()), "homes")
    final = events[-1]
    assert isinstance(final, RunFailed) and final.kind == "repeated_call"
    assert "find_homes" in final.reason


async def test_parallel_calls_run_concurrently() -> None:
    barrier = threading.Barrier(2, timeout=5)

    @tool
    def meet(name: str) -> str:
        """Wait for the other call."""
        barrier.wait()  # raises BrokenBarrierError if the calls ran one after the other
        return name

    model = ScriptedModel([[call("meet", name="a"), call("meet", name="b")], "both"])
    events = await events_of(Agent(model, ToolRegistry([meet])), "x")
    results = [e for e in events if isinstance(e, ToolResultEvent)]
    assert [r.ok for r in results] == [True, True] and [r.content for r in results] == ["a", "b"]


async def test_write_tool_asks_first_and_runs_when_approved() -> None:
    asked = []

    async def approver(req):  # type: ignore[no-untyped-def]
        asked.append(req.summary)
        return Decision(approved=True)

    model = ScriptedModel([call("book_viewing", listing_id="HZ-1"), "Booked."])
    events = await events_of(
        Agent(model, registry(), approver=approver), "book a viewing of home HZ-1", run_id="r1"
    )
    assert asked == ["Book a viewing of HZ-1"]
    types = [e.type for e in events]  # type: ignore[attr-defined]
    assert (
        types.index("confirmation_required")
        < types.index("confirmation_resolved")
        < types.index("tool_result")
    )
    assert executed == ["book_viewing:HZ-1:r1:1:0"]  # idempotency key from run and step


async def test_rejected_write_does_nothing_and_tells_the_model() -> None:
    async def approver(req):  # type: ignore[no-untyped-def]
        return Decision(approved=False, note="too far away")

    model = ScriptedModel(
        [call("book_viewing", listing_id="HZ-1"), "I'm sorry, but I can't assist with that."]
    )
    final = await Agent(model, registry(), approver=approver).run("book a viewing of home HZ-1")
    assert executed == []
    seen = model.requests[1][0][-1]
    assert seen.role == "tool" and "did not approve" in seen.text and "too far away" in seen.text
    # the person who rejected it knows; a rejection by the user's standing rule is told
    assert isinstance(final, RunFinished) and "Not done" not in final.answer
    model = ScriptedModel(
        [call("book_viewing", listing_id="HZ-1"), "I'm sorry, but I can't assist with that."]
    )
    final = await Agent(model, registry(), approver=reject_all).run("book a viewing of home HZ-1")
    assert isinstance(final, RunFinished) and final.outcome == "not_done"
    assert final.answer.endswith("Not done: book_viewing was not approved (Rejected by policy.)")


async def test_write_without_approver_stops_the_run() -> None:
    model = ScriptedModel([call("book_viewing", listing_id="HZ-1"), "never"])
    events = await events_of(Agent(model, registry()), "book a viewing of home HZ-1")
    assert any(isinstance(e, ConfirmationRequired) for e in events)
    final = events[-1]
    assert isinstance(final, RunFailed) and final.kind == "confirmation_required" and executed == []


async def test_last_step_offers_no_tools_and_forces_an_answer() -> None:
    model = ScriptedModel(
        [call("find_homes", city="A", max_price=1), call("find_homes", city="B", max_price=1), "final"]
    )
    final = await Agent(model, registry(), budget=Budget(max_steps=3)).run("homes")
    assert isinstance(final, RunFinished) and final.answer.startswith("final")  # then what was found
    offered = model.requests[2][1]
    assert [t.name for t in offered] == [t.name for t in model.requests[1][1]]  # the prompt is kept
    assert not any(t.callable for t in offered) and "Answer the user now" in model.requests[2][0][-1].text


async def test_step_budget_ends_with_a_clear_reason() -> None:
    model = ScriptedModel(
        [call("find_homes", city="A", max_price=1), call("find_homes", city="B", max_price=1)]
    )
    final = await Agent(model, registry(), budget=Budget(max_steps=2)).run("homes")
    assert isinstance(final, RunFailed) and final.kind == "budget" and "2 steps" in final.reason


async def test_token_budget() -> None:
    model = ScriptedModel([call("find_homes", city="A", max_price=1), "x"])
    final = await Agent(model, registry(), budget=Budget(max_tokens=5)).run("homes " * 50)
    assert isinstance(final, RunFailed) and final.kind == "budget" and "tokens" in final.reason


async def test_reasoning_is_streamed_but_never_sent_back() -> None:
    model = ScriptedModel(
        [
            ScriptedTurn(reasoning="secret plan", tool_calls=[call("find_homes", city="A", max_price=1)]),
            "done",
        ]
    )
    events = await events_of(Agent(model, registry()), "homes")
    assert "".join(e.text for e in events if isinstance(e, ReasoningDeltaEvent)) == "secret plan"
    assert all("secret" not in m.text for m in model.requests[1][0])


async def test_raw_text_tool_calls_are_parsed_and_malformed_ones_explained() -> None:
    model = ScriptedModel(
        [
            ScriptedTurn(raw='<tool_call>{"arguments": {"city": "A"}}</tool_call>'),
            ScriptedTurn(
                raw='```json\n{"name": "find_homes", "arguments": {"city": "A", "max_price": 9,}}\n```'
            ),
            "HZ-1 it is.",
        ]
    )
    events = await events_of(Agent(model, registry()), "homes")
    assert (
        "could not be used" in model.requests[1][0][-1].text and "find_homes" in model.requests[1][0][-1].text
    )
    assert executed == ["find_homes:A"] and isinstance(events[-1], RunFinished)


async def test_the_services_of_the_tools_the_model_chose_are_offered() -> None:
    model = ScriptedModel(
        ["hi"], structured=[{"topic": "homes", "tools": ["find_homes"], "verb": "find_out"}]
    )
    await Agent(model, registry()).run("买房 in Hangzhou")
    assert [t.name for t in model.requests[0][1]] == ["find_homes", "broken", "book_viewing", "ask_user"]
    # the choice was made from a catalogue naming every domain and its tools, under a schema
    ((messages, schema),) = model.structured_requests
    assert "homes:" in messages[0].text and "  - find_homes: Find homes" in messages[0].text
    assert "weather:" in messages[0].text
    assert schema["properties"]["tools"]["items"]["enum"] == [
        "find_homes",
        "broken",
        "book_viewing",
        "weather",
    ]
    assert "买房 in Hangzhou" in messages[-1].text
    chat = ScriptedModel(["hello!"], structured=[{"topic": "chat", "tools": [], "verb": "chat"}])
    await Agent(chat, registry()).run("help with my homework")
    assert chat.requests[0][1] == [] and chat.settings[0].tool_choice == "auto"


async def test_a_reply_that_is_not_a_plan_offers_every_tool() -> None:
    model = ScriptedModel(["hi"], structured=[{"nonsense": 1}])
    await Agent(model, registry()).run("homes")
    assert len(model.requests[0][1]) == 5  # four tools and ask_user


async def test_conversation_carries_history_across_runs() -> None:
    model = ScriptedModel(["first answer", "second answer"])
    conv = Conversation()
    agent = Agent(model, registry(), approver=approve_all)
    await agent.run("homes one", conversation=conv)
    await agent.run("homes two", conversation=conv)
    second = model.requests[1][0]
    assert [m.role for m in second] == ["system", "user", "assistant", "user"]
    assert second[2].text == "first answer"


async def test_wall_time_budget() -> None:
    @tool
    async def slow() -> str:
        """Sleep."""
        await asyncio.sleep(0.3)
        return "z"

    model = ScriptedModel([call("slow"), "late"])
    final = await Agent(model, ToolRegistry([slow]), budget=Budget(max_wall_s=0.1)).run("x")
    assert isinstance(final, RunFailed) and final.kind == "budget" and "ERRAND_MAX_WALL_S" in final.reason


async def test_an_errand_must_start_with_a_tool_call_small_talk_need_not() -> None:
    model = ScriptedModel(
        [call("find_homes", city="A", max_price=1), "HZ-1 it is."],
        structured=[{"topic": "homes", "tools": ["find_homes"], "verb": "find_out"}],
    )
    await Agent(model, registry()).run("a home in A")
    assert [s.tool_choice for s in model.settings] == ["required", "auto"]
    chat = ScriptedModel(["hello!"], structured=[{"topic": "chat", "tools": [], "verb": "chat"}])
    await Agent(chat, registry()).run("hi there")
    assert chat.settings[0].tool_choice == "auto"


async def test_an_answer_with_invented_figures_is_sent_back_once() -> None:
    model = ScriptedModel(
        [
            call("find_homes", city="Hangzhou", max_price=6_000_000),
            "HZ-1 costs 4,200,000 and the mortgage is 12,345 a month.",
            call("find_homes", city="Chengdu", max_price=6_000_000),
            "Still 12,345 a month.",
        ]
    )
    events = await events_of(Agent(model, registry()), "homes in Hangzhou")
    revision = next(e for e in events if e.type == "revision_requested")  # type: ignore[attr-defined]
    assert revision.unverified_numbers == ["12,345"]  # type: ignore[attr-defined]
    assert "12,345" in model.requests[2][0][-1].text and "no tool result" in model.requests[2][0][-1].text
    final = events[-1]
    assert isinstance(final, RunFinished) and final.unverified_numbers == ["12,345"]  # told, not hidden
    assert model.remaining == 0


async def test_confirmation_can_look_up_what_it_will_cost() -> None:
    prices = {"HZ-1": 120_00}

    @tool(
        risk="payment",
        confirm_text=lambda a, ctx: f"Pay {prices[a['item']] / 100:.2f} CNY for {a['item']} as {ctx.user}",
    )
    def buy(item: str) -> str:
        """Buy an item."""
        return "ok"

    asked = []

    async def approver(req):  # type: ignore[no-untyped-def]
        asked.append(req.summary)
        return Decision(approved=False)

    model = ScriptedModel([call("buy", item="HZ-1"), "no"])
    await Agent(model, ToolRegistry([buy]), approver=approver).run("buy it", user="ann")
    assert asked == ["Pay 120.00 CNY for HZ-1 as ann"]


async def test_a_write_on_an_invented_id_is_refused_until_searched() -> None:
    @tool(domain="homes", risk="write")
    def reserve(listing_id: Annotated[str, FromResults("ids")]) -> str:
        """Reserve a listing."""
        executed.append(f"reserve:{listing_id}")
        return "reserved"

    @tool(domain="homes")
    def search() -> dict[str, list[str]]:
        """Search listings."""
        return {"ids": ["HZ-00007"]}

    model = ScriptedModel(
        [
            call("reserve", listing_id="HZ-99999"),
            call("search"),
            call("reserve", listing_id="HZ-00007"),
            "done",
        ]
    )
    events = await events_of(
        Agent(model, ToolRegistry([reserve, search]), approver=approve_all), "reserve a home"
    )
    first = next(e for e in events if isinstance(e, ToolResultEvent))
    assert not first.ok and "HZ-99999" in first.content and "Search first" in first.content
    assert executed == ["reserve:HZ-00007"]
    assert sum(e.type == "confirmation_required" for e in events) == 1  # type: ignore[attr-defined]


async def test_a_policy_approves_small_payments_and_asks_about_the_rest() -> None:
    from errand.agent.confirm import auto_approve_below

    prices = {"tea": 30_00, "tv": 3000_00}

    def quote(args: dict[str, object], ctx: ToolContext) -> str:
        ctx.quote = (prices[str(args["item"])], "CNY")
        return f"Pay {prices[str(args['item'])] / 100:.2f} CNY for {args['item']}"

    @tool(risk="payment", confirm_text=quote)
    def buy(item: str) -> str:
        """Buy an item."""
        executed.append(f"buy:{item}")
        return "ok"

    asked: list[str] = []

    async def person(req):  # type: ignore[no-untyped-def]
        asked.append(req.summary)
        return Decision(approved=False)

    policy = auto_approve_below(50_00, "cny", person)
    plan = {"topic": "tea and a tv", "tools": ["buy"], "verb": "buy"}
    model = ScriptedModel([call("buy", item="tea"), call("buy", item="tv"), "done"], structured=[plan])
    events = await events_of(Agent(model, ToolRegistry([buy]), approver=policy), "buy tea and a tv")
    assert executed == ["buy:tea"] and asked == ["Pay 3000.00 CNY for tv"]
    amounts = [(e.amount, e.currency) for e in events if e.type == "confirmation_required"]  # type: ignore[attr-defined]
    assert amounts == [(30_00, "CNY"), (3000_00, "CNY")]

    # A request that only asks for information: a payment the model makes anyway is not run,
    # nor put to the person; the model is told to answer the question (a dev run's "which is
    # the earliest train?" booked one and asked for passenger names instead of answering).
    executed.clear()
    asked.clear()
    question = {"topic": "tea", "tools": ["buy"], "verb": "find_out"}
    talked_into = ScriptedModel([call("buy", item="tea"), "done"], structured=[question])
    events = await events_of(
        Agent(talked_into, ToolRegistry([buy]), approver=policy), "tell me about the tea"
    )
    assert executed == [] and asked == []
    result = next(e for e in events if e.type == "tool_result")  # type: ignore[attr-defined]
    assert "the user asked a question" in str(result.model_dump())
    assert not talked_into.requests[0][1][0].callable  # nor could a grammar have let it through

    # told before any check of its arguments: an invented name would have sent it to ask_user
    @tool(risk="write")
    def reserve(guest: Annotated[str, FromUser("the guest's name")]) -> str:
        """Reserve a table."""
        executed.append(f"reserve:{guest}")
        return "ok"

    table = {"topic": "table", "tools": ["reserve"], "verb": "find_out"}
    invented = ScriptedModel([call("reserve", guest="John Doe"), "done"], structured=[table])
    events = await events_of(Agent(invented, ToolRegistry([reserve]), approver=policy), "is there a table?")
    result = next(e for e in events if e.type == "tool_result")  # type: ignore[attr-defined]
    assert "the user asked a question" in str(result.model_dump()) and executed == []

    # In a later turn of a chat (a reply to "which one?") the plan's verb takes nothing away:
    # the payment is offered, and put to the person (the plan did not say the user asked for it).
    later = ScriptedModel([call("buy", item="tea"), "done"], structured=[question])
    chat = Conversation()
    chat.messages += [
        Message(role="user", content="buy me the tea"),
        Message(role="assistant", content="Which one?"),
    ]
    await events_of(Agent(later, ToolRegistry([buy]), approver=policy), "the green one", conversation=chat)
    assert later.requests[0][1][0].callable and asked == ["Pay 30.00 CNY for tea"]


@pytest.mark.parametrize("typed", [True, False])
async def test_a_later_turn_of_a_chat_may_act_on_an_id_an_earlier_turn_found(typed: bool) -> None:
    """Also an id no user could type (`FromResults.typed`): an earlier turn's result names it."""

    @tool(risk="write")
    def reserve_typed(item_id: Annotated[str, FromResults("item_id")]) -> str:
        """Reserve an item.

        Args:
            item_id: The item's id.
        """
        return f"reserved {item_id}"

    @tool(risk="write")
    def reserve_untyped(item_id: Annotated[str, FromResults("item_id", typed=False)]) -> str:
        """Reserve an item.

        Args:
            item_id: The item's id.
        """
        return f"reserved {item_id}"

    reserve = reserve_typed if typed else reserve_untyped

    @tool()
    def find() -> dict[str, str]:
        """Find an item."""
        return {"item_id": "IT-7781"}

    model = ScriptedModel(
        [call("find"), "Found IT-7781.", call(reserve.name, item_id="IT-7781"), "Reserved."]
    )
    agent = Agent(model, ToolRegistry([find, reserve]), approver=approve_all)
    conv = Conversation()
    await agent.run("find me an item", conversation=conv)
    done = await agent.run("reserve it", conversation=conv)
    assert done.type == "run_finished"
    results = [m.content for m in conv.messages if m.role == "tool"]
    assert any("reserved IT-7781" in str(r) for r in results), results


async def test_an_errand_left_undone_is_reminded_once_then_done() -> None:
    """ "Book a viewing" answered with a description of the booking gets one reminder; the
    model then books. Asked again without booking, the model's second answer stands."""
    model = ScriptedModel(
        [
            call("find_homes", city="Hangzhou", max_price=5_000_000),
            "HZ-1 is the cheapest; you can book a viewing with book_viewing(HZ-1).",
            call("book_viewing", listing_id="HZ-1"),
            "Booked viewing V-1 of HZ-1.",
        ],
        structured=[{"topic": "a viewing", "tools": ["find_homes", "book_viewing"], "verb": "book"}],
    )
    task = "Find the cheapest home in Hangzhou under 5,000,000 and book a viewing of it"
    events = await events_of(Agent(model, registry(), approver=approve_all), task)
    reminders = [e for e in events if getattr(e, "type", "") == "revision_requested"]
    assert [r.reason for r in reminders] == ["unfinished_action"]  # type: ignore[attr-defined]
    assert executed == ["find_homes:Hangzhou", f"book_viewing:HZ-1:{events[0].run_id}:3:0"]  # type: ignore[attr-defined]
    assert isinstance(events[-1], RunFinished) and events[-1].answer == "Booked viewing V-1 of HZ-1."
    sent = model.requests[2][0]  # what the model saw when reminded: its draft, then the reminder
    assert sent[-2].role == "assistant" and sent[-1].text == prompts.UNFINISHED_ACTION
    assert [s.tool_choice for s in model.settings] == ["required", "auto", "required", "auto"]
    assert isinstance(events[-1], RunFinished) and events[-1].outcome == "answered"

    executed.clear()
    stands = ScriptedModel(
        [
            call("find_homes", city="Hangzhou", max_price=5_000_000),
            "HZ-1 does not fit.",
            "HZ-1 does not fit, as I said.",
        ],
        structured=[{"topic": "a viewing", "tools": ["find_homes", "book_viewing"], "verb": "book"}],
    )
    final = await Agent(stands, registry(), approver=approve_all).run(task)
    assert isinstance(final, RunFinished) and final.answer == "HZ-1 does not fit, as I said."
    assert final.outcome == "not_done"  # asked to act, and said so without acting
    assert executed == ["find_homes:Hangzhou"]


async def test_a_second_reminder_follows_a_lookup_made_after_the_first() -> None:
    """dev sh-buy-earbuds-white: reminded after the search, the 1.5B read the product's variants,
    then described the purchase again. A lookup since the reminder earns a second one; two
    reminders are the most."""
    task = "Find the cheapest home in Hangzhou under 5,000,000 and book a viewing of it"
    plan = {"topic": "a viewing", "tools": ["find_homes", "book_viewing"], "verb": "book"}
    model = ScriptedModel(
        [
            call("find_homes", city="Hangzhou", max_price=5_000_000),
            "HZ-1 looks good.",
            call("find_homes", city="Hangzhou", max_price=4_000_000),
            "HZ-1 is still the cheapest; you can book a viewing of it.",
            call("book_viewing", listing_id="HZ-1"),
            "Booked viewing V-1 of HZ-1.",
        ],
        structured=[plan],
    )
    events = await events_of(Agent(model, registry(), approver=approve_all), task)
    reminders = [e for e in events if getattr(e, "type", "") == "revision_requested"]
    assert len(reminders) == 2
    assert isinstance(events[-1], RunFinished) and events[-1].outcome == "answered"
    assert executed[-1].startswith("book_viewing:HZ-1")

    executed.clear()
    looks = [call("find_homes", city="Hangzhou", max_price=m) for m in (5_000_000, 4_000_000, 3_000_000)]
    never = ScriptedModel(
        [looks[0], "HZ-1.", looks[1], "HZ-1 again.", looks[2], "HZ-1, as I said."], structured=[plan]
    )
    final = await Agent(never, registry(), approver=approve_all).run(task)
    assert isinstance(final, RunFinished) and final.answer == "HZ-1, as I said."
    assert final.outcome == "not_done" and len(executed) == 3


async def test_a_write_refused_for_an_invented_id_is_not_the_errand_done() -> None:
    model = ScriptedModel(
        [
            call("book_viewing", listing_id="HZ-9"),  # an id nobody stated: not run
            call("find_homes", city="Hangzhou", max_price=5_000_000),
            "HZ-1 is the one to see.",
            call("book_viewing", listing_id="HZ-1"),
            "Booked viewing V-1 of HZ-1.",
        ],
        structured=[{"topic": "a viewing", "tools": ["find_homes", "book_viewing"], "verb": "book"}],
    )
    events = await events_of(
        Agent(model, registry(), approver=approve_all), "Book a viewing of a Hangzhou home"
    )
    assert [getattr(e, "reason", None) for e in events if getattr(e, "type", "") == "revision_requested"] == [
        "unfinished_action"
    ]
    assert executed[-1].startswith("book_viewing:HZ-1:")


@tool(domain="homes")
def home_loans(city: str) -> dict[str, object]:
    """Mortgage offers in a city.

    Args:
        city: City name.
    """
    executed.append(f"home_loans:{city}")
    return {"offers": [{"bank": "ICBC", "rate_pct": 3.1}]}


async def test_the_lookup_the_plan_named_is_pointed_out_once_the_other_half_is_booked() -> None:
    """dev tr-weekend-hangzhou-600: the plan named the train search, the hotel search and the
    booking; the train was booked and the answer came, the hotel never searched. The draft
    goes back naming the lookup, and the next step can call only it (or ask the user)."""
    plan = {
        "topic": "a viewing and a loan",
        "tools": ["find_homes", "home_loans", "book_viewing"],
        "verb": "book",
    }
    model = ScriptedModel(
        [
            call("find_homes", city="Hangzhou", max_price=5_000_000),
            call("book_viewing", listing_id="HZ-1"),
            "Booked viewing V-1 of HZ-1.",
            call("home_loans", city="Hangzhou"),
            "Booked viewing V-1 of HZ-1; ICBC lends at 3.1%.",
        ],
        structured=[plan],
    )
    reg = ToolRegistry([find_homes, home_loans, book_viewing])
    task = "Book a viewing of the cheapest home in Hangzhou under 5,000,000 and find me a mortgage"
    events = await events_of(Agent(model, reg, approver=approve_all), task)
    reminders = [e for e in events if getattr(e, "type", "") == "revision_requested"]
    assert [r.reason for r in reminders] == ["unfinished_action"]  # type: ignore[attr-defined]
    assert executed[-1] == "home_loans:Hangzhou"
    assert isinstance(events[-1], RunFinished) and "3.1%" in events[-1].answer
    messages, specs = model.requests[3]
    assert messages[-1].text == prompts.PLANNED_TOOL.format(tools="home_loans")
    assert {s.name for s in specs if s.callable} == {"home_loans", "ask_user"}
    assert model.settings[3].tool_choice == "required"
    # the next step is offered every tool again
    assert {s.name for s in model.requests[4][1] if s.callable} == {
        "find_homes",
        "home_loans",
        "book_viewing",
        "ask_user",
    }
    # a plan that names no lookup left unread, or a run that searched nothing first: no reminder
    for turns in (
        [
            call("find_homes", city="Hangzhou", max_price=5_000_000),
            call("book_viewing", listing_id="HZ-1"),
            "V-1.",
        ],
        [call("book_viewing", listing_id="HZ-1"), "V-1."],
    ):
        executed.clear()
        plain = {**plan, "tools": ["find_homes", "book_viewing"]} if len(turns) == 3 else plan
        model = ScriptedModel(turns, structured=[plain])
        events = await events_of(Agent(model, reg, approver=approve_all), "Book a viewing of HZ-1")
        assert not [e for e in events if getattr(e, "type", "") == "revision_requested"]
        assert isinstance(events[-1], RunFinished) and events[-1].answer == "V-1."


@tool(domain="homes", risk="payment", confirm_text=lambda a: f"Apply to {a['bank']}")
def apply_loan(bank: Annotated[str, FromResults("bank")]) -> dict[str, str]:
    """Apply for a mortgage.

    Args:
        bank: The bank, from the offers.
    """
    executed.append(f"apply_loan:{bank}")
    return {"application_id": "LA-01", "bank": bank}


async def test_the_write_the_plan_named_follows_its_lookup_once_the_other_half_is_booked() -> None:
    """dev tr-weekend-hangzhou-600: the train was booked and, once reminded, the hotel
    searched; the hotel booking the plan named was never made. After the lookups, the
    plan's write not yet called is pointed out, and the next step may call only it."""
    plan = {
        "topic": "a viewing and a loan",
        "tools": ["find_homes", "book_viewing", "home_loans", "apply_loan"],
        "verb": "book",
    }
    model = ScriptedModel(
        [
            call("find_homes", city="Hangzhou", max_price=5_000_000),
            call("book_viewing", listing_id="HZ-1"),
            "Booked viewing V-1 of HZ-1.",
            call("home_loans", city="Hangzhou"),
            "ICBC lends at 3.1%.",
            call("apply_loan", bank="ICBC"),
            "Booked V-1; applied to ICBC at 3.1%.",
        ],
        structured=[plan],
    )
    reg = ToolRegistry([find_homes, home_loans, book_viewing, apply_loan])
    task = "Book a viewing of the cheapest home in Hangzhou under 5,000,000 and apply for a mortgage"
    events = await events_of(Agent(model, reg, approver=approve_all), task)
    assert executed[-2:] == ["home_loans:Hangzhou", "apply_loan:ICBC"]
    assert model.requests[5][0][-1].text == prompts.PLANNED_TOOL.format(tools="apply_loan")
    assert {s.name for s in model.requests[5][1] if s.callable} == {"apply_loan", "ask_user"}
    assert isinstance(events[-1], RunFinished) and "LA-01" in events[-1].answer
    # a write already made is never pointed out again: no second viewing
    assert sum(e.startswith("book_viewing") for e in executed) == 1
    # nor one that is no payment (dev sh-u-exchange-bigger-powerbank-zh: the exchange made, the
    # plan's return_item was pointed out and returned the item)
    plan = {**plan, "tools": ["find_homes", "home_loans", "apply_loan", "book_viewing"]}
    model = ScriptedModel(
        [
            call("find_homes", city="Hangzhou", max_price=5_000_000),
            call("home_loans", city="Hangzhou"),
            call("apply_loan", bank="ICBC"),
            "Applied to ICBC.",
        ],
        structured=[plan],
    )
    events = await events_of(Agent(model, reg, approver=approve_all), task)
    assert not [e for e in events if isinstance(e, RevisionRequested)]
    assert isinstance(events[-1], RunFinished) and events[-1].answer.startswith("Applied to ICBC.")


async def test_a_lookup_after_the_booking_is_followed_by_the_write_that_takes_its_ids() -> None:
    """dev tr-weekend-hangzhou-600, later: the plan named no hotel booking; the train was
    booked (both reminders spent), hotels searched, and the cheapest described, unbooked. A
    lookup made after the run's write, whose ids a write never called takes, is followed by
    one more reminder naming that write; ask_user stays open. None where the lookup came
    before the write."""
    plan = {"topic": "a viewing and a loan", "tools": ["find_homes", "book_viewing"], "verb": "book"}
    model = ScriptedModel(
        [
            call("find_homes", city="Hangzhou", max_price=5_000_000),
            "HZ-1 is the cheapest.",
            call("book_viewing", listing_id="HZ-1"),
            call("home_loans", city="Hangzhou"),
            "ICBC lends at 3.1%.",
            call("apply_loan", bank="ICBC"),
            "Booked V-1; applied to ICBC at 3.1%.",
        ],
        structured=[plan],
    )
    reg = ToolRegistry([find_homes, home_loans, book_viewing, apply_loan])
    task = "Book a viewing of the cheapest home in Hangzhou under 5,000,000 and apply for a mortgage"
    events = await events_of(Agent(model, reg, approver=approve_all), task)
    assert model.requests[5][0][-1].text == prompts.FOLLOW_UP_WRITE.format(tools="apply_loan")
    assert {s.name for s in model.requests[5][1] if s.callable} == {"apply_loan", "ask_user"}
    assert executed[-1] == "apply_loan:ICBC"
    assert isinstance(events[-1], RunFinished) and "LA-01" in events[-1].answer
    # the lookup before the write: no reminder past the viewing
    model = ScriptedModel(
        [
            call("find_homes", city="Hangzhou", max_price=5_000_000),
            call("home_loans", city="Hangzhou"),
            call("book_viewing", listing_id="HZ-1"),
            "Booked V-1.",
        ],
        structured=[{**plan, "tools": ["find_homes", "home_loans", "book_viewing"]}],
    )
    events = await events_of(Agent(model, reg, approver=approve_all), task)
    assert isinstance(events[-1], RunFinished) and events[-1].answer == "Booked V-1."


async def test_a_change_no_offered_tool_can_make_is_said_to_be_impossible_here() -> None:
    """dev wl-transfer-refuse: "send 500 yuan to Bob" was planned as an act on the wallet, whose
    tools only read; the 1.5B answered "I need to confirm the transaction". The request then
    says no tool here can make the change; a toolbox with a write says nothing of the kind."""
    plan = {"topic": "weather", "tools": ["weather"], "verb": "book"}
    model = ScriptedModel(["I can't book the weather."], structured=[plan])
    said = await Agent(model, registry()).run("book me sunny weather")
    assert model.requests[0][0][-1].text.endswith(prompts.CANNOT_ACT)
    assert isinstance(said, RunFinished) and said.outcome == "not_done"
    plan = {"topic": "homes", "tools": ["find_homes"], "verb": "book"}
    model = ScriptedModel(
        [call("find_homes", city="Hangzhou", max_price=5_000_000), "HZ-1."], structured=[plan]
    )
    await Agent(model, registry()).run("book a viewing in Hangzhou under 5,000,000")
    assert prompts.CANNOT_ACT not in model.requests[0][0][-1].text


async def test_no_reminder_for_a_question_a_write_already_tried_or_a_question_to_the_user() -> None:
    cases = [
        (
            "What homes are in Hangzhou under 5,000,000?",
            False,
            [call("find_homes", city="Hangzhou", max_price=5_000_000), "HZ-1."],
            "answered",
        ),
        (
            "Book a viewing of a home in Hangzhou",
            True,
            [
                call("find_homes", city="Hangzhou", max_price=5_000_000),
                call("ask_user", question="Which one, HZ-1 or HZ-2?"),
            ],
            "asked",
        ),
        (
            "Book a viewing of HZ-1",
            True,
            [call("book_viewing", listing_id="HZ-1"), "The user said no."],
            "answered",
        ),
    ]
    for task, acts, turns, outcome in cases:
        model = ScriptedModel(
            turns,
            structured=[{"topic": "homes", "tools": ["find_homes"], "verb": "book" if acts else "find_out"}],
        )
        events = await events_of(Agent(model, registry(), approver=approve_all), task)
        assert not [e for e in events if getattr(e, "type", "") == "revision_requested"], task
        last = events[-1]
        assert isinstance(last, RunFinished) and last.outcome == outcome, task
        assert last.answer == (turns[-1] if isinstance(turns[-1], str) else "Which one, HZ-1 or HZ-2?")


@tool(domain="trips", risk="write", confirm_text=lambda a: f"Book {a['trip']} for {a['passengers']}")
def book_trip(
    trip: str, passengers: Annotated[list[str], FromUser("the passengers' names")]
) -> dict[str, object]:
    """Book a trip.

    Args:
        trip: Trip name.
        passengers: Full name of each passenger.
    """
    executed.append(f"book_trip:{trip}:{','.join(passengers)}")
    return {"booked": trip, "passengers": passengers}


async def test_a_write_for_people_the_user_never_named_is_refused() -> None:
    model = ScriptedModel(
        [
            call("book_trip", trip="Sanya", passengers=["John Doe"]),
            "Who is travelling?",
        ]
    )
    tools = ToolRegistry([book_trip])
    events = await events_of(Agent(model, tools, approver=approve_all), "Book the Sanya trip")
    refused = next(e for e in events if isinstance(e, ToolResultEvent))
    assert not refused.ok and "John Doe" in refused.content and "ask_user" in refused.content
    assert executed == [] and not [e for e in events if isinstance(e, ConfirmationRequired)]

    ok = ScriptedModel([call("book_trip", trip="Sanya", passengers=["Li Na"]), "Booked for Li Na."])
    final = await Agent(ok, tools, approver=approve_all).run("Book the Sanya trip for li na")
    assert isinstance(final, RunFinished) and executed == ["book_trip:Sanya:Li Na"]


async def test_a_services_refusal_is_a_source_for_the_answers_figures() -> None:
    @tool(risk="read")
    def pay(amount: int) -> str:
        """Pay."""
        raise ToolError("The payment of 321.00 CNY is short by 201.00 CNY.")

    model = ScriptedModel([call("pay", amount=3), "You are 201.00 CNY short of the 321.00 CNY needed."])
    events = await events_of(Agent(model, ToolRegistry([pay])), "pay 3")
    assert not [e for e in events if getattr(e, "type", "") == "revision_requested"]
    assert isinstance(events[-1], RunFinished) and events[-1].unverified_numbers == []


async def test_asking_the_user_ends_the_run_with_the_question_and_the_reply_continues_it() -> None:
    """The reply keeps the services of the last calls, whatever its own plan says: the bundled
    1.5B planned "Li Wei" (answering "who is travelling?") as a food order."""
    model = ScriptedModel(
        [
            call("find_homes", city="Hangzhou", max_price=5_000_000),
            call("ask_user", question="Which name should the viewing be under?"),
            call("book_viewing", listing_id="HZ-1"),
            "Booked.",
        ],
        structured=[
            {"topic": "a viewing", "tools": ["find_homes", "book_viewing"], "verb": "book"},
            {"topic": "a name", "tools": ["weather"], "verb": "chat"},
        ],
    )
    agent, conv = Agent(model, registry(), approver=approve_all), Conversation()
    first = await agent.run("book a viewing of the cheapest home in Hangzhou", conversation=conv)
    assert isinstance(first, RunFinished) and first.outcome == "asked"
    assert first.answer == "Which name should the viewing be under?"
    events = [e async for e in agent.stream("Li Na", conversation=conv)]
    second = events[-1]
    assert isinstance(second, RunFinished) and second.outcome == "answered"
    started = next(e for e in events if isinstance(e, RunStarted))
    assert {"find_homes", "book_viewing", "weather"} <= set(started.tools)
    assert executed[-1].startswith("book_viewing:HZ-1:")  # the id the first turn found
    # the second plan saw the earlier turns
    assert "Which name" in model.structured_requests[1][0][-1].text


async def test_a_question_to_a_chinese_request_in_english_is_asked_again_in_chinese() -> None:
    """dev wl-u-last-sgd-zh: a Chinese request, and the question back (which currency?) in
    English. Sent back once; the next step can only ask again; a second English one is kept."""
    request = "帮我预约看房，杭州最便宜的那套"
    english, chinese = "Which name should the viewing be under?", "请问预约人的姓名是什么？"
    for asked, final_question in (([english, chinese], chinese), ([english, english], english)):
        model = ScriptedModel(
            [
                call("find_homes", city="Hangzhou", max_price=5_000_000),
                *(call("ask_user", question=q) for q in asked),
            ]
        )
        events = await events_of(Agent(model, registry(), approver=approve_all), request)
        (revision,) = [e for e in events if isinstance(e, RevisionRequested)]
        assert revision.reason == "language" and model.requests[2][0][-1].text == prompts.ASK_IN_CHINESE
        assert {s.name for s in model.requests[2][1] if s.callable} == {"ask_user"}
        final = events[-1]
        assert isinstance(final, RunFinished) and final.outcome == "asked" and final.answer == final_question


async def test_an_unexpected_backend_error_fails_the_run_instead_of_leaving_it_running() -> None:
    def broken_backend(messages: object) -> str:
        raise json.JSONDecodeError("Expecting value", "", 0)

    final = await Agent(ScriptedModel([broken_backend]), registry()).run("homes")
    assert isinstance(final, RunFailed) and final.kind == "model_error"
    assert "JSONDecodeError" in final.reason


async def test_waiting_for_approval_is_not_the_runs_time() -> None:
    async def slow_person(request: object) -> Decision:
        await asyncio.sleep(0.3)
        return Decision(approved=True)

    model = ScriptedModel([call("book_viewing", listing_id="HZ-1"), "Booked."])
    agent = Agent(model, registry(), approver=slow_person, budget=Budget(max_wall_s=0.2))
    final = await agent.run("book a viewing of HZ-1")
    assert isinstance(final, RunFinished), final
    assert executed[0].startswith("book_viewing:HZ-1:")


async def test_only_files_the_run_saved_in_its_own_folder_are_artifacts(tmp_path: Path) -> None:
    """A result that names a file elsewhere (a CSV the model was talked into citing) must not
    make it a run artifact that the server would then serve."""
    elsewhere = tmp_path / "secrets.csv"
    elsewhere.write_text("password,1234")

    @tool()
    def chart(ctx: ToolContext) -> dict[str, str]:
        """Draw a chart."""
        ctx.artifacts_dir.mkdir(parents=True, exist_ok=True)
        png = ctx.artifacts_dir / "chart.png"
        png.write_bytes(b"png")
        return {
            "chart": str(png),
            "see_also": str(elsewhere),
            "escape": str(ctx.artifacts_dir / ".." / "x.csv"),
        }

    (tmp_path / "charts" / "x.csv").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "charts" / "x.csv").write_text("other run")
    model = ScriptedModel([call("chart"), "done", "done"])  # "done" says nothing: asked once again
    agent = Agent(model, ToolRegistry([chart]), artifacts_dir=tmp_path / "charts")
    final = await agent.run("chart it", run_id="run-1")
    assert isinstance(final, RunFinished)
    assert final.artifacts == [str((tmp_path / "charts" / "run-1" / "chart.png").resolve())]


async def test_the_answer_names_the_reference_of_what_the_run_booked() -> None:
    @tool(risk="write")
    def reserve(table: Annotated[str, FromResults("table")]) -> dict[str, object]:
        """Reserve a table."""
        return {"table_id": table, "reservation_id": "RS-000042", "status": "confirmed"}

    tools = ToolRegistry([reserve])
    said = await Agent(
        ScriptedModel([call("reserve", table="T-9"), "Your table is reserved."]), tools, approver=approve_all
    ).run("reserve table T-9")
    assert isinstance(said, RunFinished)
    assert said.answer == "Your table is reserved.\n\nReference: RS-000042"  # the receipt, not the input id

    named = await Agent(
        ScriptedModel([call("reserve", table="T-9"), "Reserved (RS-000042)."]), tools, approver=approve_all
    ).run("reserve table T-9")
    assert isinstance(named, RunFinished) and named.answer == "Reserved (RS-000042)."

    zh = await Agent(
        ScriptedModel([call("reserve", table="T-9"), "已预订。"]), tools, approver=approve_all
    ).run("帮我预订T-9号桌")
    assert isinstance(zh, RunFinished) and zh.answer.endswith("编号: RS-000042")


async def test_the_receipt_names_what_the_write_acted_on() -> None:
    @tool
    def search(city: str) -> dict[str, object]:
        """Find homes."""
        return {"results": [{"id": "CD-00453", "price": 2260000}, {"id": "CD-00186", "price": 1060000}]}

    @tool(risk="write")
    def viewing(listing_id: Annotated[str, FromResults("id")], name: str) -> dict[str, object]:
        """Request a viewing."""
        return {"viewing_id": "VW-00001", "listing_id": listing_id, "status": "requested"}

    tools = ToolRegistry([search, viewing])
    steps = [call("search", city="Chengdu"), call("viewing", listing_id="CD-00453", name="Zhang Min")]
    said = await Agent(
        ScriptedModel([*steps, "Your viewing is booked (cheaper: CD-00186)."]), tools, approver=approve_all
    ).run("best home in Chengdu, book a viewing for Zhang Min")
    # another listing of the same city prefix is not the one booked
    assert isinstance(said, RunFinished)
    assert said.answer.endswith("Reference: VW-00001 (CD-00453)")
    named = await Agent(
        ScriptedModel([*steps, "Viewing VW-00001 of CD-00453 is requested."]), tools, approver=approve_all
    ).run("best home in Chengdu, book a viewing for Zhang Min")
    assert isinstance(named, RunFinished) and named.answer == "Viewing VW-00001 of CD-00453 is requested."


async def test_a_record_the_run_then_cancelled_is_not_its_receipt() -> None:
    @tool(risk="write")
    def reserve(table: Annotated[str, FromResults("table")]) -> dict[str, object]:
        """Reserve a table."""
        return {"reservation_id": "RS-000042", "status": "confirmed"}

    @tool(risk="write")
    def cancel(reservation_id: Annotated[str, FromResults("reservation_id")]) -> dict[str, object]:
        """Cancel a reservation."""
        return {"reservation_id": reservation_id, "status": "cancelled"}

    model = ScriptedModel(
        [call("reserve", table="T-9"), call("cancel", reservation_id="RS-000042"), "Cancelled it again."]
    )
    said = await Agent(model, ToolRegistry([reserve, cancel]), approver=approve_all).run(
        "reserve T-9 then cancel"
    )
    assert isinstance(said, RunFinished) and said.answer == "Cancelled it again."


async def test_an_answer_that_names_no_record_its_figures_are_about_gets_their_ids() -> None:
    @tool
    def search(city: str) -> dict[str, object]:
        """Find homes."""
        return {"results": [{"id": "SZ-00250", "price": 2650000}, {"id": "SZ-00351", "price": 2690000}]}

    @tool
    def mortgage(listing_id: Annotated[str, FromResults("id")]) -> dict[str, object]:
        """Monthly payment of a listing."""
        return {"monthly_payment": 9287}

    tools = ToolRegistry([search, mortgage])
    model = ScriptedModel(
        [call("search", city="Shenzhen"), call("mortgage", listing_id="SZ-00250"), "About 9,287 a month."]
    )
    said = await Agent(model, tools).run("cheapest home in Shenzhen, and its mortgage?")
    assert isinstance(said, RunFinished) and said.answer == "About 9,287 a month.\n\nBased on: SZ-00250"
    # named in the answer, or by the user: nothing is added
    model = ScriptedModel([call("mortgage", listing_id="SZ-00250"), "About 9,287 a month."])
    said = await Agent(model, tools).run("mortgage of sz-00250?")
    assert isinstance(said, RunFinished) and said.answer == "About 9,287 a month."


async def test_an_answer_from_a_lookup_that_found_one_record_gets_its_id() -> None:
    """dev wl-u-last-sgd-zh: "我最近一笔新加坡元消费" found the one payment (limit 1), and the
    answer gave its amount and payee but not PAY-001490, even after being asked to name it."""

    @tool
    def history(limit: int = 10) -> dict[str, object]:
        """Transactions."""
        return {"count": 1, "transactions": [{"id": "PAY-001490", "amount_text": "-167.18 SGD"}]}

    model = ScriptedModel([call("history", limit=1), "消费 167.18 SGD。", "消费 167.18 SGD，付给商店。"])
    said = await Agent(model, ToolRegistry([history])).run("我最近一笔新加坡元消费是什么？")
    assert isinstance(said, RunFinished) and said.answer == "消费 167.18 SGD，付给商店。\n\n依据: PAY-001490"


async def test_an_answer_stating_a_figure_only_one_record_has_gets_its_id() -> None:
    """dev wl-last-payment: "What was my last payment?" read ten payments, and the answer gave
    the first one's amount and date but not PAY-001515. A figure two records share names
    neither."""

    @tool
    def history(limit: int = 10) -> dict[str, object]:
        """Transactions."""
        rows = [
            {"id": "PAY-001515", "date": "2026-11-21", "amount_text": "-749.95 CNY"},
            {"id": "PAY-001512", "date": "2026-11-21", "amount_text": "-256.62 USD"},
            {"id": "PAY-001493", "date": "2026-11-20", "amount_text": "-256.62 USD"},
        ]
        return {"count": 3, "transactions": rows}

    # sent back once as nameless (dev fd-best-cantonese-shenzhen: the footer's id alone, without
    # that revision, left the restaurant's name out), then given the id in the footer
    answer = "Your last payment was 749.95 CNY on 2026-11-21."
    model = ScriptedModel([call("history"), answer, answer])
    said = await Agent(model, ToolRegistry([history])).run("What was my last payment?")
    assert isinstance(said, RunFinished)
    assert said.answer == "Your last payment was 749.95 CNY on 2026-11-21.\n\nBased on: PAY-001515"
    model = ScriptedModel([call("history"), "You paid 256.62 USD twice.", "You paid 256.62 USD twice."])
    said = await Agent(model, ToolRegistry([history])).run("What did I pay in USD?")
    assert isinstance(said, RunFinished) and said.answer == "You paid 256.62 USD twice."


async def test_the_first_event_says_what_the_model_planned() -> None:
    model = ScriptedModel(
        ["ok"], structured=[{"topic": "home prices", "tools": ["find_homes"], "verb": "find_out"}]
    )
    events = await events_of(Agent(model, registry()), "homes in Hangzhou?")
    started = events[0]
    assert isinstance(started, RunStarted)
    assert started.plan == {
        "topic": "home prices",
        "tools": ["find_homes"],
        "verb": "find_out",
        "acts": False,
    }


async def test_an_answer_that_names_none_of_the_records_found_is_sent_back_once() -> None:
    """dev fd-best-cantonese-shenzhen: "The best Cantonese restaurant in Shenzhen that delivers
    has a rating of 4.8" named no restaurant. An answer naming none of the latest lookup's
    records is asked once to say which; by id (or a leading part of one) or by name is enough."""
    model = ScriptedModel(
        [
            call("find_homes", city="Hangzhou", max_price=6_000_000),
            "The cheapest is 4,200,000.",
            "HZ-1: 4,200,000.",
        ]
    )
    events = await events_of(Agent(model, registry()), "cheapest home in Hangzhou")
    (revision,) = [e for e in events if isinstance(e, RevisionRequested)]
    assert revision.reason == "nameless" and model.requests[2][0][-1].text == prompts.NAMELESS
    assert isinstance(events[-1], RunFinished) and events[-1].answer == "HZ-1: 4,200,000."
    for answer in (
        "HZ-1 at 4,200,000.",
        "Which district do you prefer?",
        "2 homes fit.",
    ):  # named, a question, a count
        model = ScriptedModel([call("find_homes", city="Hangzhou", max_price=6_000_000), answer])
        events = await events_of(Agent(model, registry()), "cheapest home in Hangzhou")
        assert not [e for e in events if isinstance(e, RevisionRequested)] and events[-1].answer == answer  # type: ignore[attr-defined]


async def test_an_answer_that_reports_nothing_the_tools_found_is_sent_back_once() -> None:
    """dev re-u-sz-biggest-drop: after a price trend that named the district and its fall, the
    1.5B answered "The chart file is provided in the response." An answer with no figure, id
    or name from the results is asked once to report them."""
    model = ScriptedModel(
        [
            call("find_homes", city="Hangzhou", max_price=6_000_000),
            "The chart file is provided in the response.",
            "HZ-1 at 4,200,000 is the cheapest.",
        ]
    )
    events = await events_of(Agent(model, registry()), "cheapest home in Hangzhou")
    (_revision,) = [e for e in events if isinstance(e, RevisionRequested)]
    assert model.requests[2][0][-1].text == prompts.SAYS_NOTHING
    assert isinstance(events[-1], RunFinished) and events[-1].answer == "HZ-1 at 4,200,000 is the cheapest."
    # dev wl-u-priciest-food-week-zh, wl-u-dup-food-multiturn: the same non-answer again. It is
    # kept, and what the latest lookup found follows it, as its tool card says it
    nothing = "I apologize, but I cannot assist with that request."
    for request, label in (("cheapest home in Hangzhou", "Results"), ("杭州最便宜的房子", "查询结果")):
        turns = [call("find_homes", city="Hangzhou", max_price=6_000_000), nothing, nothing, nothing]
        events = await events_of(Agent(ScriptedModel(turns), registry()), request)  # the last: in Chinese
        final = events[-1]
        assert isinstance(final, RunFinished) and final.answer.startswith(nothing)
        assert f"\n\n{label}: 2 found, top HZ-1" in final.answer, final.answer
    # a question back, or nothing looked up: let be
    for turns in (
        [call("find_homes", city="Hangzhou", max_price=6_000_000), "Which district do you prefer?"],
        ["Hello! I run errands."],
    ):
        model = ScriptedModel(turns)
        events = await events_of(Agent(model, registry()), "cheapest home in Hangzhou")
        assert not [e for e in events if isinstance(e, RevisionRequested)], turns


def test_an_answer_names_a_record_by_id_a_short_form_memo_or_name() -> None:
    from errand.agent.observations import names_a_record, records_in

    found = records_in(
        {
            "matches": 2,
            "options": [
                {"option_id": "G7-20261201-second", "price": 541},
                {"option_id": "G6-20261201-second"},
            ],
            "best": {"id": "SZ-R023", "name": "Riverside Cantonese Bistro 粤菜"},
            "transactions": [{"id": "PAY-001519", "memo": "FO-000003 Happy Japanese Garden"}],
        }
    )
    assert len(found) == 4
    for said in (
        "最早的是G7，13:20出发",
        "Riverside Cantonese Bistro, 4.8",
        "最贵的是 FO-000003",
        "pay-001519",
    ):
        assert names_a_record(said, found), said
    for said in ("深圳评分最高的粤菜馆评分4.8", "It costs 541.", "G76 leaves at 9"):
        assert not names_a_record(said, found), said
    # a record with an id of its own is the record; its parts (a product's variants) are not
    product = {"id": "P-01134", "name_zh": "Xtep 跑步鞋", "variants": [{"variant_id": "V-006705"}]}
    assert records_in(product) == [product] and names_a_record("Xtep 跑步鞋有货", [product])


async def test_a_write_of_a_row_the_user_contradicted_is_not_run() -> None:
    """dev sh-sold-out-variant: "size 38, grey" was sold out, and the 1.5B bought the white pair
    in stock. A write's id that picks a result row whose text field the user contradicted (they
    said another row's value of it, not this row's) is turned down like a refusal: no reminder
    to act again, and the answer says why."""
    bought: list[str] = []

    @tool(domain="shop")
    def get_item(item: str) -> dict[str, object]:
        """Variants of an item."""
        return {
            "variants": [
                {"variant_id": "V-1", "colour": "Grey", "size": "38", "stock": 0},
                {"variant_id": "V-2", "colour": "White", "size": "38", "stock": 3},
            ]
        }

    @tool(domain="shop", risk="write")
    def buy(variant_id: Annotated[str, FromResults("variant_id")]) -> dict[str, str]:
        """Buy a variant."""
        bought.append(variant_id)
        return {"order_id": "SO-1"}

    reg = ToolRegistry([get_item, buy])
    plan = {"topic": "shoes", "tools": ["get_item", "buy"], "verb": "buy"}
    for said, bought_now in (
        ("buy the trail shoes in grey, size 38", []),
        ("buy the white trail shoes", ["V-2"]),
    ):
        turns = [call("get_item", item="trail shoes"), call("buy", variant_id="V-2"), "Grey is sold out."]
        model = ScriptedModel(turns, structured=[plan])
        events = await events_of(Agent(model, reg, approver=approve_all), said)
        assert bought == bought_now
        bought.clear()
        assert not [e for e in events if getattr(e, "type", "") == "revision_requested"]
        final = events[-1]
        assert isinstance(final, RunFinished)
        if not bought_now:
            assert "V-2 has colour 'White', not 'Grey'" in model.requests[2][0][-1].text
            assert final.outcome == "not_done" and "Not done" in final.answer


async def test_an_answer_to_a_chinese_request_in_english_is_sent_back_once() -> None:
    """dev fd-best-sichuan-shanghai-zh, wl-u-priciest-food-week-zh: a Chinese request, "Reply in
    Chinese." in its date line, answered in English. Sent back once to be answered in Chinese,
    apart from the one revision a figure may have spent; a second English draft is kept."""
    request = "杭州最便宜的房子"
    english = "HZ-1 is the cheapest at 4,200,000."
    chinese = "最便宜的是 HZ-1，价格 4,200,000。"
    model = ScriptedModel([call("find_homes", city="Hangzhou", max_price=6_000_000), english, chinese])
    events = await events_of(Agent(model, registry()), request)
    (revision,) = [e for e in events if isinstance(e, RevisionRequested)]
    assert revision.reason == "language" and model.requests[2][0][-1].text == prompts.NOT_IN_CHINESE
    assert isinstance(events[-1], RunFinished) and events[-1].answer == chinese
    model = ScriptedModel([call("find_homes", city="Hangzhou", max_price=6_000_000), english, english])
    events = await events_of(Agent(model, registry()), request)
    assert isinstance(events[-1], RunFinished) and events[-1].answer == english
    for ask, said in (("cheapest home in Hangzhou", english), (request, chinese)):
        model = ScriptedModel([call("find_homes", city="Hangzhou", max_price=6_000_000), said])
        events = await events_of(Agent(model, registry()), ask)
        assert not [e for e in events if isinstance(e, RevisionRequested)], ask


async def test_what_the_users_own_limits_ruled_out_is_the_news_when_nothing_is_left() -> None:
    """dev fd-peanut-allergy: the menu said "Dan dan noodles 担担面: contains peanut" for a user
    allergic to peanuts, and the 1.5B asked "Do you want to order Dan dan noodles?". A search
    that found nothing, with what the user's limits ruled out, is the service's answer to the
    errand: no reminder to order, and the answer carries it unless it says it."""

    @tool(domain="food")
    def menu(restaurant_id: str) -> dict[str, object]:
        """A menu."""
        return {
            "id": restaurant_id,
            "matches": 0,
            "items": [],
            "ruled_out": ["Dan dan noodles: contains peanut"],
        }

    @tool(domain="food", risk="payment", confirm_text=lambda a: f"Order {a['item_id']}")
    def order(item_id: Annotated[str, FromResults("item_id")]) -> dict[str, str]:
        """Order a dish."""
        return {"order_id": "FO-000001"}

    plan = [{"topic": "noodles", "tools": ["menu", "order"], "verb": "order"}]
    model = ScriptedModel(
        [call("menu", restaurant_id="SH-R013"), "Do you want to order it?"], structured=plan
    )
    final = await Agent(model, ToolRegistry([menu, order]), approver=approve_all).run(
        "order dan dan noodles, no peanuts"
    )
    assert isinstance(final, RunFinished) and final.outcome == "not_done"
    assert final.answer.startswith("Do you want to order it?\n\nNot done: Dan dan noodles: contains peanut")
    said = "At SH-R013 the Dan dan noodles: contains peanut."
    model = ScriptedModel([call("menu", restaurant_id="SH-R013"), said], structured=plan)
    final = await Agent(model, ToolRegistry([menu, order]), approver=approve_all).run(
        "order dan dan noodles, no peanuts"
    )
    assert isinstance(final, RunFinished) and "Not done" not in final.answer


async def test_an_answer_echoing_only_the_users_own_words_reports_nothing() -> None:
    """dev re-u-sz-biggest-drop: "The chart file for the price trend of Shenzhen over the past
    year is provided in the response." reported nothing of the trend; "Shenzhen", the one text
    it shared with the result, was the user's own word."""

    @tool(domain="homes")
    def trend(city: str) -> dict[str, object]:
        """A city's price trend."""
        return {
            "area": city,
            "change_pct": -3.9,
            "fell_most": {"neighbourhood": "Yantian", "change_pct": -6.2},
        }

    echo = "The chart file for the price trend of Shenzhen is provided in the response."
    model = ScriptedModel([call("trend", city="Shenzhen"), echo, "Yantian fell most: -6.2%."])
    events = await events_of(Agent(model, ToolRegistry([trend])), "which part of shenzhen dropped most?")
    assert model.requests[2][0][-1].text == prompts.SAYS_NOTHING
    assert isinstance(events[-1], RunFinished) and events[-1].answer == "Yantian fell most: -6.2%."
    model = ScriptedModel([call("trend", city="Shenzhen"), "Yantian, by far."])
    events = await events_of(Agent(model, ToolRegistry([trend])), "which part of shenzhen dropped most?")
    assert not [e for e in events if isinstance(e, RevisionRequested)]


async def test_an_order_from_one_of_two_restaurants_of_the_name_asks_which() -> None:
    """dev fd-ambiguous-restaurant: an order "from Golden Beijing House" went to the first of two
    so named. The write is not run, and the next step can only ask the user which one."""

    @tool(domain="food")
    def find(city: str) -> dict[str, object]:
        """Restaurants."""
        rows = [
            {"id": "HZ-R030", "name": "Golden Beijing House", "district": "Xiaoshan"},
            {"id": "HZ-R019", "name": "Golden Beijing House", "district": "Binjiang"},
        ]
        return {"matches": 2, "results": rows}

    @tool(domain="food", risk="payment", confirm_text=lambda a: f"Order from {a['restaurant_id']}")
    def order(restaurant_id: Annotated[str, FromResults("id")]) -> dict[str, str]:
        """Order."""
        return {"order_id": "FO-000001"}

    question = "Which one: Xiaoshan or Binjiang?"
    model = ScriptedModel(
        [
            call("find", city="Hangzhou"),
            call("order", restaurant_id="HZ-R030"),
            call("ask_user", question=question),
        ]
    )
    final = await Agent(model, ToolRegistry([find, order]), approver=approve_all).run(
        "dumplings from Golden Beijing House in Hangzhou"
    )
    assert isinstance(final, RunFinished) and final.outcome == "asked" and final.answer.startswith(question)
    assert "was not run: the user named one of several" in model.requests[2][0][-1].text
    assert {s.name: s.callable for s in model.requests[2][1]} == {
        "find": False,
        "order": False,
        "ask_user": True,
    }


@tool(domain="money")
def payments() -> dict[str, object]:
    """This month's payments."""
    return {"transactions": [{"id": "PAY-000007", "memo": "BK-000003 flight to Sanya"}]}


@tool(domain="trips", risk="write", confirm_text=lambda a: f"Cancel {a['booking_id']}")
def cancel_trip(booking_id: Annotated[str, FromResults("booking_id", "id", shape=r"BK-\d{6}")]) -> str:
    """Cancel a booking.

    Args:
        booking_id: The booking.
    """
    executed.append(f"cancel_trip:{booking_id}")
    return "cancelled"


async def test_an_id_under_a_shared_key_is_no_id_of_another_shape() -> None:
    """dev wl-u-dup-food-multiturn: a payment's ``id`` (PAY-…) sat under ``id``, a key of the
    booking ids too, and was passed as a booking to cancel. Only the shape's ids count: the
    booking the memo names can be cancelled, the payment cannot."""
    executed.clear()
    model = ScriptedModel(
        [
            call("payments"),
            call("cancel_trip", booking_id="PAY-000007"),
            call("cancel_trip", booking_id="BK-000003"),
            "Cancelled BK-000003.",
        ]
    )
    agent = Agent(model, ToolRegistry([payments, cancel_trip]), approver=approve_all, choose_tools=False)
    final = await agent.run("cancel the booking I paid for this month")
    assert isinstance(final, RunFinished)
    assert "was not run: booking_id='PAY-000007' does not come from" in model.requests[2][0][-1].text
    assert executed == ["cancel_trip:BK-000003"]
    specs = {s.name: s for s in model.requests[1][1]}
    assert specs["cancel_trip"].decode_parameters["properties"]["booking_id"]["enum"] == ["BK-000003"]


async def test_the_next_message_is_offered_the_services_whose_ids_the_last_results_showed() -> None:
    """dev wl-u-dup-food-multiturn: a wallet history named FO-000002 in a payment's memo; "yes
    cancel the second one" was planned as travel, and the food service's cancel was not offered.
    The first answer was sent back once (errand's note is no new request of the user's)."""
    model = ScriptedModel(
        [call("payments"), "Sorry, I cannot help.", "Two payments: PAY-000007 for BK-000003.", "Which one?"],
        structured=[
            {"topic": "payments", "tools": ["payments"], "verb": "find_out"},
            {"topic": "a cancel", "tools": ["weather"], "verb": "cancel"},
        ],
    )
    agent, conv = Agent(model, ToolRegistry([payments, cancel_trip, find_homes, weather])), Conversation()
    await agent.run("what did I pay this month?", conversation=conv)
    assert [m.text for m in conv.messages if m.role == "user"][-1] == prompts.SAYS_NOTHING
    events = [e async for e in agent.stream("yes cancel it", conversation=conv)]
    started = next(e for e in events if isinstance(e, RunStarted))
    assert "cancel_trip" in started.tools and "find_homes" not in started.tools


async def test_the_rows_that_fit_are_told_to_the_model_and_kept_out_of_the_footer() -> None:
    """dev sh-u-exchange-bigger-powerbank-zh: "20000毫安" fit two rows and the refusal named
    neither. They are named for the model to choose from; the user's `Not done:` line says only
    why (with them, a Chinese answer's footer was a long English list)."""

    @tool(domain="shop")
    def get_item(item: str) -> dict[str, object]:
        """Variants of an item."""
        return {
            "variants": [
                {"variant_id": "V-1", "colour": "Grey", "size": "38", "stock": 0},
                {"variant_id": "V-2", "colour": "White", "size": "38", "stock": 3},
                {"variant_id": "V-3", "colour": "Black", "size": "40", "stock": 3},
            ]
        }

    @tool(domain="shop", risk="write")
    def buy(variant_id: Annotated[str, FromResults("variant_id")]) -> dict[str, str]:
        """Buy a variant."""
        return {"order_id": "SO-1"}

    plan = {"topic": "shoes", "tools": ["get_item", "buy"], "verb": "buy"}
    turns = [call("get_item", item="trail shoes"), call("buy", variant_id="V-3"), "Not in 40."]
    model = ScriptedModel(turns, structured=[plan])
    final = await Agent(model, ToolRegistry([get_item, buy]), approver=approve_all).run(
        "trail shoes, size 38"
    )
    told = model.requests[2][0][-1].text
    assert "V-3 has size '40', not '38'; these fit what the user said: V-1 (" in told and "V-2 (" in told
    assert isinstance(final, RunFinished)
    assert final.answer == "Not in 40.\n\nNot done: buy: V-3 has size '40', not '38'"
