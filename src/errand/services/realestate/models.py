"""Real-estate tables: cities, neighbourhoods, schools, listings, price history, viewings.

Money is integer minor units (fen for CNY, cents for SGD) next to a currency code.
Prices can pass 2**31 minor units (a 25M CNY flat), so money columns are BIGINT.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from errand.db.engine import Base


class City(Base):
    """A city with homes for sale."""

    __tablename__ = "re_cities"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(2), unique=True)
    """Two-letter prefix of the city's listing ids (``HZ`` for Hangzhou)."""
    name: Mapped[str] = mapped_column(String(40), unique=True)
    """English name (``Hangzhou``)."""
    name_zh: Mapped[str] = mapped_column(String(20))
    """Chinese name (``杭州``)."""
    country: Mapped[str] = mapped_column(String(40))
    """Country the city is in."""
    currency: Mapped[str] = mapped_column(String(3))
    """ISO 4217 code of the prices (``CNY``, ``SGD``)."""


class Neighbourhood(Base):
    """A district of a city; price statistics are kept per neighbourhood."""

    __tablename__ = "re_neighbourhoods"
    __table_args__ = (UniqueConstraint("city_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("re_cities.id"), index=True)
    """The city the neighbourhood belongs to."""
    name: Mapped[str] = mapped_column(String(60))
    """English (pinyin) name (``Xihu``)."""
    name_zh: Mapped[str] = mapped_column(String(30))
    """Chinese name (``西湖``)."""
    lat: Mapped[float] = mapped_column(Float)
    """Latitude of the neighbourhood's centre."""
    lon: Mapped[float] = mapped_column(Float)
    """Longitude of the neighbourhood's centre."""


class School(Base):
    """A school; listings record the school they are zoned for and its distance."""

    __tablename__ = "re_schools"

    id: Mapped[int] = mapped_column(primary_key=True)
    neighbourhood_id: Mapped[int] = mapped_column(ForeignKey("re_neighbourhoods.id"), index=True)
    """The neighbourhood the school is in."""
    name: Mapped[str] = mapped_column(String(100))
    """English name of the school."""
    rating: Mapped[int]
    """Quality rating from 1 (poor) to 10 (best in the city)."""
    level: Mapped[str] = mapped_column(String(10))
    """``primary``, ``middle`` or ``high``."""


class Listing(Base):
    """A home for sale."""

    __tablename__ = "re_listings"
    __table_args__ = (Index("ix_re_listings_search", "city_id", "status", "bedrooms", "price"),)

    id: Mapped[str] = mapped_column(String(12), primary_key=True)
    """City code and number (``HZ-00042``)."""
    city_id: Mapped[int] = mapped_column(ForeignKey("re_cities.id"))
    """The city the home is in."""
    neighbourhood_id: Mapped[int] = mapped_column(ForeignKey("re_neighbourhoods.id"), index=True)
    """The neighbourhood the home is in."""
    estate: Mapped[str] = mapped_column(String(60))
    """Residential compound or building (the 小区)."""
    title: Mapped[str] = mapped_column(String(100))
    """Short headline of the listing."""
    price: Mapped[int] = mapped_column(BigInteger)
    """Asking price in minor units (fen for CNY, cents for SGD)."""
    currency: Mapped[str] = mapped_column(String(3))
    """ISO 4217 code of ``price``."""
    area_m2: Mapped[float] = mapped_column(Float)
    """Floor area in square metres, one decimal."""
    bedrooms: Mapped[int]
    """Number of bedrooms."""
    bathrooms: Mapped[int]
    """Number of bathrooms."""
    floor: Mapped[int]
    """Floor the home is on (1 = ground)."""
    total_floors: Mapped[int]
    """Floors in the building."""
    year_built: Mapped[int]
    """Year the building was completed."""
    school_id: Mapped[int] = mapped_column(ForeignKey("re_schools.id"))
    """The school the home is zoned for (nearest good match)."""
    school_distance_m: Mapped[int]
    """Walking distance to that school in metres."""
    metro_distance_m: Mapped[int]
    """Walking distance to the nearest metro station in metres."""
    listed_on: Mapped[date] = mapped_column(Date)
    """Day the listing went up."""
    status: Mapped[str] = mapped_column(String(12))
    """``active``, ``under_offer`` or ``sold``; only active homes can be viewed."""


class PriceHistory(Base):
    """Average transaction price per m² of a neighbourhood in one month."""

    __tablename__ = "re_price_history"
    __table_args__ = (UniqueConstraint("neighbourhood_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    neighbourhood_id: Mapped[int] = mapped_column(ForeignKey("re_neighbourhoods.id"))
    """The neighbourhood."""
    month: Mapped[date] = mapped_column(Date)
    """First day of the month."""
    price_per_m2: Mapped[int] = mapped_column(BigInteger)
    """Average price per m² of the month's sales, in minor units."""
    transactions: Mapped[int]
    """Number of sales recorded that month."""


class Viewing(Base):
    """A request to view a listing, made through ``request_viewing``."""

    __tablename__ = "re_viewings"

    id: Mapped[int] = mapped_column(primary_key=True)
    listing_id: Mapped[str] = mapped_column(ForeignKey("re_listings.id"), index=True)
    """The listing to view."""
    day: Mapped[date] = mapped_column(Date)
    """Day of the viewing."""
    name: Mapped[str] = mapped_column(String(100))
    """Name the viewing is booked under."""
    user: Mapped[str] = mapped_column(String(100))
    """errand user who asked for it."""
    run_id: Mapped[str] = mapped_column(String(100))
    """Run that made the request."""
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    """Key of the tool call; a retry with the same key returns this row instead of booking again."""
