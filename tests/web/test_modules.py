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
    f.argValue(2027), f.argValue(4.56), f.formatNumber(6000000, 'de-DE'), f.formatNumber(12345.678, 'fr-FR'),
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
        "Max price: 6,000,000",  # large numbers grouped in the reader's locale (en-GB here)
        "analysis-hangzhou.png",
        "2027",  # a year or a distance in metres is not grouped
        "4.56",
        "6.000.000",
        "12\u202f345,678",
    ]


MARKDOWN = """
async (text) => {
  const { markdown } = await import('/web/markdown.js');
  const box = document.createElement('div');
  box.append(markdown(text));
  document.body.append(box);
  await new Promise((resolve) => setTimeout(resolve, 300));  // time for any handler to fire
  return {
    html: box.innerHTML,
    text: box.textContent,
    strong: [...box.querySelectorAll('strong')].map((e) => e.textContent),
    cells: [...box.querySelectorAll('td')].map((e) => e.textContent),
    live: box.querySelectorAll('script, img, iframe, [onerror], [onclick], [onload]').length,
    links: [...box.querySelectorAll('a')].map((a) => [a.textContent, a.getAttribute('href'), a.rel]),
    pwned: window.__pwned ?? null,
  };
}
"""


def test_markdown_is_rendered_and_nothing_in_it_runs(modules: Page) -> None:
    """No CSP on this page: only the renderer stands between a payload and the page."""
    text = (
        "**Train booked:** G16\n\n| seat | price |\n| --- | --- |\n| 2A | 553.00 CNY |\n\n"
        '<img src="x" onerror="window.__pwned = 1"><script>window.__pwned = 2</script>\n\n'
        '<div onclick="window.__pwned = 3">block</div>\n\n'
        "[run](javascript:void(window.__pwned=4)) [receipt](https://example.com/r) "
        '![tracker](https://example.com/t.png) <svg onload="window.__pwned = 5">'
    )
    got: dict[str, Any] = modules.evaluate(MARKDOWN, text)
    assert got["strong"] == ["Train booked:"]
    assert got["cells"] == ["2A", "553.00 CNY"]
    assert got["live"] == 0 and got["pwned"] is None
    assert "<script>window.__pwned = 2</script>" in got["text"]  # shown as text, not dropped
    assert got["links"] == [
        ["run", None, ""],  # javascript: is removed by the sanitiser
        ["receipt", "https://example.com/r", "noopener noreferrer"],
        ["tracker", "https://example.com/t.png", "noopener noreferrer"],  # an image: a link to it
    ]


PHASE = """
async () => {
  const { Phase } = await import('/web/phase.js');
  let t = 0;
  const phase = new Phase(() => t);
  const seen = [];
  const add = (ev, after = 0) => { phase.add(ev); t += after; seen.push([phase.text, phase.seconds()]); };
  add({ type: 'run_started' }, 1500);
  add({ type: 'reasoning_delta', step: 1 }, 1000);
  add({ type: 'step_finished', step: 1 });
  add({ type: 'tool_call', step: 1, call_id: 'a', name: 'search_flights' }, 2000);
  add({ type: 'tool_call', step: 1, call_id: 'b', name: 'search_trains' });
  add({ type: 'tool_result', step: 1, call_id: 'a' }, 3000);
  add({ type: 'tool_result', step: 1, call_id: 'b' }, 4200);
  add({ type: 'step_finished', step: 2 });
  add({ type: 'tool_call', step: 2, call_id: 'c', name: 'book_flight' });
  add({ type: 'confirmation_required', step: 2, call_id: 'c' }, 9000);
  add({ type: 'confirmation_resolved', step: 2, call_id: 'c', approved: true });
  add({ type: 'tool_result', step: 2, call_id: 'c' });
  add({ type: 'text_delta', step: 3 }, 700);
  add({ type: 'text_delta', step: 3 }, 700);
  add({ type: 'run_finished' });
  return { seen, ended: phase.ended };
}
"""


def test_the_phase_follows_the_events_and_counts_its_seconds(modules: Page) -> None:
    """Once a step's calls have all returned the model is thinking again: never "running" then."""
    got: dict[str, Any] = modules.evaluate(PHASE)
    assert got["seen"] == [
        ["Thinking (step 1)", 1],
        ["Thinking (step 1)", 2],  # reasoning of the same step: the same phase, still counting
        ["Thinking (step 2)", 0],
        ["Running Search flights", 2],
        ["Running 2 tools", 0],
        ["Running Search trains", 3],
        ["Thinking (step 2)", 4],
        ["Thinking (step 3)", 0],
        ["Running Book flight", 0],
        ["Waiting for your approval", 9],
        ["Running Book flight", 0],
        ["Thinking (step 3)", 0],
        ["Writing the answer", 0],
        ["Writing the answer", 1],
        ["", 0],
    ]
    assert got["ended"] is True


def test_static_files_are_package_data() -> None:
    """What the page needs ships in the wheel (pyproject's package-data names ``web/static/*``)."""
    names = {p.name for p in Path(STATIC).iterdir()}
    assert {"index.html", "app.css", "app.js", "api.js", "stream.js", "render.js", "confirm.js"} <= names
    assert {"markdown.js", "phase.js"} <= names
    vendored = {p.name for p in (Path(STATIC) / "vendor").iterdir()}
    assert {"marked.esm.js", "purify.es.js", "marked.LICENSE", "dompurify.LICENSE"} <= vendored
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"web/static/*"' in pyproject
    assert '"web/static/vendor/*"' in pyproject  # a glob does not reach into folders
