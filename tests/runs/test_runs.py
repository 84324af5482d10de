"""Durable runs in one process: states, events, confirmations, cancellation, ownership."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from errand.config import Settings
from errand.errors import ContextLengthExceeded, RunConflict, RunInputError, RunNotFound
from errand.llm.ocr import data_url
from errand.llm.scripted import ScriptedModel
from errand.runs import Runs, RunStatus
from errand.services.travel.models import Booking
from errand.services.wallet.ledger import ledger_problems
from tests.images import text_image
from tests.runs.conftest import TRIP_ANSWER, TRIP_REQUEST, with_receipt


def _bookings(runs: Runs, user: str) -> int:
    with runs.store.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Booking).where(Booking.user == user)) or 0)


async def test_a_run_waits_for_each_confirmation_and_books_after_approval(runs: Runs) -> None:
    rec = await runs.create("dave", TRIP_REQUEST)
    assert rec.status == RunStatus.queued
    for _ in range(2):
        async with asyncio.timeout(30):
            while (await runs.get("dave", rec.id)).status != RunStatus.awaiting_confirmation:
                await asyncio.sleep(0.05)
        waiting = await runs.get("dave", rec.id)
        assert waiting.pending is not None and waiting.pending["amount"] > 0
        await runs.approve("dave", rec.id)
        async with asyncio.timeout(30):
            while (await runs.get("dave", rec.id)).status == RunStatus.awaiting_confirmation:
                await asyncio.sleep(0.05)
    done = await runs.wait("dave", rec.id, timeout_s=30)
    assert done.status == RunStatus.succeeded, done.error
    assert done.answer == with_receipt(TRIP_ANSWER, "BK-000001", "BK-000002")
    assert _bookings(runs, "dave") == 2
    events = await runs.events("dave", rec.id)
    seqs = [e.data["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert [e.type for e in events].count("confirmation_resolved") == 2
    with runs.store.sessions() as s:
        assert ledger_problems(s) == []


async def test_another_user_cannot_see_or_act_on_a_run(runs: Runs) -> None:
    rec = await runs.create("dave", TRIP_REQUEST)
    for act in (runs.get, runs.events, runs.approve, runs.reject, runs.cancel):
        with pytest.raises(RunNotFound):
            await act("alice", rec.id)
    assert await runs.list("alice") == []
    assert [r.id for r in await runs.list("dave")] == [rec.id]
    await runs.cancel("dave", rec.id)
    assert (await runs.wait("dave", rec.id, timeout_s=30)).status == RunStatus.cancelled


async def test_a_rejected_payment_charges_nothing_and_the_model_is_told(runs: Runs) -> None:
    rec = await runs.create("dave", TRIP_REQUEST)
    async with asyncio.timeout(30):
        while (await runs.get("dave", rec.id)).status != RunStatus.awaiting_confirmation:
            await asyncio.sleep(0.05)
    await runs.reject("dave", rec.id, note="too expensive")
    with pytest.raises(RunConflict):
        await runs.reject("dave", rec.id)
    async with asyncio.timeout(30):
        while (await runs.get("dave", rec.id)).status != RunStatus.awaiting_confirmation:
            await asyncio.sleep(0.05)
    await runs.cancel("dave", rec.id)
    done = await runs.wait("dave", rec.id, timeout_s=30)
    assert done.status == RunStatus.cancelled
    assert _bookings(runs, "dave") == 0
    async with asyncio.timeout(30):  # the executing workflow writes its last event after the cancel
        while (events := await runs.events("dave", rec.id))[-1].type != "run_failed":
            await asyncio.sleep(0.05)
    rejected = [e for e in events if e.type == "tool_result" and e.data["name"] == "book_flight"]
    assert rejected and not rejected[0].data["ok"] and "too expensive" in rejected[0].data["content"]
    assert events[-1].type == "run_failed" and events[-1].data["kind"] == "cancelled"


async def test_an_unanswered_confirmation_expires_and_the_run_ends_cancelled(
    make_settings: Callable[..., Settings],
) -> None:
    runs = await Runs.open(make_settings(confirmation_expiry_s=0.5))
    try:
        rec = await runs.create("dave", TRIP_REQUEST)
        done = await runs.wait("dave", rec.id, timeout_s=30)
        assert done.status == RunStatus.cancelled and "nothing was charged" in (done.error or "")
        assert _bookings(runs, "dave") == 0
        async with asyncio.timeout(30):
            while (events := await runs.events("dave", rec.id))[-1].type != "run_failed":
                await asyncio.sleep(0.05)
        assert events[-1].data["kind"] == "cancelled"
    finally:
        runs.close()


async def test_a_request_over_the_context_window_is_refused_before_it_is_queued(
    make_settings: Callable[..., Settings],
) -> None:
    runs = await Runs.open(make_settings(["never"], serve_context_window=1000))
    try:
        with pytest.raises(ContextLengthExceeded, match="maximum context length is 1000 tokens"):
            await runs.create("dave", "book a train to Hangzhou " * 400)
        assert await runs.list("dave") == []
    finally:
        runs.close()


PIXEL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


async def test_an_image_reaches_a_model_that_reads_images_and_its_text_any_other(
    make_settings: Callable[..., Settings],
) -> None:
    receipt = data_url(text_image(["Receipt FO-000123", "Total: 128.50 CNY"]))
    model = ScriptedModel(["It is a receipt."], per_conversation=True)
    runs = await Runs.open(make_settings(), model=model)
    try:
        with pytest.raises(RunInputError, match="data:image"):
            await runs.create("dave", "what does this say?", images=["file:///etc/passwd"])
        with pytest.raises(RunInputError, match="Image 1 cannot be read"):
            await runs.create("dave", "what does this say?", images=["data:image/png;base64,AAAA"])
        url = "https://example.invalid/receipt.png"
        rec = await runs.create("dave", "what does this receipt say?", images=[receipt, url])
        done = await runs.wait("dave", rec.id, timeout_s=30)
        assert done.answer == "It is a receipt."
        (messages, _), *_ = model.requests
        user = next(m for m in messages if m.role == "user")
        assert isinstance(user.content, str), "no image part for a model that reads text"
        assert "[Image 1, text read by OCR:\nReceipt FO-000123\nTotal: 128.50 CNY\n]" in user.content
        assert f"[Image 2, {url}: not read" in user.content
        assert "FO-000123" in done.input  # read once, when the run was made; stored with it
    finally:
        runs.close()
    model = ScriptedModel(["It is a receipt."], per_conversation=True)
    runs = await Runs.open(make_settings(model_accepts_images=True), model=model)
    try:
        rec = await runs.create("dave", "what does this receipt say?", images=[PIXEL])
        done = await runs.wait("dave", rec.id, timeout_s=30)
        assert done.answer == "It is a receipt." and done.input == "what does this receipt say?"
        (messages, _), *_ = model.requests
        user = next(m for m in messages if m.role == "user")
        assert isinstance(user.content, list) and any(getattr(p, "url", "") == PIXEL for p in user.content)
    finally:
        runs.close()


async def test_cancelling_a_running_run_stops_it_before_its_next_step(
    make_settings: Callable[..., Settings],
) -> None:
    runs = await Runs.open(make_settings(script_token_delay_s=0.2))
    try:
        rec = await runs.create("dave", TRIP_REQUEST, approve="all")
        async with asyncio.timeout(30):
            while (await runs.get("dave", rec.id)).status != RunStatus.running:
                await asyncio.sleep(0.02)
        await runs.cancel("dave", rec.id)  # the model is still writing its first call
        async with asyncio.timeout(30):
            while (events := await runs.events("dave", rec.id))[-1].type != "run_failed":
                await asyncio.sleep(0.05)
        assert events[-1].data["kind"] == "cancelled"
        assert "tool_result" not in [e.type for e in events]
        assert (await runs.get("dave", rec.id)).status == RunStatus.cancelled
        assert _bookings(runs, "dave") == 0
    finally:
        runs.close()


async def test_a_replayed_event_does_not_move_the_run_back(runs: Runs) -> None:
    """A recovered worker re-records the events before its crash; their state was applied then.
    Here an approval taken meanwhile must not be undone by the replayed confirmation request."""
    log = runs.log
    log.create("run_replayed", "dave", "book it", {})
    asked = {"seq": 1, "type": "confirmation_required", "run_id": "run_replayed"}
    waiting = {"status": RunStatus.awaiting_confirmation, "pending": asked}
    log.append("run_replayed", [asked], waiting)
    assert log.claim_decision("dave", "run_replayed")  # approved: running again
    log.append("run_replayed", [asked], waiting)  # the replay of seq 1
    assert log.status("run_replayed") == RunStatus.running
    again = asked | {"seq": 2}
    log.append("run_replayed", [asked, again], waiting)  # a new request among replayed ones
    assert log.status("run_replayed") == RunStatus.awaiting_confirmation
