"""Worked errands shown after the system prompt's rules when the user asks errand to act: a
request, the calls, what came back and the answer.

A 1.5B model copies a demonstrated pattern more reliably than it follows a rule, and it also
copies too much. Measured on the 72 `dev` tasks against the same commit without examples
(docs/benchmarks.md): examples of every service, shown to every run, passed 45 against 49.
Questions were answered with an example's order ("已下单 ..." for "which restaurant is best
rated?"), a sold-out refusal shown as an example was told of trains that had seats, and
answers to Chinese requests came back in English (62 of 72 in the right language, from 70).
Shown only to runs whose plan acts, with no refusal among them, the 34 errands passed 22
against 21: the food order won two errands in two runs out of two (the dish counts go into
``get_menu``'s ``dishes``, where the menu reads them, so the order copies them), while the
shop's and the hotel's each won one and lost one. So one example is kept: the food order.
The system prompt and tool schemas are evaluated once per install and tool set and saved (the
embedded model's prefix cache), so it costs prefill once, not per run. Written for no eval
task; its ids and figures name nothing in the seeded services.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from errand.tools import ToolRegistry


@dataclass(frozen=True)
class Call:
    """One tool call of a worked errand and what it returned."""

    tool: str
    arguments: dict[str, Any]
    result: str


@dataclass(frozen=True)
class Example:
    """A request, its calls in order, and the answer."""

    request: str
    calls: tuple[Call, ...]
    answer: str

    @property
    def tools(self) -> set[str]:
        """The tools it calls: it is shown only where all of them are offered."""
        return {c.tool for c in self.calls}

    def text(self) -> str:
        lines = [f"User: {self.request}"]
        for c in self.calls:
            call = json.dumps({"name": c.tool, "arguments": c.arguments}, ensure_ascii=False)
            lines += [f"<tool_call>{call}</tool_call>", f"Result: {c.result}"]
        return "\n".join([*lines, f"Answer: {self.answer}"])


EXAMPLES: tuple[Example, ...] = (
    Example(
        "从成都评分最高的川菜馆点一份宫保鸡丁和两碗米饭，送到学院路8号",
        (
            Call("search_restaurants", {"city": "Chengdu", "cuisine": "sichuan"},
                 '{"matches":5,"results":[{"id":"CD-R021","name":"Old Town Sichuan 川菜","rating":4.8,'
                 '"delivery_min":30,...},...]}'),
            Call("get_menu", {"restaurant_id": "CD-R021", "dishes": ["宫保鸡丁一份", "米饭两碗"]},
                 '{"id":"CD-R021","items":[{"item_id":3301,"name":"Kung pao chicken 宫保鸡丁","price":"42.00 CNY",'
                 '"quantity_asked":1},{"item_id":3307,"name":"Steamed rice 米饭","price":"3.00 CNY",'
                 '"quantity_asked":2}],...}'),
            Call("place_order", {"restaurant_id": "CD-R021", "items": [{"item_id": 3301, "quantity": 1},
                 {"item_id": 3307, "quantity": 2}], "address": "学院路8号"},
                 '{"order_id":"FO-000517","items":["1 x Kung pao chicken 宫保鸡丁 = 42.00 CNY",'
                 '"2 x Steamed rice 米饭 = 6.00 CNY"],"delivery_fee":"5.00 CNY","total_text":"53.00 CNY","eta":"...","status":"placed"}'),
        ),
        "已下单：Old Town Sichuan（评分4.8）的宫保鸡丁1份、米饭2碗，共53.00 CNY（含配送费），订单号FO-000517，"
        "送到学院路8号。",
    ),
)  # fmt: skip


def worked_examples(offered: Collection[str] | ToolRegistry) -> str:
    """The examples whose tools are all offered, as text for the end of the system prompt; empty
    when none fits, so a toolbox of other tools sees none."""
    names = {t.name for t in offered} if isinstance(offered, ToolRegistry) else set(offered)
    shown = [e.text() for e in EXAMPLES if e.tools <= names]
    if not shown:
        return ""
    head = "\n\nWorked examples (their ids and figures are made up: use only what your tools return):\n\n"
    return head + "\n\n".join(shown)
