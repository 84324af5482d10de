"""Counts people write as words: "two", "三", "两". One table for every layer that reads a
user's words (the agent's grounding and dates, a service's menu), so "two steamed rice" and
"two days" mean the same two everywhere."""

from __future__ import annotations

EN_COUNTS: dict[str, int] = {
    w: n
    for n, w in enumerate(
        ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
    )
}
ZH_COUNTS: dict[str, int] = {c: n for n, c in enumerate("零一二三四五六七八九十")} | {"两": 2}
COUNT_WORDS: dict[str, int] = EN_COUNTS | ZH_COUNTS
"""Zero to ten in English (lower case) and in single Chinese characters."""
