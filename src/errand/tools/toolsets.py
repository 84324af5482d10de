"""All the tools a run may use: the built-in services plus configured MCP servers and OpenAPI specs.

`open_toolbox` connects to every configured source for the life of a process (MCP
sessions are long-lived) and gives one registry plus the routing keywords of each
domain. MCP tool lists are read live, so a server's ``tools/list_changed`` shows up
in the next run without a restart.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from errand.tools.base import Tool
from errand.tools.config import ToolsConfig
from errand.tools.registry import ToolRegistry

_STOP = {"get", "list", "create", "update", "delete", "set", "the", "and", "for", "with", "from", "api", "by"}


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


def derived_keywords(tools: Iterable[Tool]) -> tuple[str, ...]:
    """Routing words from tool names (``get_current_time`` → current, time) when none are configured."""
    words: dict[str, None] = {}
    for t in tools:
        for w in re.split(r"[_\-\s.]+|(?<=[a-z])(?=[A-Z])", t.name):
            w = w.lower()
            if len(w) >= 3 and w not in _STOP:
                words[w] = None
    return tuple(words)


@dataclass
class Toolbox:
    """One registry of every tool and the words that route a request to each domain."""

    registry: ToolRegistry
    keywords: dict[str, tuple[str, ...]] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    """Domain → where its tools come from (``builtin``, ``mcp:NAME``, ``openapi:NAME``)."""


@asynccontextmanager
async def open_toolbox(config: ToolsConfig | None = None, *, builtin: bool = True) -> AsyncIterator[Toolbox]:
    """Connect to every configured tool source; disconnect on exit."""
    from errand.services import builtin_domains

    config = config or ToolsConfig()
    fixed: list[Tool] = []
    keywords: dict[str, tuple[str, ...]] = {}
    origins: dict[str, str] = {}
    if builtin:
        for d in builtin_domains():
            fixed.extend(d.tools)
            keywords[d.name] = d.keywords
            origins[d.name] = "builtin"
    live: list[Any] = []
    async with AsyncExitStack() as stack:
        if config.mcp.servers:
            from errand.tools.mcp_client import McpToolset

            for name, server in config.mcp.servers.items():
                toolset = await stack.enter_async_context(McpToolset.connect(name, server))
                live.append(toolset)
                keywords[f"mcp:{name}"] = tuple(server.keywords) or derived_keywords(toolset.tools)
                origins[f"mcp:{name}"] = f"mcp:{name}"
        if config.openapi:
            from errand.tools.openapi import load_openapi_tools

            for name, api in config.openapi.items():
                tools = await load_openapi_tools(name, api)
                fixed.extend(tools)
                keywords[f"openapi:{name}"] = tuple(api.keywords) or derived_keywords(tools)
                origins[f"openapi:{name}"] = f"openapi:{name}"
        yield Toolbox(registry=LiveRegistry(fixed, live), keywords=keywords, origins=origins)
