"""The first decision of a run, made by the model under a JSON schema: which services the
request needs, and whether the user asks errand to change something (book, order, pay,
cancel) or only to find something out.

A small model chooses better from a few tool schemas than from thirty, and a shorter prompt
is faster; but which few is the model's call, not a keyword table's. So the model first
reads a compact catalogue (one line per service, with its tools' names) and answers with a
constrained JSON object; the run then offers the full schemas of what it chose. The
catalogue prompt is stable, so every backend's prefix cache keeps it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from errand.llm.types import Message
from errand.tools import ToolRegistry

PLAN_PROMPT = """You route a user's request to the services that can handle it.
Services:
{catalogue}

Answer with JSON only:
- "services": the services the request needs (usually one; [] if none can help, e.g. small talk or general knowledge).
- "acts": true if the user asks you to DO something that changes state (book, reserve, order, buy, pay, cancel, return, exchange, refund, request a viewing), false if they only want information (find, compare, check, recommend)."""


@dataclass(frozen=True)
class Plan:
    """What the model decided before the run's first step."""

    domains: tuple[str, ...]
    """The services whose tools the run is offered (may be empty: answer without tools)."""
    acts: bool
    """The user asked for a change (a booking, an order, a cancellation), not only information."""

    def to_json(self) -> dict[str, Any]:
        """Plain data (a durable step's checkpoint)."""
        return {"domains": list(self.domains), "acts": self.acts}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        """The plan from `to_json`'s data."""
        return cls(tuple(data.get("domains") or ()), bool(data.get("acts")))


def _first_sentence(text: str) -> str:
    line = text.strip().split("\n", 1)[0]
    return line.split(". ", 1)[0].rstrip(".")


def catalogue(registry: ToolRegistry, descriptions: Mapping[str, str]) -> str:
    """One line per domain: what it covers and its tools' names (short and stable)."""
    lines = []
    for domain in registry.domains:
        tools = [t for t in registry if t.domain == domain]
        about = descriptions.get(domain) or "; ".join(_first_sentence(t.description) for t in tools[:4])
        lines.append(f"- {domain}: {about} Tools: {', '.join(t.name for t in tools)}.")
    return "\n".join(lines)


def plan_schema(domains: Sequence[str]) -> dict[str, Any]:
    """The JSON schema of a plan: services from the catalogue (listed once each), and ``acts``."""
    return {
        "type": "object",
        "properties": {
            "services": {
                "type": "array",
                "items": {"type": "string", "enum": list(domains)},
                "maxItems": min(3, len(domains)),
                "uniqueItems": True,
            },
            "acts": {"type": "boolean"},
        },
        "required": ["services", "acts"],
        "additionalProperties": False,
    }


def plan_messages(system: str, history: Sequence[Message], request: str) -> list[Message]:
    """The planning prompt: the catalogue, the last turns of a chat, then the request."""
    earlier = [
        f"{m.role}: {m.text[:300]}" for m in history if m.role in ("user", "assistant") and m.text.strip()
    ][-4:]
    text = request if not earlier else "Earlier in this chat:\n" + "\n".join(earlier) + f"\n\nNow: {request}"
    return [Message(role="system", content=system), Message(role="user", content=text)]


def parse_plan(text: str, domains: Sequence[str]) -> Plan | None:
    """The plan in a reply, or None when it is not one (then every tool is offered)."""
    start = text.find("{")
    try:
        data, _ = json.JSONDecoder().raw_decode(text, start) if start >= 0 else (None, 0)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("services"), list):
        return None
    chosen = [d for d in domains if d in data["services"]]  # registry order: a stable prompt
    return Plan(tuple(chosen), data.get("acts") is True)
