"""Shop tools: search, inspect, order, track, cancel, return and exchange products.

The tools the model sees, in their fixed order. Each lives in the module of its job:

- `catalog`: `search_products`, `get_product`
- `orders`: `buy_product`, `shop_order_status`
- `returns`: `cancel_shop_order`, `return_item`, `exchange_item`
- what they share: `stock` (conditional UPDATEs, never oversold), `payments` (through the
  wallet, in the order's transaction), `idempotency` (a repeated call answers with the
  first result), `common` (the clock, ids, an order's status and return window)
"""

from __future__ import annotations

from errand.services.shop.catalog import get_product, search_products
from errand.services.shop.orders import buy_product, shop_order_status
from errand.services.shop.returns import cancel_shop_order, exchange_item, return_item

TOOLS = (
    search_products,
    get_product,
    buy_product,
    shop_order_status,
    cancel_shop_order,
    return_item,
    exchange_item,
)
"""The domain's tools in their fixed order."""

__all__ = [
    "TOOLS",
    "buy_product",
    "cancel_shop_order",
    "exchange_item",
    "get_product",
    "return_item",
    "search_products",
    "shop_order_status",
]
