"""Editable approvals: a person changes an `Editable` argument, sees the call priced again,
and only the call they approved as it stands runs."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

from errand.agent import Agent, Decision
from errand.agent.confirm import ConfirmationRequest, edits
from errand.agent.events import ConfirmationRequired, ConfirmationResolved, Event, ToolResultEvent
from errand.errors import EditRefused
from errand.llm.scripted import ScriptedModel, call
from errand.tools import Editable, FromResults, FromUser, ToolContext, ToolRegistry, tool

FARE = 350_00
booked: list[tuple[str, list[str]]] = []


def _quote(args: dict[str, Any], ctx: ToolContext) -> str:
    total = FARE * len(args["passengers"])
    ctx.quote = (total, "CNY")
    return f"Book {args['train_id']} for {', '.join(args['passengers'])}: pay {total / 100:.2f} CNY"


@tool(risk="payment", confirm_text=_quote)
def book_seats(
    train_id: Annotated[str, FromResults("train_id")],
    passengers: Annotated[list[str], FromUser("the passengers' names"), Editable()],
) -> dict[str, Any]:
    """Book train seats.

    Args:
        train_id: The train.
        passengers: Full name of each passenger.
    """
    booked.append((train_id, passengers))
    return {"booking": "BK-000001", "train_id": train_id, "seats": len(passengers)}


@pytest.fixture(autouse=True)
def _clear() -> None:
    booked.clear()


REQUEST = "Book train G16 for Li Wei and Wang Fang."


async def _run(answers: list[Decision]) -> tuple[list[Event], list[ConfirmationRequest]]:
    asked: list[ConfirmationRequest] = []

    async def person(request: ConfirmationRequest) -> Decision:
        asked.append(request)
        return answers[len(asked) - 1]

    model = ScriptedModel(
        [call("book_seats", train_id="G16", passengers=["Li Wei", "Wang Fang"]), "Booked one seat."]
    )
    events = [ev async for ev in Agent(model, ToolRegistry([book_seats]), approver=person).stream(REQUEST)]
    return events, asked


async def test_two_passengers_edited_to_one_are_priced_again_asked_again_and_booked_once() -> None:
    events, asked = await _run(
        [Decision(approved=True, arguments={"passengers": ["Li Wei"]}, by="dave"), Decision(approved=True)]
    )
    required = [e for e in events if isinstance(e, ConfirmationRequired)]
    resolved = [e for e in events if isinstance(e, ConfirmationResolved)]
    assert [(r.amount, r.arguments["passengers"]) for r in required] == [
        (2 * FARE, ["Li Wei", "Wang Fang"]),
        (FARE, ["Li Wei"]),
    ]
    assert required[0].editable == {"passengers": book_seats.editable["passengers"]}
    assert required[1].call_id == required[0].call_id and "pay 350.00 CNY" in required[1].summary
    assert [(r.approved, r.edited, r.by) for r in resolved] == [
        (True, {"passengers": ["Li Wei"]}, "dave"),
        (True, {}, ""),
    ]
    assert [a.amount for a in asked] == [2 * FARE, FARE]  # the person saw the new price
    assert booked == [("G16", ["Li Wei"])]  # one seat, once, after the second yes
    (result,) = [e for e in events if isinstance(e, ToolResultEvent)]
    assert result.ok and '"seats":1' in result.content


async def test_the_changed_call_can_still_be_rejected_and_nothing_runs() -> None:
    events, _ = await _run(
        [Decision(approved=True, arguments={"passengers": ["Li Wei"]}), Decision(approved=False, note="no")]
    )
    assert booked == []
    assert [e.approved for e in events if isinstance(e, ConfirmationResolved)] == [True, False]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"train_id": "G18"}, "train_id cannot be changed at this confirmation (editable: passengers)"),
        ({"passengers": "Li Wei"}, "passengers: 'Li Wei' is not of type 'array'"),
    ],
)
async def test_a_change_the_tool_does_not_allow_is_refused_and_nothing_runs(
    change: dict[str, Any], says: str
) -> None:
    events, asked = await _run([Decision(approved=True, arguments=change)])
    assert booked == [] and len(asked) == 1
    (resolved,) = [e for e in events if isinstance(e, ConfirmationResolved)]
    assert not resolved.approved and says in resolved.note and resolved.edited == {}
    (result,) = [e for e in events if isinstance(e, ToolResultEvent)]
    assert not result.ok and says in result.content  # the model is told why


def test_a_form_sent_back_whole_changes_only_what_differs() -> None:
    arguments = {"train_id": "G16", "passengers": ["Li Wei", "Wang Fang"]}
    same = edits(arguments, book_seats.editable, {"train_id": "G16", "passengers": ["Li Wei"]})
    assert same == {"passengers": ["Li Wei"]}
    assert edits(arguments, book_seats.editable, arguments) == {}
    with pytest.raises(EditRefused, match=r"^train_id cannot be changed"):
        edits(arguments, book_seats.editable, {"train_id": "G18"})


def test_editable_is_declared_on_the_parameter_and_shown_with_its_schema() -> None:
    @tool(risk="write")
    def order(item_id: str, quantity: Annotated[int, Editable()] = 1) -> str:
        """Order an item."""
        return "ok"

    assert order.editable == {"quantity": {"default": 1, "type": "integer"}}
    assert order.provenance == {}
    with pytest.raises(EditRefused, match=r"^quantity: must be 1 or more \(got 0\)\.$"):
        edits({"item_id": "A", "quantity": 2}, order.editable, {"quantity": 0})
