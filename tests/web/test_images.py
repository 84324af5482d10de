"""Attaching an image (a receipt, a screenshot): sent as a data URL with the run; a model that
reads images gets it, any other model the text OCR read from it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import expect

from tests.images import text_image
from tests.web.conftest import ServerFactory, Web, accessibility_problems

REQUEST = "What does this picture show?"
ANSWER = "It shows a blue square on a white background."


def small_png(folder: Path) -> Path:
    path = folder / "receipt.png"
    img = Image.new("RGB", (120, 80), "white")
    img.paste((30, 80, 200), (30, 20, 90, 60))
    img.save(path)
    return path


def large_photo(folder: Path) -> Path:
    """A phone-sized photo (noise, so it stays large as PNG): the page shrinks it before sending."""
    path = folder / "photo.png"
    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 255, (1500, 2400, 3), dtype=np.uint8)).save(path)
    assert path.stat().st_size > 1_500_000
    return path


def stored_images(home: Path, run_id: str) -> list[str]:
    """The images the run was created with, as the server stored them."""
    with sqlite3.connect(home / "errand.db") as db:
        (options,) = db.execute("SELECT options FROM runs WHERE id = ?", (run_id,)).fetchone()
    images: list[str] = json.loads(options)["images"]
    return images


def test_an_attached_image_goes_with_the_run(errand_server: ServerFactory, web: Web, tmp_path: Path) -> None:
    server = errand_server([ANSWER], ERRAND_MODEL_ACCEPTS_IMAGES="true")
    page = web.page
    web.sign_in(server, server.key("dave"))
    page.get_by_label("Your request").fill(REQUEST)
    page.set_input_files("#attach-input", [str(small_png(tmp_path)), str(large_photo(tmp_path))])
    expect(page.get_by_role("button", name="Remove receipt.png")).to_be_visible()
    expect(page.get_by_role("button", name="Remove photo.png")).to_be_visible()
    expect(page.get_by_alt_text("Attached: receipt.png")).to_be_visible()
    assert accessibility_problems(page) == []
    web.shot("image-attached")

    page.get_by_role("button", name="Send").click()
    expect(page.get_by_label("Answer")).to_have_text(ANSWER)
    expect(page.get_by_alt_text("Attached image 1")).to_be_visible()
    expect(page.locator("#attachments li")).to_have_count(0)
    run_id = str(page.evaluate("location.hash.slice(1)"))
    images = stored_images(server.home, run_id)
    assert len(images) == 2
    assert images[0].startswith("data:image/png;base64,")
    assert images[1].startswith("data:image/jpeg;base64,")  # shrunk: at most 1600 px, JPEG
    assert len(images[1]) < 1_500_000
    web.shot("image-answered")


def test_a_model_without_eyes_gets_the_text_in_the_image(
    errand_server: ServerFactory, web: Web, tmp_path: Path
) -> None:
    server = errand_server([ANSWER])
    page = web.page
    web.sign_in(server, server.key("dave"))
    page.get_by_label("Your request").fill(REQUEST)
    attach = page.get_by_role("button", name="Attach an image")
    expect(attach).to_be_enabled()
    with page.expect_file_chooser() as chooser:
        attach.press("Enter")  # by keyboard: waits until the button can take it, focuses, presses
    receipt = tmp_path / "receipt.png"
    receipt.write_bytes(text_image(["Order FO-000123", "Total: 128.50 CNY"]))
    chooser.value.set_files(str(receipt))
    expect(page.get_by_role("button", name="Remove receipt.png")).to_be_visible()
    page.get_by_role("button", name="Send").click()

    expect(page.get_by_label("Answer")).to_have_text(ANSWER)
    run_id = str(page.evaluate("location.hash.slice(1)"))
    assert stored_images(server.home, run_id) == []  # read on arrival: the run holds the text
    with sqlite3.connect(server.home / "errand.db") as db:
        (stored,) = db.execute("SELECT input FROM runs WHERE id = ?", (run_id,)).fetchone()
    assert stored == f"{REQUEST}\n\n[Image 1, text read by OCR:\nOrder FO-000123\nTotal: 128.50 CNY\n]"
    assert accessibility_problems(page) == []
    web.shot("image-read")
