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
    wallet = worked_examples({"wallet_balance", "transaction_history"})
    assert '"period": "this_month"' in wallet and "buy_product" not in wallet
    assert "search_hotels" in worked_examples({"search_hotels", "book_hotel"})  # ask_user is always offered
    assert worked_examples({"get_weather"}) == ""


async def test_a_run_shows_the_examples_of_the_services_the_plan_chose() -> None:
    registry = builtin_registry()
    model = ScriptedModel(
        ["You have 100 CNY."],
        structured=[{"topic": "balance", "tools": ["wallet_balance"], "verb": "find_out"}],
    )
    await Agent(model, registry).run("what is my balance")
    system = model.requests[0][0][0].text
    assert '"period": "this_month"' in system and "search_products" not in system
    plain = ScriptedModel(
        ["hi"], structured=[{"topic": "balance", "tools": ["wallet_balance"], "verb": "find_out"}]
    )
    await Agent(plain, registry, examples=False).run("what is my balance")
    assert "Worked examples" not in plain.requests[0][0][0].text
