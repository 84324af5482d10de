"""Real-estate tools: search, inspect, compare, analyse and book viewings of homes.

The tools do the filtering, ranking and arithmetic, and answer with short JSON a small
model can read. These are the tools the model sees, in their fixed order; each lives in
the module of its job:

- `search`: `search_listings`, `analyze_listings` (constraints in `filters`; the value
  score and chart in `analysis`)
- `listings`: `get_listing`, `compare_listings`
- `market`: `neighbourhood_stats`, `price_trend`
- `mortgage`: `mortgage_estimate`
- `viewings`: `request_viewing`
- `common`: what they share (cities, neighbourhoods, listing ids, money text)
"""

from __future__ import annotations

from errand.services.realestate.listings import compare_listings, get_listing
from errand.services.realestate.market import neighbourhood_stats, price_trend
from errand.services.realestate.mortgage import mortgage_estimate
from errand.services.realestate.search import analyze_listings, search_listings
from errand.services.realestate.viewings import request_viewing

TOOLS = (
    search_listings,
    get_listing,
    compare_listings,
    neighbourhood_stats,
    price_trend,
    mortgage_estimate,
    analyze_listings,
    request_viewing,
)
"""The domain's tools in their fixed order."""

__all__ = [
    "TOOLS",
    "analyze_listings",
    "compare_listings",
    "get_listing",
    "mortgage_estimate",
    "neighbourhood_stats",
    "price_trend",
    "request_viewing",
    "search_listings",
]
