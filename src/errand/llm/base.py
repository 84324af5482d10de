"""The one interface every model backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence

from errand.llm.types import (
    Finish,
    MalformedToolCall,
    Message,
    ModelEvent,
    ModelResponse,
    ModelSettings,
    ReasoningDelta,
    TextDelta,
    ToolCallEvent,
    ToolSpec,
    UsageEvent,
)


class ChatModel(ABC):
    """A chat model that streams typed events.

    Backends implement `stream`; everything else is built on it.
    """

    name: str = "model"
    """A short name shown to users."""

    context_window: int | None = None
    """Tokens one request may hold (prompt and completion), where known; a prompt over it is
    refused before the model is called (`errand.llm.context`)."""

    @abstractmethod
    def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings
    ) -> AsyncIterator[ModelEvent]:
        """Stream one model turn: text, reasoning, tool calls, usage, then `Finish`."""

    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings
    ) -> ModelResponse:
        """Run one turn and collect its events into a `ModelResponse`."""
        return await collect(self.stream(messages, tools, settings))

    async def aclose(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Release resources (threads, sockets, loaded weights)."""


async def collect(events: AsyncIterator[ModelEvent]) -> ModelResponse:
    """Fold a stream of model events into one `ModelResponse`."""
    out = ModelResponse()
    async for ev in events:
        if isinstance(ev, TextDelta):
            out.text += ev.text
        elif isinstance(ev, ReasoningDelta):
            out.reasoning += ev.text
        elif isinstance(ev, ToolCallEvent):
            out.tool_calls.append(ev.call)
        elif isinstance(ev, MalformedToolCall):
            out.malformed.append(ev)
        elif isinstance(ev, UsageEvent):
            out.usage = ev.usage
        elif isinstance(ev, Finish):
            out.finish_reason = ev.reason
    return out
