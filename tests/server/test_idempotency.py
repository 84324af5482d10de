"""Idempotency-Key with Stripe's meaning, on chat completions and runs."""

from __future__ import annotations

import threading

import httpx2 as httpx

from errand.llm.scripted import ScriptedModel
from tests.server.conftest import ServeFactory
from tests.server.fake_runs import FakeRuns
from tests.server.models import SlowModel

BODY = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}]}


def test_same_key_and_body_replays_the_first_response(serve: ServeFactory) -> None:
    model = ScriptedModel(["first answer", "second answer"])
    s = serve(model=model)
    headers = {"authorization": f"Bearer {s.key()}", "Idempotency-Key": "k-1"}
    first = httpx.post(s.v1 + "/chat/completions", headers=headers, json=BODY)
    again = httpx.post(s.v1 + "/chat/completions", headers=headers, json=BODY)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert model.remaining == 1  # the model ran once


def test_same_key_other_body_is_422(serve: ServeFactory) -> None:
    s = serve(model=ScriptedModel(["a", "b"]))
    headers = {"authorization": f"Bearer {s.key()}", "Idempotency-Key": "k-2"}
    assert httpx.post(s.v1 + "/chat/completions", headers=headers, json=BODY).status_code == 200
    other = {**BODY, "messages": [{"role": "user", "content": "something else"}]}
    r = httpx.post(s.v1 + "/chat/completions", headers=headers, json=other)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "idempotency_key_reused"


def test_same_key_in_flight_is_409(serve: ServeFactory) -> None:
    model = SlowModel(words=10, delay_s=0.1)
    s = serve(model=model)
    headers = {"authorization": f"Bearer {s.key()}", "Idempotency-Key": "k-3"}
    body = {"model": "slow", "messages": [{"role": "user", "content": "x"}]}
    results: list[httpx.Response] = []
    t = threading.Thread(
        target=lambda: results.append(
            httpx.post(s.v1 + "/chat/completions", headers=headers, json=body, timeout=30)
        )
    )
    t.start()
    assert model.started.wait(10)
    r = httpx.post(s.v1 + "/chat/completions", headers=headers, json=body)
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_key_in_use"
    t.join(30)
    assert results[0].status_code == 200
    replay = httpx.post(s.v1 + "/chat/completions", headers=headers, json=body)
    assert replay.headers["idempotent-replayed"] == "true" and replay.json() == results[0].json()


def test_a_streamed_answer_is_replayed_whole(serve: ServeFactory) -> None:
    s = serve(model=ScriptedModel(["streamed words here"]))
    headers = {"authorization": f"Bearer {s.key()}", "Idempotency-Key": "k-4"}
    body = {**BODY, "stream": True}
    first = httpx.post(s.v1 + "/chat/completions", headers=headers, json=body)
    again = httpx.post(s.v1 + "/chat/completions", headers=headers, json=body)
    assert again.headers["content-type"].startswith("text/event-stream")
    assert again.text == first.text and again.text.rstrip().endswith("data: [DONE]")


def test_keys_belong_to_users_and_failures_are_not_kept(serve: ServeFactory) -> None:
    s = serve(model=ScriptedModel(["for alice", "for bob"]), n_ctx=256)
    alice = {"authorization": f"Bearer {s.key('alice')}", "Idempotency-Key": "shared"}
    bob = {"authorization": f"Bearer {s.key('bob')}", "Idempotency-Key": "shared"}
    assert (
        httpx.post(s.v1 + "/chat/completions", headers=alice, json=BODY).json()["choices"][0]["message"][
            "content"
        ]
        == "for alice"
    )
    assert (
        httpx.post(s.v1 + "/chat/completions", headers=bob, json=BODY).json()["choices"][0]["message"][
            "content"
        ]
        == "for bob"
    )
    # a refused request (400 here is kept, as Stripe keeps it) vs a server failure, which frees the key
    carol = {"authorization": f"Bearer {s.key('carol')}", "Idempotency-Key": "k-5"}
    r = httpx.post(s.v1 + "/chat/completions", headers=carol, json=BODY)
    assert r.status_code == 502  # the script is spent: a backend failure
    r = httpx.post(s.v1 + "/chat/completions", headers=carol, json={**BODY, "model": "errand"})
    assert r.status_code != 422, "a failed first request must leave its key free"


def test_runs_take_an_idempotency_key(serve: ServeFactory) -> None:
    runs = FakeRuns()
    s = serve(model=ScriptedModel([]), runs=runs)
    headers = {"authorization": f"Bearer {s.key()}", "Idempotency-Key": "run-1"}
    first = httpx.post(s.v1 + "/runs", headers=headers, json={"input": "plan a trip"})
    again = httpx.post(s.v1 + "/runs", headers=headers, json={"input": "plan a trip"})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert len(runs.records) == 1
    assert httpx.post(s.v1 + "/runs", headers=headers, json={"input": "other"}).status_code == 422
