"""Property-based tests of the whole API from its own OpenAPI description (schemathesis):
with a valid key, no input makes the server fail (5xx), and every answer matches the schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from errand.config import Settings
from errand.llm.scripted import ScriptedModel
from errand.server.app import create_app
from errand.services.store import ServiceStore
from tests.server.conftest import Served, serve_app
from tests.server.fake_runs import FakeRuns


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, seeded_db: Path) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("schemathesis")
    (home / "errand.db").write_bytes(seeded_db.read_bytes())
    s = Settings(home=home, serve_max_queue_wait_s=30)
    store = ServiceStore.open(s.resolved_database_url(), seed=False)
    app = create_app(s, model=ScriptedModel(["ok"] * 50_000), runs=FakeRuns(), store=store, open_runs=False)
    with serve_app(app) as server:
        yield server
    store.close()


@pytest.fixture(scope="module")
def api_key(served: Served) -> str:
    return served.key("schemathesis", rpm=1_000_000, max_runs=1_000_000)


def test_every_operation(served: Served, api_key: str) -> None:
    """Each operation, 30 generated requests (valid and invalid), all default checks but
    "schema-valid data is accepted": some rules cannot be told in JSON schema (a tool message
    names its call, the context window), and those requests are rightly a 400."""
    api = schemathesis.openapi.from_url(served.url + "/openapi.json")
    headers = {"Authorization": f"Bearer {api_key}"}
    failures: list[str] = []
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance], timeout=30)

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
