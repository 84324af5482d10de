"""Wire settings into a ready agent: the model, the services database and the tools.

The CLI (and later the server) build agents here, so every front end runs the
same agent the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path

from errand.agent import Agent, Approver, Budget, CallInfo
from errand.agent.steps import StepRunner
from errand.config import Settings
from errand.llm.base import ChatModel
from errand.llm.types import ModelSettings
from errand.services import builtin_domains, builtin_registry
from errand.services.store import ServiceStore
from errand.telemetry.trace import TracedAgent
from errand.toolbox import Toolbox
from errand.tools import ToolContext, ToolRegistry, utc_now
from errand.tools.base import artifacts_folder


def open_store(settings: Settings) -> ServiceStore:
    """The services database named by the settings, created and seeded on first use."""
    return ServiceStore.open(settings.resolved_database_url())


@contextmanager
def tool_context(
    store: ServiceStore,
    settings: Settings,
    *,
    user: str,
    run_id: str,
    idempotency_key: str,
    now: Callable[[], datetime] = utc_now,
) -> Iterator[ToolContext]:
    """What one tool call gets, inside one transaction: a failed call leaves nothing half-written.

    Every front end that runs tools (the agent, `errand tools call`, the MCP server, the eval)
    uses this. ``now`` is the clock the tool reads: the real one unless the caller fixed it.
    """
    folder = artifacts_folder(settings.charts_dir(), run_id)
    folder.mkdir(parents=True, exist_ok=True)
    with store.sessions() as session, session.begin():
        yield ToolContext(
            user=user,
            run_id=run_id,
            idempotency_key=idempotency_key,
            session=session,
            artifacts_dir=folder,
            now=now,
        )


def build_agent(
    settings: Settings,
    model: ChatModel,
    store: ServiceStore,
    *,
    approver: Approver | None = None,
    toolbox: Toolbox | None = None,
    steps: StepRunner | None = None,
    today: Callable[[], str] | None = None,
    now: Callable[[], datetime] = utc_now,
) -> Agent:
    """An agent over the built-in services (or a toolbox with outside tools too) with the settings' budgets.

    Every front end builds its agent here, so every run is traced the same way (`TracedAgent`).
    ``now`` is the clock its tools read (`ToolContext.now`); ``today`` is what the agent itself is
    told the time is (its own clock line, `errand.agent.dates`).
    """
    charts = settings.charts_dir()
    charts.mkdir(parents=True, exist_ok=True)

    def context(info: CallInfo) -> AbstractContextManager[ToolContext]:
        return tool_context(
            store, settings, user=info.user, run_id=info.run_id, idempotency_key=info.idempotency_key, now=now
        )

    registry = toolbox.registry if toolbox else builtin_registry()
    descriptions = toolbox.descriptions if toolbox else {d.name: d.description for d in builtin_domains()}
    return agent_over(
        model,
        registry,
        context,
        settings=settings,
        descriptions=descriptions,
        budget=Budget(
            max_steps=settings.max_steps, max_tokens=settings.max_tokens, max_wall_s=settings.max_wall_s
        ),
        model_settings=ModelSettings(temperature=settings.temperature, max_tokens=settings.max_output_tokens),
        approver=approver,
        artifacts_dir=charts,
        steps=steps,
        today=today,
    )


def agent_over(
    model: ChatModel,
    registry: ToolRegistry,
    context: Callable[[CallInfo], AbstractContextManager[ToolContext]],
    *,
    settings: Settings,
    descriptions: Mapping[str, str],
    budget: Budget,
    model_settings: ModelSettings,
    approver: Approver | None,
    artifacts_dir: Path,
    steps: StepRunner | None = None,
    today: Callable[[], str] | None = None,
) -> Agent:
    """The one place an agent is made, over any tools and tool context: every run, from a front
    end or the eval, is traced and priced the same way (`TracedAgent`)."""
    return TracedAgent(
        model,
        registry,
        budget=budget,
        model_settings=model_settings,
        approver=approver,
        context=context,
        domain_descriptions=dict(descriptions),
        artifacts_dir=artifacts_dir,
        steps=steps,
        today=today,
        settings=settings,
    )
