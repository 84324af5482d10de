"""The travel service: seed, searches, itineraries, bookings under concurrency, cancellation, the agent."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from errand.agent import approve_all
from errand.agent.events import ConfirmationRequired
from errand.config import Settings
from errand.db.engine import Base, make_engine, session_factory, transaction
from errand.errors import ErrandError, ToolError
from errand.llm.scripted import ScriptedModel, call
from errand.runtime import build_agent
from errand.services.clock import LOCAL
from errand.services.store import ServiceStore
from errand.services.travel import DOMAIN, tools
from errand.services.travel.models import Attraction, Booking, Fare, RoomNight, TravelCity
from errand.services.travel.seed import build_rows
from errand.services.wallet import ledger
from errand.services.wallet.models import Entry
from errand.tools import ToolContext
from tests.services.conftest import Clock

NOW = datetime(2026, 12, 10, 9, 0, tzinfo=LOCAL)
CLOCK = Clock(NOW)
"""What every tool call of these tests reads as now (`ToolContext.now`)."""
FLIGHT_DAY = "2027-01-15"


@pytest.fixture(autouse=True)
def fixed_now() -> None:
    """Dates are checked against 'now'; pin it so the tests never age."""
    CLOCK.now = NOW


def _ctx(session: Session, user: str = "traveller", key: str = "") -> ToolContext:
    return ToolContext(user=user, run_id="run-t", idempotency_key=key, session=session, now=CLOCK)


def _fund(store: ServiceStore, user: str, yuan: int) -> None:
    with store.sessions() as s, s.begin():
        ledger.top_up(s, user=user, amount=yuan * 100, currency="CNY", at=CLOCK())


def _fare(s: Session, flight: str, day: str, cabin: str = "economy") -> Fare:
    fare = s.scalar(
        select(Fare)
        .where(Fare.service_id == flight, Fare.day == date.fromisoformat(day), Fare.cabin == cabin)
        .execution_options(populate_existing=True)
    )
    assert fare is not None
    return fare


def _entries(s: Session) -> int:
    return s.scalar(select(func.count()).select_from(Entry)) or 0


def _bookings(s: Session) -> int:
    return s.scalar(select(func.count()).select_from(Booking)) or 0


def _sound(s: Session) -> None:
    assert all(v == 0 for v in ledger.ledger_sum(s).values())
    assert ledger.ledger_problems(s) == []


# ---- seed ------------------------------------------------------------------------------------


def test_seed_is_deterministic_and_peaks_at_new_year(session: Session, tmp_path: Path) -> None:
    # How long seeding takes is a benchmark's business, not a test's (a loaded CI machine took 5 s).
    assert build_rows() == build_rows()
    engine = make_engine(f"sqlite:///{tmp_path}/t.db")
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[t] for t in DOMAIN.tables])
    with transaction(session_factory(engine)) as s:
        assert not DOMAIN.is_seeded(s)
        DOMAIN.seed(s)
        assert DOMAIN.is_seeded(s)
    engine.dispose()

    names = set(session.scalars(select(TravelCity.name)))
    assert len(names) >= 12
    assert {"Beijing", "Shanghai", "Guangzhou", "Shenzhen", "Chengdu", "Hangzhou", "Xi'an"} <= names
    assert {"Chongqing", "Hong Kong", "Singapore", "Tokyo", "Bangkok"} <= names
    assert (session.scalar(select(func.count()).select_from(Fare)) or 0) > 10_000
    assert (session.scalar(select(func.count()).select_from(RoomNight)) or 0) > 5_000

    def avg(first: str, last: str) -> float:
        return float(
            session.scalar(
                select(func.avg(Fare.price)).where(
                    Fare.cabin == "economy",
                    Fare.day >= date.fromisoformat(first),
                    Fare.day <= date.fromisoformat(last),
                )
            )
            or 0
        )

    assert avg("2027-02-06", "2027-02-14") > 1.5 * avg("2027-03-08", "2027-03-21")
    peak_seats = session.scalar(
        select(func.max(Fare.seats_left)).where(
            Fare.cabin == "economy", Fare.day >= date(2027, 2, 6), Fare.day <= date(2027, 2, 14)
        )
    )
    assert peak_seats is not None and peak_seats < 10
    # Longer flights cost more: Beijing-Shanghai (1,070 km) well under Beijing-Guangzhou (1,890 km).
    bj_sh = tools.search_flights.fn(_ctx(session), "Beijing", "Shanghai", "2027-03-10")
    bj_gz = tools.search_flights.fn(_ctx(session), "Beijing", "Guangzhou", "2027-03-10")
    assert bj_sh["options"][0]["price"] < bj_gz["options"][0]["price"]


# ---- search ----------------------------------------------------------------------------------


def test_flight_search_filters_hold(session: Session) -> None:
    ctx = _ctx(session)
    plain = tools.search_flights.fn(ctx, "Beijing", "Shanghai", "2027-01-15")
    prices = [o["price"] for o in plain["options"]]
    assert prices == sorted(prices) and plain["cheapest"] == plain["options"][0]["option_id"]
    limit = prices[-1] - 1
    got = tools.search_flights.fn(
        ctx, "北京", "SHANGHAI", "2027-01-15", max_price=limit, depart_after="07:00", depart_before="21:00"
    )
    for o in got.get("options", []):
        assert o["price"] <= limit and "07:00" <= o["depart"] <= "21:00" and o["seats_left"] > 0
    business = tools.search_flights.fn(ctx, "Beijing", "Shanghai", "2027-01-15", cabin="business")
    assert min(o["price"] for o in business["options"]) > max(prices)
    long_haul = tools.search_flights.fn(ctx, "Harbin", "Sanya", "2027-01-15", max_stops=0)
    assert all(o["stops"] == 0 for o in long_haul.get("options", []))
    peak = tools.search_flights.fn(ctx, "Beijing", "Chengdu", "2027-02-10")
    assert "春节" in peak["note"]
    for bad, why in [
        (("Atlantis", "Beijing", "2027-01-15"), "Unknown city"),
        (("Beijing", "Shanghai", "2026-12-01"), "in the past"),
        (("Beijing", "Shanghai", "2027-06-01"), "No timetable"),
        (("Beijing", "Shanghai", "15/01/2027"), "YYYY-MM-DD"),
    ]:
        with pytest.raises(ToolError, match=why):
            tools.search_flights.fn(ctx, *bad)
    with pytest.raises(ToolError, match="economy or business"):
        tools.search_flights.fn(ctx, "Beijing", "Shanghai", "2027-01-15", cabin="sofa")


def test_train_and_hotel_search_filters_hold(session: Session) -> None:
    ctx = _ctx(session)
    second = tools.search_trains.fn(ctx, "Shanghai", "Hangzhou", "2027-01-15", depart_after="10:00")
    assert second["options"] and all(o["depart"] >= "10:00" for o in second["options"])
    by_ten = tools.search_trains.fn(ctx, "Shanghai", "Hangzhou", "2027-01-15", arrive_before="10:00")
    assert by_ten["options"] and all(o["arrive"] <= "10:00" for o in by_ten["options"])
    assert any(
        o["arrive"] > "10:00"
        for o in tools.search_trains.fn(ctx, "Shanghai", "Hangzhou", "2027-01-15")["options"]
    )
    first = tools.search_trains.fn(ctx, "Shanghai", "Hangzhou", "2027-01-15", seat_class="first")
    assert min(o["price"] for o in first["options"]) > min(o["price"] for o in second["options"])
    assert "search_flights" in tools.search_trains.fn(ctx, "Beijing", "Tokyo", "2027-01-15")["hint"]

    hotels = tools.search_hotels.fn(ctx, "Chengdu", "2027-01-15", nights=3, min_rating=4.5)
    assert hotels["check_out"] == "2027-01-18"
    assert hotels["options"] and all(o["rating"] >= 4.5 for o in hotels["options"])
    cheap = tools.search_hotels.fn(ctx, "Chengdu", "2027-01-15", nights=3, max_price_per_night=500)
    assert cheap["options"] and all(o["total"] <= 1500 for o in cheap["options"])
    detail = tools.get_trip_option.fn(ctx, cheap["options"][0]["option_id"])
    assert len(detail["nights"]) == 3 and detail["total"] == cheap["options"][0]["total"]
    flight = tools.get_trip_option.fn(ctx, f"CA1101-{FLIGHT_DAY.replace('-', '')}-economy")
    assert flight["flight"] == "CA1101" and "refund_rule" in flight
    with pytest.raises(ToolError, match="No hotel"):
        tools.get_trip_option.fn(ctx, "H-ZZ01")


def test_itinerary_respects_opening_hours(session: Session) -> None:
    def minutes(hhmm: str) -> int:
        return int(hhmm[:2]) * 60 + int(hhmm[3:])

    by_name = {f"{a.name} ({a.name_zh})": a for a in session.scalars(select(Attraction))}
    for city, start in [("Beijing", "2027-01-04"), ("Tokyo", "2027-01-06"), ("Hong Kong", "2027-03-01")]:
        plan = tools.build_itinerary.fn(_ctx(session), city, start, days=3)
        seen: list[str] = []
        for n, day in enumerate(plan["days"]):
            weekday = date.fromisoformat(start).toordinal() + n
            prev_end = 9 * 60 - 60
            for stop in day["stops"] if isinstance(day["stops"], list) else []:
                a = by_name[stop["place"]]
                begin, end = (minutes(t) for t in stop["time"].split("-"))
                assert a.opens_min <= begin and end <= a.closes_min, stop
                assert end - begin == a.visit_min
                assert begin >= prev_end + stop["travel_min"] or prev_end < 9 * 60
                assert a.closed_weekday != date.fromordinal(weekday).weekday()
                prev_end = end
                seen.append(a.name)
        assert len(seen) == len(set(seen)) >= 5
    with pytest.raises(ToolError, match="between 1 and 7"):
        tools.build_itinerary.fn(_ctx(session), "Beijing", "2027-01-04", days=30)


# ---- booking, errors, cancellation (both databases) ------------------------------------------


def test_booking_pays_refunds_and_rolls_back(
    make_store: Callable[..., ServiceStore],
) -> None:
    store = make_store()
    _fund(store, "traveller", 20_000)
    _fund(store, "pauper", 10)
    with store.sessions() as s:
        seats0, entries0 = _fare(s, "CA1101", FLIGHT_DAY).seats_left, _entries(s)
        price = _fare(s, "CA1101", FLIGHT_DAY).price
        balance0 = ledger.balance(s, "traveller", "CNY")

    # The confirmation shows item, date, names, amount and account, and changes nothing.
    args = {"flight_id": "CA1101", "date": FLIGHT_DAY, "passengers": ["Zhang Wei", "Li Na"]}
    with store.sessions() as s:
        text = tools.book_flight.describe_call(args, _ctx(s))
    assert "CA1101" in text and FLIGHT_DAY in text and "Zhang Wei, Li Na" in text
    assert ledger.money_text(2 * price, "CNY") in text and "traveller's" in text

    with store.sessions() as s, s.begin():
        done = tools.book_flight.fn(_ctx(s, key="k-1"), "CA1101", ["Zhang Wei", "Li Na"], date=FLIGHT_DAY)
    assert done["total"] * 100 == 2 * price and not done["replayed"]
    with store.sessions() as s:
        assert _fare(s, "CA1101", FLIGHT_DAY).seats_left == seats0 - 2
        assert ledger.balance(s, "traveller", "CNY") == balance0 - 2 * price
        assert _entries(s) == entries0 + 2
        _sound(s)
        mine = tools.list_my_bookings.fn(_ctx(s))
        assert mine["latest"][0]["booking_id"] == done["booking_id"]

    # Bad input and a failure after the seat update leave everything as it was.
    def snapshot() -> tuple[int, int, int, int]:
        with store.sessions() as s:
            return (
                _fare(s, "CA1101", FLIGHT_DAY).seats_left,
                _bookings(s),
                _entries(s),
                ledger.balance(s, "traveller", "CNY"),
            )

    before = snapshot()
    for call_args, err, why in [
        (("CA9999", [" A "]), ToolError, "No flight CA9999"),
        (("CA1101", ["Zhang Wei", "  "]), ToolError, "empty name"),
        (("CA1101", ["x"] * 10), ToolError, "At most 9"),
    ]:
        with pytest.raises(err, match=why), store.sessions() as s, s.begin():
            tools.book_flight.fn(_ctx(s, key="bad"), *call_args, date=FLIGHT_DAY)
    with pytest.raises(ToolError, match="in the past"), store.sessions() as s, s.begin():
        tools.book_flight.fn(_ctx(s, key="past"), "CA1101-20261201-economy", ["A"])
    with pytest.raises(ledger.InsufficientFunds, match="Top up"), store.sessions() as s, s.begin():
        tools.book_flight.fn(_ctx(s, user="pauper", key="poor"), "CA1101", ["Pa Uper"], date=FLIGHT_DAY)

    # The crash comes from the database, after the last write (seats, payment, booking row) on
    # both paths: SQLite's Python statements and PostgreSQL's booking function.
    _crash_after_booking_insert(store)
    with pytest.raises(DBAPIError, match="crash in the middle"), store.sessions() as s, s.begin():
        tools.book_flight.fn(_ctx(s, key="crash"), "CA1101", ["Crash Test"], date=FLIGHT_DAY)
    assert snapshot() == before

    # Replays: same key returns the first booking; same key, different booking, is refused.
    with store.sessions() as s, s.begin():
        again = tools.book_flight.fn(_ctx(s, key="k-1"), "CA1101", ["Zhang Wei", "Li Na"], date=FLIGHT_DAY)
        assert again["replayed"] and again["booking_id"] == done["booking_id"]
        with pytest.raises(ToolError, match="already used"):
            tools.book_flight.fn(_ctx(s, key="k-1"), "CA1101", ["Someone Else"], date=FLIGHT_DAY)
    assert snapshot() == before

    # Cancel more than 24 h ahead: economy refunds 80% and frees both seats; a repeat changes nothing.
    with store.sessions() as s, s.begin():
        gone = tools.cancel_booking.fn(_ctx(s, key="c-1"), done["booking_id"])
    assert gone["status"] == "cancelled" and gone["refund"] * 100 == 2 * price * 80 // 100
    with store.sessions() as s, s.begin():
        assert tools.cancel_booking.fn(_ctx(s, key="c-2"), done["booking_id"])["replayed"]
    with store.sessions() as s:
        assert _fare(s, "CA1101", FLIGHT_DAY).seats_left == seats0
        assert ledger.balance(s, "traveller", "CNY") == balance0 - 2 * price + 2 * price * 80 // 100
        _sound(s)

    # Within 24 h economy refunds nothing; a hotel cancelled the day before check-in refunds all.
    CLOCK.now = datetime(2027, 1, 14, 23, 0, tzinfo=LOCAL)
    with store.sessions() as s, s.begin():
        late = tools.book_flight.fn(
            _ctx(s, key="k-2"), f"CA1101-{FLIGHT_DAY.replace('-', '')}-economy", ["Li Na"]
        )
        hotel = tools.book_hotel.fn(_ctx(s, key="k-3"), "H-SY04", ["Li Na"], check_in="2027-01-15", nights=2)
    with store.sessions() as s, s.begin():
        assert tools.cancel_booking.fn(_ctx(s, key="c-3"), late["booking_id"])["refund"] == 0
        assert tools.cancel_booking.fn(_ctx(s, key="c-4"), hotel["booking_id"])["refund"] == hotel["total"]
    with store.sessions() as s:
        assert _fare(s, "CA1101", FLIGHT_DAY).seats_left == seats0
        _sound(s)
        with pytest.raises(ToolError, match="No booking"):
            tools.cancel_booking.fn(_ctx(s, user="someone-else"), done["booking_id"])


# ---- concurrency (both databases) -----------------------------------------------------------------


def _race(n: int, job: Callable[[int], Any]) -> list[Any]:
    gate = threading.Barrier(min(n, 16))

    def run(i: int) -> Any:
        if i < 16:
            gate.wait()
        try:
            return job(i)
        except ErrandError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(run, range(n)))


def test_concurrent_bookings_never_oversell_or_double_book(make_store: Callable[..., ServiceStore]) -> None:
    store = make_store()
    _fund(store, "racer", 200_000)
    with store.sessions() as s, s.begin():
        s.execute(
            update(Fare)
            .where(Fare.service_id == "MU1101", Fare.day == date(2027, 1, 20), Fare.cabin == "economy")
            .values(seats_left=10)
        )
        entries0, bookings0 = _entries(s), _bookings(s)

    def book(i: int, key: str, flight: str = "MU1101", day: str = "2027-01-20") -> dict[str, Any]:
        with store.sessions() as s, s.begin():
            out: dict[str, Any] = tools.book_flight.fn(_ctx(s, "racer", key), flight, [f"P {i}"], date=day)
            return out

    results = _race(50, lambda i: book(i, f"race-{i}"))
    won = [r for r in results if isinstance(r, dict)]
    lost = [r for r in results if isinstance(r, ToolError)]
    assert len(won) == 10 and len(lost) == 40, [r for r in results if not isinstance(r, dict | ToolError)]
    assert all("Sold out" in str(e) or "seats left" in str(e) for e in lost)
    with store.sessions() as s:
        assert _fare(s, "MU1101", "2027-01-20").seats_left == 0
        assert _bookings(s) == bookings0 + 10 and _entries(s) == entries0 + 20
        _sound(s)

    # The same idempotency key sent 20 times at once books (and pays) once.
    same = _race(20, lambda i: book(7, "one-key", "MU1102", "2027-01-21"))
    assert all(isinstance(r, dict) for r in same), same
    assert len({r["booking_id"] for r in same}) == 1
    assert sum(not r["replayed"] for r in same) == 1
    with store.sessions() as s:
        assert _bookings(s) == bookings0 + 11 and _entries(s) == entries0 + 22
        _sound(s)


def test_a_repeat_answers_even_after_the_trip_has_begun(
    make_store: Callable[..., ServiceStore],
) -> None:
    """A retry under the same key returns the booking it made, whatever the clock says since."""
    store = make_store(seed=False)
    store.seed([DOMAIN])
    _fund(store, "traveller", 20_000)
    with store.sessions() as s, s.begin():
        flight = tools.book_flight.fn(_ctx(s, key="f"), "CA1101", ["Zhang Wei"], date=FLIGHT_DAY)
        option = f"G7-{FLIGHT_DAY.replace('-', '')}-second"
        train = tools.book_train.fn(_ctx(s, key="t"), option, ["Zhang Wei"])
        hotel = tools.book_hotel.fn(_ctx(s, key="h"), f"H-SY04-{FLIGHT_DAY.replace('-', '')}-2n", ["Li Na"])
    CLOCK.now = datetime(2027, 1, 16, 9, 0, tzinfo=LOCAL)  # all three have begun
    with store.sessions() as s, s.begin():
        entries = _entries(s)
        again = [
            tools.book_flight.fn(_ctx(s, key="f"), "CA1101", ["Zhang Wei"], date=FLIGHT_DAY),
            tools.book_train.fn(_ctx(s, key="t"), option, ["Zhang Wei"]),
            tools.book_hotel.fn(_ctx(s, key="h"), f"H-SY04-{FLIGHT_DAY.replace('-', '')}-2n", ["Li Na"]),
        ]
        assert [a["booking_id"] for a in again] == [b["booking_id"] for b in (flight, train, hotel)]
        assert all(a["replayed"] for a in again) and _entries(s) == entries
        with pytest.raises(ToolError, match="already used"):  # same key, another trip
            tools.book_flight.fn(_ctx(s, key="f"), "CA1101", ["Someone Else"], date=FLIGHT_DAY)
        with pytest.raises(ToolError, match="in the past"):  # a new key is checked as always
            tools.book_flight.fn(_ctx(s, key="new"), "CA1101", ["Zhang Wei"], date=FLIGHT_DAY)


# ---- the agent -------------------------------------------------------------------------------


async def test_agent_plans_and_books_a_trip(store: ServiceStore, tmp_path: Path) -> None:
    user = "trip-agent"
    _fund(store, user, 50_000)
    with store.sessions() as s:
        flights = tools.search_flights.fn(_ctx(s, user), "Beijing", "Sanya", FLIGHT_DAY)
        hotels = tools.search_hotels.fn(_ctx(s, user), "Sanya", FLIGHT_DAY, nights=3)
    option, hotel = flights["cheapest"], hotels["options"][0]
    model = ScriptedModel(
        [
            call("search_flights", origin="Beijing", destination="Sanya", date=FLIGHT_DAY),
            call("build_itinerary", city="Sanya", start_date=FLIGHT_DAY, days=3),
            call("search_hotels", city="Sanya", check_in=FLIGHT_DAY, nights=3),
            call("book_flight", flight_id=option, passengers=["Wang Fang"]),
            call("book_hotel", hotel_id=hotel["option_id"], guests=["Wang Fang"]),
            "Booked your flight and hotel; the plan covers 3 days in Sanya.",
        ]
    )
    agent = build_agent(Settings(home=tmp_path), model, store, approver=approve_all, now=CLOCK)
    events = [
        e
        async for e in agent.stream(
            f"Plan a 3-day trip to Sanya from Beijing on {FLIGHT_DAY}, 3 nights "
            "of hotel, and book the flight for Wang Fang",
            user=user,
        )
    ]
    assert events[-1].type == "run_finished", events[-1]
    asks = [e for e in events if isinstance(e, ConfirmationRequired)]
    assert [a.name for a in asks] == ["book_flight", "book_hotel"]
    flight_price = flights["options"][0]["price_text"]
    assert flight_price in asks[0].summary and "Wang Fang" in asks[0].summary
    assert hotel["total_text"] in asks[1].summary and "trip-agent's" in asks[1].summary
    with store.sessions() as s:
        booked = s.scalars(select(Booking).where(Booking.user == user)).all()
        assert sorted(b.kind for b in booked) == ["flight", "hotel"]
        payments = [h for h in ledger.history(s, user) if h.kind == "payment"]
        assert sorted(-p.amount for p in payments) == sorted(b.amount for b in booked)
        _sound(s)


def test_seat_booking_refusals_change_nothing_and_say_why(
    make_store: Callable[..., ServiceStore],
) -> None:
    """Each way a paid seat booking is refused, worded alike on SQLite (Python statements) and
    PostgreSQL (the booking function), with seats, bookings and ledger untouched."""
    store = make_store()
    _fund(store, "traveller", 5_000)
    with store.sessions() as s:
        price = _fare(s, "CA1101", FLIGHT_DAY).price

    def state() -> tuple[int, int, int, int]:
        with store.sessions() as s:
            seats = _fare(s, "CA1101", FLIGHT_DAY).seats_left
            return seats, _bookings(s), _entries(s), ledger.balance(s, "traveller", "CNY")

    def book(key: str, names: list[str]) -> dict[str, Any]:
        """Book; a refusal is raised after its transaction commits (the refusal wrote nothing)."""
        with store.sessions() as s, s.begin():
            try:
                return tools.book_flight.fn(_ctx(s, key=key), "CA1101", names, date=FLIGHT_DAY)
            except ErrandError as exc:
                refused = exc
        raise refused

    with store.sessions() as s, s.begin():  # 1.5 seats' worth a day
        ledger.set_daily_limit(s, user="traveller", currency="CNY", amount=price * 3 // 2)
    before = state()
    with pytest.raises(ledger.SpendingLimitExceeded, match=r"has paid 0\.00 CNY today"):
        book("over", ["A One", "B Two"])
    assert state() == before
    first = book("one", ["A One"])  # within the limit: counted, and the next seat is over it
    with pytest.raises(ledger.SpendingLimitExceeded, match=r"has paid [\d,]+\.\d\d CNY today"):
        book("two", ["B Two"])
    with store.sessions() as s, s.begin():
        ledger.set_daily_limit(s, user="traveller", currency="CNY", amount=None)

    # A payment outside travel took the key a booking's payment would use: refused, not re-paid.
    with store.sessions() as s, s.begin():
        ledger.pay(
            s,
            user="traveller",
            amount=100,
            currency="CNY",
            merchant="shop:x",
            memo="other",
            idempotency_key="travel:taken",
            at=CLOCK(),
        )
    before = state()
    with pytest.raises(ledger.IdempotencyConflict):
        book("taken", ["A One"])
    assert state() == before

    # Sold out: exactly the seats left can be taken, then the next booking is refused.
    with store.sessions() as s, s.begin():
        s.execute(update(Fare).where(Fare.id == _fare(s, "CA1101", FLIGHT_DAY).id).values(seats_left=1))
    before = state()
    with pytest.raises(ToolError, match="Only 1 seats left"):
        book("many", ["A One", "B Two"])
    assert state() == before
    last = book("last", ["C Three"])
    with pytest.raises(ToolError, match="Sold out"):
        book("none", ["D Four"])
    with store.sessions() as s:
        assert _fare(s, "CA1101", FLIGHT_DAY).seats_left == 0
        assert {b.idempotency_key for b in s.scalars(select(Booking))} >= {"one", "last"}
        assert first["payment_id"] != last["payment_id"]
        _sound(s)


def _crash_after_booking_insert(store: ServiceStore) -> None:
    """A trigger that fails any booking for 'Crash Test' once its row is written."""
    with store.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER crash_test AFTER INSERT ON tr_bookings WHEN NEW.names = 'Crash Test' "
                "BEGIN SELECT RAISE(ABORT, 'crash in the middle of the booking'); END"
            )
            return
        conn.exec_driver_sql(
            "CREATE FUNCTION crash_test() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.names = 'Crash Test' THEN RAISE EXCEPTION 'crash in the middle of the booking'; END IF; "
            "RETURN NEW; END $$"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER crash_test AFTER INSERT ON tr_bookings FOR EACH ROW EXECUTE FUNCTION crash_test()"
        )
