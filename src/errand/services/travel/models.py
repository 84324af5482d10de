"""Travel tables: cities, airports and stations, flights and trains with seats per date,
hotels with rooms per night, attractions, and bookings.

Money is integer minor units (fen) in BIGINT columns next to a currency code.
Seats and rooms left are counters with a CHECK (>= 0): a booking decrements them with a
conditional UPDATE in the transaction that records it, so nothing is ever oversold.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from errand.db.engine import Base


class TravelCity(Base):
    """A city people travel to and from."""

    __tablename__ = "tr_cities"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(3), unique=True)
    """Short code used in hotel ids (``BJ`` for Beijing)."""
    name: Mapped[str] = mapped_column(String(40), unique=True)
    """English name (``Beijing``)."""
    name_zh: Mapped[str] = mapped_column(String(20))
    """Chinese name (``北京``)."""
    country: Mapped[str] = mapped_column(String(40))
    """Country or region."""
    lat: Mapped[float] = mapped_column(Float)
    """Latitude of the centre."""
    lon: Mapped[float] = mapped_column(Float)
    """Longitude of the centre."""


class Hub(Base):
    """An airport or a railway station."""

    __tablename__ = "tr_hubs"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    """IATA code for airports (``PEK``), a short code for stations (``BJS-S``)."""
    city_id: Mapped[int] = mapped_column(ForeignKey("tr_cities.id"), index=True)
    """The city it serves."""
    name: Mapped[str] = mapped_column(String(80))
    """Full name (``Beijing Capital International Airport``)."""
    kind: Mapped[str] = mapped_column(String(8))
    """``airport`` or ``station``."""


class Service(Base):
    """A scheduled flight or train that runs every day of the timetable."""

    __tablename__ = "tr_services"
    __table_args__ = (Index("ix_tr_services_route", "kind", "origin_city_id", "dest_city_id"),)

    id: Mapped[str] = mapped_column(String(10), primary_key=True)
    """Flight number (``CA1501``) or train number (``G7``)."""
    kind: Mapped[str] = mapped_column(String(8))
    """``flight`` or ``train``."""
    carrier: Mapped[str] = mapped_column(String(40))
    """Airline or railway operator."""
    origin_city_id: Mapped[int] = mapped_column(ForeignKey("tr_cities.id"))
    """City it leaves from."""
    dest_city_id: Mapped[int] = mapped_column(ForeignKey("tr_cities.id"))
    """City it goes to."""
    origin_hub: Mapped[str] = mapped_column(ForeignKey("tr_hubs.code"))
    """Airport or station it leaves from."""
    dest_hub: Mapped[str] = mapped_column(ForeignKey("tr_hubs.code"))
    """Airport or station it arrives at."""
    depart_min: Mapped[int]
    """Departure time, minutes after local midnight."""
    duration_min: Mapped[int]
    """Door-to-door time of the trip in minutes."""
    stops: Mapped[int]
    """Intermediate stops (flights: 0 non-stop, 1 via ``via``; trains: stations on the way)."""
    via: Mapped[str | None] = mapped_column(String(40))
    """City of the connection of a one-stop flight."""
    distance_km: Mapped[int]
    """Distance travelled in kilometres."""


class Fare(Base):
    """Seats and price of one service on one date in one cabin or class."""

    __tablename__ = "tr_fares"
    __table_args__ = (
        UniqueConstraint("service_id", "day", "cabin"),
        CheckConstraint("seats_left >= 0", name="ck_tr_fares_seats_left"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("tr_services.id"))
    """The flight or train."""
    day: Mapped[date] = mapped_column(Date)
    """Departure date."""
    cabin: Mapped[str] = mapped_column(String(10))
    """``economy``/``business`` (flights) or ``second``/``first`` (trains)."""
    price: Mapped[int] = mapped_column(BigInteger)
    """Price of one seat in minor units."""
    currency: Mapped[str] = mapped_column(String(3))
    """ISO 4217 code of ``price``."""
    seats_left: Mapped[int]
    """Seats still for sale; never below zero."""


class Hotel(Base):
    """A hotel."""

    __tablename__ = "tr_hotels"

    id: Mapped[str] = mapped_column(String(10), primary_key=True)
    """City code and number (``H-BJ03``)."""
    city_id: Mapped[int] = mapped_column(ForeignKey("tr_cities.id"), index=True)
    """The city it is in."""
    name: Mapped[str] = mapped_column(String(80))
    """Name of the hotel."""
    district: Mapped[str] = mapped_column(String(40))
    """Area of the city."""
    stars: Mapped[int]
    """Official class, 2 to 5 stars."""
    rating: Mapped[float] = mapped_column(Float)
    """Guest rating out of 5, one decimal."""
    lat: Mapped[float] = mapped_column(Float)
    """Latitude."""
    lon: Mapped[float] = mapped_column(Float)
    """Longitude."""


class RoomNight(Base):
    """Rooms for sale and their price at one hotel for one night."""

    __tablename__ = "tr_room_nights"
    __table_args__ = (
        UniqueConstraint("hotel_id", "night"),
        CheckConstraint("rooms_left >= 0", name="ck_tr_room_nights_rooms_left"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hotel_id: Mapped[str] = mapped_column(ForeignKey("tr_hotels.id"))
    """The hotel."""
    night: Mapped[date] = mapped_column(Date)
    """Date the night starts."""
    price: Mapped[int] = mapped_column(BigInteger)
    """Price of one room for this night in minor units."""
    currency: Mapped[str] = mapped_column(String(3))
    """ISO 4217 code of ``price``."""
    rooms_left: Mapped[int]
    """Rooms still for sale; never below zero."""


class Attraction(Base):
    """A sight with opening hours and a ticket price."""

    __tablename__ = "tr_attractions"

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("tr_cities.id"), index=True)
    """The city it is in."""
    name: Mapped[str] = mapped_column(String(80))
    """English name."""
    name_zh: Mapped[str] = mapped_column(String(40))
    """Chinese (or local) name."""
    rank: Mapped[int]
    """Popularity within the city, 1 = must-see."""
    opens_min: Mapped[int]
    """Opening time, minutes after midnight."""
    closes_min: Mapped[int]
    """Closing time (last visitors out), minutes after midnight."""
    closed_weekday: Mapped[int | None]
    """Weekday it is closed (0 = Monday), or none."""
    visit_min: Mapped[int]
    """Typical time a visit takes, in minutes."""
    price: Mapped[int] = mapped_column(BigInteger)
    """Adult ticket in minor units (0 = free)."""
    currency: Mapped[str] = mapped_column(String(3))
    """ISO 4217 code of ``price``."""
    lat: Mapped[float] = mapped_column(Float)
    """Latitude."""
    lon: Mapped[float] = mapped_column(Float)
    """Longitude."""


class Booking(Base):
    """A flight, train or hotel booking, paid through the wallet."""

    __tablename__ = "tr_bookings"
    __table_args__ = (
        Index("ix_tr_bookings_user", "user", "id"),
        CheckConstraint("quantity > 0", name="ck_tr_bookings_quantity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user: Mapped[str] = mapped_column(String(100))
    """errand user who booked."""
    kind: Mapped[str] = mapped_column(String(8))
    """``flight``, ``train`` or ``hotel``."""
    item_id: Mapped[str] = mapped_column(String(10))
    """Flight/train number or hotel id."""
    day: Mapped[date] = mapped_column(Date)
    """Departure date, or check-in date for hotels."""
    nights: Mapped[int]
    """Nights of a hotel stay (0 for flights and trains)."""
    cabin: Mapped[str] = mapped_column(String(10))
    """Cabin or class; ``room`` for hotels."""
    quantity: Mapped[int]
    """Seats or rooms booked."""
    names: Mapped[str] = mapped_column(Text)
    """Passenger or guest names, one per line."""
    starts_at: Mapped[datetime] = mapped_column(DateTime)
    """Departure time, or check-in (14:00) for hotels: the refund rules count from it."""
    amount: Mapped[int] = mapped_column(BigInteger)
    """Total paid in minor units."""
    currency: Mapped[str] = mapped_column(String(3))
    """ISO 4217 code of ``amount``."""
    payment_id: Mapped[str] = mapped_column(String(40))
    """The wallet payment."""
    status: Mapped[str] = mapped_column(String(10))
    """``confirmed`` or ``cancelled``."""
    refund_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    """Refunded on cancellation, minor units."""
    refund_id: Mapped[str | None] = mapped_column(String(40))
    """The wallet refund, if any."""
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)
    """When it was cancelled."""
    created_at: Mapped[datetime] = mapped_column(DateTime)
    """When it was booked."""
    run_id: Mapped[str] = mapped_column(String(100))
    """Run that booked it."""
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    """Key of the booking call; a retry with the same key returns this booking."""
    cancel_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    """Key of the cancelling call."""
