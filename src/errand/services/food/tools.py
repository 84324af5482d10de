"""Food tools: find restaurants, read menus, order delivery, follow and cancel orders.

The tools the model sees, in their fixed order. Each lives in the module of its job:

- `search`: `search_restaurants`, `get_menu` (allergen and cuisine words in `diet`)
- `ordering`: `place_order`, paid through the wallet in the transaction that records it
- `delivery`: `order_status` by the clock, and `cancel_order` with its refund
- `common`: what they share (the clock, cities, opening hours, restaurant and order ids)
"""

from __future__ import annotations

from errand.services.food.delivery import cancel_order, order_status
from errand.services.food.ordering import place_order
from errand.services.food.search import get_menu, search_restaurants

TOOLS = (search_restaurants, get_menu, place_order, order_status, cancel_order)
"""The domain's tools in their fixed order."""

__all__ = ["TOOLS", "cancel_order", "get_menu", "order_status", "place_order", "search_restaurants"]
