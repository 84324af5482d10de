"""Food delivery: restaurants in nine cities, their menus, orders paid from the wallet."""

from errand.services import Domain
from errand.services.food.seed import is_seeded, seed
from errand.services.food.tools import TOOLS

DOMAIN = Domain(
    name="food",
    description="Food delivery (外卖, 点餐): find restaurants, read menus (allergens, spice), order a meal, track or cancel a delivery order.",
    tools=TOOLS,
    seed=seed,
    is_seeded=is_seeded,
    tables=("fd_order_lines", "fd_orders", "fd_menu_items", "fd_restaurants"),
)
"""The food domain as `errand.services.builtin_domains` lists it."""

__all__ = ["DOMAIN"]
