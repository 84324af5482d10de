"""The runs and chat routes fuzzed (schemathesis) against a real ``errand serve`` whose runs
are durable, on SQLite and on PostgreSQL: no input makes the server fail (5xx), and every
answer matches the OpenAPI description. (`test_schemathesis.py` fuzzes every route in
process, with the runs layer replaced by a fake.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.cli_process import run_errand
from tests.pg import postgres_schema
from tests.server.test_serve_cli import errand_serve


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'errand.db'}"
        return
    with postgres_schema() as url:
        yield url


def test_runs_and_chat_routes_never_fail_on_a_real_database(database_url: str, tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(["ok"] * 2000))
    env = {
        "ERRAND_DATABASE_URL": database_url,
        "ERRAND_MODEL_BACKEND": "scripted",
        "ERRAND_SCRIPT_PATH": str(script),
    }
    made = run_errand(
        tmp_path, "keys", "create", "--user", "fuzz", "--rpm", "1000000", "--max-runs", "1000000", env=env
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    with errand_serve(tmp_path, env) as (url, _):
        api = schemathesis.openapi.from_url(url + "/openapi.json")
        operations = [
            op
            for op in (result.ok() for result in api.get_all_operations())
            if op.path.startswith(("/v1/runs", "/v1/chat"))
        ]
        assert len(operations) >= 6
        failures: list[str] = []
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(
                    headers={"Authorization": f"Bearer {key}"},
                    excluded_checks=[positive_data_acceptance],
                    timeout=30,
                )

            try:
                check()
            except Exception as exc:  # every operation's failure, then all of them at once
                failures.append(f"{operation.label}: {exc}")
        assert not failures, "\n\n".join(failures)
