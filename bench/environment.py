"""The environment a benchmark ran in, recorded the same way by every script in ``bench/``.

A script captures it before any work and writes it, finished, into its result JSON::

    env = Environment.capture()
    ...  # the measurement
    result["environment"] = env.finish()

The block holds:

- ``commit``: ``git rev-parse --short HEAD`` of this repository (None without git);
- ``dirty``: True when ``src/`` or ``bench/`` (results aside) has uncommitted changes,
  untracked files included, so the commit alone does not say what ran;
- ``errand_version``: the version of the ``errand`` package imported, and ``errand_path``
  only when that package was imported from outside this repository's ``src/`` (say, an
  older worktree through ``PYTHONPATH``): then ``commit`` does not describe it;
- ``started_utc``, ``finished_utc``: UTC date-times, to the second;
- ``python``, ``platform``, ``cpus``: ``platform.python_version()``,
  ``platform.platform()``, ``os.cpu_count()``;
- ``load_average_start``, ``load_average_end``: the 1-, 5- and 15-minute load averages
  (None where the platform has none). On a shared machine they say how busy it was.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WATCHED = ["src", "bench", ":(exclude)bench/results"]
"""Paths whose uncommitted changes make a result ``dirty`` (results are written by the runs)."""


def _git(*argv: str) -> str | None:
    """Output of ``git argv`` in this repository, or None when git cannot answer."""
    try:
        done = subprocess.run(
            ["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _errand() -> tuple[str | None, str | None]:
    """(version, path): the path only when errand is not this repository's ``src/errand``."""
    try:
        import errand
    except ImportError:
        return None, None
    where = Path(errand.__file__).resolve().parent
    inside = where.is_relative_to(ROOT / "src")
    return getattr(errand, "__version__", None), None if inside else str(where)


@dataclass
class Environment:
    """What a result was measured on; `capture` at the start, `finish` at the end."""

    commit: str | None
    dirty: bool | None
    errand_version: str | None
    started_utc: str
    python: str
    platform: str
    cpus: int | None
    load_average_start: list[float] | None
    errand_path: str | None = None

    @classmethod
    def capture(cls) -> Environment:
        """The environment now, before the measurement starts."""
        status = _git("status", "--porcelain", "--", *WATCHED)
        version, path = _errand()
        return cls(
            commit=_git("rev-parse", "--short", "HEAD") or None,
            dirty=None if status is None else bool(status),
            errand_version=version,
            started_utc=_now(),
            python=platform.python_version(),
            platform=platform.platform(),
            cpus=os.cpu_count(),
            load_average_start=_load_average(),
            errand_path=path,
        )

    def finish(self) -> dict[str, Any]:
        """The ``environment`` block for a result JSON, with the end time and load added."""
        block = asdict(self)
        if block["errand_path"] is None:
            del block["errand_path"]
        return block | {"finished_utc": _now(), "load_average_end": _load_average()}
