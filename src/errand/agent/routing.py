"""Offer a request only the tools of the domains it concerns: small models choose better
from fewer tools, and fewer schemas mean a shorter prompt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def route(task: str, keywords: Mapping[str, Sequence[str]]) -> list[str]:
    """The domains whose keywords appear in ``task``; empty when none match."""
    text = task.lower()
    return [d for d, words in keywords.items() if any(w.lower() in text for w in words)]
