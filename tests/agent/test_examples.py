"""The worked runs at the end of the system prompt: valid calls of the real tools, shown only
where their tools are offered."""

from __future__ import annotations

from errand.agent import Agent
from errand.agent.examples import EXAMPLES, worked_examples
from errand.llm.scripted import ScriptedModel
from errand.services import builtin_registry


def test_every_worked_call_is_a_valid_call_of_the_built_in_tool() -> None:
    """An example teaches its arguments: a renamed or dropped parameter must fail here, not in
    a run that copied it."""
    registry = builtin_registry()
    calls = [c for e in EXAMPLES for c in e.calls if c.tool != "ask_user"]
    assert {c.tool for c in calls} <= {t.name for t in registry}
    for c in calls:
        tool = registry.get(c.tool)
        assert tool is not None
        tool.validate(c.arguments)


def test_only_the_examples_of_the_offered_tools_are_shown() -> None:
    shop = worked_examples({"search_products", "get_product", "buy_product", "return_item"})
    assert '"variant_id": "V-004411"' in shop and "place_order" not in shop
    assert "search_hotels" in worked_examples({"search_hotels", "book_hotel"})  # ask_user is always offered
    assert worked_examples({"wallet_balance", "transaction_history"}) == ""


async def test_only_a_run_whose_plan_acts_is_shown_the_examples_of_its_services() -> None:
    """A question shown an order as an example answered "已下单 ..." (dev fd-u-late-night-beijing-zh)."""
    registry = builtin_registry()
    buying = ScriptedModel(
        ["Which colour?"],
        structured=[{"topic": "lamp", "tools": ["search_products", "buy_product"], "verb": "buy"}],
    )
    await Agent(buying, registry).run("buy me a desk lamp")
    system = buying.requests[0][0][0].text
    assert '"variant_id": "V-004411"' in system and "place_order" not in system
    asking = ScriptedModel(
        ["Lamps."], structured=[{"topic": "lamp", "tools": ["search_products"], "verb": "find_out"}]
    )
    await Agent(asking, registry).run("any desk lamps?")
    assert "Worked examples" not in asking.requests[0][0][0].text
    plain = ScriptedModel(
        ["Which colour?"], structured=[{"topic": "lamp", "tools": ["buy_product"], "verb": "buy"}]
    )
    await Agent(plain, registry, examples=False).run("buy me a desk lamp")
    assert "Worked examples" not in plain.requests[0][0][0].text
