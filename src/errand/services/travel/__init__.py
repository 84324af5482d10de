"""Travel: flights, high-speed trains and hotels in 14 cities, sightseeing plans, bookings paid by wallet."""

from errand.services import Domain
from errand.services.travel.seed import is_seeded, seed
from errand.services.travel.tools import TOOLS

DOMAIN = Domain(
    name="travel",
    description="Trips (出行: 机票, 高铁, 酒店): search and book flights, high-speed trains and hotels, plan sightseeing days, list or cancel bookings.",
    tools=TOOLS,
    seed=seed,
    is_seeded=is_seeded,
    tables=(
        "tr_cities",
        "tr_hubs",
        "tr_services",
        "tr_fares",
        "tr_hotels",
        "tr_room_nights",
        "tr_attractions",
        "tr_bookings",
    ),
)
"""The travel domain as `errand.services.builtin_domains` lists it."""

__all__ = ["DOMAIN"]
