"""Shop: a catalogue of products with sizes, colours and stock; orders, returns and exchanges."""

from errand.services import Domain
from errand.services.shop.seed import is_seeded, seed
from errand.services.shop.tools import TOOLS

DOMAIN = Domain(
    name="shop",
    description="Online shop (网购): electronics, home appliances, clothing, shoes, books, sports, beauty, toys; search products, sizes and colours, buy, track, cancel, return or exchange a shop order.",
    tools=TOOLS,
    seed=seed,
    is_seeded=is_seeded,
    tables=(
        "sh_products",
        "sh_variants",
        "sh_reviews",
        "sh_orders",
        "sh_order_payments",
        "sh_actions",
    ),
)
"""The shop domain as `errand.services.builtin_domains` lists it."""

__all__ = ["DOMAIN"]
