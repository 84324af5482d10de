"""A request that names a record by id is offered the service that owns it, whatever the plan said."""

from __future__ import annotations

from typing import Annotated

from errand.agent import Agent
from errand.agent.plan import named_services
from errand.eval.catalog import load_suite
from errand.llm.scripted import ScriptedModel
from errand.services import builtin_registry
from errand.tools import ToolRegistry, tool
from errand.tools.provenance import FromResults


@tool(domain="homes")
def get_home(listing_id: Annotated[str, FromResults("id", shape=r"[A-Z]{2}-\d{5}")]) -> str:
    """A home's details."""
    return listing_id


@tool(domain="trips")
def find_trains(city: str) -> str:
    """Trains to a city."""
    return city


async def test_an_id_of_a_services_shape_brings_that_service_whatever_the_plan_said() -> None:
    plan = {"topic": "trip", "services": ["trips"], "tools": ["find_trains"], "verb": "book"}
    model = ScriptedModel(["ok"], structured=[plan])
    await Agent(model, ToolRegistry([get_home, find_trains])).run("下周六想去看看cd-00453，帮我约一下")
    assert [t.name for t in model.requests[0][1]] == ["get_home", "find_trains", "ask_user"]
    # no id of that shape: the plan alone decides
    model = ScriptedModel(["ok"], structured=[plan])
    await Agent(model, ToolRegistry([get_home, find_trains])).run(
        "train to Hangzhou on 2026-12-05, 3-bedroom"
    )
    assert [t.name for t in model.requests[0][1]] == ["find_trains", "ask_user"]


def test_the_built_in_id_shapes_fit_the_ids_the_reference_solutions_use() -> None:
    """Every id a reference call passes to a parameter with a declared shape has that shape,
    and names that tool's service: the shapes are the services' real ids."""
    registry = builtin_registry()
    checked = 0
    for task in load_suite("builtin").tasks:
        for step in task.reference:
            t = registry.get(step.call) if step.call else None
            if t is None:
                continue
            for name, source in t.provenance.items():
                value = step.args.get(name)
                if isinstance(source, FromResults) and source.shape and isinstance(value, str):
                    assert source.fits(value), (task.id, t.name, name, value)
                    assert t.domain in named_services(f"about {value}", registry), (task.id, value)
                    checked += 1
    assert checked > 50


def test_the_plan_shows_worked_examples_only_for_tools_it_offers() -> None:
    from errand.agent.plan import plan_prompt
    from errand.services import builtin_domains

    builtin = plan_prompt(builtin_registry(), {d.name: d.description for d in builtin_domains()})
    assert "Examples:" in builtin and '"tools": ["price_trend"]' in builtin
    other = plan_prompt(ToolRegistry([get_home, find_trains]), {})
    assert "Examples:" not in other and "price_trend" not in other


@tool(domain="homes", risk="write")
def book_home(listing_id: Annotated[str, FromResults("id", shape=r"[A-Z]{2}-\d{5}")]) -> str:
    """Book a viewing."""
    return f"booked {listing_id}"


@tool(domain="homes")
def find_homes(city: str) -> dict[str, list[dict[str, str]]]:
    """Homes in a city."""
    return {"results": [{"id": "HZ-00446"}, {"id": "HZ-00042"}]}


async def test_a_write_acts_on_the_record_the_user_named_not_another_a_search_returned() -> None:
    """dev fd-closed-now: "Order Dongpo pork from ... (HZ-R005)" was searched, and the order went to
    the search's top restaurant, HZ-R034. Where the user typed ids of a write's shape, the write
    takes only those; a read still takes any id found."""
    from errand.llm.scripted import call

    model = ScriptedModel(
        [call("find_homes", city="Hangzhou"), call("book_home", listing_id="HZ-00446"), "ok"]
    )
    events = [
        e
        async for e in Agent(model, ToolRegistry([find_homes, book_home])).stream(
            "book a viewing of hz-00042"
        )
    ]
    refused = [e for e in events if getattr(e, "type", "") == "tool_result" and not e.ok]  # type: ignore[attr-defined]
    assert refused and "HZ-00446" in refused[0].content  # type: ignore[attr-defined]
    spec = next(s for s in model.requests[1][1] if s.name == "book_home")
    assert spec.decode_parameters is not None  # the grammar can write only the named one
    assert {i.upper() for i in spec.decode_parameters["properties"]["listing_id"]["enum"]} == {"HZ-00042"}
    # nothing of that shape typed: a found id is fine
    model = ScriptedModel(
        [call("find_homes", city="Hangzhou"), call("book_home", listing_id="HZ-00446"), "ok"]
    )
    events = [
        e async for e in Agent(model, ToolRegistry([find_homes, book_home])).stream("book the first home")
    ]
    assert all(e.ok for e in events if getattr(e, "type", "") == "tool_result")  # type: ignore[attr-defined]


def test_no_reference_solution_writes_on_another_record_than_the_one_its_request_named() -> None:
    """The rule above, held against every built-in task's reference: a write whose shaped id
    parameter has ids of that shape in the request uses one of them."""
    from errand.tools.provenance import ids_in_text

    registry = builtin_registry()
    checked = 0
    for task in load_suite("builtin").tasks:
        typed = {i.upper() for i in ids_in_text(" ".join([task.request, *task.replies]))}
        for step in task.reference:
            t = registry.get(step.call) if step.call else None
            if t is None or t.risk == "read":
                continue
            for name, source in t.provenance.items():
                value = step.args.get(name)
                named = {i for i in typed if source.fits(i)} if isinstance(source, FromResults) else set()
                if named and source.typed and isinstance(value, str):
                    assert value.upper() in named, (task.id, t.name, value)
                    checked += 1
    assert checked > 5


async def test_a_request_naming_a_record_starts_by_reading_it() -> None:
    """dev fd-u-min-order-sh-r040: "SH-R040 min order?" was searched across Shanghai; dev
    fd-sold-out-dish: HZ-R019's dish was looked for on another restaurant's menu. The first
    step of a request that names a record can call only the lookups of such records, with
    that id, not ask_user (dev sh-u-cancel-shipped-zh asked whether to cancel an order that
    had shipped); a request that names none is free."""
    from errand.agent.loop import record_readers

    assert record_readers(ToolRegistry([get_home, find_homes, book_home]), {"cd-00453"}) == {"get_home"}
    assert record_readers(ToolRegistry([get_home, find_homes]), {"3-bedroom"}) == set()
    model = ScriptedModel(["ok"])
    await Agent(model, ToolRegistry([get_home, find_homes])).run("is cd-00453 still for sale?")
    callable_ = {s.name: s.callable for s in model.requests[0][1]}
    assert callable_ == {"get_home": True, "find_homes": False, "ask_user": False}
    model = ScriptedModel(["ok"])
    await Agent(model, ToolRegistry([get_home, find_homes])).run("homes in Hangzhou")
    assert all(s.callable for s in model.requests[0][1] if s.name != "get_home")
