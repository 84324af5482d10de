"""Offer a request only the tools of the domains it concerns: small models choose better
from fewer tools, and fewer schemas mean a shorter prompt."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence


def _mentions(text: str, word: str) -> bool:
    """English keywords match at the start of a word ("home" in "homes", not "eat" in "seat");
    Chinese ones anywhere (no spaces between words)."""
    word = word.lower()
    if word.isascii():
        return re.search(r"\b" + re.escape(word), text) is not None
    return word in text


def route(task: str, keywords: Mapping[str, Sequence[str]]) -> list[str]:
    """The domains whose keywords appear in ``task``; empty when none match."""
    text = task.lower()
    return [d for d, words in keywords.items() if any(_mentions(text, w) for w in words)]
