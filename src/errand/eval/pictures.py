"""Pictures for the eval's picture errands, drawn from a task's lines of text with Pillow.

A task declares what its picture says (`errand.eval.tasks.Picture`); this module draws it as
a PNG, the same bytes every time (one packaged font, speckle seeded by the text), so the suite holds
no binary file and nothing depends on the fonts a machine has. The runner sends the
PNG as a data URL through `errand.runs.request.build_request`, as ``errand run --image`` does.

A line with `` | `` in it is drawn as two columns, the right one flush right (an item and its
price on a receipt). Every picture is drawn in Noto Sans CJK, which has Latin and Chinese glyphs
and comes from a wheel (`cvttf-NotoSansCJK-Regular`, a core dependency, see docs/models.md), so
a picture draws the same on every machine whatever fonts it has, and lines may be Chinese.
"""

from __future__ import annotations

import functools
import io
import random
import re
import zlib
from importlib.resources import files
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from errand.eval.checks import CheckResult
from errand.eval.tasks import Picture, Task
from errand.llm.ocr import data_url

_WIDTH = {"receipt": 520, "menu": 680, "screenshot": 760, "label": 460}
_PAPER = {
    "receipt": (250, 248, 240),
    "menu": (255, 250, 235),
    "screenshot": (255, 255, 255),
    "label": (255, 255, 255),
}
_INK = (25, 25, 25)
_HEADER = (31, 84, 160)
"""The app bar of a screenshot, its title drawn in white."""
_SIZE, _TITLE_SIZE, _MARGIN = 24, 32, 28
_FONT_PACKAGE, _FONT_FILE = "cvttf_NotoSansCJK_Regular", "NotoSansCJKtc-Regular.otf"


def font_file() -> Path:
    """Noto Sans CJK (Latin and Chinese in one font) inside the installed wheel: found by the
    package, not by the machine's font folders, so every install draws the same pictures."""
    path = Path(str(files(_FONT_PACKAGE) / _FONT_FILE))
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall cvttf-NotoSansCJK-Regular")
    return path


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    """The font at ``size`` px, loaded once (the file is 16 MB)."""
    return ImageFont.truetype(str(font_file()), size)


def render(picture: Picture) -> bytes:
    """The picture as PNG bytes (deterministic: the same picture gives the same bytes)."""
    font, title_font = _font(_SIZE), _font(_TITLE_SIZE)
    paper = _PAPER[picture.kind]
    widest = max(
        title_font.getlength(picture.title),
        *(font.getlength(line.replace(" | ", " " * 6)) for line in picture.lines),
    )
    width = max(_WIDTH[picture.kind], int(widest) + 2 * _MARGIN)
    step, title_step = int(_SIZE * 1.6), int(_TITLE_SIZE * 1.8)
    height = 2 * _MARGIN + title_step + 16 + step * len(picture.lines)
    img = Image.new("RGB", (width, height), paper)
    draw = ImageDraw.Draw(img)
    if picture.kind == "screenshot":
        draw.rectangle((0, 0, width, _MARGIN + title_step), fill=_HEADER)
        draw.text((_MARGIN, _MARGIN // 2 + 6), picture.title, font=title_font, fill=(255, 255, 255))
    else:
        draw.text((_MARGIN, _MARGIN), picture.title, font=title_font, fill=_INK)
    y = _MARGIN + title_step
    if picture.kind == "receipt":
        draw.line((_MARGIN, y, width - _MARGIN, y), fill=(120, 120, 120), width=2)
    if picture.kind in ("menu", "label"):
        draw.rectangle((6, 6, width - 7, height - 7), outline=_INK, width=3)
    y += 16
    for line in picture.lines:
        left, sep, right = line.partition(" | ")
        draw.text((_MARGIN, y), left, font=font, fill=_INK)
        if sep:
            w = draw.textlength(right, font=font)
            draw.text((width - _MARGIN - w, y), right, font=font, fill=_INK)
        y += step
    if picture.noise:
        _speckle(img, picture)
    if picture.angle:
        img = img.rotate(picture.angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=paper)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def image_urls(task: Task) -> list[str]:
    """The task's pictures as ``data:image/png`` URLs, the form every front end sends."""
    return [data_url(render(p)) for p in task.images]


def _speckle(img: Image.Image, picture: Picture) -> None:
    """Grey dots over a share of the pixels, placed by a generator seeded with the text."""
    seed = zlib.crc32("\n".join([picture.title, *picture.lines]).encode("utf-8"))
    rng = random.Random(seed)
    px = img.load()
    assert px is not None
    w, h = img.size
    for _ in range(int(picture.noise * w * h)):
        g = rng.randrange(120, 210)
        px[rng.randrange(w), rng.randrange(h)] = (g, g, g)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text).casefold()


def read_checks(task: Task, request_text: str) -> list[CheckResult]:
    """For replays: each fact a picture ``shows`` is in the text its OCR put in the request, so
    a picture whose facts cannot be read fails its task (spacing and case are ignored)."""
    text = _squash(request_text)
    return [
        CheckResult(
            f"picture {n} reads {fact!r}",
            ok := _squash(fact) in text,
            "" if ok else "not in the text read from the picture",
        )
        for n, picture in enumerate(task.images, 1)
        for fact in picture.shows
    ]
