"""The one-line summary on a tool card, checked on what the built-in services really return."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from errand.agent.observations import earlier_result, observation, summarize
from errand.services.clock import LOCAL
from errand.services.food import tools as food
from errand.services.realestate import tools as realestate
from errand.services.shop import tools as shop
from errand.services.store import ServiceStore
from errand.services.travel import tools as travel
from errand.services.wallet import ledger
from errand.services.wallet import tools as wallet
from errand.tools import ToolContext

NOW = datetime(2026, 12, 10, 9, 0, tzinfo=LOCAL)
"""What every call reads as now: travel dates and viewings are checked against it."""
USER = "summary-tester"
HOMES = {"city": "Hangzhou", "bedrooms": 3, "max_price": 6_000_000, "min_school_rating": 9}

Call = Callable[..., Any]


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Call]:
    """Call a tool's function on a seeded store (a funded wallet) and return its plain result."""
    folder = tmp_path_factory.mktemp("observations")
    store = ServiceStore.open(f"sqlite:///{folder}/s.db")
    with store.sessions() as s, s.begin():
        ledger.top_up(s, user=USER, amount=5_000_000, currency="CNY", at=NOW)
    keys = itertools.count()

    def run(fn: Call, *args: Any, **kwargs: Any) -> Any:
        with store.sessions() as s, s.begin():
            ctx = ToolContext(
                user=USER,
                run_id="run-summary",
                idempotency_key=f"k{next(keys)}",
                session=s,
                artifacts_dir=folder / "artifacts",
                now=lambda: NOW,
            )
            return fn(ctx, *args, **kwargs)

    yield run
    store.close()


def _card(result: Any) -> str:
    line = summarize(result)
    assert 0 < len(line) <= 120 and "\n" not in line, line
    return line


# ---- lists of what was found -------------------------------------------------------------


def test_a_ranking_names_its_count_its_top_row_and_the_cheapest(call: Call) -> None:
    # Issue #18: "12 found, best value HZ-00446 at 5.23M CNY, cheapest HZ-00475 at 4.56M CNY"
    # (the ranking's first row is also the result's best_value, so it is named by that).
    r = call(realestate.analyze_listings.fn, **HOMES)
    top, cheapest = r["top"][0], r["cheapest"]
    assert top["id"] != cheapest["id"]
    assert _card(r) == (
        f"{r['matches']} found, best value {top['id']} at {top['price_text']}, "
        f"cheapest {cheapest['id']} at {cheapest['price_text']}"
    )


def test_the_query_is_not_echoed(call: Call) -> None:
    r = call(realestate.analyze_listings.fn, **HOMES)
    line = _card(r)
    assert "Hangzhou" not in line and "city" not in line and "score" not in line
    assert str(r["city_avg_per_m2"]) not in line


def test_a_first_row_that_is_the_cheapest_is_named_once(call: Call) -> None:
    # "2 found, cheapest CA1101-20261220-economy at 825.00 CNY"
    r = call(travel.search_flights.fn, "Beijing", "Shanghai", "2026-12-20")
    first = r["options"][0]
    assert r["cheapest"] == first["option_id"]
    assert _card(r) == f"{r['matches']} found, cheapest {first['option_id']} at {first['price_text']}"
    assert "Beijing" not in _card(r) and "economy," not in _card(r)


def test_a_pick_named_by_another_id_of_its_row_is_found_in_the_rows(call: Call) -> None:
    # Hotels name the cheapest and the best rated by hotel id; the rows lead with the option id,
    # and the best rated may be past the rows shown (then its id alone is said).
    r = call(travel.search_hotels.fn, "Shanghai", "2026-12-20", nights=2)
    rows = {o["hotel_id"]: o for o in r["options"]}
    cheapest, best = rows[r["cheapest"]], rows.get(r["best_rated"])
    assert r["options"][0] is cheapest and cheapest is not best
    best_text = f"{best['option_id']} at {best['total_text']}" if best else r["best_rated"]
    assert _card(r) == (
        f"{r['matches']} found, cheapest {cheapest['option_id']} at {cheapest['total_text']}, "
        f"best rated {best_text}"
    )


def test_a_pick_given_whole_is_said_with_its_amount(call: Call) -> None:
    r = call(shop.search_products.fn, "headphones")
    first, cheapest = r["top"][0], r["cheapest"]
    assert first["id"] != cheapest["id"]
    assert _card(r) == (
        f"{r['matches']} found, top {first['id']} at {first['price_text']}, "
        f"cheapest {cheapest['id']} at {cheapest['price_text']}"
    )


def test_a_search_without_a_named_pick_gives_its_first_row(call: Call) -> None:
    r = call(realestate.search_listings.fn, "Hangzhou", bedrooms=3, max_price=6_000_000)
    assert "cheapest" not in r
    first = r["results"][0]
    assert _card(r) == f"{r['matches']} found, top {first['id']} at {first['price_text']}"


def test_a_row_without_an_amount_is_named(call: Call) -> None:
    r = call(food.search_restaurants.fn, "Shanghai", cuisine="Sichuan")
    first = r["results"][0]
    assert _card(r) == f"{r['matches']} found, top {first['id']} ({first['name']})"


def test_a_comparison_counts_its_rows_and_names_its_picks(call: Call) -> None:
    ranked = call(realestate.analyze_listings.fn, **HOMES)
    r = call(realestate.compare_listings.fn, [ranked["top"][0]["id"], ranked["cheapest"]["id"]])
    rows = {x["id"]: x for x in r["listings"]}
    value, school = rows[r["best_value"]], rows[r["best_school"]]
    assert value is not school
    assert _card(r) == (
        f"2 found, best value {value['id']} at {value['price_text']}, "
        f"best school {school['id']} at {school['price_text']}"
    )


def test_a_history_says_how_many(call: Call) -> None:
    r = call(wallet.transaction_history.fn, limit=5)
    assert _card(r) == f"{r['count']} found"


def test_a_list_of_facts_without_ids_is_not_counted(call: Call) -> None:
    r = call(realestate.neighbourhood_stats.fn, "Hangzhou")
    line = _card(r)
    assert line.startswith(f"cheapest per m2 {r['cheapest_per_m2']}, priciest per m2 {r['priciest_per_m2']}")
    assert "found" not in line and "Hangzhou" not in line and "CNY/m2" not in line


# ---- one record --------------------------------------------------------------------------


def test_a_balance_is_read_out(call: Call) -> None:
    r = call(wallet.wallet_balance.fn)
    assert _card(r) == f"balance {r['balances'][0]['balance_text']}"


def test_a_booking_and_its_cancellation_name_the_booking_and_the_money(call: Call) -> None:
    found = call(travel.search_flights.fn, "Beijing", "Shanghai", "2026-12-20")
    booked = call(travel.book_flight.fn, found["cheapest"], ["Ann Lee"])
    assert _card(booked) == f"{booked['booking_id']} confirmed, total {booked['total_text']}"
    cancelled = call(travel.cancel_booking.fn, booked["booking_id"])
    assert _card(cancelled) == (
        f"{booked['booking_id']} cancelled, total {cancelled['total_text']}, "
        f"refund {cancelled['refund_text']}"
    )


def test_an_amount_given_only_as_text_is_read(call: Call) -> None:
    # A food order's refund is "154.00 CNY" under a plain key; a purchase paid its total (said once).
    found = call(food.search_restaurants.fn, "Shanghai", cuisine="Sichuan")
    menu = call(food.get_menu.fn, found["results"][0]["id"])
    item = {"item_id": menu["items"][0]["item_id"], "quantity": 2}
    order = call(food.place_order.fn, menu["id"], [item], "1 Nanjing Rd", deliver_at="2026-12-10 12:00")
    assert _card(order) == f"{order['order_id']} placed, total {order['total_text']}"
    cancelled = call(food.cancel_order.fn, order["order_id"])
    assert _card(cancelled) == f"{order['order_id']} cancelled, refunded {cancelled['refunded']}"

    bought = call(shop.buy_product.fn, "V-000002", 1, "1 Nanjing Rd")
    assert bought["paid_text"] == bought["total_text"]
    assert _card(bought) == f"{bought['order_id']} {bought['status']}, total {bought['total_text']}"


def test_a_record_names_itself(call: Call) -> None:
    listing = call(realestate.get_listing.fn, "HZ-00446")
    assert _card(listing) == f"HZ-00446 {listing['status']}, price {listing['price_text']}"
    product = call(shop.get_product.fn, "P-00001")
    assert _card(product) == f"P-00001 {product['name']}"
    viewing = call(realestate.request_viewing.fn, "HZ-00446", "2026-12-15", "Ann Lee")
    assert _card(viewing) == f"{viewing['viewing_id']} requested"


def test_figures_without_an_id_are_read_out(call: Call) -> None:
    loan = call(realestate.mortgage_estimate.fn, listing_id="HZ-00446")
    assert _card(loan) == f"monthly {loan['monthly_text']}"
    trend = call(realestate.price_trend.fn, "Hangzhou", months=6)
    assert _card(trend) == f"change {trend['change_pct']}%"


# ---- the rules themselves ----------------------------------------------------------------


def test_a_result_that_carries_its_own_summary_wins() -> None:
    assert summarize({"summary": "Booked 2 seats", "matches": 3, "results": [{"id": "A-1"}]}) == (
        "Booked 2 seats"
    )


def test_an_amount_is_not_a_count() -> None:
    assert summarize({"total": 825, "total_text": "825.00 CNY"}) == "total 825.00 CNY"
    assert summarize({"total": 3, "results": [{"id": "A-1"}]}) == "3 found, top A-1"


def test_lists_and_text() -> None:
    assert (
        summarize([{"id": "A-1", "price_text": "9.00 CNY"}, {"id": "A-2"}]) == "2 found, top A-1 at 9.00 CNY"
    )
    assert summarize([1, 2, 3]) == "3 items"
    assert summarize("line one\nline two") == "line one line two"
    assert summarize({}) == "done"
    assert summarize({"ok": True, "repos": [{"full_name": "a/b"}]}) == "repos: 1 items"
    assert len(summarize("x" * 500)) <= 120


def test_a_long_line_stops_at_a_whole_fact() -> None:
    rows = [
        {"id": "A-" + "1" * 70, "price_text": "1.00 CNY"},
        {"id": "B-" + "2" * 70, "price_text": "2.00 CNY"},
    ]
    line = summarize({"matches": 2, "results": rows, "cheapest": rows[1]["id"]})
    assert line == f"2 found, top {rows[0]['id']} at 1.00 CNY"


def test_the_model_still_sees_the_whole_result(call: Call) -> None:
    r = call(realestate.analyze_listings.fn, **HOMES)
    assert '"city":"Hangzhou"' in observation(r) and '"score_formula"' in observation(r)


def test_an_earlier_turns_tool_message_is_read_back_as_its_data() -> None:
    """A chat's next message takes ids from earlier results, read back from their messages:
    the JSON, also behind errand's note of a changed call and before its instruction."""
    from errand.agent import prompts

    menu = {"id": "HZ-R005", "items": [{"item_id": 57, "name": "Dongpo pork"}]}
    shown = observation(menu) + prompts.AFTER_RESULT
    assert earlier_result(shown) == menu
    noted = prompts.CHANGED_ARGUMENTS.format(changes="max_spice=0 is dropped") + shown
    assert earlier_result(noted) == menu
    assert earlier_result(observation([menu])) == [menu]
    assert (
        earlier_result("Error from get_menu: no such restaurant") == "Error from get_menu: no such restaurant"
    )


def test_a_moment_with_its_offset_is_also_said_as_people_say_it() -> None:
    """mcp-server-time's conversion, as CI saw it: the 1.5B answered with the source moment (its
    own clock's 16:51) for Tokyo, and here "2:39 PM" for 02:39; each moment now says its day and hour."""
    result = {
        "source": {"timezone": "Etc/UTC", "datetime": "2026-12-07T16:51:00+00:00"},
        "target": {"timezone": "Asia/Tokyo", "datetime": "2026-12-08T01:51:00+09:00"},
        "date": "2026-12-08",
    }
    shown = observation(result)
    assert "2026-12-08T01:51:00+09:00 (Tuesday 8 December 2026, 01:51, 1:51 AM)" in shown
    assert "2026-12-07T16:51:00+00:00 (Monday 7 December 2026, 16:51, 4:51 PM)" in shown
    assert '"date":"2026-12-08"' in shown  # a day alone is left as it is
    assert earlier_result(shown)["target"]["timezone"] == "Asia/Tokyo"  # still the result's JSON
