"""Images with known text, drawn in code for the OCR tests (no image files in the repository)."""

from __future__ import annotations

import io
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from errand.eval.pictures import font_file

LATIN_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def latin_font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans where installed (Debian's fonts-dejavu-core), else Pillow's own font."""
    if LATIN_FONT.exists():
        return ImageFont.truetype(str(LATIN_FONT), 30)
    return ImageFont.load_default(size=30)


def cjk_font() -> Path:
    """Noto Sans CJK from the `cvttf-NotoSansCJK-Regular` wheel, the font the eval's pictures
    use: installed with errand, so the Chinese tests run on every machine."""
    return font_file()


def text_image(
    lines: list[str],
    *,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont | None = None,
    rotate: float = 0.0,
    noise: float = 0.0,
    fmt: str = "PNG",
) -> bytes:
    """Black lines of text on white, optionally turned by ``rotate`` degrees and speckled
    with ``noise`` (the share of pixels set to a random grey), as an image file's bytes."""
    font = font or latin_font()
    img = Image.new("RGB", (760, 70 + 60 * len(lines)), "white")
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((30, 35 + 60 * i), line, fill="black", font=font)
    if rotate:
        img = img.rotate(rotate, expand=True, fillcolor="white", resample=Image.Resampling.BICUBIC)
    if noise:
        rng = random.Random(7)
        px = img.load()
        assert px is not None
        for _ in range(int(img.width * img.height * noise)):
            g = rng.randrange(0, 256)
            px[rng.randrange(img.width), rng.randrange(img.height)] = (g, g, g)
        img = img.filter(ImageFilter.GaussianBlur(0.6))
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()
