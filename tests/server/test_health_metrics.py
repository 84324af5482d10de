"""Probes and metrics."""

from __future__ import annotations

import threading

import httpx2 as httpx

from errand.llm.scripted import ScriptedModel
from tests.server.conftest import ServeFactory


class LoadingModel(ScriptedModel):
    """A model whose weights take until ``go`` is set to load."""

    def __init__(self) -> None:
        super().__init__(["loaded"])
        self.go = threading.Event()
        self.loaded = False

    def load(self) -> None:
        self.go.wait(10)
        self.loaded = True


def test_readyz_is_503_while_the_model_loads(serve: ServeFactory) -> None:
    model = LoadingModel()
    s = serve(model=model)
    key = s.key()
    assert httpx.get(s.url + "/healthz").json() == {"status": "ok"}
    r = httpx.get(s.url + "/readyz")
    assert r.status_code == 503 and r.json()["error"]["code"] == "model_loading" and r.headers["retry-after"]
    body = {"model": "scripted", "messages": [{"role": "user", "content": "x"}]}
    chat = httpx.post(s.v1 + "/chat/completions", headers={"authorization": f"Bearer {key}"}, json=body)
    assert chat.status_code == 503 and chat.json()["error"]["code"] == "model_loading"
    model.go.set()
    for _ in range(100):
        if httpx.get(s.url + "/readyz").status_code == 200:
            break
        threading.Event().wait(0.02)
    assert httpx.get(s.url + "/readyz").json() == {"status": "ready"}
    chat = httpx.post(s.v1 + "/chat/completions", headers={"authorization": f"Bearer {key}"}, json=body)
    assert chat.status_code == 200


def test_draining_refuses_new_work(serve: ServeFactory) -> None:
    s = serve(model=ScriptedModel(["x"]))
    key = s.key()
    s.state.health.start_draining()
    assert httpx.get(s.url + "/readyz").status_code == 503
    body = {"model": "scripted", "messages": [{"role": "user", "content": "x"}]}
    r = httpx.post(s.v1 + "/chat/completions", headers={"authorization": f"Bearer {key}"}, json=body)
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert httpx.get(s.v1 + "/models", headers={"authorization": f"Bearer {key}"}).status_code == 200


def test_metrics(serve: ServeFactory) -> None:
    s = serve(model=ScriptedModel(["one two"]))
    key = s.key()
    body = {"model": "scripted", "messages": [{"role": "user", "content": "x"}]}
    httpx.post(s.v1 + "/chat/completions", headers={"authorization": f"Bearer {key}"}, json=body)
    httpx.get(s.v1 + "/models")
    assert httpx.get(s.url + "/metrics").status_code == 401
    text = httpx.get(s.url + "/metrics", headers={"authorization": f"Bearer {key}"}).text
    for line in (
        'errand_http_requests_total{method="POST",route="/v1/chat/completions",status="200"} 1.0',
        'errand_http_requests_total{method="GET",route="unmatched",status="401"} 2.0',
        "errand_queue_depth 0.0",
        "errand_running_requests 0.0",
        "errand_running_runs 0.0",
        'errand_tokens_total{kind="completion"} 2.0',
        'errand_time_to_first_token_seconds_count{model="scripted"} 1.0',
    ):
        assert line in text, line


def test_the_api_pages_that_load_scripts_from_a_cdn_are_off_unless_asked_for(serve: ServeFactory) -> None:
    served = serve()
    assert httpx.get(served.url + "/openapi.json").status_code == 200
    assert httpx.get(served.url + "/docs").status_code == 404
    assert httpx.get(served.url + "/redoc").status_code == 404
    asked = serve(serve_docs=True)
    assert httpx.get(asked.url + "/docs").status_code == 200
