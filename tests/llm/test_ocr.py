"""OCR (errand.llm.ocr): the text in generated images, read by the engine shipped in the wheel."""

from __future__ import annotations

import threading

import pytest
from PIL import ImageFont

from errand.llm import ocr
from errand.llm.ocr import ImageDataError, data_url, image_bytes, read_image
from tests.images import cjk_font, text_image

RECEIPT = ["Receipt FO-000123", "Total: 128.50 CNY", "Date: 2026-12-07"]
FIELDS = ["FO-000123", "128.50", "2026-12-07"]


def test_the_fields_of_an_english_receipt_are_read() -> None:
    result = read_image(text_image(RECEIPT))
    for field in FIELDS:
        assert field in result.text, result.text
    assert [line.text for line in result.lines] == RECEIPT
    assert all(0.5 < line.confidence <= 1 for line in result.lines)


def test_a_turned_noisy_jpeg_is_still_read() -> None:
    text = read_image(text_image(RECEIPT, rotate=4, noise=0.03, fmt="JPEG")).text
    for field in FIELDS:
        assert field in text, text


def test_chinese_text_is_read() -> None:
    lines = ["订单号 FO-000123", "合计 128.50 元", "日期 2026年12月7日"]
    text = read_image(text_image(lines, font=ImageFont.truetype(str(cjk_font()), 30))).text
    compact = text.replace(" ", "")
    for field in ("订单号", "FO-000123", "合计", "128.50", "2026年12月7日"):
        assert field in compact, text


def test_a_label_and_its_amount_on_one_row_are_one_line() -> None:
    lines = ["Coffee" + " " * 40 + "32.00", "Total" + " " * 42 + "128.50"]
    result = read_image(text_image(lines))
    assert len(result.lines) == 2, result.lines
    assert result.lines[1].text.startswith("Total") and result.lines[1].text.endswith("128.50")


def test_an_image_without_text_reads_as_nothing() -> None:
    assert read_image(text_image([])).text == ""


def test_data_urls_round_trip_and_refuse_what_is_not_an_image() -> None:
    png = text_image(["x"])
    url = data_url(png)
    assert url.startswith("data:image/png;base64,") and image_bytes(url) == png
    assert data_url(text_image(["x"], fmt="JPEG")).startswith("data:image/jpeg;base64,")
    with pytest.raises(ImageDataError, match="not an image"):
        data_url(b"%PDF-1.7 not a picture")
    with pytest.raises(ImageDataError, match="base64"):
        image_bytes("data:image/png;base64,@@@")
    with pytest.raises(ImageDataError, match="data:image"):
        image_bytes("https://example.invalid/a.png")
    with pytest.raises(ImageDataError, match="not an image"):
        read_image(b"GIF89a broken")


def test_the_engine_is_loaded_once_for_threads_reading_at_once() -> None:
    image = text_image(["FO-000123"])
    texts: list[str] = []
    threads = [threading.Thread(target=lambda: texts.append(read_image(image).text)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert texts == ["FO-000123"] * 3
    assert ocr._engine() is ocr._engine()
