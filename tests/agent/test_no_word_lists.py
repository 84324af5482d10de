"""Decisions are the model's, under a grammar: no keyword routing or intent regexes come back."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import errand.agent
from errand.services import Domain, builtin_domains


def test_the_keyword_modules_are_gone() -> None:
    for name in ("errand.agent.routing", "errand.agent.intent"):
        assert importlib.util.find_spec(name) is None, name


def test_domains_carry_a_description_not_routing_words() -> None:
    assert "keywords" not in {f.name for f in dataclasses.fields(Domain)}
    assert all(d.description for d in builtin_domains())


def test_the_agent_matches_no_request_text_against_word_alternations() -> None:
    """A regex like ``book|order|buy`` or ``预订|下单`` over the request is how the old routing worked."""
    for path in Path(errand.agent.__file__).parent.glob("*.py"):
        if path.name == "dates.py":  # date phrases are parsed, not used to decide what to do
            continue
        text = path.read_text(encoding="utf-8")
        for words in ("book|order", "order|buy", "预订|", "下单|", "shall i|"):
            assert words not in text, f"{path.name} has a word list ({words})"
