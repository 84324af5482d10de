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
