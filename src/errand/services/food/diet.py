"""Allergens, dietary tags and cuisines: the user's words (``nuts``, ``虾``, ``川菜``) to the menu's."""

from __future__ import annotations

from typing import Annotated, Any

from sqlalchemy import ColumnElement, not_

from errand.errors import ToolError
from errand.services.food.common import _norm
from errand.services.food.models import MenuItem
from errand.services.food.seed import ALLERGENS
from errand.tools import FromUser

_ALLERGEN_WORDS = {
    "peanut": ("peanut", "peanuts", "nut", "nuts", "groundnut", "花生", "坚果"),
    "shellfish": ("shellfish", "shrimp", "prawn", "crab", "crayfish", "seafood", "虾", "蟹", "海鲜", "贝类"),
    "dairy": ("dairy", "milk", "lactose", "cheese", "cream", "奶", "牛奶", "乳制品", "乳糖"),
    "gluten": ("gluten", "wheat", "麸质", "小麦", "面筋"),
    "egg": ("egg", "eggs", "蛋", "鸡蛋"),
    "soy": ("soy", "soya", "soybean", "tofu", "大豆", "黄豆", "豆制品"),
}
_CUISINE_WORDS = {
    "sichuan": ("sichuan", "szechuan", "chuan", "川菜", "四川", "川"),
    "cantonese": ("cantonese", "dim sum", "dimsum", "guangdong", "粤菜", "广东", "早茶", "点心"),
    "hangzhou": ("hangzhou", "zhejiang", "jiangnan", "杭帮菜", "浙菜", "江南"),
    "northern": ("northern", "beijing", "peking", "dumplings", "京菜", "北京", "北方", "饺子"),
    "hunan": ("hunan", "xiang", "湘菜", "湖南"),
    "halal": ("halal", "muslim", "xinjiang", "清真", "新疆", "西北"),
    "japanese": ("japanese", "sushi", "ramen", "日料", "日本", "寿司", "拉面"),
    "italian": ("italian", "pizza", "pasta", "western", "意大利", "披萨", "西餐"),
    "thai": ("thai", "泰国", "泰餐"),
    "indian": ("indian", "curry", "印度", "咖喱"),
    "vegetarian": ("vegetarian", "vegan", "素食", "素菜"),
    "singaporean": ("singaporean", "hawker", "local", "malay", "新加坡", "马来"),
}
_CHINESE = ("sichuan", "cantonese", "hangzhou", "northern", "hunan", "halal", "vegetarian")
_CHINESE_WORDS = ("chinese", "中餐", "中国菜", "中式")
_VEGETARIAN_WORDS = ("vegetarian", "vegan", "veggie", "meatless", "meat-free", "no meat", "素")
_SPICE_WORDS = (
    "spicy",
    "spice",
    "hot",
    "mild",
    "不辣",
    "微辣",
    "中辣",
    "特辣",
    "很辣",
    "太辣",
    "怕辣",
    "吃辣",
    "清淡",
)
"""How people ask about heat; not a dish's own "chilli" or 辣 (Chilli crab, 辣子鸡)."""


def _allergens(names: list[str] | None) -> list[str]:
    """Canonical allergen names from the user's words (``nuts`` → ``peanut``, ``虾`` → ``shellfish``)."""
    out: list[str] = []
    for raw in names or []:
        word = _norm(raw).removeprefix("no").removesuffix("free") if raw.isascii() else raw.strip()
        found = next((a for a, words in _ALLERGEN_WORDS.items() if word in words or word == a), None)
        if found is None:
            raise ToolError(f"Unknown allergen {raw!r}. Known allergens: {', '.join(ALLERGENS)}.")
        if found not in out:
            out.append(found)
    return out


def _safe(allergens: list[str]) -> list[ColumnElement[bool]]:
    """Conditions on `MenuItem` that keep out dishes with any of ``allergens``."""
    return [not_(MenuItem.allergens.contains(f",{a},")) for a in allergens]


def _item_allergens(item: MenuItem) -> list[str]:
    return [a for a in item.allergens.split(",") if a]


def _tags(item: MenuItem) -> list[str]:
    flags = (
        ("vegetarian", item.vegetarian),
        ("vegan", item.vegan),
        ("halal", item.halal),
        ("gluten-free", item.gluten_free),
    )
    return [name for name, on in flags if on]


def _cuisines(name: str) -> list[str]:
    key = name.strip().lower()
    if key in _CHINESE_WORDS:
        return list(_CHINESE)
    for cuisine, words in _CUISINE_WORDS.items():
        if key == cuisine or key in words or _norm(key) in words:
            return [cuisine]
    return []


# What a user says for a filter's value, so that a filter the model filled in unasked is
# dropped (`errand.tools.FromUser`'s ``said_as``): the same words the service reads.


def said_allergen(value: Any) -> tuple[str, ...]:
    """The words for an allergen (``peanut`` ← "nuts", 花生)."""
    try:
        found = _allergens([str(value)])
    except ToolError:
        return ()
    return tuple(w for a in found for w in (a, *_ALLERGEN_WORDS[a]))


def said_cuisine(value: Any) -> tuple[str, ...]:
    """The words for a cuisine (``sichuan`` or "Sichuan food" ← 川菜, "szechuan"; ``chinese`` ← 中餐)."""
    kinds = _cuisines(str(value)) or [k for w in str(value).split() for k in _cuisines(w)]
    if len(kinds) > 1:
        return _CHINESE_WORDS
    return tuple(w for k in kinds for w in (k, *_CUISINE_WORDS[k]))


def said_vegetarian(value: Any) -> tuple[str, ...]:
    """The words for wanting vegetarian dishes (vegan, 素食)."""
    return _VEGETARIAN_WORDS if value else ()


def said_spice(value: Any) -> tuple[str, ...]:
    """The words for a spice limit ("not spicy", "mild", 不辣): any of them, for any level."""
    return _SPICE_WORDS


Allergens = Annotated[list[str] | None, FromUser("the allergens to avoid", said_as=said_allergen)]
"""A filter only the user sets: a dish the model avoided unasked is a dish the user cannot have,
and an order refused for an allergen nobody has."""
