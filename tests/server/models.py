"""Test models: a scripted model whose words take time, and that tells when it was stopped."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence

from errand.llm.base import ChatModel
from errand.llm.types import (
    Finish,
    Message,
    ModelEvent,
    ModelSettings,
    TextDelta,
    ToolSpec,
    Usage,
    UsageEvent,
)


class SlowModel(ChatModel):
    """Answers ``words`` words, ``delay_s`` apart, forever (every call the same)."""

    name = "slow"

    def __init__(self, words: int = 20, delay_s: float = 0.05) -> None:
        self.words = words
        self.delay_s = delay_s
        self.started = threading.Event()
        self.stopped_early = threading.Event()
        """Set when a stream was closed before its last word (the client left)."""
        self.finished = 0
        self.produced = 0

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings
    ) -> AsyncIterator[ModelEvent]:
        self.started.set()
        done = False
        try:
            for i in range(self.words):
                await asyncio.sleep(self.delay_s)
                self.produced += 1
                yield TextDelta(text=f"w{i} ")
            yield UsageEvent(usage=Usage(prompt_tokens=10, completion_tokens=self.words))
            yield Finish(reason="stop")
            done = True
            self.finished += 1
        finally:
            if not done:
                self.stopped_early.set()
