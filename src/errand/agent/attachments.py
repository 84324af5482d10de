"""The agent's ``read_image`` action: an attached image read again by OCR, whole or a region.

A model that does not read images gets each attached image's text in the request, read once
when the request was built (``[Image N, text read by OCR: ...]``, `errand.runs.request`).
Small print read badly there can be read again: the model names the image (numbered as in
the request) and a region, errand crops it with a little overlap (a line on the border is
whole in one of the two halves), enlarges it when small, and reads it with the same engine
(`errand.llm.ocr.read_image`). The text comes back as the call's observation.

Offered beside the tools (like ``ask_user``) only when the run has attachments, which it has
only when its model does not read images (a model that does gets them as image parts). It
only reads: no confirmation.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image

from errand.agent.state import RunState
from errand.llm.ocr import ImageDataError, image_bytes, read_image
from errand.llm.types import ToolSpec
from errand.tools.provenance import ids_in_text

READ_IMAGE = "read_image"
"""The action's name, as the model calls it."""

REGIONS: dict[str, tuple[str, tuple[float, float, float, float]]] = {
    "all": ("whole image", (0.0, 0.0, 1.0, 1.0)),
    "top": ("top half", (0.0, 0.0, 1.0, 0.55)),
    "bottom": ("bottom half", (0.0, 0.45, 1.0, 1.0)),
    "left": ("left half", (0.0, 0.0, 0.55, 1.0)),
    "right": ("right half", (0.45, 0.0, 1.0, 1.0)),
    "top-left": ("top-left quarter", (0.0, 0.0, 0.55, 0.55)),
    "top-right": ("top-right quarter", (0.45, 0.0, 1.0, 0.55)),
    "bottom-left": ("bottom-left quarter", (0.0, 0.45, 0.55, 1.0)),
    "bottom-right": ("bottom-right quarter", (0.45, 0.45, 1.0, 1.0)),
    "middle": ("middle", (0.2, 0.2, 0.8, 0.8)),
}
"""Region → (its name in the observation, its box as shares of width and height: left, top,
right, bottom). Halves and quarters overlap by a tenth of the image."""

ENLARGE_TO = 2000
"""A region is enlarged until its longer side has this many pixels (the engine shrinks larger
images to it), ..."""
MAX_ENLARGE = 3.0
"""... at most this many times, ..."""
MIN_ENLARGE = 1.25
"""... and only when that makes it at least this much larger."""


def read_image_spec(count: int) -> ToolSpec:
    """The action as the model sees it, for a run with ``count`` attached images."""
    return ToolSpec(
        name=READ_IMAGE,
        description=(
            "Read an attached image again by OCR, whole or one region of it enlarged: for small "
            "print, or a line the request's [Image N, text read by OCR] note got wrong or left out."
        ),
        parameters={
            "type": "object",
            "properties": {
                "image": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": count,
                    "description": "The image's number, as the request's notes number them.",
                },
                "region": {
                    "type": "string",
                    "enum": list(REGIONS),
                    "description": "The part to read: all, a half, a quarter, or the middle.",
                },
            },
            "required": ["image", "region"],
            "additionalProperties": False,
        },
    )


def offered(attachments: Sequence[str]) -> list[ToolSpec]:
    """``read_image``'s spec when the run has attachments, else nothing."""
    return [read_image_spec(len(attachments))] if attachments else []


def handles(name: str, attachments: Sequence[str]) -> bool:
    """Whether a call of ``name`` is this action (the run has attachments to read)."""
    return name == READ_IMAGE and bool(attachments)


def crop(data: bytes, region: str) -> bytes:
    """``region`` of the image in ``data`` as PNG bytes, enlarged when small (OCR reads small
    print better enlarged). `ImageDataError` for bytes that are not an image."""
    _, (left, top, right, bottom) = REGIONS[region]
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            picture = img.convert("RGB")
    except (OSError, Image.DecompressionBombError):
        raise ImageDataError("not an image file") from None
    w, h = picture.size
    box = (round(left * w), round(top * h), max(round(right * w), 1), max(round(bottom * h), 1))
    part = picture.crop(box)
    factor = min(MAX_ENLARGE, ENLARGE_TO / max(part.size))
    if factor >= MIN_ENLARGE:
        size = (round(part.width * factor), round(part.height * factor))
        part = part.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    part.save(out, "PNG")
    return out.getvalue()


def read_region(attachments: Sequence[str], arguments: Mapping[str, Any]) -> tuple[bool, str]:
    """The observation of one call: ``(True, text)`` read from the region, or ``(False, why)``
    for arguments that name no image or region (blocking: OCR takes a second or two)."""
    count = len(attachments)
    number, region = arguments.get("image"), arguments.get("region")
    if isinstance(number, str) and number.strip().isdigit():
        number = int(number)
    if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= count:
        numbers = "image 1" if count == 1 else f"images 1 to {count}"
        return False, f"{READ_IMAGE}: there is no image {number!r}; the request has {numbers}."
    if region not in REGIONS:
        return False, f"{READ_IMAGE}: region must be one of {', '.join(REGIONS)}; got {region!r}."
    url = attachments[number - 1]
    if not url:
        return False, f"{READ_IMAGE}: image {number} was not fetched, so it cannot be read again."
    name = REGIONS[region][0]
    try:
        text = read_image(crop(image_bytes(url), region)).text
    except ImageDataError as exc:
        return False, f"{READ_IMAGE}: image {number} cannot be read ({exc})."
    if not text:
        return True, f"[Image {number}, {name}: OCR found no text in it]"
    return True, f"[Image {number}, {name}, read again by OCR:\n{text}\n]"


async def read_again(
    attachments: Sequence[str], arguments: Mapping[str, Any]
) -> tuple[bool, str, float, list[str]]:
    """One ``read_image`` call, off the event loop, shaped as a tool call's outcome (ok, the
    observation, milliseconds, no files)."""
    started = time.perf_counter()
    ok, text = await asyncio.to_thread(read_region, attachments, arguments)
    return ok, text, (time.perf_counter() - started) * 1000, []


def learn(state: RunState, outcome: tuple[bool, Any, float, list[str]]) -> None:
    """What a picture read again says is the user's, as its first reading in the request is:
    its ids and names may be used in later calls."""
    ok, text = outcome[0], str(outcome[1])
    if ok:
        state.user_texts.append(text)
        state.loose_ids |= ids_in_text(text)
