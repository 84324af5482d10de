"""The real-estate service: seed data, every tool, and the headline errand."""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from errand.db.engine import Base, make_engine, session_factory, transaction
from errand.errors import ToolArgumentsError, ToolError
from errand.services.clock import LOCAL
from errand.services.realestate import DOMAIN, analysis, tools
from errand.services.realestate.models import City, Listing, Neighbourhood, PriceHistory, School, Viewing
from errand.services.realestate.seed import build_rows
from errand.services.store import ServiceStore
from errand.tools import ToolContext

HEADLINE = {"city": "Hangzhou", "bedrooms": 3, "max_price": 6_000_000, "min_school_rating": 9}
NOW = datetime(2026, 10, 5, 12, 0, tzinfo=LOCAL)
"""Viewings are checked against 'today': every tool call reads this (`ToolContext.now`), so the tests never age."""

# Plausible asking price per m² per city, whole units: (lowest, highest, city-average range).
BANDS = {
    "Hangzhou": (15_000, 100_000, (35_000, 60_000)),
    "Shanghai": (25_000, 190_000, (65_000, 110_000)),
    "Beijing": (25_000, 190_000, (60_000, 110_000)),
    "Shenzhen": (25_000, 180_000, (55_000, 100_000)),
    "Chengdu": (8_000, 45_000, (15_000, 28_000)),
    "Singapore": (8_000, 35_000, (12_000, 25_000)),
}


def _now() -> datetime:
    return NOW


@pytest.fixture
def ctx(ctx: ToolContext) -> ToolContext:
    """The services' test context, on the pinned clock."""
    return replace(ctx, now=_now)


# ---- seed ------------------------------------------------------------------------------


def _snapshot(session: Session) -> list[tuple[str, int, float, int]]:
    return [
        tuple(r)
        for r in session.execute(
            select(Listing.id, Listing.price, Listing.area_m2, Listing.school_id).order_by(Listing.id)
        )
    ]


def test_seed_is_deterministic_and_fast(session: Session, tmp_path: Path) -> None:
    assert build_rows() == build_rows()
    engine = make_engine(f"sqlite:///{tmp_path}/again.db")
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[t] for t in DOMAIN.tables])
    factory = session_factory(engine)
    started = time.perf_counter()
    with transaction(factory) as s:
        assert not DOMAIN.is_seeded(s)
        DOMAIN.seed(s)
    elapsed = time.perf_counter() - started
    with factory() as s:
        assert DOMAIN.is_seeded(s)
        assert _snapshot(s) == _snapshot(session)
    engine.dispose()
    assert elapsed < 5, f"seeding took {elapsed:.1f} s"


def test_seed_size_and_shape(session: Session) -> None:
    cities = session.scalars(select(City.name)).all()
    assert len(cities) >= 6
    assert {"Hangzhou", "Shanghai", "Beijing", "Shenzhen", "Chengdu", "Singapore"} <= set(cities)
    ids = session.scalars(select(Listing.id)).all()
    assert len(ids) >= 3000
    assert all(re.fullmatch(r"[A-Z]{2}-\d{5}", i) for i in ids)
    hoods = session.scalar(select(func.count()).select_from(Neighbourhood))
    months = session.execute(select(func.count(), func.count(func.distinct(PriceHistory.month)))).one()
    assert months == (hoods * 24, 24)
    ratings = session.scalars(select(School.rating)).all()
    assert min(ratings) >= 1 and max(ratings) <= 10


def test_prices_per_m2_are_plausible(session: Session) -> None:
    rows = session.execute(
        select(City.name, Listing.price, Listing.area_m2, Listing.currency).join(
            City, Listing.city_id == City.id
        )
    ).all()
    per_city: dict[str, list[float]] = {}
    for name, price, area, currency in rows:
        assert isinstance(price, int) and price % 100 == 0
        assert currency == ("SGD" if name == "Singapore" else "CNY")
        per_city.setdefault(name, []).append(price / 100 / area)
    for name, (lo, hi, (avg_lo, avg_hi)) in BANDS.items():
        values = per_city[name]
        assert lo <= min(values) and max(values) <= hi, name
        assert avg_lo <= sum(values) / len(values) <= avg_hi, name


# ---- search ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Home:
    id: str
    city: str
    neighbourhood: str
    price: int
    area_m2: float
    bedrooms: int
    school_rating: int
    school_distance_m: int
    metro_distance_m: int
    year_built: int


class Universe(list[Home]):
    """Every active home; a short repr keeps Hypothesis's failure reports readable."""

    def __repr__(self) -> str:
        return f"Universe({len(self)} homes)"


@pytest.fixture(scope="session")
def universe(store: ServiceStore) -> Universe:
    """Every active listing, read straight from the tables, to check the tools against."""
    with store.sessions() as s:
        rows = s.execute(
            select(
                Listing.id,
                City.name,
                Neighbourhood.name,
                Listing.price,
                Listing.area_m2,
                Listing.bedrooms,
                School.rating,
                Listing.school_distance_m,
                Listing.metro_distance_m,
                Listing.year_built,
            )
            .join(City, Listing.city_id == City.id)
            .join(Neighbourhood, Listing.neighbourhood_id == Neighbourhood.id)
            .join(School, Listing.school_id == School.id)
            .where(Listing.status == "active")
        ).all()
    return Universe(Home(r[0], r[1], r[2], r[3] // 100, *r[4:]) for r in rows)


HOODS = {
    "Hangzhou": ["Xihu", "Binjiang", "Gongshu", "Fuyang"],
    "Singapore": ["Bishan", "Bukit Timah"],
    "Chengdu": ["Gaoxin", "Pidu"],
}
CITY_SPELLINGS = {"hangzhou": "Hangzhou", "杭州": "Hangzhou", "SINGAPORE": "Singapore", "成都": "Chengdu"}
SORT_KEYS = {
    "price": lambda h: (h.price, h.id),
    "price_per_m2": lambda h: (h.price * 100 / h.area_m2, h.id),
    "area": lambda h: (-h.area_m2, h.id),
    "newest": lambda h: (-h.year_built, h.id),
    "school": lambda h: (-h.school_rating, h.school_distance_m, h.id),
    "metro": lambda h: (h.metro_distance_m, h.id),
}


@st.composite
def search_args(draw: st.DrawFn) -> dict[str, Any]:
    spelling = draw(st.sampled_from(sorted(CITY_SPELLINGS)))
    city = CITY_SPELLINGS[spelling]
    maybe = lambda s: draw(st.none() | s)  # noqa: E731
    args: dict[str, Any] = {
        "city": spelling,
        "bedrooms": maybe(st.integers(1, 5)),
        "min_bedrooms": maybe(st.integers(1, 5)),
        "max_price": maybe(st.integers(1_000_000, 12_000_000)),
        "min_price": maybe(st.integers(1_000, 5_000_000)),
        "min_area": maybe(st.floats(30, 150).map(lambda x: round(x, 1))),
        "max_area": maybe(st.floats(60, 300).map(lambda x: round(x, 1))),
        "neighbourhood": maybe(st.sampled_from(HOODS[city])),
        "min_school_rating": maybe(st.integers(1, 10)),
        "max_school_distance_m": maybe(st.integers(100, 3000)),
        "max_metro_distance_m": maybe(st.integers(100, 3000)),
        "sort_by": draw(st.sampled_from(sorted(SORT_KEYS))),
        "limit": draw(st.integers(1, 8)),
    }
    return {k: v for k, v in args.items() if v is not None}


def _satisfies(h: Home, a: dict[str, Any]) -> bool:
    checks = [
        h.city == CITY_SPELLINGS[a["city"]],
        h.bedrooms == a.get("bedrooms", h.bedrooms),
        h.bedrooms >= a.get("min_bedrooms", 0),
        h.price <= a.get("max_price", math.inf),
        # a minimum at or above the maximum is a model's slip ("under 2M" as min=max=2M): ignored
        h.price >= (a.get("min_price", 0) if a.get("min_price", 0) < a.get("max_price", math.inf) else 0),
        h.area_m2 >= a.get("min_area", 0),
        h.area_m2 <= a.get("max_area", math.inf),
        h.neighbourhood == a.get("neighbourhood", h.neighbourhood),
        h.school_rating >= a.get("min_school_rating", 0),
        h.school_distance_m <= a.get("max_school_distance_m", math.inf),
        h.metro_distance_m <= a.get("max_metro_distance_m", math.inf),
    ]
    return all(checks)


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(args=search_args())
def test_search_results_satisfy_every_filter(
    store: ServiceStore, universe: list[Home], args: dict[str, Any]
) -> None:
    with store.sessions() as s:
        out = tools.search_listings(ToolContext(session=s, now=_now), **args)
    expected = sorted((h for h in universe if _satisfies(h, args)), key=SORT_KEYS[args["sort_by"]])
    assert out["matches"] == len(expected)
    if not expected:
        assert "message" in out and "results" not in out
        return
    by_id = {h.id: h for h in expected}
    results = out["results"]
    assert len(results) == min(args["limit"], len(expected))
    for r in results:
        home = by_id[r["id"]]  # KeyError: a result that breaks a filter
        assert r["price"] == home.price and r["bedrooms"] == home.bedrooms
        assert r["price_text"].endswith("CNY" if home.city != "Singapore" else "SGD")
    assert [r["id"] for r in results] == [h.id for h in expected[: args["limit"]]]


async def test_search_via_invoke_validates_and_converts(ctx: ToolContext) -> None:
    out = await tools.search_listings.invoke(
        {"city": "杭州", "bedrooms": "3", "max_price": "6000000", "sort_by": "price_per_m2"}, ctx
    )
    assert out["city"] == "Hangzhou" and out["matches"] > len(out["results"]) == 5
    with pytest.raises(ToolArgumentsError):
        await tools.search_listings.invoke({"city": "Hangzhou", "sort_by": "cheapest"}, ctx)
    with pytest.raises(ToolError, match="6000000"):
        await tools.search_listings.invoke({"city": "Hangzhou", "max_price": 6}, ctx)


async def test_unknown_city_names_every_valid_city(ctx: ToolContext) -> None:
    with pytest.raises(ToolError) as err:
        await tools.search_listings.invoke({"city": "Paris"}, ctx)
    message = str(err.value)
    assert "Paris" in message
    for name in ("Hangzhou", "Shanghai", "Beijing", "Shenzhen", "Chengdu", "Singapore", "杭州"):
        assert name in message
    with pytest.raises(ToolError, match="Xihu"):
        tools.neighbourhood_stats(ctx, "Hangzhou", "Atlantis")


@pytest.mark.parametrize("district", ["Pudong", "浦东区"])
async def test_a_neighbourhood_given_as_the_city_is_searched_as_that_district(
    ctx: ToolContext, district: str
) -> None:
    found = await tools.search_listings.invoke({"city": district}, ctx)
    assert found["city"] == "Shanghai" and found["matches"] > 0
    assert {r["neighbourhood"] for r in found["results"]} == {"Pudong"}
    assert tools.price_trend(ctx, district)["area"] == "Pudong, Shanghai"


async def test_a_district_as_the_city_beside_another_neighbourhood_is_refused(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="'Pudong' is a neighbourhood of Shanghai, not a city"):
        await tools.search_listings.invoke({"city": "Pudong", "neighbourhood": "Xuhui"}, ctx)


@pytest.mark.parametrize(
    ("spelling", "name"),
    [("上海", "Shanghai"), ("北京市", "Beijing"), ("shenzhen", "Shenzhen"), ("新加坡", "Singapore")],
)
def test_city_names_in_english_and_chinese(ctx: ToolContext, spelling: str, name: str) -> None:
    assert tools.price_trend(ctx, spelling)["area"] == name


# ---- the headline errand ---------------------------------------------------------------


async def test_headline_analysis_ranks_valid_candidates(ctx: ToolContext, universe: list[Home]) -> None:
    out = await tools.analyze_listings.invoke(HEADLINE, ctx)
    assert 5 <= out["matches"] <= 20
    assert out["score_formula"] == analysis.SCORE_FORMULA
    top = out["top"]
    assert len(top) == 5 and [t["rank"] for t in top] == [1, 2, 3, 4, 5]
    scores = [t["score"] for t in top]
    assert scores == sorted(scores, reverse=True)
    by_id = {h.id: h for h in universe}
    for t in top:
        h = by_id[t["id"]]
        assert h.city == "Hangzhou" and h.bedrooms == 3 and h.price <= 6_000_000
        assert h.school_rating >= 9 and h.school_distance_m <= 1000
        assert t["price"] == h.price and t["why"]
    same = tools.search_listings(
        ctx, "Hangzhou", bedrooms=3, max_price=6_000_000, min_school_rating=9,
        max_school_distance_m=1000,
    )  # fmt: skip
    assert same["matches"] == out["matches"]
    # No candidate left out of the top five scores better than the fifth.
    everyone = await tools.analyze_listings.invoke(HEADLINE | {"limit": 20}, ctx)
    assert [t["id"] for t in everyone["top"][:5]] == [t["id"] for t in top]
    assert len(everyone["top"]) == out["matches"]
    cheapest = min(everyone["top"], key=lambda t: (t["price"], t["id"]))
    assert out["cheapest"] == {k: cheapest[k] for k in ("id", "price", "price_text")}
    # the last listing a reader meets is the best value: small models answer with the last id
    text = json.dumps(out, ensure_ascii=False)
    assert re.findall(r"HZ-\d{5}", text)[-1] == top[0]["id"] == out["best_value"]["id"]
    assert len(text) < 2000, "keep the observation short"


async def test_headline_chart_is_a_png(ctx: ToolContext) -> None:
    out = await tools.analyze_listings.invoke(HEADLINE, ctx)
    chart = Path(out["chart"])
    assert chart.parent == ctx.artifacts_dir
    assert re.fullmatch(r"analysis-hangzhou-[0-9a-f]{10}\.png", chart.name)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = await tools.analyze_listings.invoke(HEADLINE, ctx)
    assert again["chart"] == out["chart"]
    other = await tools.analyze_listings.invoke(HEADLINE | {"limit": 3}, ctx)
    assert other["chart"] != out["chart"]


async def test_no_match_says_what_to_relax(ctx: ToolContext) -> None:
    out = await tools.analyze_listings.invoke(HEADLINE | {"city": "Shanghai"}, ctx)
    assert out["matches"] == 0 and "chart" not in out and "top" not in out
    assert re.search(r"dropping (min_school_rating|max_price) gives \d+", out["message"])
    assert "cheapest meeting the rest costs" in out["message"]


def test_value_score_prefers_cheaper_better_schooled_homes() -> None:
    base = analysis.Candidate("HZ-1", "Xihu", 5_000_000, 100.0, 8, 500, 500, 2015, 50_000)
    cheaper = analysis.Candidate("HZ-2", "Xihu", 4_500_000, 100.0, 8, 500, 500, 2015, 50_000)
    better_school = analysis.Candidate("HZ-3", "Xihu", 5_000_000, 100.0, 10, 500, 500, 2015, 50_000)
    assert analysis.score(cheaper) > analysis.score(base)
    assert analysis.score(better_school) > analysis.score(base)
    assert 0 <= analysis.score(base) <= 100
    assert base.vs_area_pct == 0.0 and cheaper.vs_area_pct == -10.0
    assert [c.id for c, _ in analysis.rank([base, cheaper, better_school])][-1] == "HZ-1"


# ---- details, comparison, statistics ------------------------------------------------


def test_get_listing_accepts_loose_ids(ctx: ToolContext) -> None:
    out = tools.get_listing(ctx, "hz-42")
    assert out["id"] == "HZ-00042" and out["city"] == "Hangzhou"
    assert out["price_text"].endswith("CNY") and "/10)" in out["school"]
    with pytest.raises(ToolError, match="HZ-99999"):
        tools.get_listing(ctx, "HZ-99999")
    with pytest.raises(ToolError, match="look like"):
        tools.get_listing(ctx, "the blue one")


def test_compare_listings(ctx: ToolContext) -> None:
    out = tools.compare_listings(ctx, ["HZ-00001", "hz-2", "SG-00003"])
    assert [r["id"] for r in out["listings"]] == ["HZ-00001", "HZ-00002", "SG-00003"]
    assert out["best_value"] == max(out["listings"], key=lambda r: r["score"])["id"]
    assert out["nearest_metro"] == min(out["listings"], key=lambda r: r["metro_distance_m"])["id"]
    with pytest.raises(ToolError, match="HZ-99999"):
        tools.compare_listings(ctx, ["HZ-00001", "HZ-99999"])
    with pytest.raises(ToolError, match="2 to 6"):
        tools.compare_listings(ctx, ["HZ-00001"])


def test_neighbourhood_stats(ctx: ToolContext, universe: list[Home]) -> None:
    out = tools.neighbourhood_stats(ctx, "hangzhou")
    rows = out["neighbourhoods"]
    assert len(rows) >= 6
    assert [r["avg_per_m2"] for r in rows] == sorted(r["avg_per_m2"] for r in rows)
    assert out["cheapest_per_m2"] == rows[0]["neighbourhood"]
    assert out["priciest_per_m2"] == rows[-1]["neighbourhood"]
    xihu = next(r for r in rows if r["neighbourhood"] == "Xihu")
    homes = [h for h in universe if h.neighbourhood == "Xihu"]
    assert xihu["listings"] == len(homes)
    expected = sum(h.price / h.area_m2 for h in homes) / len(homes)
    assert abs(xihu["avg_per_m2"] - expected) <= 1
    one = tools.neighbourhood_stats(ctx, "杭州", "西湖区")
    assert one["neighbourhoods"] == [xihu] and one["schools"]


def test_price_trend(ctx: ToolContext) -> None:
    out = tools.price_trend(ctx, "Hangzhou", "Binjiang", months=6)
    series = list(out["series"].items())
    assert len(series) == 6 and series[-1][0] == "2026-09"
    assert out["change_pct"] == round((series[-1][1] / series[0][1] - 1) * 100, 1)
    assert len(tools.price_trend(ctx, "Hangzhou", months=99)["series"]) == 24
    assert "districts" not in out  # one district's trend has no others to name


def test_a_city_trend_names_the_districts_at_each_end(ctx: ToolContext) -> None:
    """ "Which part of Shenzhen fell most" was asked of the city's trend (a dev run): the trend
    names the districts that fell and rose most and the cheapest, as neighbourhood_stats does."""
    stats = tools.neighbourhood_stats(ctx, "Hangzhou")
    rows = stats["neighbourhoods"]
    fell = min(rows, key=lambda r: r["change_12m_pct"])
    rose = max(rows, key=lambda r: r["change_12m_pct"])
    districts = tools.price_trend(ctx, "Hangzhou")["districts"]
    assert districts["fell_most_12m"] == {
        "neighbourhood": fell["neighbourhood"],
        "change_12m_pct": fell["change_12m_pct"],
    }
    assert districts["rose_most_12m"]["neighbourhood"] == rose["neighbourhood"]
    assert districts["cheapest_per_m2"] == stats["cheapest_per_m2"] == rows[0]["neighbourhood"]
    assert stats["fell_most_12m"] == districts["fell_most_12m"]


# ---- mortgage --------------------------------------------------------------------------


def test_mortgage_matches_the_annuity_formula(ctx: ToolContext) -> None:
    out = tools.mortgage_estimate(ctx, price=5_800_000)
    # Hand-computed: loan 4,060,000 at 3.5%/12 over 360 months.
    assert out["loan"] == 4_060_000 and out["down_payment"] == 1_740_000
    assert out["monthly_payment"] == 18_231
    r, n = 0.035 / 12, 360
    exact = 4_060_000 * r / (1 - (1 + r) ** -n)
    assert abs(out["monthly_payment"] - exact) <= 0.5
    assert abs(out["total_interest"] - (exact * n - 4_060_000)) <= n
    free = tools.mortgage_estimate(ctx, price=1_200_000, down_payment_pct=0, annual_rate_pct=0, years=10)
    assert free["monthly_payment"] == 10_000 and free["total_interest"] == 0


async def test_mortgage_from_a_listing(ctx: ToolContext) -> None:
    listing = tools.get_listing(ctx, "SG-00001")
    out = await tools.mortgage_estimate.invoke({"listing_id": "SG-00001", "years": 25}, ctx)
    assert out["price"] == listing["price"] and out["currency"] == "SGD"
    with pytest.raises(ToolError, match="price"):
        tools.mortgage_estimate(ctx)
    with pytest.raises(ToolError, match="down_payment_pct"):
        tools.mortgage_estimate(ctx, price=1_000_000, down_payment_pct=120)


# ---- viewings (a write tool) -----------------------------------------------------------


def _active_id(session: Session, status: str = "active") -> str:
    found = session.scalar(
        select(Listing.id).where(Listing.status == status, Listing.city_id == 1).order_by(Listing.id)
    )
    assert found is not None
    return found


async def test_request_viewing_is_idempotent(ctx: ToolContext, session: Session) -> None:
    ctx.idempotency_key = "run-test:step-3:request_viewing"
    args = {"listing_id": _active_id(session), "date": "2026-10-12", "name": "Li Wei"}
    first = await tools.request_viewing.invoke(args, ctx)
    assert first["replayed"] is False and first["date"] == "2026-10-12"
    again = await tools.request_viewing.invoke(args, ctx)
    assert again == first | {"replayed": True}
    stored = session.scalars(select(Viewing).where(Viewing.idempotency_key == ctx.idempotency_key))
    assert len(stored.all()) == 1
    with pytest.raises(ToolError, match="already used"):
        await tools.request_viewing.invoke(args | {"date": "2026-10-13"}, ctx)


async def test_request_viewing_lost_race_replays_inside_callers_transaction(
    store: ServiceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = {"listing_id": "HZ-00001", "date": "2026-10-20", "name": "Wang Fang"}
    key = "run-race:step-1:request_viewing"
    with store.sessions() as s, s.begin():  # the runtime's way: the caller commits
        first = tools.request_viewing(ToolContext(session=s, idempotency_key=key, now=_now), **args)
    # The runtime's way: one transaction per call. The pre-check misses (the other call
    # committed just after it), so the unique key must catch the duplicate.
    with store.sessions() as s, s.begin():
        real_scalar = s.scalar
        missed: list[bool] = []

        def scalar_missing_first_lookup(stmt: Any, *a: Any, **kw: Any) -> Any:
            if not missed and "re_viewings" in str(stmt):
                missed.append(True)
                return None
            return real_scalar(stmt, *a, **kw)

        monkeypatch.setattr(s, "scalar", scalar_missing_first_lookup)
        again = tools.request_viewing(ToolContext(session=s, idempotency_key=key, now=_now), **args)
        assert missed and again == first | {"replayed": True}
        assert (
            real_scalar(select(func.count()).select_from(Viewing).where(Viewing.idempotency_key == key)) == 1
        )


async def test_request_viewing_refuses_bad_requests(ctx: ToolContext, session: Session) -> None:
    ctx.idempotency_key = "run-test:step-4:request_viewing"
    good = {"listing_id": _active_id(session), "date": "2026-10-12", "name": "Li Wei"}
    with pytest.raises(ToolError, match="No listing HZ-99999"):
        await tools.request_viewing.invoke(good | {"listing_id": "HZ-99999"}, ctx)
    with pytest.raises(ToolError, match="past"):
        await tools.request_viewing.invoke(good | {"date": "2026-10-01"}, ctx)
    with pytest.raises(ToolError, match="YYYY-MM-DD"):
        await tools.request_viewing.invoke(good | {"date": "next Tuesday"}, ctx)
    with pytest.raises(ToolError, match="only active"):
        await tools.request_viewing.invoke(good | {"listing_id": _active_id(session, "sold")}, ctx)
    n = session.scalar(
        select(func.count()).select_from(Viewing).where(Viewing.idempotency_key == ctx.idempotency_key)
    )
    assert n == 0


def test_request_viewing_needs_confirmation_and_says_what_happens() -> None:
    tool = tools.request_viewing
    assert tool.risk == "write"
    text = tool.describe_call({"listing_id": "HZ-00042", "date": "2026-10-12", "name": "Li Wei"})
    assert "HZ-00042" in text and "2026-10-12" in text and "Li Wei" in text


# ---- the domain as the agent sees it ---------------------------------------------------


def test_domain_and_tool_specs_stay_small() -> None:
    names = [t.name for t in DOMAIN.tools]
    assert names == [
        "search_listings",
        "get_listing",
        "compare_listings",
        "neighbourhood_stats",
        "price_trend",
        "mortgage_estimate",
        "analyze_listings",
        "request_viewing",
    ]
    assert all(t.domain == "realestate" for t in DOMAIN.tools)
    assert [t.risk for t in DOMAIN.tools].count("write") == 1
    assert DOMAIN.description
    assert set(DOMAIN.tables) <= set(Base.metadata.tables)
    assert all(t.startswith("re_") for t in DOMAIN.tables)
    for t in DOMAIN.tools:
        assert "ctx" not in t.parameters["properties"]
        assert all(p.get("description") for p in t.parameters["properties"].values()), t.name
    size = len(json.dumps([t.spec().model_dump() for t in DOMAIN.tools], ensure_ascii=False))
    assert size < 5500, f"tool specs are {size} characters"
