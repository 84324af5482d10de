"""Food delivery: restaurants in nine cities, their menus, orders paid from the wallet."""

from errand.services import Domain
from errand.services.food.seed import is_seeded, seed
from errand.services.food.tools import TOOLS

DOMAIN = Domain(
    name="food",
    description="Food delivery: find restaurants, read menus (allergens, spice), order, track, cancel.",
    keywords=(
        "food",
        "dinner",
        "lunch",
        "breakfast",
        "order",
        "restaurant",
        "restaurants",
        "delivery",
        "menu",
        "eat",
        "takeaway",
        "takeout",
        "allergy",
        "allergic",
        "vegetarian",
        "vegan",
        "外卖",
        "点餐",
        "点菜",
        "餐厅",
        "饭店",
        "晚饭",
        "晚餐",
        "午饭",
        "午餐",
        "早餐",
        "菜单",
        "不辣",
        "过敏",
        "素食",
        "吃",
    ),
    tools=TOOLS,
    seed=seed,
    is_seeded=is_seeded,
    tables=("fd_order_lines", "fd_orders", "fd_menu_items", "fd_restaurants"),
)
"""The food domain as `errand.services.builtin_domains` lists it."""

__all__ = ["DOMAIN"]
