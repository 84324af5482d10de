"""Threads: a conversation owns its runs, and each run starts from the earlier runs' turns."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from errand.config import Settings
from errand.errors import RunConflict, RunNotFound
from errand.llm.scripted import ScriptedModel, call
from errand.runs import Runs, RunStatus
from errand.runs.thread import PastRun, thread_history
from errand.services.travel.models import Booking
from tests.pg import postgres_schema

ASK: dict[str, Any] = {"tool": "ask_user", "arguments": {"question": "Who is flying?"}}
BOOK: dict[str, Any] = {
    "tool": "book_flight",
    "arguments": {"flight_id": "CA1101", "passengers": ["Dave Chen"], "date": "2027-01-15"},
}
BOOKED = "Booked flight CA1101 for Dave Chen."
ASK_THEN_BOOK = [ASK, BOOK, BOOKED]
"""Per conversation: a question first; once the conversation holds it, the booking; then the answer."""


def _bookings(runs: Runs, user: str) -> int:
    with runs.store.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Booking).where(Booking.user == user)) or 0)


async def _until(runs: Runs, user: str, run_id: str, status: RunStatus) -> None:
    async with asyncio.timeout(30):
        while (await runs.get(user, run_id)).status != status:
            await asyncio.sleep(0.05)


async def test_an_answer_to_the_agents_question_continues_the_thread_and_books_once(
    make_settings: Callable[..., Settings],
) -> None:
    model = ScriptedModel(
        [call("ask_user", **ASK["arguments"]), call("book_flight", **BOOK["arguments"]), BOOKED],
        per_conversation=True,
    )
    runs = await Runs.open(make_settings(ASK_THEN_BOOK), model=model)
    try:
        first = await runs.create("dave", "Book flight CA1101 on 2027-01-15.")
        done = await runs.wait("dave", first.id, timeout_s=30)
        assert done.status == RunStatus.succeeded and done.answer == "Who is flying?"
        finished = [e for e in await runs.events("dave", first.id) if e.type == "run_finished"]
        assert finished[0].data["outcome"] == "asked"
        assert first.thread_id is not None

        second = await runs.create("dave", "Dave Chen", thread_id=first.thread_id)
        assert second.thread_id == first.thread_id
        await _until(runs, "dave", second.id, RunStatus.awaiting_confirmation)
        # The answer's run saw the request and the question before the answer.
        messages = model.requests[-1][0]
        said = [(m.role, m.text.split("\n\n")[0]) for m in messages if m.role != "system"]
        assert said == [
            ("user", "Book flight CA1101 on 2027-01-15."),
            ("assistant", "Who is flying?"),
            ("user", "Dave Chen"),
        ]
        await runs.approve("dave", second.id)
        end = await runs.wait("dave", second.id, timeout_s=30)
        assert end.status == RunStatus.succeeded, end.error
        assert end.answer is not None and end.answer.startswith(BOOKED)
        assert _bookings(runs, "dave") == 1
        assert [r.id for r in await runs.thread_runs("dave", first.thread_id)] == [first.id, second.id]
        (thread,) = await runs.threads("dave")
        assert (thread.id, thread.runs, thread.title) == (
            first.thread_id,
            2,
            "Book flight CA1101 on 2027-01-15.",
        )
        assert thread.last_run_id == second.id and thread.last_status == RunStatus.succeeded
    finally:
        runs.close()


async def test_a_thread_takes_one_message_at_a_time_and_only_from_its_owner(runs: Runs) -> None:
    rec = await runs.create("dave", "Book flight CA1101 on 2027-01-15 for Dave Chen.")
    assert rec.thread_id is not None
    await _until(runs, "dave", rec.id, RunStatus.awaiting_confirmation)
    with pytest.raises(RunConflict, match="still awaiting_confirmation"):
        await runs.create("dave", "and a hotel", thread_id=rec.thread_id)
    for user, thread in (("alice", rec.thread_id), ("dave", "thr_nosuchthread")):
        with pytest.raises(RunNotFound):
            await runs.create(user, "and a hotel", thread_id=thread)
        with pytest.raises(RunNotFound):
            await runs.thread_runs(user, thread)
    assert await runs.threads("alice") == []
    other = await runs.create("dave", "find a flat")
    assert other.thread_id not in (None, rec.thread_id)
    await runs.cancel("dave", rec.id)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """errand's database on each backend: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'errand.db'}"
        return
    with postgres_schema() as url:
        yield url


async def test_two_messages_posted_to_a_thread_at_once_let_exactly_one_in(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    """Both messages pass the "has the last run ended?" check before either is stored (a
    barrier holds each until the other got there too); the database lets one in, and the
    other gets the same `RunConflict` (409) as a message sent while the run goes on."""
    runs = await Runs.open(make_settings(["Hello.", "Hello again."], database_url=database_url))
    try:
        first = await runs.create("dave", "hello")
        assert first.thread_id is not None
        assert (await runs.wait("dave", first.id, timeout_s=30)).status == RunStatus.succeeded
        both_checked = threading.Barrier(2, timeout=10)
        history = runs.log.history

        def history_once_both_checked(user: str, thread_id: str) -> Any:
            both_checked.wait()
            return history(user, thread_id)

        runs.log.history = history_once_both_checked  # type: ignore[method-assign]
        results = await asyncio.gather(
            runs.create("dave", "and again", thread_id=first.thread_id),
            runs.create("dave", "and once more", thread_id=first.thread_id),
            return_exceptions=True,
        )
        runs.log.history = history  # type: ignore[method-assign]
        made = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(made) == 1 and len(refused) == 1, results
        assert isinstance(refused[0], RunConflict), refused[0]
        turns = await runs.thread_runs("dave", first.thread_id)
        assert [r.id for r in turns] == [first.id, made[0].id]
        assert (await runs.wait("dave", made[0].id, timeout_s=30)).status == RunStatus.succeeded
        third = await runs.create("dave", "one more", thread_id=first.thread_id)  # it ended: free again
        await runs.cancel("dave", third.id)
    finally:
        runs.close()


def test_history_pairs_each_call_with_its_result_and_keeps_the_answer() -> None:
    events = [
        {"type": "run_started", "seq": 1, "input": "flights to Shanghai"},
        {"type": "text_delta", "seq": 2, "step": 1, "text": "Searching "},
        {"type": "text_delta", "seq": 3, "step": 1, "text": "now."},
        {
            "type": "tool_call",
            "seq": 4,
            "step": 1,
            "call_id": "c1",
            "name": "search_flights",
            "arguments": {"to": "SHA"},
        },
        {"type": "tool_call", "seq": 5, "step": 1, "call_id": "c2", "name": "search_trains", "arguments": {}},
        {
            "type": "tool_result",
            "seq": 6,
            "step": 1,
            "call_id": "c1",
            "name": "search_flights",
            "ok": True,
            "content": "CA1101 825 CNY",
        },
        {"type": "tool_call", "seq": 7, "step": 2, "call_id": "c3", "name": "book_flight", "arguments": {}},
        {"type": "run_finished", "seq": 8, "answer": "CA1101 is cheapest."},
    ]
    history = thread_history([PastRun("flights to Shanghai", {"today": "2027-01-10 09:00, Sunday"}, events)])
    assert [m.role for m in history] == ["user", "assistant", "tool", "assistant"]
    assert history[0].text.startswith("flights to Shanghai\n\n(Now: 2027-01-10 09:00")
    call = history[1]
    assert call.text == "Searching now." and [c.id for c in call.tool_calls] == ["c1"]  # c2, c3: no result
    assert call.tool_calls[0].arguments == {"to": "SHA"}
    assert history[2].tool_call_id == "c1" and history[2].text.startswith("CA1101 825 CNY")
    assert history[3].text == "CA1101 is cheapest."
