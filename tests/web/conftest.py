"""Browser tests of the web page: a real ``errand serve`` subprocess on loopback with the scripted
model, driven by playwright through Debian's chromium (``apt-get install chromium``); no browser
is ever downloaded. Every page fails its test on a browser console error or an uncaught one."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from errand.config import Settings
from errand.runtime import open_store
from errand.server.keys import KeyStore
from errand.services.store import ServiceStore
from tests.cli_process import errand_env
from tests.server.conftest import free_socket

CHROMIUM = Path(os.environ.get("ERRAND_TEST_CHROMIUM", "/usr/bin/chromium"))
"""Debian's chromium; playwright drives it instead of a browser of its own."""

expect.set_options(timeout=20_000)  # a shared 2-core machine: steps can take seconds

DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def web_seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded services database, copied into each server's home (seeding takes seconds)."""
    home = tmp_path_factory.mktemp("web-seed")
    open_store(Settings(home=home)).close()
    return home / "errand.db"


@dataclass
class ErrandServer:
    """``errand serve`` in a subprocess, with its home folder and environment."""

    home: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    ready_timeout_s: float = 90.0
    """How long start-up may take (loading a real model takes longer)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or start again, on the same port and home) and wait until it is ready."""
        self.starts += 1
        log = (self.home / f"serve-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "errand", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=errand_env(self.home, self.env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"errand serve did not become ready:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: the connection drops with no goodbye, as when a machine dies."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 40) -> str:
        logs = sorted(self.home.glob("serve-*.log"))
        text = logs[-1].read_text(errors="replace") if logs else ""
        return "\n".join(text.splitlines()[-lines:])

    def key(self, user: str = "dave") -> str:
        """A new API key for ``user`` (written straight to the database; `errand keys create` is
        exercised once, in test_trip)."""
        store = ServiceStore.open(Settings(home=self.home).resolved_database_url(), seed=False)
        try:
            _, key = KeyStore(store.sessions).create(user, rpm=10_000, max_runs=20)
        finally:
            store.close()
        return key

    def api(self, key: str) -> httpx.Client:
        """An HTTP client of this server with ``key``."""
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def run(self, key: str, run_id: str) -> dict[str, Any]:
        """The run as the API shows it."""
        with self.api(key) as client:
            r = client.get(f"/v1/runs/{run_id}")
            r.raise_for_status()
            data: dict[str, Any] = r.json()
            return data


ServerFactory = Callable[..., ErrandServer]


@pytest.fixture
def errand_server(tmp_path: Path, web_seeded_db: Path) -> Iterator[ServerFactory]:
    """``errand_server(script, token_delay_s=..., **env)``: start ``errand serve`` with the scripted
    model playing ``script`` (a list of turns, see `ScriptedModel.from_file`), or with the model
    ``env`` chooses when ``script`` is None."""
    servers: list[ErrandServer] = []

    def start(
        script: list[Any] | None, *, token_delay_s: float = 0.0, ready_timeout_s: float = 90.0, **env: str
    ) -> ErrandServer:
        home = tmp_path / f"home{len(servers)}"
        home.mkdir()
        shutil.copy(web_seeded_db, home / "errand.db")
        model: dict[str, str] = {}
        if script is not None:
            script_path = home / "script.json"
            script_path.write_text(json.dumps(script), encoding="utf-8")
            model = {
                "ERRAND_MODEL_BACKEND": "scripted",
                "ERRAND_SCRIPT_PATH": str(script_path),
                "ERRAND_SCRIPT_TOKEN_DELAY_S": str(token_delay_s),
            }
        sock = free_socket()
        port = sock.getsockname()[1]
        sock.close()
        server = ErrandServer(
            home=home,
            port=port,
            env={**model, "ERRAND_SERVE_PING_S": "2", **env},
            ready_timeout_s=ready_timeout_s,
        )
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless."""
    if not CHROMIUM.exists():
        pytest.skip(f"no chromium at {CHROMIUM}: apt-get install -y chromium (never `playwright install`)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield b
        b.close()


@dataclass
class Web:
    """A browser page with its console watched and a folder for screenshots."""

    page: Page
    out: Path
    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(
        # A run's event stream cut at a chunk boundary (the server stopping, a loaded machine):
        # Chromium logs it; the page resumes from the last event id (tests/web/test_reconnect.py).
        default_factory=lambda: [r"ERR_INCOMPLETE_CHUNKED_ENCODING \(http://[^)]*/v1/runs/[^/)]+/events"]
    )
    shots: list[Path] = field(default_factory=list)

    def allow_console_error(self, pattern: str) -> None:
        """A console error this test expects (Chromium logs every 4xx answer to fetch)."""
        self.allowed.append(pattern)

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(re.search(p, e) for p in self.allowed)]

    def shot(self, name: str) -> Path:
        """A screenshot of the page now, saved under the test's folder."""
        path = self.out / f"{len(self.shots) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path))
        self.shots.append(path)
        return path

    def sign_in(self, server: ErrandServer, key: str) -> None:
        """Open the page and sign in with ``key``, by keyboard."""
        page = self.page
        page.goto(server.url + "/")
        page.get_by_label("API key").fill(key)
        page.get_by_label("API key").press("Enter")
        page.get_by_role("button", name="Sign out").wait_for()

    def ask(self, text: str) -> str:
        """Send a request (in a conversation that is open, its next message); the new run's id,
        once the URL names it."""
        page = self.page
        before = page.evaluate("location.hash.slice(1)")
        # The textbox: the transcript's request is labelled "Your request" too.
        page.get_by_role("textbox", name="Your request").fill(text)
        page.get_by_role("button", name="Send").click()
        expect(page).to_have_url(re.compile(r"#run_"))
        wait_until(lambda: page.evaluate("location.hash.slice(1)") != before, what="the new run's URL")
        return str(page.evaluate("location.hash.slice(1)"))


@contextmanager
def open_page(browser: Browser, out: Path, **context: Any) -> Iterator[Web]:
    """A fresh browser context and page; fails on console errors when the block ends."""
    ctx = browser.new_context(viewport=context.pop("viewport", DESKTOP), locale="en-GB", **context)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    web = Web(page=page, out=out)

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            web.errors.append(f"console: {msg.text} ({msg.location.get('url', '')})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: web.errors.append(f"pageerror: {exc}"))
    try:
        yield web
    finally:
        ctx.close()
    unexpected = web.unexpected_errors()
    assert not unexpected, "browser console errors:\n" + "\n".join(unexpected)


@pytest.fixture
def web(browser: Browser, tmp_path: Path) -> Iterator[Web]:
    """A desktop-sized page; screenshots go to ``tmp_path``."""
    with open_page(browser, tmp_path) as w:
        yield w


A11Y_SCRIPT = """
(root) => {
  const problems = [];
  const scope = document.querySelector('dialog[open]') || document.body;
  const visible = (e) => {
    const s = getComputedStyle(e);
    const r = e.getBoundingClientRect();
    return s.visibility !== 'hidden' && s.display !== 'none' && r.width > 0 && r.height > 0;
  };
  const describe = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
    (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : '');
  // 1. Every control has an accessible name.
  for (const e of scope.querySelectorAll('button, input, textarea, select, a[href], summary, [tabindex]')) {
    if (!visible(e) || e.getAttribute('tabindex') === '-1') continue;
    const labelled = e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') ||
      (e.id && document.querySelector(`label[for="${e.id}"]`)) || e.closest('label') ||
      (e.textContent || '').trim() || e.getAttribute('title');
    if (!labelled) problems.push('no label: ' + describe(e));
  }
  // 2. Text contrast (WCAG AA): 4.5:1, or 3:1 for large text.
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a), a: 1,
  });
  const background = (e) => {
    const layers = [];
    for (let n = e; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let base = { r: 255, g: 255, b: 255, a: 1 };
    for (const c of layers.reverse()) base = over(c, base);
    return base;
  };
  const walker = document.createTreeWalker(scope, NodeFilter.SHOW_TEXT);
  const checked = new Set();
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    const e = t.parentElement;
    if (!t.textContent.trim() || !e || checked.has(e) || !visible(e)) continue;
    checked.add(e);
    if (e.closest('button:disabled, [aria-hidden="true"], .visually-hidden, option')) continue;
    const s = getComputedStyle(e);
    const fg = over(parse(s.color), background(e));
    const bg = background(e);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(s.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      problems.push(`contrast ${ratio.toFixed(2)} on ${describe(e)}: ${t.textContent.trim().slice(0, 40)}`);
    }
  }
  return problems;
}
"""


def accessibility_problems(page: Page) -> list[str]:
    """Controls without a label and text below WCAG AA contrast, on the page as it is now
    (only inside the dialog while one is open: the rest is inert)."""
    problems: list[str] = page.evaluate(A11Y_SCRIPT, None)
    return problems


def wait_until(check: Callable[[], object], timeout_s: float = 20.0, what: str = "condition") -> None:
    """Poll ``check`` until it is truthy (``page.wait_for_function`` evaluates strings, which the
    page's Content-Security-Policy rightly forbids)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def focus_is_visible(page: Page) -> bool:
    """The focused element draws a focus ring of at least 2px."""
    style: dict[str, str] = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return {style: s.outlineStyle, width: s.outlineWidth}; }"
    )
    return style["style"] not in ("none", "") and float(style["width"].removesuffix("px") or 0) >= 2
