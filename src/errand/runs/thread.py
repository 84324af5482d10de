"""A thread's conversation, read back from its runs' events.

A thread is a conversation: each message the user sends is a run, and a run starts from the
earlier runs' turns. Those turns are not kept anywhere else: they are rebuilt here from what
the run log already stores (each run's request and options, its ``tool_call``,
``tool_result`` and ``run_finished`` events), so a thread survives a restart and a replica
reads the same conversation as the process that ran it.

What is rebuilt is what the next turn needs: the user's messages (dated as the agent dated
them), the agent's answers (a question it asked included), and every tool call with its
result, paired by call id, so "book the first one" after a search finds the ids that search
returned. Errand's own nudges to the model (revisions, reminders) and drafts are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from errand.agent import prompts
from errand.llm.types import ImagePart, Message, TextPart, ToolCall


@dataclass(frozen=True)
class PastRun:
    """One earlier run of a thread, as the run log stores it."""

    input: str
    """The request as the model read it (image text included)."""
    options: dict[str, Any]
    """What it was started with: ``today`` dates the request as the agent dated it."""
    events: Sequence[dict[str, Any]] = field(default_factory=tuple)
    """Its stored events' data, in order."""


def user_message(input: str, options: dict[str, Any]) -> Message:
    """The request as the agent put it in the conversation: dated, with its image parts."""
    today = options.get("today")
    text = prompts.dated_task(input, str(today)) if today else input
    images = [str(u) for u in options.get("images") or ()]
    if images:
        return Message(role="user", content=[TextPart(text=text), *(ImagePart(url=u) for u in images)])
    return Message(role="user", content=text)


def earlier_turns(options: dict[str, Any]) -> list[Message]:
    """The conversation a run was started from besides its thread's (``earlier`` in its options):
    what a chat client sent before its last message, as a chat completion holds no thread."""
    return [Message.model_validate(m) for m in options.get("earlier") or ()]


def _turns(events: Iterable[dict[str, Any]]) -> list[Message]:
    """One run's assistant and tool messages: each step's calls with their results, then its answer."""
    out: list[Message] = []
    text: dict[int, str] = {}
    calls: dict[int, list[ToolCall]] = {}
    results: dict[int, list[Message]] = {}
    answer: str | None = None
    for ev in events:
        kind, step = ev.get("type"), int(ev.get("step") or 0)
        if kind == "text_delta":
            text[step] = text.get(step, "") + str(ev.get("text") or "")
        elif kind == "tool_call":
            call = ToolCall(
                id=str(ev["call_id"]), name=str(ev["name"]), arguments=dict(ev.get("arguments") or {})
            )
            calls.setdefault(step, []).append(call)
        elif kind == "tool_result":
            note = prompts.AFTER_RESULT if ev.get("ok") else prompts.AFTER_ERROR
            results.setdefault(step, []).append(
                Message(
                    role="tool",
                    content=str(ev.get("content") or "") + note,
                    tool_call_id=str(ev["call_id"]),
                    name=str(ev.get("name") or ""),
                )
            )
        elif kind == "run_finished":
            answer = str(ev.get("answer") or "")
    for step in sorted(calls):
        answered = {m.tool_call_id for m in results.get(step, [])}
        # A call without a result (the run stopped in between) would leave the pair open,
        # which a chat template or an OpenAI-compatible server refuses: it is left out.
        kept = [c for c in calls[step] if c.id in answered]
        if not kept:
            continue
        out.append(Message(role="assistant", content=text.get(step, "").strip() or None, tool_calls=kept))
        out.extend(m for m in results[step] if m.tool_call_id in {c.id for c in kept})
    if answer:
        out.append(Message(role="assistant", content=answer))
    return out


def thread_history(runs: Iterable[PastRun]) -> list[Message]:
    """The conversation of a thread's earlier runs, oldest first, without the system prompt."""
    out: list[Message] = []
    for run in runs:
        out.extend(earlier_turns(run.options))
        out.append(user_message(run.input, run.options))
        out.extend(_turns(run.events))
    return out
