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
    calls = [c for e in EXAMPLES for c in e.calls]
    assert {c.tool for c in calls} <= {t.name for t in registry}
    for c in calls:
        tool = registry.get(c.tool)
        assert tool is not None
        tool.validate(c.arguments)


def test_only_the_examples_of_the_offered_tools_are_shown() -> None:
    food = worked_examples({"search_restaurants", "get_menu", "place_order", "order_status"})
    assert '"dishes": ["宫保鸡丁一份", "米饭两碗"]' in food
    assert worked_examples({"search_restaurants", "get_menu"}) == ""  # place_order not offered
    assert worked_examples({"wallet_balance", "transaction_history"}) == ""


async def test_only_a_run_whose_plan_acts_is_shown_the_examples_of_its_services() -> None:
    """A question shown an order as an example answered "已下单 ..." (dev fd-u-late-night-beijing-zh)."""
    registry = builtin_registry()
    ordering = ScriptedModel(
        ["Which dishes?"],
        structured=[{"topic": "noodles", "tools": ["search_restaurants", "place_order"], "verb": "order"}],
    )
    await Agent(ordering, registry).run("order me some noodles")
    system = ordering.requests[0][0][0].text
    assert '"name": "place_order"' in system and "transaction_history" not in system
    asking = ScriptedModel(
        ["Noodles."], structured=[{"topic": "noodles", "tools": ["search_restaurants"], "verb": "find_out"}]
    )
    await Agent(asking, registry).run("any noodle places?")
    assert "Worked examples" not in asking.requests[0][0][0].text
    plain = ScriptedModel(
        ["Which dishes?"], structured=[{"topic": "noodles", "tools": ["place_order"], "verb": "order"}]
    )
    await Agent(plain, registry, examples=False).run("order me some noodles")
    assert "Worked examples" not in plain.requests[0][0][0].text
