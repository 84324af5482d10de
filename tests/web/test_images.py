"""Attaching an image (a receipt, a screenshot): sent as a data URL with the run when the model
reads images; otherwise the page shows the server's clear message and keeps what was typed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import expect

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


def test_a_model_without_eyes_says_so(errand_server: ServerFactory, web: Web, tmp_path: Path) -> None:
    server = errand_server([ANSWER])
    page = web.page
    web.allow_console_error(r"status of 400")  # Chromium logs the refused POST /v1/runs itself
    web.sign_in(server, server.key("dave"))
    page.get_by_label("Your request").fill(REQUEST)
    attach = page.get_by_role("button", name="Attach an image")
    expect(attach).to_be_enabled()
    with page.expect_file_chooser() as chooser:
        attach.press("Enter")  # by keyboard: waits until the button can take it, focuses, presses
    chooser.value.set_files(str(small_png(tmp_path)))
    expect(page.get_by_role("button", name="Remove receipt.png")).to_be_visible()
    page.get_by_role("button", name="Send").click()

    alert = page.locator("#composer-error")
    expect(alert).to_contain_text("does not read images")
    expect(alert).to_contain_text("ERRAND_MODEL_ACCEPTS_IMAGES=true")
    expect(page.get_by_label("Your request")).to_have_value(REQUEST)  # nothing typed is lost
    expect(page.get_by_role("button", name="Remove receipt.png")).to_be_visible()
    assert page.evaluate("location.hash") == ""
    assert accessibility_problems(page) == []
    web.shot("image-refused")
