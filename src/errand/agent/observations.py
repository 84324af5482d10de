"""Turn what a tool returned into what the model sees and what people see."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

MAX_OBSERVATION_CHARS = 6000
"""Longer results are cut: small models lose the thread in long observations anyway."""

_ARTIFACT_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".csv", ".html")


def to_jsonable(value: Any) -> Any:
    """Plain JSON data from a tool's return value (pydantic models included)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


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


def artifacts_in(value: Any, folder: Path) -> list[str]:
    """Paths of files (charts, exports) a plain-data result points to that exist inside
    ``folder`` (the call's own artifacts folder). Any other path, a CSV elsewhere on the
    server that a result happens to name, is not an artifact and is never served."""
    root = folder.resolve()
    found: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str) and v.lower().endswith(_ARTIFACT_SUFFIXES):
            path = Path(v).resolve()
            if path.is_relative_to(root) and path.is_file():
                found.append(str(path))
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(value)
    return list(dict.fromkeys(found))


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
