"""Follows the runs this process created until they end.

A run's tokens are known only when it ends, possibly in another process (a worker): the
creating replica follows its events to charge them to the key, count its tool calls, and
know how many of its runs are still active (a bound for admission). A replica that stops
before a run ends does not charge it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from errand.server.keys import ApiKey, KeyStore
from errand.server.metrics import Metrics

log = logging.getLogger("errand.server")


class RunWatcher:
    """One task per active run created here."""

    def __init__(self, runs: Any, keys: KeyStore, metrics: Metrics) -> None:
        self.runs = runs
        self.keys = keys
        self.metrics = metrics
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def active(self) -> int:
        """Runs created here that have not ended."""
        return len(self._tasks)

    def watch(self, key: ApiKey, run_id: str) -> None:
        """Follow ``run_id`` (owned by ``key``'s user) until its last event."""
        task = asyncio.create_task(self._follow(key, run_id), name=f"watch {run_id}")
        self._tasks[run_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(run_id, None))

    async def _follow(self, key: ApiKey, run_id: str) -> None:
        try:
            async for ev in self.runs.follow(key.user, run_id):
                if ev.type == "tool_result":
                    self.metrics.tool_calls.labels("ok" if ev.data.get("ok") else "error").inc()
                elif ev.type == "confirmation_resolved" and not ev.data.get("approved"):
                    self.metrics.tool_calls.labels("rejected").inc()
                elif ev.type in ("run_finished", "run_failed"):
                    usage = ev.data.get("usage") or {}
                    prompt = int(usage.get("prompt_tokens") or 0)
                    completion = int(usage.get("completion_tokens") or 0)
                    self.metrics.usage(prompt, completion)
                    await asyncio.to_thread(self.keys.charge, key.id, prompt + completion)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken follow must not take the server down; the run goes on
            log.warning("stopped following run %s: %s", run_id, exc)

    async def close(self) -> None:
        """Stop following (the runs themselves go on)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
