"""The set of tools a run may use, in a fixed order (stable prompts cache better)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from errand.llm.types import ToolSpec
from errand.tools.base import Tool


class ToolRegistry:
    """Tools by name, in registration order."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.add(t)

    def add(self, t: Tool) -> None:
        """Register a tool; names must be unique."""
        if t.name in self._tools:
            raise ValueError(f"A tool named {t.name!r} is already registered")
        self._tools[t.name] = t

    def get(self, name: str) -> Tool | None:
        """The tool with this name, or None."""
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def domains(self) -> list[str]:
        """The domains of the registered tools, in first-seen order."""
        return list(dict.fromkeys(t.domain for t in self._tools.values()))

    def subset(self, domains: Iterable[str]) -> ToolRegistry:
        """Only the tools of these domains (order kept)."""
        wanted = set(domains)
        return ToolRegistry(t for t in self._tools.values() if t.domain in wanted)

    def specs(self) -> list[ToolSpec]:
        """What the model is told about every tool."""
        return [t.spec() for t in self._tools.values()]
