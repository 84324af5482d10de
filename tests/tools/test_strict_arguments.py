"""Every tool's arguments are checked strictly in one place (`Tool.validate`): what lenient
coercion let through became bookings (``nights: 0`` charged a night, ``rooms: true`` booked
a room, an address of NUL was accepted and charged)."""

from __future__ import annotations

import pytest

from errand.errors import ToolArgumentsError
from errand.services import builtin_registry

TOOLS = builtin_registry()


@pytest.mark.parametrize(
    ("tool", "arguments", "problem"),
    [
        ("book_hotel", {"hotel_id": "H-CD01", "guests": ["Li Na"], "nights": 0}, "nights: must be 1 or more"),
        (
            "book_hotel",
            {"hotel_id": "H-CD01", "guests": ["Li Na"], "rooms": True},
            "rooms: a number is expected",
        ),
        (
            "book_hotel",
            {"hotel_id": "H-CD01", "guests": ["Li Na"], "nights": -2},
            "nights: must be 1 or more",
        ),
        ("buy_product", {"variant_id": "V-000001", "quantity": 0, "address": "1 Main St"}, "quantity"),
        ("buy_product", {"variant_id": "V-000001", "quantity": 1, "address": "\u0000"}, "control characters"),
        (
            "place_order",
            {"restaurant_id": "SZ-R023", "items": [{"item_id": 1, "quantity": True}], "address": "x"},
            "items.0.quantity: a number is expected",
        ),
        ("search_listings", {"city": "Hangzhou\x1b[2J"}, "control characters"),
        ("search_listings", {"city": "Hangzhou", "bedrooms": False}, "bedrooms: a number is expected"),
    ],
)
def test_coercions_that_became_bookings_are_refused(
    tool: str, arguments: dict[str, object], problem: str
) -> None:
    t = TOOLS.get(tool)
    assert t is not None
    with pytest.raises(ToolArgumentsError, match=problem):
        t.validate(arguments)


def test_ordinary_arguments_still_pass() -> None:
    hotel = TOOLS.get("book_hotel")
    assert hotel is not None
    args = hotel.validate({"hotel_id": "H-CD01", "guests": ["Li Na"], "nights": 2, "rooms": 1})
    assert args["nights"] == 2 and args["rooms"] == 1
    listings = TOOLS.get("search_listings")
    assert listings is not None
    assert listings.validate({"city": "杭州\n", "bedrooms": 0})["bedrooms"] == 0  # a read may ask for 0
