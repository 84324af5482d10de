"""A client that leaves stops the model: streamed or not."""

from __future__ import annotations

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


def test_the_agent_stops_when_the_client_leaves(serve: ServeFactory) -> None:
    model = SlowModel(words=200, delay_s=0.02)
    model.name = "slow"
    s = serve(model=model)
    with pytest.raises(httpx.TimeoutException):
        httpx.post(
            s.v1 + "/chat/completions",
            headers={"authorization": f"Bearer {s.key()}"},
            json={"model": "errand", "messages": [{"role": "user", "content": "hello"}]},
            timeout=0.5,
        )
    assert model.stopped_early.wait(5)
