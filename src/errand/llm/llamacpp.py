"""What errand needs of llama.cpp itself: how many threads to give it, and one completion run
on xllamacpp's in-process handler, read chunk by chunk (text, why it stopped, token counts,
errors worded for a person).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from errand.errors import ModelResponseError
from errand.llm.types import Usage


def physical_cores() -> int:
    """Physical CPU cores usable by this process (llama.cpp is slower on hyper-threads).

    Counts unique (physical id, core id) pairs in ``/proc/cpuinfo``; falls back to
    the logical CPU count where that file says nothing.
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return usable
    cores: set[tuple[str, str]] = set()
    physical = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "processor":
            physical = ""
        elif key == "physical id":
            physical = value.strip()
        elif key == "core id":
            cores.add((physical, value.strip()))
    return max(1, min(len(cores), usable)) if cores else usable


class _Done:
    """Marks the end of a completion on the event queue."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


async def completion_chunks(
    server: Any, body: dict[str, Any]
) -> AsyncGenerator[tuple[str, dict[str, Any]], None]:
    """Run one completion on ``xllamacpp.Server.handle_completions`` in a worker thread: (text,
    chunk) as llama.cpp streams them, one token a chunk. Closing this generator stops the
    generation at its next token."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any] | _Done] = asyncio.Queue()
    stop = threading.Event()

    def put(item: dict[str, Any] | _Done) -> bool:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the event loop is gone: nobody is listening
            return False
        return True

    def on_chunk(chunk: dict[str, Any]) -> bool:
        # Runs on the worker thread for every streamed chunk; True stops generation.
        if stop.is_set():
            return True
        return not put(chunk)

    def generate() -> None:
        try:
            server.handle_completions(body, on_chunk)
        except Exception as exc:  # handed to the consumer, never lost in the thread
            put(_Done(exc))
        else:
            put(_Done())

    worker = loop.run_in_executor(None, generate)
    try:
        while True:
            item = await queue.get()
            if isinstance(item, _Done):
                if item.error is not None:
                    raise ModelResponseError(
                        f"The embedded model failed while generating: {item.error}"
                    ) from item.error
                return
            if "error" in item or "choices" not in item:
                raise ModelResponseError(f"The embedded model refused the request: {error_text(item)}")
            choice = item["choices"][0] if item["choices"] else {}
            yield choice.get("text") or "", item
    finally:
        stop.set()  # the worker stops at its next token (llama.cpp then frees the slot)
        del worker  # never raises: generate() hands its errors over the queue


def stop_reason(chunk: dict[str, Any]) -> str | None:
    """Why llama.cpp stopped (``stop``, ``length``), on the chunk that says it."""
    choices = chunk.get("choices") or [{}]
    reason = choices[0].get("finish_reason")
    return reason if isinstance(reason, str) else None


def chunk_usage(chunk: dict[str, Any]) -> Usage:
    """Token counts and timings from llama.cpp's last chunk."""
    timings = chunk.get("timings") or {}
    usage = chunk.get("usage") or {}
    cached = int(timings.get("cache_n", chunk.get("tokens_cached", 0)) or 0)
    evaluated = int(timings.get("prompt_n", 0) or 0)
    return Usage(
        prompt_tokens=int(usage.get("prompt_tokens", cached + evaluated) or 0),
        completion_tokens=int(usage.get("completion_tokens", timings.get("predicted_n", 0)) or 0),
        cached_tokens=cached,
        prompt_ms=float(timings.get("prompt_ms", 0.0) or 0.0),
        completion_ms=float(timings.get("predicted_ms", 0.0) or 0.0),
    )


def error_text(chunk: dict[str, Any]) -> str:
    err = chunk.get("error", chunk)
    if not isinstance(err, dict):
        return str(err)
    code = err.get("code")
    text = str(err.get("message") or json.dumps(err))
    if code:
        text += f" (code {code})"
    if err.get("type") == "exceed_context_size_error":
        text += ". Raise ERRAND_N_CTX or shorten the conversation."
    return text


def error_message(text: str) -> str:
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        if isinstance(data, dict):
            return error_text(data)
    return text[:300]
