"""Turn what a tool returned into what the model sees and what people see."""

from __future__ import annotations

import json
from typing import Any

MAX_OBSERVATION_CHARS = 6000
"""Longer results are cut: small models lose the thread in long observations anyway."""


def observation(value: Any) -> str:
    """Compact JSON (or the text itself) for the model, cut to a safe length; ``value`` is plain data."""
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    if len(text) > MAX_OBSERVATION_CHARS:
        text = text[:MAX_OBSERVATION_CHARS] + "…[cut; ask for fewer results]"
    return text


def summarize(value: Any) -> str:
    """One line for people: the gist of a result (already plain JSON data)."""
    if isinstance(value, dict):
        if isinstance(value.get("summary"), str):
            return str(value["summary"])
        parts = []
        for k, v in value.items():
            if isinstance(v, list):
                parts.append(f"{k}: {len(v)} items")
            elif isinstance(v, str | int | float | bool) and len(str(v)) <= 60:
                parts.append(f"{k}={v}")
            if len(parts) == 4:
                break
        return ", ".join(parts) or "done"
    if isinstance(value, list):
        return f"{len(value)} items"
    text = str(value).strip().replace("\n", " ")
    return text[:100] + ("…" if len(text) > 100 else "")


def references(result: Any, arguments: dict[str, Any]) -> list[str]:
    """The reference of the record a write created: its result's first top-level ``*_id``
    string that was not an argument (``BK-000012`` from a booking; a cancellation, which
    echoes the id it was given, creates none)."""
    if not isinstance(result, dict):
        return []
    given = {str(v) for v in arguments.values()}
    for key, value in result.items():
        if key.endswith("_id") and isinstance(value, str) and value and value not in given:
            return [value]
    return []
