"""The runner on the scripted model: a passing task, a failing one, a timeout, policies, patches, turns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest

from errand.agent import CallInfo
from errand.agent.confirm import ConfirmationRequest
from errand.eval import clock
from errand.eval.builtin import BuiltinEnvironment
from errand.eval.runner import RunConfig, approver_for, reference_model
from errand.eval.tasks import AutoApprove
from errand.llm.scripted import ScriptedModel, ScriptedTurn, call
from errand.llm.types import Message, ModelEvent, ModelSettings, ToolSpec
from errand.services.food.models import Order
from tests.eval.conftest import attempt, make_task

SEARCH = call("search_trains", origin="Shanghai", destination="Hangzhou", date="2026-12-05")
BOOK_G16 = call("book_train", train_id="G16-20261205-second", passengers=["Chen Jie"])

BOOKING = make_task(
    id="book-g16",
    category="errand",
    request="Book the cheapest second-class train from Shanghai to Hangzhou on 2026-12-05 for Chen Jie.",
    checks={
        "answer": [{"id": "BK-000001"}],
        "rows": [{"table": "tr_bookings", "where": {"item_id": "G16", "status": "confirmed"}, "count": 1}],
        "balances": [{"currency": "CNY", "change": -107}],
        "not_called": ["cancel_booking"],
    },
    reference=[
        {"call": "search_trains", "args": SEARCH.arguments},
        {"call": "book_train", "args": BOOK_G16.arguments},
        {"answer": "Booked G16 for Chen Jie: BK-000001, 107.00 CNY."},
    ],
)


def test_a_task_whose_checks_pass(env: BuiltinEnvironment) -> None:
    model = ScriptedModel([SEARCH, BOOK_G16, "Booked G16 at 07:50 for Chen Jie, booking BK-000001."])
    a = attempt(BOOKING, env, model)
    assert a.failure is None
    assert a.passed, [c for c in a.checks if not c.ok]
    names = [c.name for c in a.checks]
    assert "1 row(s) in tr_bookings where item_id=G16, status=confirmed" in names
    assert "local's CNY balance changes by -107" in names
    assert "ledger is sound" in names
    assert a.steps == 3 and a.tokens > 0 and a.wall_s > 0
    assert {"confirmed": True} in a.transcript
    assert a.answers == ["Booked G16 at 07:50 for Chen Jie, booking BK-000001."]


def test_a_draft_sent_back_is_in_the_transcript_with_why(env: BuiltinEnvironment) -> None:
    """A failure's transcript shows the withdrawn draft, not only that one was withdrawn."""
    model = ScriptedModel(
        [SEARCH, "The chart file is provided in the response.", BOOK_G16, "Booked BK-000001."]
    )
    a = attempt(BOOKING, env, model)
    (sent_back,) = [t for t in a.transcript if "draft" in t]
    assert sent_back == {
        "reminded": "nameless",
        "draft": "The chart file is provided in the response.",
    }


def test_a_reasoning_models_thinking_is_counted_per_attempt(env: BuiltinEnvironment) -> None:
    model = ScriptedModel(
        [
            ScriptedTurn(reasoning="the cheapest is G16", tool_calls=[SEARCH]),
            ScriptedTurn(reasoning="book it", tool_calls=[BOOK_G16]),
            ScriptedTurn(reasoning="say so", text="Booked G16 at 07:50 for Chen Jie, booking BK-000001."),
        ]
    )
    a = attempt(BOOKING, env, model)
    assert a.passed and a.reasoning_tokens == 4 + 2 + 2
    assert a.to_json()["reasoning_tokens"] == 8 and a.completion_tokens > a.reasoning_tokens


def test_a_task_whose_checks_fail(env: BuiltinEnvironment) -> None:
    # The "agent" books a dearer train, then cancels it: a finished run that graded badly.
    model = ScriptedModel(
        [
            SEARCH,
            call("book_train", train_id="G14-20261205-second", passengers=["Chen Jie"]),
            call("cancel_booking", booking_id="BK-000001"),
            "Booked G14 for you.",
        ]
    )
    a = attempt(BOOKING, env, model)
    assert a.failure is None  # the run finished; the grading failed it
    assert not a.passed
    failed = {c.name: c.detail for c in a.failed_checks}
    # the refund's receipt names the booking it cancelled: "Reference: PAY-... (BK-000001)"
    assert "answer states id 'BK-000001'" not in failed and "(BK-000001)" in a.answers[-1]
    assert failed["1 row(s) in tr_bookings where item_id=G16, status=confirmed"] == "found 0"
    assert "local's CNY balance changes by -107" in failed
    assert failed["cancel_booking not called"] == "called 1 time(s)"
    assert "ledger is sound" not in failed


class SlowModel(ScriptedModel):
    """Thinks for longer than any attempt may take."""

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings
    ) -> AsyncIterator[ModelEvent]:
        await asyncio.sleep(30)
        async for ev in super().stream(messages, tools, settings):
            yield ev


def test_an_attempt_that_times_out(env: BuiltinEnvironment) -> None:
    a = attempt(BOOKING, env, SlowModel(["never played"]), timeout_s=0.5)
    assert not a.passed
    assert a.failure == "timed out after 0.5 s"
    assert a.wall_s < 10
    assert a.transcript[-1] == {"failed": "timeout"}
    # the world was still graded: nothing was booked
    assert any(c.name.startswith("1 row(s) in tr_bookings") and not c.ok for c in a.checks)


def test_a_run_that_fails_is_a_failed_attempt(env: BuiltinEnvironment) -> None:
    task = BOOKING.model_copy(update={"confirm": "none"})  # nobody to approve the payment
    a = attempt(task, env, ScriptedModel([SEARCH, BOOK_G16]))
    assert not a.passed
    assert a.failure is not None and a.failure.startswith("run failed (confirmation_required)")


def test_a_rejected_payment_books_nothing(env: BuiltinEnvironment) -> None:
    task = make_task(
        request=BOOKING.request,
        confirm="reject",
        checks={"rows": [{"table": "tr_bookings", "count": 0}], "money_moved": False},
    )
    a = attempt(
        task, env, ScriptedModel([SEARCH, BOOK_G16, "You did not approve it, so nothing was booked."])
    )
    assert a.passed, a.failed_checks
    assert {"confirmed": False, "note": "Rejected by policy."} in a.transcript


async def test_auto_approval_follows_the_amount() -> None:
    policy = approver_for(AutoApprove(auto_approve_below="200 CNY"))
    assert policy is not None

    def req(amount: int) -> ConfirmationRequest:
        return ConfirmationRequest(
            run_id="r",
            call_id="c",
            name="book_train",
            risk="payment",
            summary="",
            arguments={},
            amount=amount,
            currency="CNY",
        )

    assert (await policy(req(10_700))).approved
    assert not (await policy(req(208_000))).approved
    assert approver_for("none") is None


def test_patches_set_balances_rows_and_history(env: BuiltinEnvironment) -> None:
    task = make_task(
        request="How much money is in my wallet in CNY?",
        domain="wallet",
        state={
            "patch": [
                {"balance": {"user": "local", "currency": "CNY", "amount": 200}},
                {
                    "update": {
                        "table": "tr_fares",
                        "where": {"service_id": "G16", "day": "2026-12-05", "cabin": "second"},
                        "values": {"seats_left": 3},
                    }
                },
                {
                    "call": {
                        "tool": "book_train",
                        "args": {"train_id": "G16-20261205-second", "passengers": ["Li Wei"]},
                        "at": "2026-11-20T10:00:00+08:00",
                    }
                },
            ]
        },
        checks={
            "answer": [{"number": 93}],
            "rows": [
                {
                    "table": "tr_fares",
                    "where": {"service_id": "G16", "day": "2026-12-05", "cabin": "second", "seats_left": 2},
                    "count": 1,
                },
                {"table": "tr_bookings", "where": {"created_at": {"lt": "2026-11-21T00:00:00"}}, "count": 1},
                {"table": "wallet_transactions", "where": {"user": "local"}, "new": True, "count": 0},
            ],
            "balances": [{"currency": "CNY", "equals": 93}],
        },
    )
    model = ScriptedModel([call("wallet_balance", currency="CNY"), "You have 93.00 CNY."])
    a = attempt(task, env, model)
    assert a.passed, a.failed_checks


def test_a_patch_that_matches_nothing_fails_the_attempt(env: BuiltinEnvironment) -> None:
    task = make_task(
        state={
            "patch": [
                {"update": {"table": "sh_variants", "where": {"id": "V-999999"}, "values": {"stock": 0}}}
            ]
        }
    )
    a = attempt(task, env, ScriptedModel(["unused"]))
    assert not a.passed
    assert a.failure is not None and "matched no row" in a.failure


def test_replies_are_sent_one_per_answer(env: BuiltinEnvironment) -> None:
    task = make_task(
        request="Book the cheapest second-class train from Shanghai to Hangzhou on 2026-12-05.",
        replies=["Chen Jie, G16-20261205-second please."],
        checks={
            "answer": [{"asks": True}],
            "rows": [{"table": "tr_bookings", "where": {"names": "Chen Jie"}, "count": 1}],
        },
        reference=[{"answer": "Who is travelling?"}, {"answer": "Booked."}],
    )
    model = ScriptedModel(
        [SEARCH, "G16 is cheapest. Who is travelling?", BOOK_G16, "Booked G16 for Chen Jie."]
    )
    a = attempt(task, env, model)
    assert a.passed, a.failed_checks
    users = [e["user"] for e in a.transcript if "user" in e]
    assert users == [task.request, "Chen Jie, G16-20261205-second please."]
    assert len(a.answers) == 2


def test_a_replay_refuses_a_fact_no_tool_returned(env: BuiltinEnvironment) -> None:
    task = make_task(
        request="Which is the cheapest train from Shanghai to Hangzhou on 2026-12-05?",
        checks={"answer": [{"id": "G99"}]},  # typed by hand: no such train
        reference=[{"call": "search_trains", "args": SEARCH.arguments}, {"answer": "Take G99."}],
    )
    a = attempt(task, env, reference_model(task), replay=True)
    assert not a.passed
    assert [c.name for c in a.failed_checks] == ["'G99' comes from a tool result"]
    graded_as_model = attempt(task, env, reference_model(task))
    assert graded_as_model.passed  # outside a replay nobody asks where a fact came from


def test_an_attempts_tools_read_the_frozen_clock_and_a_setup_call_its_own(
    env: BuiltinEnvironment, tmp_path: Path
) -> None:
    """Every tool context of an attempt reads the suite's moment, whatever the machine's clock says;
    a setup call reads its own ``at`` (an order placed earlier that morning), and only it does."""
    placed = datetime(2026, 11, 29, 10, 30)  # no zone: the cities' wall-clock time
    order = {
        "restaurant_id": "HZ-R005",
        "items": [{"item_id": 50, "quantity": 1}, {"item_id": 61, "quantity": 2}],
        "address": "88 Wensan Road, Xihu, Hangzhou",
        "deliver_at": "19:00",
    }
    task = make_task(
        domain="food", state={"patch": [{"call": {"tool": "place_order", "args": order, "at": placed}}]}
    )
    world = env.open(task, tmp_path, clock.Frozen())
    try:
        world.setup()
        info = CallInfo(
            run_id="r", user=task.user, step=1, call_id="c", name="order_status", idempotency_key="k"
        )
        with world.context(info) as ctx:
            assert ctx.now() == clock.EVAL_NOW
            status = env.registry.get("order_status")
            assert status is not None
            assert status.fn(ctx, order_id="FO-000001")["status"] == "placed"  # 19:00 is hours away at noon
            o = ctx.session.get_one(Order, 1)
            assert o.placed_at == placed
    finally:
        world.close()
    with pytest.raises(ValueError, match="aware"):
        RunConfig(now=datetime(2026, 11, 29))


def test_an_attempt_is_traced_like_any_run(env: BuiltinEnvironment) -> None:
    """The eval builds its agent where every front end does (`runtime.agent_over`), so an
    attempt's run is one span tree with its tool calls, like a run from the API."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from errand.telemetry.trace import use_tracer_provider

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    use_tracer_provider(provider)
    try:
        model = ScriptedModel([SEARCH, BOOK_G16, "Booked G16 at 07:50 for Chen Jie, booking BK-000001."])
        assert attempt(BOOKING, env, model).passed
    finally:
        use_tracer_provider(None)
        provider.shutdown()
    names = [s.name for s in exporter.get_finished_spans()]
    assert any("search_trains" in n for n in names) and any("book_train" in n for n in names), names
