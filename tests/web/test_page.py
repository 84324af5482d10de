"""The page itself: served without a key and without a build step, signing in and out, a wrong
key, and the phone layout in light and dark colours (labels, contrast, no sideways scrolling)."""

from __future__ import annotations

from pathlib import Path

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.web.conftest import PHONE, ServerFactory, Web, accessibility_problems, open_page

HELLO = "Hello! Tell me what needs doing and I will take care of it."


def test_the_page_is_served_without_a_key_and_the_api_is_not(errand_server: ServerFactory) -> None:
    server = errand_server([HELLO])
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/web/app.js">' in page.text
    for name in ("app.js", "api.js", "stream.js", "render.js", "confirm.js", "format.js"):
        js = httpx.get(f"{server.url}/web/{name}")
        assert js.status_code == 200 and "javascript" in js.headers["content-type"], name
    assert httpx.get(server.url + "/web/app.css").headers["content-type"].startswith("text/css")
    assert httpx.get(server.url + "/web/__init__.py").status_code == 404
    assert httpx.get(server.url + "/v1/runs").status_code == 401
    assert "/" not in httpx.get(server.url + "/openapi.json").json()["paths"]


def test_sign_in_remembers_the_key_and_sign_out_forgets_it(errand_server: ServerFactory, web: Web) -> None:
    server = errand_server([HELLO])
    page = web.page
    web.allow_console_error(r"status of 401")  # the wrong key, refused as it should be
    page.goto(server.url + "/")
    page.get_by_label("API key").fill("errand-nope-nope")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert").filter(has_text="not accepted")).to_be_visible()
    web.shot("wrong-key")

    web.sign_in(server, server.key("dave"))
    web.ask("Say hello.")
    expect(page.get_by_label("Answer")).to_have_text(HELLO)
    page.reload()
    expect(page.get_by_label("Answer")).to_have_text(HELLO)  # still signed in, same conversation
    expect(page.locator("#runs-list li")).to_have_count(1)

    page.get_by_role("button", name="New errand").click()
    expect(page.get_by_role("heading", name="What needs doing?")).to_be_visible()
    expect(page.get_by_label("Your request")).to_be_focused()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("localStorage.getItem('errand.apiKey')") is None
    page.reload()
    expect(page.get_by_label("API key")).to_be_visible()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_layout(errand_server: ServerFactory, browser: Browser, tmp_path: Path, scheme: str) -> None:
    server = errand_server([HELLO])
    key = server.key("dave")
    with open_page(
        browser, tmp_path, viewport=PHONE, is_mobile=True, has_touch=True, color_scheme=scheme
    ) as web:
        page = web.page
        page.goto(server.url + "/")
        assert accessibility_problems(page) == []
        web.sign_in(server, key)
        runs = page.get_by_role("navigation", name="Conversations")
        toggle = page.get_by_role("button", name="Conversations")
        expect(runs).to_be_hidden()  # the chat has the whole width
        web.ask("Say hello.")
        expect(page.get_by_label("Answer")).to_have_text(HELLO)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert accessibility_problems(page) == []
        web.shot(f"phone-{scheme}-chat")

        expect(toggle).to_have_attribute("aria-expanded", "false")
        toggle.click()
        expect(runs).to_be_visible()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(runs.locator("li")).to_have_count(1)
        assert accessibility_problems(page) == []
        web.shot(f"phone-{scheme}-conversations")
        page.keyboard.press("Escape")
        expect(runs).to_be_hidden()
        expect(toggle).to_be_focused()
