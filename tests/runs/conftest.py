"""Fixtures for durable runs: a trip script on the scripted model, settings in a fresh home."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from errand.config import Settings
from errand.runs import Runs

TRIP_REQUEST = "Book flight CA1101 on 2027-01-15 for Dave Chen, then 2 nights at hotel H-SY04 from 2027-01-15 for Dave Chen."
TRIP_ANSWER = "Done: flight CA1101 and hotel H-SY04 are booked and paid for Dave Chen."
TRIP_SCRIPT = [
    {
        "tool": "book_flight",
        "arguments": {"flight_id": "CA1101", "passengers": ["Dave Chen"], "date": "2027-01-15"},
    },
    {
        "tool": "book_hotel",
        "arguments": {"hotel_id": "H-SY04", "guests": ["Dave Chen"], "check_in": "2027-01-15", "nights": 2},
    },
    TRIP_ANSWER,
]
"""Two paid bookings, each a `payment` tool that needs a confirmation."""


def with_receipt(answer: str, *references: str) -> str:
    """The answer as the run ends it: the model's words, then the references of what it booked."""
    return f"{answer}\n\nReference: {', '.join(references)}"


def write_script(folder: Path, turns: list[object]) -> Path:
    """The script as the scripted backend reads it."""
    path = folder / "script.json"
    path.write_text(json.dumps(turns), encoding="utf-8")
    return path


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a scripted run in a fresh home (SQLite unless a database URL is given)."""

    def make(turns: list[object] = TRIP_SCRIPT, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "home": tmp_path / "home",
            "model_backend": "scripted",
            "script_path": write_script(tmp_path, turns),
        }
        values.update(overrides)
        return Settings.model_validate(values)

    return make


@pytest.fixture
async def runs(make_settings: Callable[..., Settings]) -> AsyncIterator[Runs]:
    """Runs executed in this process, on SQLite."""
    r = await Runs.open(make_settings())
    yield r
    r.close()
