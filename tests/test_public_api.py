"""The public surface is small and deliberate (httpx's habit)."""

from __future__ import annotations

import types

import errand


def test_all_is_sorted_and_complete() -> None:
    assert errand.__all__ == sorted(errand.__all__)
    public = {
        n for n, v in vars(errand).items() if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
    assert public == set(errand.__all__)
