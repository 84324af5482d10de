"""OCR of attached images: fields recovered and seconds per image, on generated pictures.

Four kinds of image, drawn in code with known contents (seeded, so every run draws the same):

- ``receipt``: a shop receipt, items with prices on the right, a total, a date, an order id;
- ``screenshot``: a phone app's order page: coloured bars, grey labels, white text on blue;
- ``photo``: a receipt as a phone photo: turned a few degrees, grey paper, speckled, blurred;
- ``small``: the receipt scaled to 40% (text 9-11 px high), where reading starts to fail;
- ``menu``: a Chinese menu with prices, in Noto Sans CJK from the ``cvttf-NotoSansCJK-Regular``
  wheel errand installs (the eval's pictures' font), or the font ``--cjk-font`` names.

A field is recovered when it appears in the text `errand.llm.ocr.read_image` returns (spaces
ignored). Seconds are per image, the engine already loaded (its first load is reported apart).

    python bench/ocr.py [--per-kind 5] [--cjk-font FILE] [--out FILE]

Prints a Markdown table; writes ``bench/results/ocr.json`` with the environment block of
``bench/environment.py``.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from environment import Environment
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from errand.eval.pictures import font_file
from errand.llm import ocr

RESULTS = Path(__file__).resolve().parent / "results" / "ocr.json"
LATIN = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
ITEMS = ["Coffee", "Green tea", "Bagel", "Noodles", "Dumplings", "Orange juice", "Rice", "Soup"]
DISHES = ["宫保鸡丁", "麻婆豆腐", "红烧肉", "西红柿炒蛋", "清蒸鲈鱼", "酸辣汤", "小笼包", "扬州炒饭"]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Drawn = tuple[bytes, list[str]]


def font(size: int, path: str = LATIN) -> Font:
    if Path(path).exists():
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def png(img: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, quality=85) if fmt == "JPEG" else img.save(out, fmt)
    return out.getvalue()


def _order(rng: random.Random) -> tuple[str, str, list[tuple[str, str]], str]:
    oid = f"FO-{rng.randrange(1, 999_999):06d}"
    date = f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    items = [
        (name, f"{rng.randrange(5, 90)}.{rng.choice(['00', '50', '90'])}") for name in rng.sample(ITEMS, 3)
    ]
    total = f"{sum(float(p) for _, p in items):.2f}"
    return oid, date, items, total


def receipt(rng: random.Random, *, paper: str = "white") -> tuple[Image.Image, list[str]]:
    oid, date, items, total = _order(rng)
    img = Image.new("RGB", (520, 420), paper)
    d = ImageDraw.Draw(img)
    d.text((150, 20), "CORNER MARKET", fill="black", font=font(28))
    d.text((30, 70), f"Order {oid}", fill="black", font=font(22))
    d.text((30, 100), f"Date {date}", fill="black", font=font(22))
    for i, (name, price) in enumerate(items):
        d.text((30, 150 + 40 * i), name, fill="black", font=font(22))
        d.text((400, 150 + 40 * i), price, fill="black", font=font(22))
    d.line((30, 280, 490, 280), fill="black", width=2)
    d.text((30, 300), "TOTAL", fill="black", font=font(26))
    d.text((390, 300), total, fill="black", font=font(26))
    return img, [oid, date, total, *(p for _, p in items), *(n for n, _ in items)]


def draw_receipt(rng: random.Random) -> Drawn:
    img, fields = receipt(rng)
    return png(img), fields


def draw_photo(rng: random.Random) -> Drawn:
    img, fields = receipt(rng, paper="#e8e4da")
    img = img.rotate(rng.uniform(-5, 5), expand=True, fillcolor="#8a8a8a", resample=Image.Resampling.BICUBIC)
    px = img.load()
    assert px is not None
    for _ in range(img.width * img.height // 40):
        g = rng.randrange(60, 256)
        px[rng.randrange(img.width), rng.randrange(img.height)] = (g, g, g)
    return png(img.filter(ImageFilter.GaussianBlur(0.7)), "JPEG"), fields


def draw_small(rng: random.Random) -> Drawn:
    img, fields = receipt(rng)
    return png(img.resize((img.width * 2 // 5, img.height * 2 // 5), Image.Resampling.LANCZOS)), fields


def draw_screenshot(rng: random.Random) -> Drawn:
    oid, date, items, total = _order(rng)
    img = Image.new("RGB", (540, 700), "#f4f5f7")
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, 540, 90), fill="#1f6feb")
    d.text((24, 28), "Order details", fill="white", font=font(30))
    d.text((24, 120), "Order number", fill="#6e7781", font=font(18))
    d.text((24, 146), oid, fill="#24292f", font=font(24))
    d.text((300, 120), "Placed on", fill="#6e7781", font=font(18))
    d.text((300, 146), date, fill="#24292f", font=font(24))
    for i, (name, price) in enumerate(items):
        y = 220 + 70 * i
        d.rounded_rectangle((16, y, 524, y + 56), radius=10, fill="white")
        d.text((32, y + 14), name, fill="#24292f", font=font(22))
        d.text((420, y + 14), price, fill="#24292f", font=font(22))
    d.rounded_rectangle((16, 560, 524, 640), radius=14, fill="#2da44e")
    d.text((40, 582), f"Pay {total} CNY", fill="white", font=font(30))
    return png(img), [oid, date, total, *(p for _, p in items), *(n for n, _ in items)]


def draw_menu(rng: random.Random, cjk: str) -> Drawn:
    img = Image.new("RGB", (560, 520), "#fffaf0")
    d = ImageDraw.Draw(img)
    d.text((190, 20), "今日菜单", fill="#8b0000", font=font(36, cjk))
    fields = ["今日菜单"]
    for i, dish in enumerate(rng.sample(DISHES, 5)):
        price = f"{rng.randrange(12, 99)}.00"
        d.text((40, 100 + 70 * i), dish, fill="black", font=font(28, cjk))
        d.text((400, 100 + 70 * i), f"¥{price}", fill="black", font=font(28, cjk))
        fields += [dish, price]
    d.text((40, 460), f"营业时间 {rng.randrange(9, 12)}:00-21:00", fill="#555555", font=font(22, cjk))
    return png(img), fields


def cjk_font(given: str | None) -> str:
    """The font named, else the packaged one, so every machine draws the same menus."""
    return given or str(font_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-kind", type=int, default=5, help="images of each kind (default 5)")
    ap.add_argument("--cjk-font", help="a font with Chinese glyphs for the menus (default: the packaged one)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    env = Environment.capture()
    cjk = cjk_font(args.cjk_font)
    kinds: dict[str, Callable[[random.Random], Drawn]] = {
        "receipt": draw_receipt,
        "screenshot": draw_screenshot,
        "photo": draw_photo,
        "small": draw_small,
        "menu": lambda rng: draw_menu(rng, cjk),
    }
    start = time.perf_counter()
    ocr.read_image(draw_receipt(random.Random(0))[0])
    first = time.perf_counter() - start
    rows: list[dict[str, Any]] = []
    for kind, draw in kinds.items():
        rng = random.Random(f"{kind}-2026")
        found = total = 0
        seconds: list[float] = []
        missed: list[str] = []
        for _ in range(args.per_kind):
            data, fields = draw(rng)
            result = ocr.read_image(data)
            text = result.text.replace(" ", "")
            hits = [f for f in fields if f.replace(" ", "") in text]
            found += len(hits)
            total += len(fields)
            missed += [f for f in fields if f not in hits]
            seconds.append(result.seconds)
        rows.append(
            {
                "kind": kind,
                "images": args.per_kind,
                "fields": total,
                "recovered": found,
                "recovered_pct": round(100 * found / total, 1),
                "median_s": round(statistics.median(seconds), 2),
                "max_s": round(max(seconds), 2),
                "missed": missed[:20],
            }
        )
    print("| kind | images | fields recovered | median s/image | max s/image |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        line = f"| {r['kind']} | {r['images']} | {r['recovered']}/{r['fields']} ({r['recovered_pct']}%)"
        print(f"{line} | {r['median_s']} | {r['max_s']} |")
    print(f"first image (engine load included): {first:.2f} s; menus in {cjk}")
    report = {
        "engine": "rapidocr " + _version("rapidocr") + ", onnxruntime " + _version("onnxruntime"),
        "first_image_s": round(first, 2),
        "cjk_font": cjk,
        "rows": rows,
        "environment": env.finish(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _version(name: str) -> str:
    import importlib.metadata

    return importlib.metadata.version(name)


if __name__ == "__main__":
    main()
