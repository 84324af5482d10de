"""Tools from type hints and from JSON schemas: compact schemas, validation the model can act on."""

from __future__ import annotations

import pytest

from errand.errors import ToolArgumentsError
from errand.tools import SchemaTool, ToolContext, tool


def test_a_field_called_title_survives_compaction() -> None:
    @tool
    def add_book(title: str, pages: int | None = None) -> str:
        """Add a book."""
        return title

    assert set(add_book.parameters["properties"]) == {"title", "pages"}
    assert "title" not in add_book.parameters["properties"]["title"]  # schema titles are noise
    assert add_book.parameters["properties"]["pages"] == {"type": "integer"}  # Optional shown plainly


async def test_schema_tools_validate_with_jsonschema() -> None:
    async def fn(arguments: dict[str, object], ctx: ToolContext) -> dict[str, object]:
        return arguments

    t = SchemaTool(
        fn,
        name="add",
        description="Add an item.",
        parameters={
            "type": "object",
            "properties": {"title": {"type": "string"}, "n": {"type": "integer", "minimum": 1}},
            "required": ["title"],
        },
    )
    assert await t.invoke({"title": "x", "n": 2, "note": ""}, ToolContext()) == {"title": "x", "n": 2}
    assert "title" in t.parameters["properties"]
    with pytest.raises(ToolArgumentsError, match="n: 0 is less than the minimum of 1"):
        t.validate({"title": "x", "n": 0})
    with pytest.raises(ToolArgumentsError, match="'title' is a required property"):
        t.validate({})
