"""A chat completion with ``model: "errand"`` is a traced run too: the same span tree as a
durable run, owned by the key's user (the server builds its agent with `build_agent`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from errand.llm.scripted import ScriptedModel, call
from errand.telemetry.trace import use_tracer_provider
from tests.server.conftest import ServeFactory


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    use_tracer_provider(provider)
    yield exporter
    use_tracer_provider(None)
    provider.shutdown()


def test_a_chat_completion_of_the_agent_is_one_trace_for_the_keys_user(
    serve: ServeFactory, client_for: Callable[..., Any], spans: InMemorySpanExporter
) -> None:
    model = ScriptedModel([call("wallet_balance"), "Your wallet balances are shown above."])
    s = serve(model=model, open_runs=True)
    r = client_for(s, s.key("bob")).chat.completions.create(
        model="errand", messages=[{"role": "user", "content": "How much money do I have?"}]
    )
    assert r.choices[0].message.content == "Your wallet balances are shown above."
    got = spans.get_finished_spans()
    (run,) = [x for x in got if x.name == "invoke_agent errand"]
    assert (run.attributes or {})["user.id"] == "bob"
    mine = [x for x in got if x.context.trace_id == run.context.trace_id]
    assert {"step 1", "step 2", "chat scripted", "execute_tool wallet_balance"} <= {x.name for x in mine}
    assert all((x.attributes or {}).get("user.id") == "bob" for x in mine)
