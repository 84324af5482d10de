"""The suite ignores the caller's errand settings (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_no_errand_setting_of_the_callers_shell_reaches_a_test() -> None:
    assert [n for n in os.environ if n.startswith("ERRAND_") and not n.startswith("ERRAND_TEST_")] == []


def test_a_database_url_in_the_shell_does_not_redirect_the_suite(tmp_path: Path) -> None:
    elsewhere = tmp_path / "not-here.db"
    env = {**os.environ, "ERRAND_DATABASE_URL": f"sqlite:///{elsewhere}"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{__file__}::test_no_errand_setting_of_the_callers_shell_reaches_a_test",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
