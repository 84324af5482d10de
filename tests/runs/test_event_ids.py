"""Event ids a user sees are numbers within the run (1, 2, 3, ...), not the table's global ids,
which would tell one user how busy the others are."""

from __future__ import annotations

from collections.abc import Callable

from errand.config import Settings
from errand.llm.scripted import ScriptedModel
from errand.runs import Runs


async def test_event_ids_are_numbers_within_the_run_not_across_users(
    make_settings: Callable[..., Settings],
) -> None:
    model = ScriptedModel(["First answer.", "Second answer."])
    runs = await Runs.open(make_settings(), model=model)
    try:
        first = await runs.create("erin", "hello")
        await runs.wait("erin", first.id, timeout_s=30)
        second = await runs.create("dave", "hello again")
        await runs.wait("dave", second.id, timeout_s=30)
        events = await runs.events("dave", second.id)
        assert [e.id for e in events] == list(range(1, len(events) + 1))  # nothing of erin's run shows
        later = await runs.events("dave", second.id, after=1)
        assert [e.id for e in later] == [e.id for e in events[1:]]
    finally:
        runs.close()
