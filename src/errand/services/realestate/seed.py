"""Deterministic seed data: six cities, their neighbourhoods, schools, listings and prices.

Everything comes from one `random.Random(SEED)` and the fixed `BASE_DATE`, so every
install sees the same homes at the same prices. Homes are grouped into estates
(小区) that share a build year, a zoned school and a metro distance, as real ones do;
prices follow the neighbourhood's level with premiums for good schools, metro and age.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from errand.services.realestate.models import (
    City,
    Listing,
    Neighbourhood,
    PriceHistory,
    School,
)

SEED = 20261001
"""Seed of the generator; change it and every listing changes."""
BASE_DATE = date(2026, 10, 1)
"""The seed's 'today': listings go up before it, price history ends the month before."""
HISTORY_MONTHS = 24
"""Months of price history per neighbourhood."""


@dataclass(frozen=True)
class _Hood:
    name: str
    name_zh: str
    lat: float
    lon: float
    base: int
    """Typical asking price per m² in whole currency units."""


@dataclass(frozen=True)
class _City:
    code: str
    name: str
    name_zh: str
    country: str
    currency: str
    listings: int
    trend: float
    """Yearly price change of the city over the history."""
    round_to: int
    """Asking prices are rounded to this many whole units."""
    hoods: tuple[_Hood, ...]
    famous: dict[str, tuple[tuple[str, int, str], ...]] = field(default_factory=dict)
    """Well-known schools per neighbourhood: (name, rating, level)."""


CITIES: tuple[_City, ...] = (
    _City(
        code="HZ",
        name="Hangzhou",
        name_zh="杭州",
        country="China",
        currency="CNY",
        listings=800,
        trend=-0.02,
        round_to=10_000,
        hoods=(
            _Hood("Xihu", "西湖", 30.259, 120.130, 64_000),
            _Hood("Shangcheng", "上城", 30.250, 120.170, 62_000),
            _Hood("Binjiang", "滨江", 30.208, 120.212, 56_000),
            _Hood("Gongshu", "拱墅", 30.319, 120.142, 50_000),
            _Hood("Yuhang", "余杭", 30.273, 120.008, 42_000),
            _Hood("Xiaoshan", "萧山", 30.162, 120.264, 38_000),
            _Hood("Linping", "临平", 30.421, 120.300, 33_000),
            _Hood("Qiantang", "钱塘", 30.306, 120.492, 30_000),
            _Hood("Fuyang", "富阳", 30.049, 119.960, 28_000),
        ),
        famous={
            "Xihu": (
                ("Xuejun Primary School", 10, "primary"),
                ("Hangzhou Foreign Languages School", 10, "middle"),
            ),
            "Shangcheng": (("Changjiang Experimental Primary School", 10, "primary"),),
            "Binjiang": (("Hangzhou No.2 High School", 10, "high"),),
            "Gongshu": (("Hangzhou Chongwen Experimental School", 9, "primary"),),
            "Yuhang": (("Future Sci-Tech City Experimental School", 8, "primary"),),
        },
    ),
    _City(
        code="SH",
        name="Shanghai",
        name_zh="上海",
        country="China",
        currency="CNY",
        listings=550,
        trend=0.015,
        round_to=10_000,
        hoods=(
            _Hood("Huangpu", "黄浦", 31.231, 121.484, 125_000),
            _Hood("Jing'an", "静安", 31.229, 121.448, 115_000),
            _Hood("Xuhui", "徐汇", 31.188, 121.437, 108_000),
            _Hood("Changning", "长宁", 31.220, 121.424, 98_000),
            _Hood("Pudong", "浦东", 31.221, 121.544, 86_000),
            _Hood("Hongkou", "虹口", 31.265, 121.505, 82_000),
            _Hood("Yangpu", "杨浦", 31.260, 121.526, 80_000),
            _Hood("Putuo", "普陀", 31.249, 121.397, 76_000),
            _Hood("Minhang", "闵行", 31.113, 121.382, 65_000),
            _Hood("Baoshan", "宝山", 31.405, 121.489, 58_000),
            _Hood("Songjiang", "松江", 31.032, 121.228, 45_000),
            _Hood("Jiading", "嘉定", 31.383, 121.266, 42_000),
        ),
    ),
    _City(
        code="BJ",
        name="Beijing",
        name_zh="北京",
        country="China",
        currency="CNY",
        listings=500,
        trend=-0.01,
        round_to=10_000,
        hoods=(
            _Hood("Xicheng", "西城", 39.912, 116.366, 125_000),
            _Hood("Dongcheng", "东城", 39.928, 116.416, 115_000),
            _Hood("Haidian", "海淀", 39.960, 116.298, 105_000),
            _Hood("Chaoyang", "朝阳", 39.921, 116.443, 85_000),
            _Hood("Fengtai", "丰台", 39.858, 116.287, 62_000),
            _Hood("Shijingshan", "石景山", 39.906, 116.223, 60_000),
            _Hood("Tongzhou", "通州", 39.909, 116.657, 48_000),
            _Hood("Changping", "昌平", 40.221, 116.231, 45_000),
            _Hood("Daxing", "大兴", 39.727, 116.341, 45_000),
            _Hood("Shunyi", "顺义", 40.130, 116.654, 42_000),
        ),
    ),
    _City(
        code="SZ",
        name="Shenzhen",
        name_zh="深圳",
        country="China",
        currency="CNY",
        listings=500,
        trend=-0.035,
        round_to=10_000,
        hoods=(
            _Hood("Nanshan", "南山", 22.533, 113.930, 115_000),
            _Hood("Futian", "福田", 22.541, 114.055, 105_000),
            _Hood("Bao'an", "宝安", 22.555, 113.883, 70_000),
            _Hood("Luohu", "罗湖", 22.548, 114.131, 68_000),
            _Hood("Longhua", "龙华", 22.696, 114.045, 60_000),
            _Hood("Yantian", "盐田", 22.557, 114.237, 55_000),
            _Hood("Longgang", "龙岗", 22.720, 114.247, 45_000),
            _Hood("Guangming", "光明", 22.749, 113.936, 42_000),
        ),
    ),
    _City(
        code="CD",
        name="Chengdu",
        name_zh="成都",
        country="China",
        currency="CNY",
        listings=500,
        trend=0.03,
        round_to=10_000,
        hoods=(
            _Hood("Gaoxin", "高新", 30.582, 104.063, 29_000),
            _Hood("Jinjiang", "锦江", 30.656, 104.083, 26_000),
            _Hood("Qingyang", "青羊", 30.674, 104.062, 25_000),
            _Hood("Wuhou", "武侯", 30.642, 104.043, 24_000),
            _Hood("Tianfu New Area", "天府新区", 30.412, 104.066, 23_000),
            _Hood("Jinniu", "金牛", 30.691, 104.052, 19_000),
            _Hood("Chenghua", "成华", 30.660, 104.101, 18_000),
            _Hood("Shuangliu", "双流", 30.574, 103.923, 15_000),
            _Hood("Pidu", "郫都", 30.795, 103.887, 13_000),
            _Hood("Longquanyi", "龙泉驿", 30.557, 104.275, 12_500),
        ),
    ),
    _City(
        code="SG",
        name="Singapore",
        name_zh="新加坡",
        country="Singapore",
        currency="SGD",
        listings=450,
        trend=0.045,
        round_to=1_000,
        hoods=(
            _Hood("Orchard", "乌节", 1.304, 103.832, 25_000),
            _Hood("Bukit Timah", "武吉知马", 1.329, 103.802, 23_000),
            _Hood("Marine Parade", "马林百列", 1.302, 103.907, 19_000),
            _Hood("Queenstown", "女皇镇", 1.294, 103.786, 18_500),
            _Hood("Bishan", "碧山", 1.351, 103.848, 17_000),
            _Hood("Toa Payoh", "大巴窑", 1.334, 103.856, 16_000),
            _Hood("Clementi", "金文泰", 1.315, 103.765, 16_000),
            _Hood("Tampines", "淡滨尼", 1.354, 103.944, 13_500),
            _Hood("Punggol", "榜鹅", 1.398, 103.907, 13_000),
            _Hood("Jurong West", "裕廊西", 1.340, 103.706, 12_500),
            _Hood("Woodlands", "兀兰", 1.437, 103.786, 12_000),
        ),
        famous={
            "Bukit Timah": (
                ("Nanyang Primary School", 10, "primary"),
                ("Raffles Girls' Primary School", 10, "primary"),
            ),
            "Bishan": (("Raffles Institution", 10, "high"),),
            "Queenstown": (("Henry Park Primary School", 9, "primary"),),
        },
    ),
)

_CN_DEVELOPERS = (
    "Greentown",
    "Vanke",
    "Longfor",
    "Poly",
    "China Overseas",
    "Sunac",
    "CR Land",
    "Yuexiu",
    "Binjiang",
    "Jinmao",
    "Gemdale",
    "Seazen",
)
_CN_ESTATES = (
    "Osmanthus Garden",
    "Lakeside Residence",
    "Riverside Mansion",
    "Park Avenue",
    "Jade Court",
    "Spring Garden",
    "Cloud Terrace",
    "Lotus Court",
    "Bamboo Grove",
    "Central Park",
    "Harmony Garden",
    "Orchid Court",
    "Peach Blossom Garden",
    "Star City",
    "Golden Bay",
    "Maple Court",
    "Sunshine City",
    "Tea Garden",
)
_SG_ESTATES = (
    "Parc",
    "The Crest at",
    "Residences at",
    "Grove at",
    "Heights at",
    "The Sail at",
    "Treasure at",
    "Garden Vista at",
    "Suites at",
    "Park Place at",
)
_SCHOOL_KINDS = (
    ("No.{n} Primary School", "primary"),
    ("Experimental Primary School", "primary"),
    ("Central Primary School", "primary"),
    ("No.{n} Middle School", "middle"),
    ("Foreign Language School", "middle"),
    ("High School", "high"),
)
_SG_SCHOOL_KINDS = (
    ("Primary School", "primary"),
    ("North Primary School", "primary"),
    ("Secondary School", "middle"),
    ("Junior College", "high"),
)
_FEATURES = ("", "", "", "Renovated ", "South-facing ", "Bright ", "Quiet ", "Corner ")
_BEDROOMS = ((1, 12), (2, 34), (3, 36), (4, 13), (5, 5))
_AREA = {1: (35, 65), 2: (58, 95), 3: (85, 140), 4: (120, 200), 5: (160, 290)}
_BATHS = {1: (1, 1), 2: (1, 2), 3: (2, 2), 4: (2, 3), 5: (3, 4)}


@dataclass
class SeedRows:
    """Rows for every real-estate table, as dicts ready for bulk insert."""

    cities: list[dict[str, Any]] = field(default_factory=list)
    neighbourhoods: list[dict[str, Any]] = field(default_factory=list)
    schools: list[dict[str, Any]] = field(default_factory=list)
    listings: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


def _months_back(n: int) -> list[date]:
    """The first days of the ``n`` months before `BASE_DATE`, oldest first."""
    out = []
    y, m = BASE_DATE.year, BASE_DATE.month
    for _ in range(n):
        m -= 1
        if m == 0:
            y, m = y - 1, 12
        out.append(date(y, m, 1))
    return out[::-1]


def _dist(rng: random.Random, median: float, spread: float, lo: int, hi: int) -> int:
    """A walking distance in metres, log-normal around ``median``, rounded to 10 m."""
    d = rng.lognormvariate(math.log(median), spread)
    return int(round(min(max(d, lo), hi), -1))


def build_rows() -> SeedRows:
    """Generate every row from the fixed seed; the same rows on every call."""
    rng = random.Random(SEED)
    rows = SeedRows()
    months = _months_back(HISTORY_MONTHS)
    for ci, c in enumerate(CITIES, start=1):
        rows.cities.append(
            {
                "id": ci,
                "code": c.code,
                "name": c.name,
                "name_zh": c.name_zh,
                "country": c.country,
                "currency": c.currency,
            }
        )
        bases = sorted(h.base for h in c.hoods)
        estates: list[tuple[int, dict[str, Any]]] = []
        for h in c.hoods:
            hid = len(rows.neighbourhoods) + 1
            rows.neighbourhoods.append(
                {"id": hid, "city_id": ci, "name": h.name, "name_zh": h.name_zh, "lat": h.lat, "lon": h.lon}
            )
            # 0 for the cheapest neighbourhood, 1 for the dearest: drives schools and metro.
            tier = bases.index(h.base) / max(len(bases) - 1, 1)
            schools: list[tuple[int, int]] = []
            for name, rating, level in c.famous.get(h.name, ()):
                sid = len(rows.schools) + 1
                rows.schools.append(
                    {"id": sid, "neighbourhood_id": hid, "name": name, "rating": rating, "level": level}
                )
                schools.append((sid, rating))
            kinds = _SG_SCHOOL_KINDS if c.code == "SG" else _SCHOOL_KINDS
            for k, (pattern, level) in enumerate(rng.sample(kinds, rng.randint(3, 4))):
                sid = len(rows.schools) + 1
                rating = min(10, max(3, round(rng.gauss(4.6 + 3.2 * tier, 1.3))))
                name = f"{h.name} " + pattern.format(n=k + 1)
                rows.schools.append(
                    {"id": sid, "neighbourhood_id": hid, "name": name, "rating": rating, "level": level}
                )
                schools.append((sid, rating))
            for _ in range(8):
                if c.code == "SG":
                    estate = f"{rng.choice(_SG_ESTATES)} {h.name}"
                else:
                    estate = f"{rng.choice(_CN_DEVELOPERS)} {rng.choice(_CN_ESTATES)}"
                year = rng.randint(1992, 2025) if tier > 0.5 else rng.randint(2000, 2025)
                floors = rng.choice((6, 7)) if year < 2000 else rng.choice((11, 18, 24, 28, 32, 33))
                sid, rating = rng.choice(schools)
                estates.append(
                    (
                        hid,
                        {
                            "hood": h,
                            "estate": estate,
                            "year": year,
                            "floors": floors,
                            "school_id": sid,
                            "rating": rating,
                            "school_m": _dist(rng, 750, 0.6, 80, 3000),
                            "metro_m": _dist(rng, 1300 - 800 * tier, 0.6, 100, 5000),
                        },
                    )
                )
            # Price history: the last month sits just under today's asking level.
            growth = c.trend + rng.uniform(-0.03, 0.03)
            last = h.base * 0.97
            for k, month in enumerate(months):
                ppm2 = last * (1 + growth) ** ((k - len(months) + 1) / 12)
                ppm2 *= 1 + rng.gauss(0, 0.008)
                rows.history.append(
                    {
                        "id": len(rows.history) + 1,
                        "neighbourhood_id": hid,
                        "month": month,
                        "price_per_m2": round(ppm2) * 100,
                        "transactions": rng.randint(8, 60),
                    }
                )
        weights = [w for _, w in _BEDROOMS]
        for n in range(1, c.listings + 1):
            hid, e = rng.choice(estates)
            beds = rng.choices([b for b, _ in _BEDROOMS], weights)[0]
            area = round(rng.uniform(*_AREA[beds]), 1)
            ppm2 = e["hood"].base * min(max(rng.gauss(1.0, 0.09), 0.8), 1.25)
            ppm2 *= 1 + 0.004 * (e["year"] - 2010)
            school_m = max(50, e["school_m"] + rng.randint(-8, 8) * 10)
            if e["rating"] >= 9 and school_m <= 1000:
                ppm2 *= rng.uniform(1.06, 1.16)  # the school-district premium (学区房)
            metro_m = max(50, e["metro_m"] + rng.randint(-5, 5) * 10)
            if metro_m <= 500:
                ppm2 *= 1.04
            units = max(1, round(ppm2 * area / c.round_to)) * c.round_to
            feature = rng.choice(_FEATURES)
            status = rng.choices(("active", "under_offer", "sold"), (88, 5, 7))[0]
            rows.listings.append(
                {
                    "id": f"{c.code}-{n:05d}",
                    "city_id": ci,
                    "neighbourhood_id": hid,
                    "estate": e["estate"],
                    "title": f"{feature}{beds}BR {area:.0f}m² {e['estate']}",
                    "price": units * 100,
                    "currency": c.currency,
                    "area_m2": area,
                    "bedrooms": beds,
                    "bathrooms": rng.randint(*_BATHS[beds]),
                    "floor": rng.randint(1, e["floors"]),
                    "total_floors": e["floors"],
                    "year_built": e["year"],
                    "school_id": e["school_id"],
                    "school_distance_m": school_m,
                    "metro_distance_m": metro_m,
                    "listed_on": BASE_DATE - timedelta(days=rng.randint(1, 180)),
                    "status": status,
                }
            )
    return rows


def seed(session: Session) -> None:
    """Insert the seed rows in bulk; the caller owns the transaction."""
    rows = build_rows()
    for model, data in (
        (City, rows.cities),
        (Neighbourhood, rows.neighbourhoods),
        (School, rows.schools),
        (Listing, rows.listings),
        (PriceHistory, rows.history),
    ):
        session.execute(insert(model), data)


def is_seeded(session: Session) -> bool:
    """Whether the listings are already there."""
    return bool(session.scalar(select(func.count()).select_from(Listing)))
