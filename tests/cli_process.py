"""Run the ``errand`` command in a subprocess, as a user would, with a clean environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def errand_env(home: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment `run_errand` uses (for a process started some other way)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ERRAND_")}
    full_env.update({"ERRAND_HOME": str(home), "COLUMNS": "200"})
    if os.environ.get("ERRAND_TEST_MODEL_CACHE"):
        full_env["ERRAND_MODEL_CACHE_DIR"] = os.environ["ERRAND_TEST_MODEL_CACHE"]
    full_env.update(env or {})
    return full_env


def run_errand(
    home: Path,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str = "",
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``python -m errand ARGS`` with ``ERRAND_HOME=home`` and no other ``ERRAND_*`` from the caller
    (except ``ERRAND_TEST_MODEL_CACHE``, which keeps the assembled model between test runs)."""
    return subprocess.run(
        [sys.executable, "-m", "errand", *args],
        env=errand_env(home, env),
        input=stdin,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def json_events(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """The events ``errand run --json`` printed, in order."""
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
