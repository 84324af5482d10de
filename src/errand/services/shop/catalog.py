"""The catalogue: `search_products` and `get_product` (variants, stock, reviews)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from sqlalchemy import func, or_, select

from errand.errors import ToolError
from errand.services.shop.common import _money, _product, _session, variant_row, variants_of
from errand.services.shop.models import Product, Review, Variant
from errand.tools import FromResults, FromUser, ToolContext, said_from, tool

TOP = 5
"""Products a search returns."""
Category = Literal["electronics", "clothing", "shoes", "home", "books", "sports", "beauty", "toys"]
"""The shop's categories: a closed set in the schema, so a grammar can only write one of them
(dev sh-cheapest-rice-cooker-zh searched category '家电' three times)."""
CATEGORIES: tuple[str, ...] = get_args(Category)
_CATEGORY_WORDS = {
    "electronics": ("electronic", "电子", "数码"),
    "clothing": ("clothes", "服装", "衣服"),
    "shoes": ("shoe", "鞋"),
    "home": ("household", "家居", "家电", "家用"),
    "books": ("book", "书"),
    "sports": ("sport", "运动"),
    "beauty": ("makeup", "skincare", "美妆", "护肤"),
    "toys": ("toy", "玩具"),
}
"""How people name the shop's categories: a category the user did not name is no filter of
theirs (dev sh-u-gift-toothbrush searched an electric toothbrush in "shoes", found nothing,
and searched it again)."""


_FUNCTION_WORDS = frozenset(
    {"a", "an", "and", "or", "the", "of", "for", "with", "to", "in", "on", "my", "some"}
)
"""Words that name no product: "and" is inside "Bandai" and "handheld" (dev fd-ambiguous-restaurant:
"pork and cabbage dumplings" matched 114 products, a pair of slippers was bought)."""


def _terms(query: str) -> list[str]:
    """Search words: whitespace-separated, without function words, with long Chinese runs also
    split into pairs, and a word that mixes scripts split into its runs as well ("无线耳buds",
    a 1.5B's query for earbuds, matched nothing as one word)."""
    words = [w for w in re.split(r"[\s,，、]+", query.lower().strip()) if w and w not in _FUNCTION_WORDS]
    out: list[str] = []
    for w in words:
        out.append(w)
        runs = re.findall(r"[\u4e00-\u9fff]+|[^\u4e00-\u9fff]+", w)
        for run in runs if len(runs) > 1 else []:
            if len(run) >= (2 if run[0] >= "\u4e00" else 3) and run not in _FUNCTION_WORDS:
                out.append(run)
        for run in runs:
            if re.fullmatch(r"[\u4e00-\u9fff]{3,}", run):
                out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return list(dict.fromkeys(out))


@tool(domain="shop")
def search_products(
    ctx: ToolContext,
    query: str,
    category: Annotated[Category | None, FromUser("the category", said_as=said_from(_CATEGORY_WORDS))] = None,
    max_price: int | None = None,
    min_rating: float | None = None,
    in_stock: bool = True,
) -> dict[str, Any]:
    """Find products; returns the top 5 matches, best first.

    Args:
        query: What to buy, e.g. "running shoes" or "蓝牙耳机".
        category: Only if the user named one.
        max_price: Highest price in whole yuan.
        min_rating: Lowest average rating, 1-5.
        in_stock: Only products with a variant in stock.
    """
    session = _session(ctx)
    terms = _terms(query)
    if not terms:
        raise ToolError("query must name what to buy, e.g. 'wireless earbuds'.")
    kind = category.strip().lower() if category is not None else None  # a direct caller's "Home"
    if kind is not None and kind not in CATEGORIES:
        raise ToolError(f"Unknown category {kind!r}. Categories: {', '.join(CATEGORIES)}.")
    if max_price is not None and max_price <= 0:
        raise ToolError("max_price must be a positive whole number of yuan.")
    if min_rating is not None and not 1 <= min_rating <= 5:
        raise ToolError("min_rating is on a 1-5 scale.")
    conds = [or_(*(Product.search_text.contains(t, autoescape=True) for t in terms))]
    vconds = []
    if kind is not None:
        conds.append(Product.category == kind)
    if min_rating is not None:
        conds.append(Product.rating >= min_rating)
    if max_price is not None:
        vconds.append(Variant.price <= max_price * 100)
    if in_stock:
        vconds.append(Variant.stock > 0)
    rows = session.execute(
        select(Product, func.min(Variant.price), func.sum(Variant.stock))
        .join(Variant, Variant.product_id == Product.id)
        .where(*conds, *vconds)
        .group_by(Product.id)
    ).all()

    def score(p: Product) -> tuple[int, float, int]:
        hits = sum(1 for t in terms if t in p.search_text)
        return (hits, p.rating, p.review_count)

    ranked = sorted(rows, key=lambda r: (score(r[0]), -r[1], r[0].id), reverse=True)
    best_hits = score(ranked[0][0])[0] if ranked else 0
    ranked = [r for r in ranked if score(r[0])[0] == best_hits]
    if not ranked:
        hint = "Try fewer or other words"
        if max_price is not None or min_rating is not None or category is not None:
            hint += ", or drop max_price, min_rating or category"
        return {"matches": 0, "top": [], "hint": hint + "."}
    top = [
        {
            "id": p.id,
            "name": p.name,
            "category": p.category,
            "price_text": _money(price, p.currency),
            "rating": p.rating,
            "reviews": p.review_count,
            "in_stock": int(stock or 0),
            "return_days": p.return_days,
        }
        for p, price, stock in ranked[:TOP]
    ]
    cheap_p, cheap_price, _ = min(ranked, key=lambda r: (r[1], r[0].id))
    return {
        "matches": len(ranked),
        "top": top,
        "cheapest": {
            "id": cheap_p.id,
            "name": cheap_p.name,
            "price_text": _money(cheap_price, cheap_p.currency),
        },
        "next": "get_product(product_id) shows sizes, colours and stock.",
    }


@tool(domain="shop")
def get_product(
    ctx: ToolContext, product_id: Annotated[str, FromResults("id", "product_id", shape=r"P-\d{5}")]
) -> dict[str, Any]:
    """Show a product with its variants (size, colour, price, stock) and reviews.

    Args:
        product_id: Id like P-01234.
    """
    session = _session(ctx)
    p = _product(session, product_id)
    variants = variants_of(session, p.id)
    reviews = session.scalars(
        select(Review).where(Review.product_id == p.id).order_by(Review.id).limit(3)
    ).all()
    return {
        "id": p.id,
        "name": p.name,
        "name_zh": p.name_zh,
        "brand": p.brand,
        "category": p.category,
        "rating": p.rating,
        "reviews": p.review_count,
        "return_days": p.return_days,
        "variants": [variant_row(v, p.currency) for v in variants],
        "review_samples": [{"rating": r.rating, "text": r.text} for r in reviews],
        "next": "buy_product(variant_id, quantity, address) buys one variant.",
    }
