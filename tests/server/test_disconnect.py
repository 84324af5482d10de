"""A client that leaves stops the model, streamed or not; a run of the agent goes on."""

from __future__ import annotations

import time

import httpx2 as httpx
import pytest

from tests.server.conftest import ServeFactory
from tests.server.models import SlowModel


def test_leaving_a_stream_cancels_generation(serve: ServeFactory) -> None:
    model = SlowModel(words=200, delay_s=0.02)
    s = serve(model=model)
    with httpx.stream(
        "POST",
        s.v1 + "/chat/completions",
        headers={"authorization": f"Bearer {s.key()}"},
        json={"model": "slow", "messages": [{"role": "user", "content": "x"}], "stream": True},
    ) as r:
        for line in r.iter_lines():
            if "w2" in line:
                break
    assert model.stopped_early.wait(5), "the model kept generating after the client left"
    assert model.produced < 200 and model.finished == 0


def test_leaving_a_plain_request_cancels_generation(serve: ServeFactory) -> None:
    model = SlowModel(words=200, delay_s=0.02)
    s = serve(model=model)
    with pytest.raises(httpx.TimeoutException):
        httpx.post(
            s.v1 + "/chat/completions",
            headers={"authorization": f"Bearer {s.key()}"},
            json={"model": "slow", "messages": [{"role": "user", "content": "x"}]},
            timeout=0.5,
        )
    assert model.stopped_early.wait(5)
    assert model.finished == 0


def test_the_agents_run_goes_on_when_the_client_leaves(serve: ServeFactory) -> None:
    """``model: "errand"`` is a run: a client that leaves stops following it, not the run, which
    ends as it would have and can be read (or followed again) on the runs API."""
    model = SlowModel(words=20, delay_s=0.05)
    model.name = "slow"
    s = serve(model=model, open_runs=True)
    key = {"authorization": f"Bearer {s.key()}"}
    with pytest.raises(httpx.TimeoutException):
        httpx.post(
            s.v1 + "/chat/completions",
            headers=key,
            json={"model": "errand", "messages": [{"role": "user", "content": "hello"}]},
            timeout=0.5,
        )
    deadline = time.monotonic() + 20
    while not (runs := httpx.get(s.v1 + "/runs", headers=key).json()["data"]) or runs[0]["status"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline, runs
        time.sleep(0.05)
    assert model.finished >= 1 and not model.stopped_early.is_set()
    assert runs[0]["status"] == "succeeded" and runs[0]["answer"]
