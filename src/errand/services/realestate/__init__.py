"""Real estate: homes for sale in six cities, their schools, prices and viewings."""

from errand.services import Domain
from errand.services.realestate.seed import is_seeded, seed
from errand.services.realestate.tools import TOOLS

DOMAIN = Domain(
    name="realestate",
    description="Homes for sale (flats, apartments; 房产, 买房, 看房): search by city, price, bedrooms, schools and metro, compare, value ranking, price trends, mortgages, viewings.",
    tools=TOOLS,
    seed=seed,
    is_seeded=is_seeded,
    tables=(
        "re_cities",
        "re_neighbourhoods",
        "re_schools",
        "re_listings",
        "re_price_history",
        "re_viewings",
    ),
)
"""The real-estate domain as `errand.services.builtin_domains` lists it."""

__all__ = ["DOMAIN"]
