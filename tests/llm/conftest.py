"""Shared fixtures: the small bundled test model, assembled and loaded once per session.

Tests that use these are marked ``slow``. The 0.5B model keeps them fast; set
``ERRAND_TEST_MODEL_CACHE`` to a folder to keep the assembled GGUF between
sessions instead of rebuilding it (about 2 s) in a temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from errand.llm.embedded import EmbeddedModel
from errand.llm.types import ToolSpec
from errand.llm.weights import ensure_model

TEST_MODEL = "qwen2.5-coder-0.5b"

WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name"}},
        "required": ["city"],
    },
)
"""A one-argument tool the 0.5B model calls reliably when asked about the weather."""


@pytest.fixture(scope="session")
def test_model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The folder the test model is assembled into (temporary unless configured)."""
    configured = os.environ.get("ERRAND_TEST_MODEL_CACHE")
    if configured:
        yield Path(configured)
        return
    folder = tmp_path_factory.mktemp("models")
    yield folder
    for f in folder.glob("*.gguf"):  # half a gigabyte: do not leave it behind
        f.unlink()


@pytest.fixture(scope="session")
def test_model_path(test_model_cache: Path) -> Path:
    """The assembled, verified 0.5B GGUF."""
    return ensure_model(TEST_MODEL, test_model_cache)


@pytest.fixture(scope="session")
def embedded(test_model_path: Path) -> Iterator[EmbeddedModel]:
    """One loaded embedded model shared by every slow test in the session."""
    model = EmbeddedModel(test_model_path, n_ctx=4096)
    model.load()
    yield model
    model.close()
