"""The page's modules on their own, in the browser, without a server: the SSE reader across
dropped connections and odd chunk boundaries, the event log's dedupe, and the formatting of
amounts and arguments."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route

from errand.web import STATIC
from tests.web.conftest import Web

ORIGIN = "http://errand.test"


@pytest.fixture
def modules(web: Web) -> Iterator[Page]:
    """A page on a made-up origin whose /web/ files are the package's own."""

    def serve(route: Route) -> None:
        path = route.request.url.removeprefix(ORIGIN)
        if path.startswith("/web/"):
            file = STATIC / path.removeprefix("/web/")
            kind = "text/javascript" if file.suffix == ".js" else mimetypes.guess_type(file.name)[0]
            route.fulfill(status=200, body=file.read_bytes(), content_type=kind or "text/plain")
        else:
            route.fulfill(status=200, body="<!doctype html><title>modules</title>", content_type="text/html")

    web.page.route(f"{ORIGIN}/**", serve)
    web.page.goto(f"{ORIGIN}/blank")
    yield web.page


READER = """
async () => {
  const { RunStream } = await import('/web/stream.js');
  const ev = (id, seq, type) => `id: ${id}\\nevent: ${type}\\ndata: {"seq": ${seq}, "type": "${type}"}\\n\\n`;
  const bodies = [
    // the connection drops in the middle of event 3
    ev(1, 1, 'run_started') + ev(2, 2, 'text_delta') + 'id: 3\\nevent: text_delta\\ndata: {"se',
    // the server sends event 2 again, with CRLF line ends, a comment and a ping
    (': ping\\r\\n\\r\\n' + ev(2, 2, 'text_delta') + ev(3, 3, 'text_delta') + ev(4, 4, 'run_finished'))
      .replace(/\\n/g, '\\r\\n'),
  ];
  const sent = [];
  const enc = new TextEncoder();
  window.fetch = async (url, init) => {
    sent.push(init.headers['Last-Event-ID'] || null);
    const body = bodies[sent.length - 1];
    const drops = sent.length === 1;
    let at = 0;
    const stream = new ReadableStream({
      pull(c) {
        if (at >= body.length) { if (drops) c.error(new TypeError('network error')); else c.close(); return; }
        c.enqueue(enc.encode(body.slice(at, at + 5)));  // chunks cut anywhere, even inside \\r\\n
        at += 5;
      },
    });
    return new Response(stream, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  };
  const got = [];
  const states = [];
  await new Promise((resolve) => new RunStream({
    url: '/v1/runs/x/events',
    headers: () => ({ Authorization: 'Bearer k' }),
    onEvent: (e) => got.push([e.id, e.type]),
    onState: (s) => { states.push(s); if (s === 'ended') resolve(); },
    hasEnded: async () => false,
  }).start());
  return { got, sent, states };
}
"""


def test_the_reader_resumes_after_a_drop_and_parses_any_chunking(modules: Page) -> None:
    result: dict[str, Any] = modules.evaluate(READER)
    # Event 2 arrives twice (the log dedupes it, see below); the cut event 3 exactly once, whole.
    assert result["got"] == [
        [1, "run_started"],
        [2, "text_delta"],
        [2, "text_delta"],
        [3, "text_delta"],
        [4, "run_finished"],
    ]
    assert result["sent"] == [None, "2"]  # reconnected from the last whole event
    assert result["states"] == ["connecting", "live", "reconnecting", "reconnecting", "live", "ended"]


EVENT_LOG = """
async () => {
  const { EventLog } = await import('/web/stream.js');
  const log = new EventLog();
  const add = (id, seq) => log.add({ id, data: { seq } });
  const kinds = [add(1, 1), add(2, 2), add(3, 3), add(2, 2), add(3, 3), add(9, 2), add(10, 3), add(10, 3)];
  return { kinds, kept: log.ordered().map((e) => [e.id, e.data.seq]) };
}
"""


def test_the_event_log_keeps_each_step_once_and_takes_a_redone_step(modules: Page) -> None:
    result: dict[str, Any] = modules.evaluate(EVENT_LOG)
    assert result["kinds"] == ["new", "new", "new", "duplicate", "duplicate", "rewrite", "new", "duplicate"]
    assert result["kept"] == [[1, 1], [9, 2], [10, 3]]


FORMAT = """
async () => {
  const f = await import('/web/format.js');
  return [
    f.formatMoney(80000, 'CNY'), f.formatMoney(1200, 'JPY'), f.formatMoney(null, 'CNY'),
    f.formatDuration(412), f.formatDuration(2300),
    f.toolTitle('book_flight'), f.argName('flight_id'), f.argName('check_in'),
    f.argValue(['Dave Chen', 'Li Wei']), f.argValue(true), f.argValue({ max_price: 6000000 }),
    f.baseName('/home/x/charts/analysis-hangzhou.png'),
  ];
}
"""


def test_amounts_and_arguments_in_words(modules: Page) -> None:
    assert modules.evaluate(FORMAT) == [
        "CNY\xa0800.00",  # a no-break space: the amount never wraps from its currency
        "JPY\xa01,200",
        "",
        "412 ms",
        "2.3 s",
        "Book flight",
        "Flight ID",
        "Check in",
        "Dave Chen, Li Wei",
        "yes",
        "Max price: 6000000",
        "analysis-hangzhou.png",
    ]


def test_static_files_are_package_data() -> None:
    """What the page needs ships in the wheel (pyproject's package-data names ``web/static/*``)."""
    names = {p.name for p in Path(STATIC).iterdir()}
    assert {"index.html", "app.css", "app.js", "api.js", "stream.js", "render.js", "confirm.js"} <= names
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"web/static/*"' in pyproject
