"""All the tools a run may use: the built-in services plus configured MCP servers and OpenAPI specs.

`open_toolbox` connects to every configured source for the life of a process (MCP
sessions are long-lived) and gives one registry plus a one-line description of each
domain (what the model reads when it chooses the services a request needs). MCP tool lists are read live, so a server's ``tools/list_changed`` shows up
in the next run without a restart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from errand.tools.base import Tool
from errand.tools.config import ToolsConfig
from errand.tools.registry import ToolRegistry


class LiveTools(Protocol):
    """A source whose tools may change while connected (an MCP session)."""

    @property
    def tools(self) -> Sequence[Tool]: ...


class LiveRegistry(ToolRegistry):
    """A registry of fixed tools plus live sources, read again on every lookup."""

    def __init__(self, tools: Iterable[Tool] = (), live: Iterable[LiveTools] = ()) -> None:
        self._live = list(live)
        self._fixed: dict[str, Tool] = {}
        super().__init__(tools)

    @property
    def _tools(self) -> dict[str, Tool]:
        merged = dict(self._fixed)
        for source in self._live:
            for t in source.tools:
                merged.setdefault(t.name, t)
        return merged

    @_tools.setter
    def _tools(self, value: dict[str, Tool]) -> None:
        self._fixed = value

    def add(self, t: Tool) -> None:
        """Register a fixed tool; names must be unique."""
        if t.name in self._tools:
            raise ValueError(f"A tool named {t.name!r} is already registered")
        self._fixed[t.name] = t


@dataclass
class Toolbox:
    """One registry of every tool and what each domain is for."""

    registry: ToolRegistry
    descriptions: dict[str, str] = field(default_factory=dict)
    """Domain → one line for the catalogue the model chooses services from (may be empty:
    then the catalogue shows the domain's tools' own descriptions)."""
    origins: dict[str, str] = field(default_factory=dict)
    """Domain → where its tools come from (``builtin``, ``mcp:NAME``, ``openapi:NAME``)."""


@asynccontextmanager
async def open_toolbox(config: ToolsConfig | None = None, *, builtin: bool = True) -> AsyncIterator[Toolbox]:
    """Connect to every configured tool source; disconnect on exit."""
    from errand.services import builtin_domains

    config = config or ToolsConfig()
    fixed: list[Tool] = []
    descriptions: dict[str, str] = {}
    origins: dict[str, str] = {}
    if builtin:
        for d in builtin_domains():
            fixed.extend(d.tools)
            descriptions[d.name] = d.description
            origins[d.name] = "builtin"
    live: list[Any] = []
    async with AsyncExitStack() as stack:
        if config.mcp.servers:
            from errand.tools.mcp_client import McpToolset

            for name, server in config.mcp.servers.items():
                toolset = await stack.enter_async_context(McpToolset.connect(name, server))
                live.append(toolset)
                descriptions[f"mcp:{name}"] = server.description
                origins[f"mcp:{name}"] = f"mcp:{name}"
        if config.openapi:
            from errand.tools.openapi import load_openapi_tools

            for name, api in config.openapi.items():
                tools = await load_openapi_tools(name, api)
                fixed.extend(tools)
                descriptions[f"openapi:{name}"] = api.description
                origins[f"openapi:{name}"] = f"openapi:{name}"
        yield Toolbox(registry=LiveRegistry(fixed, live), descriptions=descriptions, origins=origins)
