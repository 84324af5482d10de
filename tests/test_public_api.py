"""The public surface is small and deliberate (httpx's habit)."""

from __future__ import annotations

import errand


def test_all_is_sorted_and_complete() -> None:
    assert errand.__all__ == sorted(errand.__all__)
    public = {n for n in vars(errand) if not n.startswith("_")} - {
        "agent",
        "config",
        "llm",
        "tools",
        "errors",
        "services",
    }
    assert public == set(errand.__all__)
