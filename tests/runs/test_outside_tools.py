"""Every process that executes runs offers the tools errand.toml configures, as ``errand run``
does: a run created over HTTP calls an MCP server's tool and an OpenAPI operation, whether
``errand serve`` or a separate ``errand worker`` executes it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from errand.config import Settings
from errand.runs import Runs, RunStatus
from tests.cli_process import errand_env, run_errand
from tests.runs.conftest import write_script
from tests.server.test_serve_cli import errand_serve
from tests.tools.test_openapi import TOKEN, _fresh_stock, api_url  # noqa: F401 - the inventory API and its stock

REQUEST = "What time is it in Tokyo, and how many wood screws are in stock?"
ANSWER = "It is evening in Asia/Tokyo, and the screws are in stock."
SCRIPT = [
    {"tool": "get_current_time", "arguments": {"timezone": "Asia/Tokyo"}},
    {"tool": "list_items", "arguments": {"name_contains": "screw"}},
    ANSWER,
]


def _configure(folder: Path, api: str) -> dict[str, str]:
    """errand.toml with an MCP server and an OpenAPI spec; the environment a process needs."""
    config = folder / "errand.toml"
    config.write_text(
        "[mcp.servers.time]\n"
        f"command = {json.dumps(sys.executable)}\n"
        'args = ["-m", "mcp_server_time", "--local-timezone", "Asia/Shanghai"]\n'
        "[openapi.inventory]\n"
        f'spec = "{api}/openapi.json"\n'
        'bearer_token_env = "INVENTORY_TOKEN"\n',
        encoding="utf-8",
    )
    return {
        "ERRAND_CONFIG": str(config),
        "ERRAND_MODEL_BACKEND": "scripted",
        "ERRAND_SCRIPT_PATH": str(write_script(folder, SCRIPT)),
        "INVENTORY_TOKEN": TOKEN,
    }


def _outside_results(events: list[dict[str, object]]) -> dict[str, str]:
    return {str(e["name"]): str(e["content"]) for e in events if e["type"] == "tool_result" and e["ok"]}


def test_a_run_created_over_http_uses_the_servers_outside_tools(tmp_path: Path, api_url: str) -> None:  # noqa: F811
    env = _configure(tmp_path, api_url)
    home = tmp_path / "home"
    key = run_errand(home, "keys", "create", "--user", "dave", env=env).stdout.strip().splitlines()[-1]
    with errand_serve(home, env) as (url, _):
        auth = {"Authorization": f"Bearer {key}"}
        run = httpx.post(f"{url}/v1/runs", headers=auth, json={"input": REQUEST}).json()
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}/v1/runs/{run['id']}", headers=auth).json()["status"] not in (
            "succeeded",
            "failed",
        ):
            assert time.monotonic() < deadline, "the run did not finish"
            time.sleep(0.2)
        events = [
            e["data"]
            for e in httpx.get(f"{url}/v1/runs/{run['id']}/events?stream=false", headers=auth).json()["data"]
        ]
    results = _outside_results(events)
    assert "+09:00" in results["get_current_time"]  # the MCP server answered
    assert "wood screw" in results["list_items"]  # the OpenAPI operation answered
    assert events[-1]["type"] == "run_finished" and events[-1]["answer"] == ANSWER


async def test_a_separate_worker_offers_the_configured_tools(
    tmp_path: Path,
    api_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = _configure(tmp_path, api_url)
    home = tmp_path / "home"
    for name, value in env.items():  # this process only queues the run: it opens no tools
        monkeypatch.setenv(name, value)
    runs = await Runs.open(Settings(home=home), execute=False)
    log = tmp_path / "worker.log"
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        worker = subprocess.Popen(
            [sys.executable, "-m", "errand", "worker", "--id", "outside-tools"],
            env=errand_env(home, env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        rec = await runs.create("dave", REQUEST)
        async with asyncio.timeout(90):
            while (await runs.get("dave", rec.id)).status != RunStatus.succeeded:
                assert worker.poll() is None, log.read_text()
                await asyncio.sleep(0.2)
        events = [e.data for e in await runs.events("dave", rec.id)]
    finally:
        worker.terminate()
        worker.wait(20)
        runs.close()
    results = _outside_results(events)
    assert "+09:00" in results["get_current_time"] and "wood screw" in results["list_items"]
