"""Two errand deployments in two schemas of one PostgreSQL database keep their runs apart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from errand.config import Settings
from errand.runs import Runs, RunStatus
from errand.runs.service import system_schema
from tests.pg import postgres_schema
from tests.runs.conftest import write_script


async def test_a_deployment_in_another_schema_never_takes_this_ones_queued_run(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """DBOS's queue is a table: were it shared, the other deployment's executor would take this
    one's queued run (oldest first) and run it against its own database."""
    with postgres_schema() as mine, postgres_schema() as theirs:
        (tmp_path / "mine").mkdir()
        (tmp_path / "theirs").mkdir()
        here = make_settings(
            database_url=mine, home=tmp_path / "mine", script_path=write_script(tmp_path / "mine", ["Mine."])
        )
        there = make_settings(
            database_url=theirs,
            home=tmp_path / "theirs",
            script_path=write_script(tmp_path / "theirs", ["Theirs."]),
        )
        assert system_schema(here) != system_schema(there)
        client = await Runs.open(here, execute=False)
        try:
            waiting = await client.create("dave", "hello")
        finally:
            client.close()
        other = await Runs.open(there)
        try:
            own = await other.create("dave", "hello")
            assert (await other.wait("dave", own.id, timeout_s=30)).answer == "Theirs."
        finally:
            await other.aclose()
        runs = await Runs.open(here)
        try:
            done = await runs.wait("dave", waiting.id, timeout_s=30)
            assert (done.status, done.answer) == (RunStatus.succeeded, "Mine.")
        finally:
            await runs.aclose()


def test_the_default_schema_keeps_dbos_tables_where_they_were(make_settings: Callable[..., Settings]) -> None:
    """Deployments from before keep their queue: no search path, or ``public``, means ``dbos``."""
    base = "postgresql://postgres@127.0.0.1:5432/test"
    assert system_schema(make_settings(database_url=base)) == "dbos"
    assert system_schema(make_settings(database_url=base + "?options=-csearch_path%3Dpublic")) == "dbos"
    assert system_schema(make_settings(database_url=base + "?options=-c%20search_path%3Dshop")) == "shop_dbos"
