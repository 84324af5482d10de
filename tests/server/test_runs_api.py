"""The runs API over the runs layer's interface (an in-memory double here; see test_replicas.py
for the real durable layer)."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2 as httpx
import pytest

from errand.llm.scripted import ScriptedModel
from tests.server.conftest import Served, ServeFactory
from tests.server.fake_runs import FakeRuns


def auth(key: str, **more: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}", **more}


def sse_events(served: Served, key: str, run_id: str, **headers: str) -> list[dict[str, Any]]:
    """Every event of the stream, parsed (``id``, ``event``, ``data``)."""
    out: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    with httpx.stream(
        "GET", f"{served.v1}/runs/{run_id}/events", headers=auth(key, **headers), timeout=10
    ) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if not line:
                if current:
                    out.append(current)
                current = {}
            elif line.startswith(("id:", "event:", "data:")):
                name, _, value = line.partition(":")
                current[name] = json.loads(value.strip()) if name == "data" else value.strip()
    return out


def wait_for(served: Served, key: str, run_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        run = httpx.get(f"{served.v1}/runs/{run_id}", headers=auth(key)).json()
        if run["status"] == status:
            return dict(run)
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} never reached {status}")


@pytest.fixture
def served(serve: ServeFactory) -> Served:
    return serve(model=ScriptedModel([]), runs=FakeRuns())


def test_create_read_list_and_stream(served: Served) -> None:
    key = served.key("alice")
    r = httpx.post(served.v1 + "/runs", headers=auth(key), json={"input": "find a flat"})
    assert r.status_code == 201
    run = r.json()
    assert run["status"] == "queued" and run["object"] == "run" and run["input"] == "find a flat"
    events = sse_events(served, key, run["id"])
    assert [e["event"] for e in events] == ["run_started", "run_finished"]
    assert [int(e["id"]) for e in events] == sorted(int(e["id"]) for e in events)
    assert events[-1]["data"]["answer"] == "Done: find a flat"
    assert httpx.get(f"{served.v1}/runs/{run['id']}", headers=auth(key)).json()["status"] == "succeeded"
    listed = httpx.get(served.v1 + "/runs", headers=auth(key)).json()
    assert [x["id"] for x in listed["data"]] == [run["id"]]
    plain = httpx.get(f"{served.v1}/runs/{run['id']}/events?stream=false", headers=auth(key)).json()
    assert [e["type"] for e in plain["data"]] == ["run_started", "run_finished"]


def test_resume_with_last_event_id(served: Served) -> None:
    key = served.key()
    run = httpx.post(served.v1 + "/runs", headers=auth(key), json={"input": "buy a kettle"}).json()
    wait_for(served, key, run["id"], "awaiting_confirmation")
    httpx.post(
        f"{served.v1}/runs/{run['id']}/approve", headers=auth(key), json={"note": "ok"}
    ).raise_for_status()
    wait_for(served, key, run["id"], "succeeded")
    everything = sse_events(served, key, run["id"])
    assert [e["event"] for e in everything] == [
        "run_started",
        "confirmation_required",
        "confirmation_resolved",
        "tool_result",
        "run_finished",
    ]
    rest = sse_events(served, key, run["id"], **{"Last-Event-ID": everything[1]["id"]})
    assert [e["id"] for e in rest] == [e["id"] for e in everything[2:]]
    bad = httpx.get(f"{served.v1}/runs/{run['id']}/events", headers=auth(key, **{"Last-Event-ID": "x"}))
    assert bad.status_code == 400
    for stream in ("true", "false"):  # past what the store can hold: a 400, not a 500 or an empty 200
        huge = httpx.get(
            f"{served.v1}/runs/{run['id']}/events?stream={stream}",
            headers=auth(key, **{"Last-Event-ID": "9223372036854775808"}),
        )
        assert huge.status_code == 400 and "Last-Event-ID" in huge.json()["error"]["message"]


def test_text_with_nul_is_a_400_on_every_text_field(served: Served) -> None:
    """PostgreSQL text cannot hold NUL: a run's input with one answered 500 there."""
    key = served.key()
    r = httpx.post(served.v1 + "/runs", headers=auth(key), json={"input": "find a flat\u0000"})
    assert r.status_code == 400 and "NUL" in r.json()["error"]["message"]
    chat = httpx.post(
        served.v1 + "/chat/completions",
        headers=auth(key),
        json={"model": "errand", "messages": [{"role": "user", "content": "hi\u0000"}]},
    )
    assert chat.status_code == 400 and "NUL" in chat.json()["error"]["message"]


def test_approve_reject_cancel(served: Served) -> None:
    key = served.key()
    a = httpx.post(served.v1 + "/runs", headers=auth(key), json={"input": "buy a kettle"}).json()
    pending = wait_for(served, key, a["id"], "awaiting_confirmation")["pending"]
    assert pending["name"] == "buy_product" and pending["amount"] == 19900
    r = httpx.post(f"{served.v1}/runs/{a['id']}/reject", headers=auth(key), json={"note": "too dear"})
    assert r.status_code == 200
    assert wait_for(served, key, a["id"], "succeeded")["answer"] == "Nothing was bought."
    again = httpx.post(f"{served.v1}/runs/{a['id']}/approve", headers=auth(key))
    assert again.status_code == 409 and again.json()["error"]["code"] == "run_conflict"
    b = httpx.post(served.v1 + "/runs", headers=auth(key), json={"input": "buy a kettle"}).json()
    wait_for(served, key, b["id"], "awaiting_confirmation")
    assert httpx.post(f"{served.v1}/runs/{b['id']}/cancel", headers=auth(key)).json()["status"] == "cancelled"
    assert httpx.post(f"{served.v1}/runs/{b['id']}/cancel", headers=auth(key)).status_code == 409


def test_runs_keep_going_when_the_watcher_leaves(served: Served) -> None:
    key = served.key()
    run = httpx.post(served.v1 + "/runs", headers=auth(key), json={"input": "buy a kettle"}).json()
    with httpx.stream("GET", f"{served.v1}/runs/{run['id']}/events", headers=auth(key)) as r:
        for line in r.iter_lines():
            if line.startswith("event: confirmation_required"):
                break
    httpx.post(f"{served.v1}/runs/{run['id']}/approve", headers=auth(key)).raise_for_status()
    assert wait_for(served, key, run["id"], "succeeded")["answer"].startswith("Bought")


def test_the_run_concurrency_limit_is_429(serve: ServeFactory) -> None:
    runs = FakeRuns(hold=True)
    s = serve(model=ScriptedModel([]), runs=runs)
    key = s.key(max_runs=1)
    assert httpx.post(s.v1 + "/runs", headers=auth(key), json={"input": "one"}).status_code == 201
    r = httpx.post(s.v1 + "/runs", headers=auth(key), json={"input": "two"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    runs.release()


def test_a_spent_budget_stops_new_runs(serve: ServeFactory) -> None:
    s = serve(model=ScriptedModel([]), runs=FakeRuns(), serve_key_cache_s=0)
    key = s.key(budget=50)
    run = httpx.post(s.v1 + "/runs", headers=auth(key), json={"input": "one"}).json()
    wait_for(s, key, run["id"], "succeeded")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the watcher charges the run's 120 tokens when it ends
        r = httpx.post(s.v1 + "/runs", headers=auth(key), json={"input": "two"})
        if r.status_code == 429:
            break
        time.sleep(0.05)
    assert r.status_code == 429 and r.json()["error"]["code"] == "insufficient_quota"


def test_validation(served: Served) -> None:
    key = served.key()
    for body in ({}, {"input": ""}, {"input": "   "}, {"input": "x", "max_steps": 0}):
        r = httpx.post(served.v1 + "/runs", headers=auth(key), json=body)
        assert r.status_code == 400, body
        assert r.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(served.v1 + "/runs/bad id!", headers=auth(key)).status_code in (400, 404)


ROUTES = [
    ("GET", "/runs/{id}", None),
    ("GET", "/runs/{id}/events", None),
    ("GET", "/runs/{id}/events?stream=false", None),
    ("POST", "/runs/{id}/approve", {"note": "mine now"}),
    ("POST", "/runs/{id}/reject", {"note": "no"}),
    ("POST", "/runs/{id}/cancel", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_another_users_run_is_404_and_unchanged(
    serve: ServeFactory, method: str, path: str, body: Any
) -> None:
    runs = FakeRuns()
    s = serve(model=ScriptedModel([]), runs=runs)
    alice, mallory = s.key("alice"), s.key("mallory")
    run = httpx.post(s.v1 + "/runs", headers=auth(alice), json={"input": "buy a kettle"}).json()
    before = wait_for(s, alice, run["id"], "awaiting_confirmation")
    calls = list(runs.calls)
    r = httpx.request(method, s.v1 + path.format(id=run["id"]), headers=auth(mallory), json=body)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    assert runs.calls == calls
    after = httpx.get(f"{s.v1}/runs/{run['id']}", headers=auth(alice)).json()
    assert after == before
    assert httpx.get(s.v1 + "/runs", headers=auth(mallory)).json()["data"] == []
    missing = httpx.request(method, s.v1 + path.format(id="run_doesnotexist"), headers=auth(alice), json=body)
    assert missing.status_code == 404  # the same answer as for someone else's run


def test_run_streams_end_when_the_server_drains(served: Served) -> None:
    """A draining replica ends run streams with a comment; the client resumes elsewhere, missing nothing."""
    key = served.key()
    run = httpx.post(served.v1 + "/runs", headers=auth(key), json={"input": "buy a kettle"}).json()
    wait_for(served, key, run["id"], "awaiting_confirmation")
    lines: list[str] = []
    with httpx.stream("GET", f"{served.v1}/runs/{run['id']}/events", headers=auth(key), timeout=10) as r:
        for line in r.iter_lines():
            lines.append(line)
            if line.startswith("event: confirmation_required"):
                served.state.health.start_draining()
    assert any(line.startswith(": server draining") for line in lines)
    assert "event: run_finished" not in lines


def test_a_keys_run_limit_holds_under_concurrent_posts(served: Served) -> None:
    """With a store that takes time to answer (a database), 50 POSTs at once could all count
    the same active runs before any was recorded: a key limited to 2 got 4."""
    runs = served.state.runs
    plain_list, plain_create = runs.list, runs.create

    async def slow_list(user: str, *, limit: int = 50) -> Any:
        await asyncio.sleep(0.01)
        return await plain_list(user, limit=limit)

    async def slow_create(user: str, input: str, **options: Any) -> Any:
        await asyncio.sleep(0.05)
        return await plain_create(user, input, **options)

    runs.list, runs.create = slow_list, slow_create
    runs.hold.clear()  # the runs stay queued: each counts against the limit
    key = served.key("carol", max_runs=2)
    try:
        with ThreadPoolExecutor(max_workers=25) as pool:
            codes = list(
                pool.map(
                    lambda _: (
                        httpx.post(
                            served.v1 + "/runs", headers=auth(key), json={"input": "buy a kettle"}, timeout=30
                        ).status_code
                    ),
                    range(50),
                )
            )
    finally:
        runs.list, runs.create = plain_list, plain_create
        runs._loop.call_soon_threadsafe(runs.hold.set)  # the server's loop, another thread
    assert codes.count(201) == 2 and codes.count(429) == 48
