"""A finished run's timeline on the page: the same numbers as ``errand runs show ID --trace``
(steps, model and tool call times, tokens, cost), from ``GET /v1/runs/{id}/trace``."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from tests.web.conftest import ServerFactory, Web, accessibility_problems

SCRIPT: list[object] = [
    {"tool": "wallet_balance", "arguments": {}},
    {"tool": "transaction_history", "arguments": {}},
    "Your wallet holds money; its last 10 transactions are above.",  # a count: names no record
]
PRICES = json.dumps({"scripted": {"input": 2.0, "output": 8.0}})
TIME = re.compile(r"^(\d+ ms|\d+\.\d\d s)$")


def test_a_finished_runs_timeline_shows_its_steps_times_tokens_and_cost(
    errand_server: ServerFactory, web: Web
) -> None:
    server = errand_server(SCRIPT, ERRAND_PRICES=PRICES)
    key = server.key("dave")
    page = web.page
    web.sign_in(server, key)
    run_id = web.ask("How much is in my wallet, and what did I spend?")
    expect(page.get_by_label("Answer")).to_have_text(str(SCRIPT[-1]))

    with server.api(key) as client:
        trace = client.get(f"/v1/runs/{run_id}/trace").json()
    steps = trace["steps"]
    assert [len(s["tools"]) for s in steps] == [1, 1, 0]

    # Open the finished run afresh, as from its link.
    page.reload()
    expect(page.get_by_label("Answer")).to_have_text(str(SCRIPT[-1]))
    timeline = page.get_by_role("group", name="Timeline")
    summary = timeline.locator("summary")
    tokens = trace["usage"]["prompt_tokens"] + trace["usage"]["completion_tokens"]
    expect(summary).to_contain_text("Timeline: 3 steps · ")
    expect(summary).to_contain_text(f"{tokens:,} tokens")
    expect(timeline.locator("table")).to_be_hidden()  # folded until asked for
    summary.click()

    rows = timeline.locator("tbody tr")
    expect(rows).to_have_count(1 + 2 * 3 + 2)  # the run; each step and its model call; two tools
    run = timeline.locator("tr[data-kind=run]")
    expect(run.locator("th")).to_have_text("Run (scripted)")
    expect(run.locator(".tl-time")).to_have_text(TIME)
    usage = trace["usage"]
    expect(run.locator(".tl-tokens")).to_have_text(
        f"{usage['prompt_tokens']:,} → {usage['completion_tokens']:,}"
    )
    expect(run.locator(".tl-cost")).to_have_text(re.compile(r"^0\.\d+ USD$"))

    for s in steps:
        step = timeline.locator(f"tr[data-kind=step][data-step='{s['step']}']")
        expect(step.locator("th")).to_have_text(f"Step {s['step']}")
        expect(step.locator(".tl-time")).to_have_text(TIME)
        model = timeline.locator(f"tr[data-kind=model][data-step='{s['step']}']")
        expect(model.locator(".tl-time")).to_have_text(TIME)
        u = s["usage"]
        expect(model.locator(".tl-tokens")).to_have_text(
            f"{u['prompt_tokens']:,} → {u['completion_tokens']:,}"
        )
        expect(model.locator(".tl-cost")).to_have_text(re.compile(r"^0\.\d+ USD$"))
    for name in ("wallet_balance", "transaction_history"):
        tool = timeline.locator(f"tr[data-kind=tool][data-tool={name}]")
        expect(tool.locator("th")).to_contain_text("(done)")
        expect(tool.locator(".tl-time")).to_have_text(TIME)
    # The bars sit where each part ran: the second step's starts after the first's.
    first, second = (
        timeline.locator(f"tr[data-kind=step][data-step='{n}'] .tl-bar").bounding_box() for n in (1, 2)
    )
    assert first is not None and second is not None and second["x"] > first["x"]
    expect(timeline.locator("p.run-meta")).to_contain_text("Other ")
    assert accessibility_problems(page) == []
    web.shot("timeline")
