"""Travel tools: search flights, trains and hotels, plan days, book, cancel, list bookings.

The tools the model sees, in their fixed order. Each lives in the module of its job:

- `search`: `search_flights`, `search_trains`, `search_hotels`, `get_trip_option`
- `sightseeing`: `build_itinerary` (the planner itself is `itinerary`)
- `seats`: `book_flight`, `book_train`; `hotels`: `book_hotel`; both book through `booking`
  (inventory, payment and booking row in one savepoint)
- `cancellation`: `cancel_booking`, by the rules in `refunds`
- `views`: `list_my_bookings`, and how every booking is shown
- `common`: what they share (the clock, cities, dates, classes, option ids)
"""

from __future__ import annotations

from errand.services.travel.cancellation import cancel_booking
from errand.services.travel.hotels import book_hotel
from errand.services.travel.search import get_trip_option, search_flights, search_hotels, search_trains
from errand.services.travel.seats import book_flight, book_train
from errand.services.travel.sightseeing import build_itinerary
from errand.services.travel.views import list_my_bookings

TOOLS = (
    search_flights,
    search_trains,
    search_hotels,
    get_trip_option,
    build_itinerary,
    book_flight,
    book_train,
    book_hotel,
    cancel_booking,
    list_my_bookings,
)
"""The domain's tools in their fixed order."""

__all__ = [
    "TOOLS",
    "book_flight",
    "book_hotel",
    "book_train",
    "build_itinerary",
    "cancel_booking",
    "get_trip_option",
    "list_my_bookings",
    "search_flights",
    "search_hotels",
    "search_trains",
]
