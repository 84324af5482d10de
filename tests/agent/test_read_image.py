"""``read_image`` (errand.agent.attachments): an attached picture read again by OCR, a region of it."""

from __future__ import annotations

import pytest

from errand.agent import Agent
from errand.agent.attachments import REGIONS, crop
from errand.agent.events import RunFinished, ToolCallStarted, ToolResultEvent
from errand.config import Settings
from errand.llm.ocr import data_url, read_image
from errand.llm.scripted import ScriptedModel, call
from errand.runs.request import build_request
from errand.tools import ToolRegistry, tool
from tests.images import text_image

RECEIPT = ["Receipt FO-000123", "", "", "", "Total: 128.50 CNY"]
"""The order number at the top, the total at the bottom, blank lines between."""


@tool(domain="shop")
def order_status(order_id: str) -> dict[str, str]:
    """An order's status.

    Args:
        order_id: The order.
    """
    return {"order_id": order_id, "status": "delivered"}


def _agent(model: ScriptedModel, *tools: object) -> Agent:
    return Agent(model, ToolRegistry(list(tools)), choose_tools=False)  # type: ignore[arg-type]


async def _events(agent: Agent, task: str, **kwargs: object) -> list[object]:
    return [ev async for ev in agent.stream(task, **kwargs)]  # type: ignore[arg-type]


async def test_a_region_of_an_attached_picture_is_read_again() -> None:
    picture = data_url(text_image(RECEIPT))
    model = ScriptedModel([call("read_image", image=1, region="bottom"), "The total is 128.50 CNY."])
    events = await _events(_agent(model, order_status), "what is the total?", attachments=[picture])
    offered = model.requests[0][1]
    assert [t.name for t in offered] == ["order_status", "read_image", "ask_user"]
    spec = offered[1].parameters
    assert spec["properties"]["region"]["enum"] == list(REGIONS)
    assert spec["properties"]["image"]["maximum"] == 1
    started = next(e for e in events if isinstance(e, ToolCallStarted))
    assert started.name == "read_image" and started.risk == "read"
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert result.ok, result.content
    assert result.content.startswith("[Image 1, bottom half, read again by OCR:\n"), result.content
    assert "128.50" in result.content and "FO-000123" not in result.content
    tool_message = model.requests[1][0][-1]
    assert tool_message.role == "tool" and "Total: 128.50 CNY" in tool_message.text
    done = events[-1]
    assert isinstance(done, RunFinished) and done.answer == "The total is 128.50 CNY."
    assert done.unverified_numbers == []  # the figure read again grounds the answer


async def test_a_picture_question_with_no_tool_can_still_read_again() -> None:
    picture = data_url(text_image(RECEIPT))
    model = ScriptedModel([call("read_image", image=1, region="top"), "It is order FO-000123."])
    events = await _events(_agent(model), "which order is this?", attachments=[picture])
    assert [t.name for t in model.requests[0][1]] == ["read_image", "ask_user"]
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert result.ok and "FO-000123" in result.content and "128.50" not in result.content


async def test_read_image_is_not_offered_without_attachments() -> None:
    model = ScriptedModel([call("read_image", image=1, region="all"), "No picture."])
    events = await _events(_agent(model, order_status), "what is the total?")
    assert "read_image" not in [t.name for t in model.requests[0][1]]
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert not result.ok and "There is no tool named 'read_image'" in result.content


def test_a_model_that_reads_images_gets_no_attachments_any_other_does() -> None:
    picture = data_url(text_image(["Total: 128.50 CNY"]))
    url = "https://example.invalid/receipt.png"
    vision = build_request(Settings.model_construct(model_accepts_images=True), "total?", [picture])
    assert vision.images == (picture,) and vision.attachments == ()
    ocr = build_request(Settings.model_construct(model_accepts_images=False), "total?", [picture, url])
    assert ocr.images == () and ocr.attachments == (picture, "")  # the URL was not fetched
    assert "[Image 1, text read by OCR:" in ocr.text


async def test_a_bad_image_number_or_region_is_a_clear_error() -> None:
    picture = data_url(text_image(RECEIPT))
    model = ScriptedModel(
        [
            call("read_image", image=3, region="bottom"),
            call("read_image", image=1, region="centre"),
            call("read_image", image=2, region="all"),
            "Sorry.",
        ]
    )
    url = "https://example.invalid/receipt.png"
    events = await _events(_agent(model), "what is the total?", attachments=[picture, ""])
    results = [e for e in events if isinstance(e, ToolResultEvent)]
    assert [r.ok for r in results] == [False, False, False]
    assert "there is no image 3; the request has images 1 to 2" in results[0].content
    assert "region must be one of all, top, bottom" in results[1].content and "'centre'" in results[1].content
    assert "image 2 was not fetched" in results[2].content
    assert url not in results[2].content


@pytest.mark.parametrize("region", ["top-left", "bottom-right", "middle"])
def test_a_small_region_is_enlarged(region: str) -> None:
    from io import BytesIO

    from PIL import Image

    png = text_image(RECEIPT)
    with Image.open(BytesIO(png)) as whole, Image.open(BytesIO(crop(png, region))) as part:
        assert part.width > whole.width * 0.55 and part.height > whole.height * 0.55


def test_the_whole_picture_reads_as_the_first_pass() -> None:
    png = text_image(["Receipt FO-000123", "Total: 128.50 CNY"])
    assert read_image(crop(png, "all")).text == read_image(png).text
