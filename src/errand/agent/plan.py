"""The first decision of a run, made by the model under a JSON schema: which tools (and so
which services) the request needs, and whether the user asks errand to change something
(book, order, pay, cancel) or only to find something out.

A small model chooses better from a few tool schemas than from thirty, and a shorter prompt
is faster; but which few is the model's call, not a keyword table's. So the model first
reads a compact catalogue (one line per service and per tool) and answers with a constrained
JSON object; the run then offers the full schemas of the services whose tools it named. The
catalogue prompt is stable, so every backend's prefix cache keeps it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from errand.llm.types import Message
from errand.tools import ToolRegistry
from errand.tools.provenance import named_ids

PLAN_PROMPT = """You plan how to handle a user's request with these tools, grouped by service:
{catalogue}

Answer with JSON only:
- "topic": in a few English words, what the request is about (e.g. "rice cooker price", "train to Hangzhou", "my wallet balance").
- "tools": the tools the request will need, the first one first (at most four; [] for small talk or general knowledge).
- "verb": the last action the user asks you to take: "book", "order", "buy", "cancel", "return" when they tell you to do that, even after finding something first ("find the best one and book it" is "book"), or give where to deliver it; "find_out" when they only ask a question (what, which, how much, is there, compare, recommend, status); or "chat".{examples}"""

EXAMPLES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("3-bedroom flats in Suzhou under 4 million, which is the best value?",
     {"topic": "best-value flat", "tools": ["analyze_listings"], "verb": "find_out"}),
    ("how have flat prices in Xiamen moved this year",
     {"topic": "home price trend", "tools": ["price_trend"], "verb": "find_out"}),
    ("帮我订周五去南京的高铁，乘客王芳",
     {"topic": "train to Nanjing", "tools": ["search_trains", "book_train"], "verb": "book"}),
    ("cancel my flight next week",
     {"topic": "cancel a flight", "tools": ["list_my_bookings", "cancel_booking"], "verb": "cancel"}),
    ("any bluetooth speakers under 200 yuan?",
     {"topic": "bluetooth speaker", "tools": ["search_products"], "verb": "find_out"}),
    ("need a desk lamp for my son, best rated under 150 kuai, send it to 5 Xinjiekou St, Xicheng, Beijing",
     {"topic": "desk lamp", "tools": ["search_products", "get_product", "buy_product"], "verb": "buy"}),
    ("order two beef noodles from XA-R002 to 9 Park Road",
     {"topic": "noodle delivery", "tools": ["get_menu", "place_order"], "verb": "order"}),
    ("did the refund for my cancelled train come in?",
     {"topic": "train refund", "tools": ["transaction_history", "list_my_bookings"], "verb": "find_out"}),
    ("杭州哪家日料店评分最高？",
     {"topic": "top-rated Japanese restaurant", "tools": ["search_restaurants"], "verb": "find_out"}),
    ("深圳福田两居室500万以内，帮我约个周六看房，我叫陈晨",
     {"topic": "viewing a flat", "tools": ["search_listings", "request_viewing"], "verb": "book"}),
    ("find a hotel in Xi'an under 400 a night for 2 nights from the 20th and book it for Li Na",
     {"topic": "hotel in Xi'an", "tools": ["search_hotels", "book_hotel"], "verb": "book"}),
    ("train to Suzhou on Saturday morning and a hotel there for one night, book both for Zhang Wei",
     {"topic": "trip to Suzhou", "tools": ["search_trains", "book_train", "search_hotels", "book_hotel"], "verb": "book"}),
    ("hi, what can you do?", {"topic": "chat", "tools": [], "verb": "chat"}),
)  # fmt: skip
"""Worked plans, shown after the rules (written for no eval task). A small model otherwise
picks tools by their place in the catalogue ("wireless earbuds" -> search_listings, the first
tool listed). On the 72 `dev` requests, the plan step alone: the needed services covered
69/72 with them against 65/72 without, the first tool needed named 57 against 53, an
unneeded service offered 13 times against 8. The two Chinese ones and the hotel booking were
added later (a Chinese food question was planned as "best-value flat", the first example's
copy): covered 70 against 69, first tool 55 against 54, verb right 59 against 58, unneeded
services 12 against 14 (`bench/plan_accuracy.py`). The desk lamp (a purchase told only by the
address to send it to: dev sh-u-gift-toothbrush was planned `find_out`) and the rule's "or give
where to deliver it": verb right 60 against 58, first tool 58 against 58, services covered 70
against 70, unneeded services 13 against 10. Only examples whose tools are all offered
are shown, so a toolbox of other tools sees none of them (the prompt stays stable per toolbox)."""


def plan_prompt(registry: ToolRegistry, descriptions: Mapping[str, str]) -> str:
    """The planning system prompt: the catalogue, the rules, the examples that fit ``registry``."""
    names = {t.name for t in registry}
    shown = [
        f"{json.dumps(request, ensure_ascii=False)} -> {json.dumps(plan, ensure_ascii=False)}"
        for request, plan in EXAMPLES
        if set(plan["tools"]) <= names
    ]
    examples = "\n\nExamples:\n" + "\n".join(shown) if len(shown) > 1 else ""
    return PLAN_PROMPT.format(catalogue=catalogue(registry, descriptions), examples=examples)


VERBS = ("chat", "find_out", "book", "order", "buy", "cancel", "return")
"""What a request asks errand to do; all but ``find_out`` and ``chat`` change something (`Plan.acts`).
``find_out`` also takes writes away (`RunState.finds_only`), so it is not first: a plan that
claims nothing (a scripted model's broad one) is ``chat``."""
_ACTING = frozenset({"book", "order", "buy", "cancel", "return"})


@dataclass(frozen=True)
class Plan:
    """What the model decided before the run's first step."""

    domains: tuple[str, ...]
    """The services whose tools the run is offered (may be empty: answer without tools)."""
    acts: bool
    """The user asked for a change (a booking, an order, a cancellation), not only information."""
    topic: str = ""
    tools: tuple[str, ...] = ()
    """The tools the model named, first one first."""
    verb: str = ""

    def adding(self, services: set[str], order: Sequence[str]) -> Plan:
        """This plan offering ``services`` too (kept in ``order``, the registry's: a stable prompt)."""
        wanted = set(self.domains) | services
        return replace(self, domains=tuple(d for d in order if d in wanted))

    def shown(self) -> dict[str, object]:
        """What the model decided, for the run's first event (why a run was offered these tools)."""
        return {"topic": self.topic, "tools": list(self.tools), "verb": self.verb, "acts": self.acts}


def _first_sentence(text: str) -> str:
    line = text.strip().split("\n", 1)[0]
    return line.split(". ", 1)[0].rstrip(".")


def catalogue(registry: ToolRegistry, descriptions: Mapping[str, str]) -> str:
    """Each domain (what it covers) and its tools, one short line each: stable, so cached."""
    lines = []
    for domain in registry.domains:
        tools = [t for t in registry if t.domain == domain]
        about = descriptions.get(domain) or "; ".join(_first_sentence(t.description) for t in tools[:4])
        lines.append(f"{domain}: {about}")
        lines += [f"  - {t.name}: {_first_sentence(t.description)}" for t in tools]
    return "\n".join(lines)


def plan_schema(tools: Sequence[str]) -> dict[str, Any]:
    """The JSON schema of a plan: a few words on what the request is about (a small model chooses
    better after saying it), the tools it needs by name (tool names are distinct words where
    service names are not), then the verb the user used (a named choice is easier for a small
    model than a bare "acts" boolean)."""
    return {
        "type": "object",
        "properties": {
            "topic": {"type": "string", "maxLength": 60},
            "tools": {
                "type": "array",
                "items": {"type": "string", "enum": list(tools)},
                "maxItems": min(4, len(tools)),
                "uniqueItems": True,
            },
            "verb": {"type": "string", "enum": list(VERBS)},
        },
        "required": ["topic", "tools", "verb"],
        "additionalProperties": False,
    }


def plan_messages(system: str, history: Sequence[Message], request: str) -> list[Message]:
    """The planning prompt: the catalogue, the last turns of a chat, then the request."""
    earlier = [
        f"{m.role}: {m.text[:300]}" for m in history if m.role in ("user", "assistant") and m.text.strip()
    ][-4:]
    text = request if not earlier else "Earlier in this chat:\n" + "\n".join(earlier) + f"\n\nNow: {request}"
    return [Message(role="system", content=system), Message(role="user", content=text)]


def parse_plan(text: str, registry: ToolRegistry) -> Plan | None:
    """The plan in a reply: the domains of the tools it names, in registry order (a stable
    prompt); None when it is not one (then every tool is offered)."""
    start = text.find("{")
    try:
        data, _ = json.JSONDecoder().raw_decode(text, start) if start >= 0 else (None, 0)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("tools"), list):
        return None
    tools = [t for t in registry if t.name in data["tools"]]
    named = {t.domain for t in tools}
    chosen = [d for d in registry.domains if d in named]
    verb = str(data.get("verb") or "")
    topic = str(data.get("topic") or "")[:60]
    return Plan(tuple(chosen), verb in _ACTING, topic, tuple(str(n) for n in data["tools"]), verb)


def named_services(text: str, registry: ToolRegistry) -> set[str]:
    """The services whose records ``text`` names by id: an id that has the declared shape of a
    tool's id parameter (`FromResults.shape`: a listing ``CD-00453``, an order ``FO-000001``).
    The id is a fact about the request, so its service is offered whatever the plan said
    (a 1.5B planned "下周六想去看看CD-00453" as a trip)."""
    ids = named_ids(text)
    if not ids:
        return set()
    return {t.domain for t in registry if t.takes_id(ids)}


def plan_for(reply: str, request: str, registry: ToolRegistry) -> Plan:
    """The plan a run follows: the model's reply read as a plan (every service when it is not
    one), with the services of the request's record ids (`named_services`) added."""
    chosen = parse_plan(reply, registry) or Plan(tuple(registry.domains), acts=True)
    return chosen.adding(named_services(request, registry), registry.domains)
