"""Deterministic seed data: 14 cities, their airports and stations, flights and high-speed
trains with seats per date, hotels with rooms per night, and attractions.

Everything comes from one `random.Random(SEED)` and a fixed timetable window
(`FIRST_DAY` … `LAST_DAY`), so every install sees the same fares. Prices follow distance
(flights about 0.55 CNY/km plus a base, trains about 0.45 CNY/km), weekends cost a little
more, and Lunar New Year (`PEAK_DAYS`) costs 1.6-2x with only a few seats and rooms left.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from errand.services.travel.models import Attraction, Fare, Hotel, Hub, RoomNight, Service, TravelCity

SEED = 20261201
"""Seed of the generator; change it and every fare changes."""
FIRST_DAY = date(2026, 12, 1)
"""First date of the timetable."""
LAST_DAY = date(2027, 3, 31)
"""Last date of the timetable."""
PEAK_FIRST = date(2027, 2, 6)
"""First day of the Lunar New Year (Spring Festival) peak."""
PEAK_LAST = date(2027, 2, 14)
"""Last day of the Lunar New Year peak."""
CURRENCY = "CNY"
"""Every fare and room is sold in yuan."""


@dataclass(frozen=True)
class _City:
    code: str
    name: str
    name_zh: str
    country: str
    lat: float
    lon: float
    airport: tuple[str, str]
    station: tuple[str, str] | None
    carrier: tuple[str, str]
    hotel_level: float
    """Hotel prices relative to an average Chinese city."""
    big: bool
    """A major hub: more flights a day."""


CITIES: tuple[_City, ...] = (
    _City(
        "BJ",
        "Beijing",
        "北京",
        "China",
        39.904,
        116.407,
        ("PEK", "Beijing Capital International Airport"),
        ("BJP", "Beijing South Railway Station"),
        ("CA", "Air China"),
        1.25,
        True,
    ),
    _City(
        "SH",
        "Shanghai",
        "上海",
        "China",
        31.230,
        121.474,
        ("PVG", "Shanghai Pudong International Airport"),
        ("SHQ", "Shanghai Hongqiao Railway Station"),
        ("MU", "China Eastern"),
        1.3,
        True,
    ),
    _City(
        "GZ",
        "Guangzhou",
        "广州",
        "China",
        23.129,
        113.264,
        ("CAN", "Guangzhou Baiyun International Airport"),
        ("GZS", "Guangzhou South Railway Station"),
        ("CZ", "China Southern"),
        1.0,
        True,
    ),
    _City(
        "SZ",
        "Shenzhen",
        "深圳",
        "China",
        22.543,
        114.058,
        ("SZX", "Shenzhen Bao'an International Airport"),
        ("SZN", "Shenzhen North Railway Station"),
        ("ZH", "Shenzhen Airlines"),
        1.1,
        True,
    ),
    _City(
        "CD",
        "Chengdu",
        "成都",
        "China",
        30.573,
        104.066,
        ("TFU", "Chengdu Tianfu International Airport"),
        ("CDE", "Chengdu East Railway Station"),
        ("3U", "Sichuan Airlines"),
        0.85,
        True,
    ),
    _City(
        "HZ",
        "Hangzhou",
        "杭州",
        "China",
        30.274,
        120.155,
        ("HGH", "Hangzhou Xiaoshan International Airport"),
        ("HZE", "Hangzhou East Railway Station"),
        ("GJ", "Loong Air"),
        1.0,
        False,
    ),
    _City(
        "XA",
        "Xi'an",
        "西安",
        "China",
        34.341,
        108.940,
        ("XIY", "Xi'an Xianyang International Airport"),
        ("XAN", "Xi'an North Railway Station"),
        ("JD", "Capital Airlines"),
        0.8,
        False,
    ),
    _City(
        "CQ",
        "Chongqing",
        "重庆",
        "China",
        29.563,
        106.551,
        ("CKG", "Chongqing Jiangbei International Airport"),
        ("CQN", "Chongqing North Railway Station"),
        ("PN", "West Air"),
        0.8,
        False,
    ),
    _City(
        "HK",
        "Hong Kong",
        "香港",
        "Hong Kong",
        22.320,
        114.169,
        ("HKG", "Hong Kong International Airport"),
        ("HKW", "Hong Kong West Kowloon Station"),
        ("CX", "Cathay Pacific"),
        1.8,
        True,
    ),
    _City(
        "SY",
        "Sanya",
        "三亚",
        "China",
        18.253,
        109.512,
        ("SYX", "Sanya Phoenix International Airport"),
        None,
        ("HU", "Hainan Airlines"),
        1.5,
        False,
    ),
    _City(
        "HB",
        "Harbin",
        "哈尔滨",
        "China",
        45.803,
        126.535,
        ("HRB", "Harbin Taiping International Airport"),
        ("HBW", "Harbin West Railway Station"),
        ("8L", "Lucky Air"),
        0.75,
        False,
    ),
    _City(
        "SG",
        "Singapore",
        "新加坡",
        "Singapore",
        1.352,
        103.820,
        ("SIN", "Singapore Changi Airport"),
        None,
        ("SQ", "Singapore Airlines"),
        2.0,
        True,
    ),
    _City(
        "TY",
        "Tokyo",
        "东京",
        "Japan",
        35.676,
        139.650,
        ("HND", "Tokyo Haneda Airport"),
        None,
        ("NH", "All Nippon Airways"),
        1.6,
        True,
    ),
    _City(
        "BK",
        "Bangkok",
        "曼谷",
        "Thailand",
        13.756,
        100.502,
        ("BKK", "Suvarnabhumi Airport"),
        None,
        ("TG", "Thai Airways"),
        0.8,
        True,
    ),
)

# name, name_zh, opens "HH:MM", closes, closed weekday (0=Mon) or None, visit minutes, ticket yuan, lat, lon
_A = tuple[str, str, str, str, int | None, int, int, float, float]
ATTRACTIONS: dict[str, tuple[_A, ...]] = {
    "BJ": (
        ("Forbidden City", "故宫", "08:30", "17:00", 0, 210, 60, 39.916, 116.397),
        ("Temple of Heaven", "天坛", "06:00", "22:00", None, 120, 34, 39.882, 116.407),
        ("Summer Palace", "颐和园", "06:30", "18:00", None, 180, 30, 39.999, 116.275),
        ("Tiananmen Square", "天安门广场", "05:00", "22:00", None, 60, 0, 39.903, 116.398),
        ("Lama Temple", "雍和宫", "09:00", "16:30", None, 75, 25, 39.947, 116.417),
        ("National Museum of China", "中国国家博物馆", "09:00", "17:00", 0, 150, 0, 39.905, 116.401),
        ("Jingshan Park", "景山公园", "06:30", "21:00", None, 60, 2, 39.925, 116.397),
        ("Hutongs of Shichahai", "什刹海胡同", "08:00", "22:00", None, 120, 0, 39.940, 116.386),
    ),
    "SH": (
        ("The Bund", "外滩", "00:00", "23:59", None, 90, 0, 31.240, 121.490),
        ("Yu Garden", "豫园", "09:00", "16:30", 0, 100, 40, 31.227, 121.492),
        ("Shanghai Museum", "上海博物馆", "09:00", "17:00", 0, 150, 0, 31.228, 121.476),
        (
            "Shanghai Tower Observation Deck",
            "上海中心观光厅",
            "08:30",
            "22:00",
            None,
            90,
            180,
            31.235,
            121.501,
        ),
        ("Tianzifang", "田子坊", "10:00", "22:00", None, 90, 0, 31.209, 121.469),
        ("Jing'an Temple", "静安寺", "07:30", "17:00", None, 60, 50, 31.223, 121.445),
        ("Xintiandi", "新天地", "10:00", "23:00", None, 90, 0, 31.220, 121.475),
    ),
    "GZ": (
        ("Canton Tower", "广州塔", "09:30", "22:30", None, 120, 150, 23.106, 113.324),
        ("Chen Clan Ancestral Hall", "陈家祠", "09:00", "17:30", 0, 75, 10, 23.126, 113.245),
        ("Shamian Island", "沙面", "00:00", "23:59", None, 90, 0, 23.107, 113.243),
        ("Yuexiu Park", "越秀公园", "06:00", "21:00", None, 90, 0, 23.139, 113.266),
        ("Guangdong Museum", "广东省博物馆", "09:00", "17:00", 0, 120, 0, 23.115, 113.325),
        ("Beijing Road Pedestrian Street", "北京路步行街", "10:00", "22:30", None, 90, 0, 23.125, 113.269),
    ),
    "SZ": (
        ("Window of the World", "世界之窗", "10:00", "22:00", None, 210, 220, 22.536, 113.973),
        ("Shenzhen Bay Park", "深圳湾公园", "06:00", "23:00", None, 90, 0, 22.513, 113.943),
        ("OCT Loft", "华侨城创意园", "10:00", "22:00", 0, 90, 0, 22.539, 113.990),
        ("Lianhuashan Park", "莲花山公园", "06:00", "22:00", None, 75, 0, 22.554, 114.056),
        ("Shenzhen Museum", "深圳博物馆", "10:00", "18:00", 0, 120, 0, 22.545, 114.059),
        ("Dafen Oil Painting Village", "大芬油画村", "09:00", "21:00", None, 90, 0, 22.611, 114.139),
    ),
    "CD": (
        (
            "Chengdu Research Base of Giant Panda Breeding",
            "大熊猫繁育研究基地",
            "07:30",
            "18:00",
            None,
            180,
            55,
            30.733,
            104.146,
        ),
        ("Wuhou Shrine", "武侯祠", "08:00", "18:00", None, 90, 50, 30.646, 104.048),
        ("Jinli Ancient Street", "锦里古街", "09:00", "22:00", None, 75, 0, 30.645, 104.050),
        ("Kuanzhai Alley", "宽窄巷子", "09:00", "22:00", None, 90, 0, 30.670, 104.055),
        ("Du Fu Thatched Cottage", "杜甫草堂", "08:00", "18:00", None, 90, 50, 30.660, 104.029),
        ("People's Park", "人民公园", "06:00", "22:00", None, 60, 0, 30.658, 104.058),
        ("Sichuan Museum", "四川博物院", "09:00", "17:00", 0, 120, 0, 30.663, 104.035),
    ),
    "HZ": (
        ("West Lake", "西湖", "00:00", "23:59", None, 180, 0, 30.243, 120.150),
        ("Lingyin Temple", "灵隐寺", "07:00", "18:00", None, 120, 75, 30.241, 120.101),
        ("Leifeng Pagoda", "雷峰塔", "08:00", "20:00", None, 60, 40, 30.231, 120.149),
        ("China National Tea Museum", "中国茶叶博物馆", "09:00", "16:30", 0, 90, 0, 30.236, 120.127),
        ("Hefang Street", "河坊街", "09:00", "22:00", None, 90, 0, 30.243, 120.169),
        ("Xixi Wetland", "西溪湿地", "07:30", "18:00", None, 150, 80, 30.269, 120.062),
    ),
    "XA": (
        ("Terracotta Army", "兵马俑", "08:30", "18:00", None, 180, 120, 34.385, 109.273),
        ("City Wall", "西安城墙", "08:00", "22:00", None, 120, 54, 34.259, 108.946),
        ("Big Wild Goose Pagoda", "大雁塔", "08:00", "17:30", None, 75, 40, 34.218, 108.964),
        ("Muslim Quarter", "回民街", "09:00", "23:00", None, 90, 0, 34.263, 108.941),
        ("Shaanxi History Museum", "陕西历史博物馆", "08:30", "18:00", 0, 150, 0, 34.224, 108.954),
        ("Bell Tower", "钟楼", "08:30", "21:30", None, 45, 30, 34.261, 108.943),
    ),
    "CQ": (
        ("Hongyadong", "洪崖洞", "10:00", "23:00", None, 90, 0, 29.563, 106.578),
        ("Ciqikou Ancient Town", "磁器口古镇", "09:00", "21:00", None, 120, 0, 29.580, 106.448),
        ("Yangtze River Cableway", "长江索道", "07:30", "22:00", None, 45, 20, 29.556, 106.584),
        ("Three Gorges Museum", "三峡博物馆", "09:00", "17:00", 0, 120, 0, 29.561, 106.547),
        ("Liziba Monorail Station", "李子坝轻轨站", "06:30", "22:30", None, 30, 0, 29.552, 106.533),
        ("Eling Park", "鹅岭公园", "06:00", "21:00", None, 75, 0, 29.554, 106.529),
    ),
    "HK": (
        ("Victoria Peak", "太平山顶", "07:00", "23:00", None, 120, 88, 22.271, 114.150),
        (
            "Star Ferry and Tsim Sha Tsui Promenade",
            "天星小轮及尖沙咀海滨",
            "06:30",
            "23:30",
            None,
            75,
            5,
            22.294,
            114.169,
        ),
        ("Hong Kong Palace Museum", "香港故宫文化博物馆", "10:00", "18:00", 1, 150, 60, 22.301, 114.156),
        ("Man Mo Temple", "文武庙", "08:00", "18:00", None, 45, 0, 22.284, 114.150),
        ("Temple Street Night Market", "庙街夜市", "16:00", "23:59", None, 90, 0, 22.306, 114.170),
        ("Tian Tan Buddha", "天坛大佛", "10:00", "17:30", None, 180, 0, 22.254, 113.905),
    ),
    "SY": (
        ("Yalong Bay", "亚龙湾", "00:00", "23:59", None, 180, 0, 18.230, 109.640),
        (
            "Nanshan Cultural Tourism Zone",
            "南山文化旅游区",
            "08:00",
            "17:30",
            None,
            180,
            129,
            18.296,
            109.205,
        ),
        ("Tianya Haijiao", "天涯海角", "07:30", "18:00", None, 120, 81, 18.294, 109.351),
        ("Wuzhizhou Island", "蜈支洲岛", "08:30", "17:00", None, 240, 144, 18.313, 109.763),
        ("Luhuitou Park", "鹿回头公园", "07:30", "22:30", None, 90, 48, 18.223, 109.521),
    ),
    "HB": (
        ("Harbin Ice and Snow World", "哈尔滨冰雪大世界", "11:00", "21:30", None, 180, 298, 45.782, 126.571),
        ("Central Street", "中央大街", "00:00", "23:59", None, 90, 0, 45.773, 126.617),
        ("Saint Sophia Cathedral", "圣索菲亚教堂", "08:30", "17:00", None, 45, 20, 45.767, 126.624),
        ("Sun Island Snow Sculpture Expo", "太阳岛雪博会", "08:30", "17:00", None, 150, 240, 45.794, 126.590),
        ("Siberian Tiger Park", "东北虎林园", "08:00", "16:30", None, 120, 120, 45.811, 126.590),
    ),
    "SG": (
        ("Gardens by the Bay", "滨海湾花园", "05:00", "23:59", None, 150, 0, 1.282, 103.864),
        ("Marina Bay Sands SkyPark", "金沙空中花园", "11:00", "21:00", None, 60, 180, 1.284, 103.861),
        ("Singapore Zoo", "新加坡动物园", "08:30", "18:00", None, 210, 250, 1.404, 103.793),
        ("Chinatown", "牛车水", "09:00", "22:00", None, 90, 0, 1.283, 103.844),
        ("National Gallery Singapore", "国家美术馆", "10:00", "19:00", None, 120, 110, 1.290, 103.852),
        ("Sentosa Island", "圣淘沙", "08:00", "22:00", None, 240, 0, 1.250, 103.830),
    ),
    "TY": (
        ("Senso-ji", "浅草寺", "06:00", "17:00", None, 75, 0, 35.715, 139.797),
        ("Meiji Jingu", "明治神宫", "06:40", "16:20", None, 75, 0, 35.676, 139.699),
        ("Shibuya Sky", "涩谷天空", "10:00", "22:30", None, 60, 120, 35.658, 139.702),
        ("Tokyo National Museum", "东京国立博物馆", "09:30", "17:00", 0, 150, 50, 35.719, 139.776),
        ("teamLab Planets", "teamLab Planets", "09:00", "22:00", None, 120, 190, 35.649, 139.790),
        ("Tsukiji Outer Market", "筑地场外市场", "06:00", "14:00", 2, 90, 0, 35.665, 139.770),
        ("Tokyo Skytree", "东京晴空塔", "10:00", "21:00", None, 75, 160, 35.710, 139.811),
    ),
    "BK": (
        ("Grand Palace", "大皇宫", "08:30", "15:30", None, 150, 110, 13.750, 100.492),
        ("Wat Pho", "卧佛寺", "08:00", "18:30", None, 75, 60, 13.746, 100.493),
        ("Wat Arun", "郑王庙", "08:00", "18:00", None, 60, 25, 13.744, 100.489),
        ("Chatuchak Weekend Market", "乍都乍周末市场", "09:00", "18:00", 0, 150, 0, 13.800, 100.550),
        ("Jim Thompson House", "金汤普森之家", "10:00", "18:00", None, 75, 45, 13.749, 100.528),
        ("Asiatique The Riverfront", "河滨夜市", "16:00", "23:59", None, 120, 0, 13.704, 100.503),
    ),
}

_HOTEL_BRANDS = (
    # brand, stars, base price per night in yuan
    ("Hanting Hotel", 2, 230),
    ("Ji Hotel", 3, 360),
    ("Atour Hotel", 3, 450),
    ("Holiday Inn Express", 3, 420),
    ("Crowne Plaza", 4, 720),
    ("Hilton", 5, 1150),
    ("Marriott", 5, 1050),
    ("Park Hyatt", 5, 2100),
)
_DISTRICTS = ("City Centre", "Old Town", "Business District", "Riverside", "Near Station", "Airport Area")


_FAR = ("Singapore", "Japan", "Thailand")
"""Countries reached from the big hubs only."""


def _km(a: _City, b: _City) -> float:
    """Great-circle distance in kilometres."""
    la1, lo1, la2, lo2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


def _hhmm(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 60 + int(m)


def _days() -> list[date]:
    return [FIRST_DAY + timedelta(n) for n in range((LAST_DAY - FIRST_DAY).days + 1)]


def is_peak(day: date) -> bool:
    """Whether ``day`` falls in the Lunar New Year peak."""
    return PEAK_FIRST <= day <= PEAK_LAST


def _demand(day: date) -> float:
    """Price factor of a date (before the peak factor)."""
    f = 1.0
    if day.weekday() in (4, 6):  # Friday and Sunday travel
        f *= 1.1
    if date(2026, 12, 24) <= day <= date(2027, 1, 3):
        f *= 1.15
    if date(2027, 1, 28) <= day < PEAK_FIRST or PEAK_LAST < day <= date(2027, 2, 21):  # 春运 shoulders
        f *= 1.3
    return f


def build_rows() -> dict[str, list[dict[str, Any]]]:
    """Every seed row, per table name (deterministic)."""
    rng = random.Random(SEED)
    days = _days()
    rows: dict[str, list[dict[str, Any]]] = {
        t: [] for t in ("tr_cities", "tr_hubs", "tr_services", "tr_fares", "tr_hotels", "tr_room_nights")
    }
    rows["tr_attractions"] = []
    ids = {c.code: i for i, c in enumerate(CITIES, start=1)}
    for c in CITIES:
        rows["tr_cities"].append(
            {
                "id": ids[c.code],
                "code": c.code,
                "name": c.name,
                "name_zh": c.name_zh,
                "country": c.country,
                "lat": c.lat,
                "lon": c.lon,
            }
        )
        rows["tr_hubs"].append(
            {"code": c.airport[0], "city_id": ids[c.code], "name": c.airport[1], "kind": "airport"}
        )
        if c.station:
            rows["tr_hubs"].append(
                {"code": c.station[0], "city_id": ids[c.code], "name": c.station[1], "kind": "station"}
            )

    flight_no: dict[str, int] = {}
    train_no = 1
    for a in CITIES:
        for b in CITIES:
            if a is b:
                continue
            km = _km(a, b)
            if km >= 250 and ((a.big and b.big) or not (a.country in _FAR or b.country in _FAR)):
                per_day = 2 if a.big and b.big and a.country == b.country == "China" else 1
                for _ in range(per_day):
                    code = a.carrier[0]
                    flight_no[code] = flight_no.get(code, 1100) + 1
                    stops = 1 if km > 1500 and rng.random() < 0.25 else 0
                    via = None
                    if stops:
                        via = min(
                            (x for x in CITIES if x is not a and x is not b and x.big),
                            key=lambda x: _km(a, x) + _km(x, b),
                        ).name
                    duration = round((40 + km / 12.5) / 5) * 5 + (150 if stops else 0)
                    intl = a.country != b.country
                    base = (
                        (250 + 0.55 * km + (350 if intl else 0))
                        * rng.uniform(0.85, 1.2)
                        * (0.8 if stops else 1)
                    )
                    rows["tr_services"].append(
                        {
                            "id": f"{code}{flight_no[code]}",
                            "kind": "flight",
                            "carrier": a.carrier[1],
                            "origin_city_id": ids[a.code],
                            "dest_city_id": ids[b.code],
                            "origin_hub": a.airport[0],
                            "dest_hub": b.airport[0],
                            "depart_min": rng.randrange(6 * 60 + 30, 22 * 60, 5),
                            "duration_min": duration,
                            "stops": stops,
                            "via": via,
                            "distance_km": round(km),
                            "_base": {"economy": base, "business": base * 3.2},
                            "_seats": {"economy": 150, "business": 12},
                        }
                    )
            if a.station and b.station and km < 1950:
                rail_km = km * 1.25
                per_day = 4 if rail_km < 400 else 2 if rail_km < 1300 else 1
                for _ in range(per_day):
                    stops = max(1, round(rail_km / 250) + rng.randrange(0, 3))
                    duration = round((rail_km / 300 * 60 + stops * 4 + 10) / 5) * 5
                    base = (20 + 0.46 * rail_km) * rng.uniform(0.95, 1.08)
                    rows["tr_services"].append(
                        {
                            "id": f"G{train_no}",
                            "kind": "train",
                            "carrier": "China Railway",
                            "origin_city_id": ids[a.code],
                            "dest_city_id": ids[b.code],
                            "origin_hub": a.station[0],
                            "dest_hub": b.station[0],
                            "depart_min": rng.randrange(6 * 60 + 30, 20 * 60, 5),
                            "duration_min": duration,
                            "stops": stops,
                            "via": None,
                            "distance_km": round(rail_km),
                            "_base": {"second": base, "first": base * 1.6},
                            "_seats": {"second": 260, "first": 40},
                        }
                    )
                    train_no += 1

    fare_id = 1
    for s in rows["tr_services"]:
        bases: dict[str, float] = s.pop("_base")
        seats: dict[str, int] = s.pop("_seats")
        for day in days:
            demand = _demand(day)
            peak = is_peak(day)
            if peak:
                demand *= rng.uniform(1.6, 2.0)
            for cabin, base in bases.items():
                full = seats[cabin]
                left = (
                    rng.randrange(0, 10 if full > 20 else 3) if peak else rng.randrange(full // 3, full + 1)
                )
                rows["tr_fares"].append(
                    {
                        "id": fare_id,
                        "service_id": s["id"],
                        "day": day,
                        "cabin": cabin,
                        "price": round(base * demand * rng.uniform(0.93, 1.07)) * 100,
                        "currency": CURRENCY,
                        "seats_left": left,
                    }
                )
                fare_id += 1

    night_id = 1
    for c in CITIES:
        for n, (brand, stars, base) in enumerate(_HOTEL_BRANDS, start=1):
            hid = f"H-{c.code}{n:02d}"
            district = _DISTRICTS[rng.randrange(len(_DISTRICTS))]
            rows["tr_hotels"].append(
                {
                    "id": hid,
                    "city_id": ids[c.code],
                    "name": f"{brand} {c.name} {district}",
                    "district": district,
                    "stars": stars,
                    "rating": round(min(4.9, 3.4 + stars * 0.25 + rng.uniform(-0.3, 0.4)), 1),
                    "lat": c.lat + rng.uniform(-0.05, 0.05),
                    "lon": c.lon + rng.uniform(-0.05, 0.05),
                }
            )
            nightly = base * c.hotel_level * rng.uniform(0.85, 1.15)
            rooms = 6 + 4 * stars + rng.randrange(0, 10)
            for day in days:
                f = (1.15 if day.weekday() in (4, 5) else 1.0) * (
                    1.6 + 0.4 * rng.random() if is_peak(day) else 1.0
                )
                left = rng.randrange(0, 4) if is_peak(day) else rng.randrange(rooms // 2, rooms + 1)
                rows["tr_room_nights"].append(
                    {
                        "id": night_id,
                        "hotel_id": hid,
                        "night": day,
                        "price": round(nightly * f * rng.uniform(0.95, 1.05)) * 100,
                        "currency": CURRENCY,
                        "rooms_left": left,
                    }
                )
                night_id += 1

    aid = 1
    for c in CITIES:
        for rank, (name, zh, opens, closes, closed, visit, price, lat, lon) in enumerate(
            ATTRACTIONS[c.code], 1
        ):
            rows["tr_attractions"].append(
                {
                    "id": aid,
                    "city_id": ids[c.code],
                    "name": name,
                    "name_zh": zh,
                    "rank": rank,
                    "opens_min": _hhmm(opens),
                    "closes_min": _hhmm(closes),
                    "closed_weekday": closed,
                    "visit_min": visit,
                    "price": price * 100,
                    "currency": CURRENCY,
                    "lat": lat,
                    "lon": lon,
                }
            )
            aid += 1
    return rows


_MODELS = (TravelCity, Hub, Service, Fare, Hotel, RoomNight, Attraction)


def seed(session: Session) -> None:
    """Insert the seed rows (the caller commits)."""
    rows = build_rows()
    for model in _MODELS:
        batch = rows[model.__tablename__]
        for i in range(0, len(batch), 5000):
            session.execute(insert(model), batch[i : i + 5000])


def is_seeded(session: Session) -> bool:
    """Whether the seed data is already there."""
    return bool(session.scalar(select(func.count()).select_from(TravelCity)))
