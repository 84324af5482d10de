"""Images with known text, drawn in code for the OCR tests (no image files in the repository)."""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

LATIN_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
CJK_GLOBS = ("Noto*CJK*", "NotoSansSC*", "wqy*", "*Hei*", "*Song*", "DroidSansFallback*", "*[Ff]allback*")


def latin_font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans where installed (Debian's fonts-dejavu-core), else Pillow's own font."""
    if LATIN_FONT.exists():
        return ImageFont.truetype(str(LATIN_FONT), 30)
    return ImageFont.load_default(size=30)


def cjk_font() -> Path | None:
    """A font with Chinese glyphs: ``ERRAND_TEST_CJK_FONT``, else one fontconfig or the usual
    folders know, else None (a clean Debian image has none; ``apt-get install
    fonts-wqy-microhei`` adds one)."""
    configured = os.environ.get("ERRAND_TEST_CJK_FONT")
    if configured and Path(configured).exists():
        return Path(configured)
    if shutil.which("fc-list"):
        out = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, check=False
        ).stdout
        for line in out.splitlines():
            path = Path(line.split(":")[0].strip())
            if path.exists():
                return path
    for folder in (Path("/usr/share/fonts"), Path("/System/Library/Fonts"), Path("C:/Windows/Fonts")):
        for pattern in CJK_GLOBS:
            for path in folder.rglob(pattern) if folder.exists() else ():
                if path.suffix.lower() in {".ttf", ".ttc", ".otf"}:
                    return path
    return None


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
