"""Worked errands shown after the system prompt's rules when the user asks errand to act: a
request, the calls, what came back and the answer.

A 1.5B model copies a demonstrated pattern more reliably than it follows a rule: a dish's
count, the variant to buy rather than the product, a question to the user for a name, an
answer that names the figures and the id. It also copies too much: on the 72 `dev` tasks,
examples shown to every run won two errands and lost five questions, whose answers became
the examples' ("已下单 ..." for "which restaurant is best rated?"), and a sold-out refusal
shown as an example was told of trains that had seats. So only errands are shown, only to a
run whose plan acts, and no refusal is among them. The system prompt and tool schemas are
evaluated once per install and tool set and saved (the embedded model's prefix cache), so
these cost prefill once, not per run. Written for no eval task; their ids and figures name
nothing in the seeded services.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from errand.tools import ToolRegistry


@dataclass(frozen=True)
class Call:
    """One tool call of a worked run and what it returned (a result or a refusal's text)."""

    tool: str
    arguments: dict[str, Any]
    result: str = ""
    """Empty for ``ask_user``: the run waits for the user there."""


@dataclass(frozen=True)
class Example:
    """A request, its calls in order, and the answer."""

    request: str
    calls: tuple[Call, ...]
    answer: str

    @property
    def tools(self) -> set[str]:
        return {c.tool for c in self.calls}

    def text(self) -> str:
        lines = [f"User: {self.request}"]
        for c in self.calls:
            call = json.dumps({"name": c.tool, "arguments": c.arguments}, ensure_ascii=False)
            lines += [f"<tool_call>{call}</tool_call>", *([f"Result: {c.result}"] if c.result else [])]
        lines += [f"Answer: {self.answer}"] if self.answer else []
        return "\n".join(lines)


EXAMPLES: tuple[Example, ...] = (
    Example(
        "buy me a black phone case under 50 yuan, send it to 12 Oak Lane",
        (
            Call("search_products", {"query": "phone case", "max_price": 50},
                 '{"matches":6,"top":[{"id":"P-00701","name":"Slim Phone Case","price_text":"39.00 CNY",'
                 '"rating":4.6,"in_stock":80},...]}'),
            Call("get_product", {"product_id": "P-00701"},
                 '{"id":"P-00701","name":"Slim Phone Case","variants":[{"variant_id":"V-004410","colour":"clear",'
                 '"price_text":"39.00 CNY","stock":30},{"variant_id":"V-004411","colour":"black",'
                 '"price_text":"39.00 CNY","stock":12}],...}'),
            Call("buy_product", {"variant_id": "V-004411", "quantity": 1, "address": "12 Oak Lane"},
                 '{"order_id":"SO-000214","status":"pending","item":"Slim Phone Case","variant":"colour black",'
                 '"total_text":"39.00 CNY","expected_delivery":"...",...}'),
        ),
        "Ordered the Slim Phone Case in black for 39.00 CNY (order SO-000214), to 12 Oak Lane.",
    ),
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
    Example(
        "find me a hotel in Sanya for 3 nights from the 18th, under 600 a night, and book it (Dates in the request: the 18th = 2030-03-18.)",
        (
            Call("search_hotels", {"city": "Sanya", "check_in": "2030-03-18", "nights": 3,
                 "max_price_per_night": 600},
                 '{"matches":2,"options":[{"hotel_id":"H-SY12","name":"Sea Breeze Inn","rating":4.4,'
                 '"per_night":560,"total_text":"1,680.00 CNY"},...]}'),
            Call("ask_user", {"question": "Sea Breeze Inn (H-SY12), 560 CNY a night, 1,680.00 CNY for 3 nights. "
                 "Whose name should the booking be under?"}),
        ),
        "",
    ),
)  # fmt: skip


def worked_examples(offered: Collection[str] | ToolRegistry) -> str:
    """The examples whose tools are all offered (ask_user always is), as text for the end of the
    system prompt; empty when none fits, so a toolbox of other tools sees none."""
    names = {t.name for t in offered} if isinstance(offered, ToolRegistry) else set(offered)
    names.add("ask_user")
    shown = [e.text() for e in EXAMPLES if e.tools <= names]
    if not shown:
        return ""
    head = "\n\nWorked examples (their ids and figures are made up: use only what your tools return):\n\n"
    return head + "\n\n".join(shown)
