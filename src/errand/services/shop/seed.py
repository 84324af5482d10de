"""Deterministic seed data: a catalogue of a few thousand products, their variants and reviews.

Everything comes from one `random.Random(SEED)`, so every install sells the same
things at the same prices. Prices are realistic for China (yuan, stored in fen);
sizes and colours fit the kind of product; ratings skew high, as they do online.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from errand.services.shop.models import Product, Review, Variant

SEED = 20261201
"""Seed of the generator; change it and the whole catalogue changes."""
PRODUCTS_PER_KIND = 62
"""Products generated for each kind of item (about 3,000 in all)."""
CURRENCY = "CNY"


@dataclass(frozen=True)
class _Kind:
    name: str
    name_zh: str
    words: str
    """Extra search words, English and Chinese."""
    price: tuple[int, int]
    """Price range in whole yuan."""
    sizes: tuple[str, ...]
    colours: tuple[str, ...]
    size_step: int = 0
    """Extra yuan per step up in size (storage, capacity); 0 if sizes cost the same."""


@dataclass(frozen=True)
class _Category:
    name: str
    name_zh: str
    return_days: int
    brands: tuple[str, ...]
    styles: tuple[str, ...]
    kinds: tuple[_Kind, ...]


_WEAR = ("S", "M", "L", "XL", "XXL")
_SHOE = ("36", "37", "38", "39", "40", "41", "42", "43", "44")
_BASIC = ("black", "white", "grey", "navy", "beige")
_BRIGHT = ("black", "white", "red", "blue", "green", "pink")

CATEGORIES: tuple[_Category, ...] = (
    _Category(
        "electronics",
        "数码电子",
        7,
        ("Xiaomi", "Huawei", "Anker", "Sony", "Lenovo", "Baseus", "Edifier", "Ugreen", "Apple", "OPPO"),
        ("Pro", "Lite", "Max", "Air", "Plus", "Mini", "SE", "Ultra"),
        (
            _Kind(
                "Wireless Earbuds",
                "无线蓝牙耳机",
                "headphones bluetooth 耳机 蓝牙",
                (99, 1299),
                ("one size",),
                _BASIC,
            ),
            _Kind(
                "Smartphone",
                "智能手机",
                "phone mobile 手机",
                (999, 8999),
                ("128 GB", "256 GB", "512 GB"),
                _BASIC,
                500,
            ),
            _Kind(
                "Laptop",
                "笔记本电脑",
                "notebook computer 电脑 笔记本",
                (2999, 14999),
                ("16 GB", "32 GB"),
                ("grey", "silver"),
                1200,
            ),
            _Kind(
                "Power Bank",
                "充电宝",
                "charger battery 移动电源",
                (59, 299),
                ("10000 mAh", "20000 mAh"),
                _BASIC,
                40,
            ),
            _Kind(
                "USB-C Charger",
                "快充充电器",
                "charger adapter 充电器 充电头",
                (39, 259),
                ("30 W", "65 W", "100 W"),
                ("white", "black"),
                30,
            ),
            _Kind(
                "Smart Watch", "智能手表", "watch fitness 手表", (199, 2999), ("41 mm", "45 mm"), _BASIC, 100
            ),
            _Kind(
                "Monitor",
                "显示器",
                "screen display 屏幕",
                (699, 4999),
                ("24 inch", "27 inch"),
                ("black",),
                400,
            ),
            _Kind(
                "Bluetooth Speaker", "蓝牙音箱", "speaker audio 音响 音箱", (79, 1599), ("one size",), _BRIGHT
            ),
            _Kind(
                "Mechanical Keyboard",
                "机械键盘",
                "keyboard 键盘",
                (149, 999),
                ("87 keys", "104 keys"),
                ("black", "white"),
                50,
            ),
            _Kind(
                "Wireless Mouse",
                "无线鼠标",
                "mouse 鼠标",
                (49, 599),
                ("one size",),
                ("black", "white", "pink"),
            ),
            _Kind(
                "Tablet", "平板电脑", "pad 平板", (1299, 6999), ("128 GB", "256 GB"), ("grey", "silver"), 600
            ),
        ),
    ),
    _Category(
        "clothing",
        "服装",
        30,
        (
            "Uniqlo",
            "Li-Ning",
            "Bosideng",
            "Semir",
            "Peacebird",
            "Zara",
            "H&M",
            "Anta",
            "Heilan Home",
            "MO&Co",
        ),
        ("Classic", "Slim", "Relaxed", "Everyday", "Premium", "Casual", "Warm", "Light"),
        (
            _Kind("T-Shirt", "T恤", "tee shirt 短袖 上衣", (39, 199), _WEAR, _BRIGHT),
            _Kind(
                "Jeans",
                "牛仔裤",
                "denim trousers pants 裤子",
                (99, 499),
                ("28", "30", "32", "34", "36"),
                ("blue", "black", "grey"),
            ),
            _Kind(
                "Down Jacket",
                "羽绒服",
                "coat winter 外套 冬装",
                (399, 2499),
                _WEAR,
                ("black", "navy", "white", "red"),
            ),
            _Kind("Hoodie", "连帽卫衣", "sweatshirt 卫衣", (129, 499), _WEAR, _BASIC),
            _Kind(
                "Dress",
                "连衣裙",
                "skirt 裙子",
                (159, 899),
                ("S", "M", "L", "XL"),
                ("black", "white", "red", "blue"),
            ),
            _Kind("Shirt", "衬衫", "formal shirt 衬衣", (99, 599), _WEAR, ("white", "blue", "pink")),
            _Kind("Sweater", "毛衣", "knit jumper 针织衫", (149, 799), _WEAR, _BASIC),
        ),
    ),
    _Category(
        "shoes",
        "鞋靴",
        30,
        ("Nike", "Adidas", "Li-Ning", "Anta", "Xtep", "Skechers", "Converse", "Belle"),
        ("Runner", "Street", "Court", "Trail", "Comfort", "Classic"),
        (
            _Kind(
                "Running Shoes",
                "跑步鞋",
                "sneakers trainers 运动鞋 跑鞋",
                (199, 1299),
                _SHOE,
                ("black", "white", "grey", "blue"),
            ),
            _Kind("Canvas Sneakers", "帆布鞋", "sneakers 板鞋", (99, 599), _SHOE, ("white", "black", "red")),
            _Kind("Leather Boots", "皮靴", "boots winter 靴子", (399, 1599), _SHOE, ("black", "brown")),
            _Kind(
                "Slippers",
                "拖鞋",
                "sandals home 凉拖",
                (29, 199),
                ("38", "40", "42", "44"),
                ("grey", "blue", "pink"),
            ),
        ),
    ),
    _Category(
        "home",
        "家居",
        30,
        ("Midea", "Supor", "MUJI", "IKEA", "Joyoung", "Bear", "Xiaomi Mijia", "Fotile", "Lock&Lock", "Deli"),
        ("Compact", "Family", "Smart", "Classic", "Deluxe", "Eco"),
        (
            _Kind(
                "Electric Kettle",
                "电热水壶",
                "kettle 烧水壶 水壶",
                (69, 399),
                ("1.5 L", "1.7 L"),
                ("white", "silver", "black"),
                10,
            ),
            _Kind(
                "Rice Cooker",
                "电饭煲",
                "cooker kitchen 厨房 电饭锅",
                (149, 1299),
                ("3 L", "4 L", "5 L"),
                ("white", "silver"),
                60,
            ),
            _Kind(
                "Duvet",
                "羽绒被",
                "quilt bedding 被子 床品",
                (199, 1599),
                ("single", "double", "king"),
                ("white",),
                150,
            ),
            _Kind(
                "Bed Sheet Set",
                "四件套",
                "bedding sheets 床单 床品",
                (129, 699),
                ("1.5 m", "1.8 m"),
                ("white", "grey", "blue", "pink"),
                40,
            ),
            _Kind(
                "Desk Lamp", "护眼台灯", "lamp light 台灯 灯", (59, 499), ("one size",), ("white", "black")
            ),
            _Kind(
                "Air Purifier", "空气净化器", "purifier air 净化器", (499, 3999), ("one size",), ("white",)
            ),
            _Kind(
                "Vacuum Cleaner",
                "吸尘器",
                "vacuum cleaner 清洁",
                (299, 2999),
                ("one size",),
                ("white", "grey"),
            ),
            _Kind(
                "Storage Box",
                "收纳箱",
                "storage box 收纳",
                (19, 129),
                ("small", "medium", "large"),
                ("white", "grey", "blue"),
                15,
            ),
        ),
    ),
    _Category(
        "books",
        "图书",
        7,
        (
            "CITIC Press",
            "People's Literature",
            "Penguin",
            "Zhonghua Book Co.",
            "Yilin Press",
            "Oxford UP",
            "Posts & Telecom Press",
        ),
        (
            "The Silent",
            "A Brief",
            "Modern",
            "The Complete",
            "Essential",
            "The Hidden",
            "Practical",
            "The Long",
        ),
        (
            _Kind(
                "Novel",
                "长篇小说",
                "fiction story 小说 文学",
                (29, 89),
                ("paperback", "hardcover"),
                ("-",),
                20,
            ),
            _Kind("History", "历史读物", "history 历史", (39, 129), ("paperback", "hardcover"), ("-",), 25),
            _Kind("Cookbook", "家常菜谱", "cooking recipes 菜谱 烹饪", (29, 99), ("paperback",), ("-",)),
            _Kind(
                "Python Programming",
                "Python编程",
                "programming code 编程 计算机",
                (59, 149),
                ("paperback", "ebook"),
                ("-",),
                -20,
            ),
            _Kind(
                "Children's Picture Book",
                "儿童绘本",
                "kids picture 绘本 童书",
                (19, 79),
                ("paperback", "hardcover"),
                ("-",),
                15,
            ),
            _Kind(
                "Science",
                "科普读物",
                "popular science 科普 科学",
                (35, 99),
                ("paperback", "hardcover"),
                ("-",),
                20,
            ),
        ),
    ),
    _Category(
        "sports",
        "运动户外",
        30,
        ("Decathlon", "Li-Ning", "Anta", "Keep", "Naturehike", "Kailas", "Yonex", "Victor"),
        ("Pro", "Training", "Outdoor", "Club", "Elite", "Basic"),
        (
            _Kind(
                "Yoga Mat",
                "瑜伽垫",
                "yoga fitness 健身",
                (39, 299),
                ("6 mm", "10 mm"),
                ("purple", "blue", "black", "pink"),
                20,
            ),
            _Kind(
                "Badminton Racket",
                "羽毛球拍",
                "badminton racket 羽毛球",
                (99, 1299),
                ("3U", "4U"),
                ("blue", "red", "black"),
            ),
            _Kind(
                "Camping Tent",
                "露营帐篷",
                "tent camping 露营 帐篷",
                (199, 1999),
                ("2 person", "4 person"),
                ("green", "grey"),
                200,
            ),
            _Kind(
                "Dumbbell Set",
                "哑铃套装",
                "dumbbell weights 哑铃 健身",
                (99, 799),
                ("10 kg", "20 kg"),
                ("black",),
                150,
            ),
            _Kind("Basketball", "篮球", "ball 篮球", (69, 399), ("size 6", "size 7"), ("orange",)),
        ),
    ),
    _Category(
        "beauty",
        "美妆个护",
        7,
        ("Proya", "Florasis", "L'Oreal", "Shiseido", "Perfect Diary", "Winona", "Estee Lauder", "Pechoin"),
        ("Hydrating", "Repair", "Daily", "Gentle", "Radiance", "Night"),
        (
            _Kind(
                "Face Cream",
                "面霜",
                "moisturiser skincare 护肤 面霜",
                (79, 1299),
                ("30 ml", "50 ml"),
                ("-",),
                80,
            ),
            _Kind(
                "Lipstick",
                "口红",
                "lipstick makeup 口红 彩妆",
                (59, 399),
                ("one size",),
                ("red", "coral", "nude", "berry"),
            ),
            _Kind("Sunscreen", "防晒霜", "sunscreen spf 防晒", (59, 299), ("50 ml",), ("-",)),
            _Kind(
                "Electric Toothbrush",
                "电动牙刷",
                "toothbrush oral 牙刷",
                (99, 699),
                ("one size",),
                ("white", "black", "pink"),
            ),
        ),
    ),
    _Category(
        "toys",
        "玩具",
        30,
        ("LEGO", "Bandai", "Pop Mart", "Hape", "Keeppley", "Mattel"),
        ("Creative", "Classic", "Junior", "Deluxe", "Mini", "Adventure"),
        (
            _Kind("Building Blocks Set", "积木", "lego bricks 积木 拼装", (99, 1999), ("one size",), ("-",)),
            _Kind(
                "Plush Toy",
                "毛绒玩具",
                "plush doll 公仔 玩偶",
                (49, 299),
                ("small", "large"),
                ("brown", "white", "pink"),
                60,
            ),
            _Kind(
                "Puzzle", "拼图", "jigsaw puzzle 拼图", (39, 199), ("500 pieces", "1000 pieces"), ("-",), 20
            ),
            _Kind(
                "RC Car",
                "遥控车",
                "remote control car 遥控 玩具车",
                (99, 699),
                ("one size",),
                ("red", "blue", "black"),
            ),
        ),
    ),
)

_GOOD = (
    "Exactly as described, fast delivery.",
    "Great quality for the price.",
    "Very happy with it, would buy again.",
    "Fits well and looks good.",
    "Works perfectly so far.",
    "质量很好，物流很快。",
    "性价比高，推荐购买。",
    "和描述一致，满意。",
)
_MIXED = (
    "Decent, but the packaging was damaged.",
    "OK for the price, nothing special.",
    "Runs a little small, size up.",
    "一般般，还可以。",
)
_BAD = (
    "Stopped working after a week.",
    "Colour is different from the photos.",
    "Poor quality, returned it.",
    "质量不行，不推荐。",
)
_NAMES = (
    "Lin",
    "Wang",
    "Chen",
    "Zhang",
    "Li",
    "Liu",
    "Zhao",
    "Alex",
    "Sam",
    "Mei",
    "Jun",
    "Yan",
    "Hao",
    "Emma",
)


def _price_fen(rng: random.Random, low: int, high: int) -> int:
    """A whole-yuan price ending in 9 (or .90 under 100 yuan), in fen."""
    yuan = rng.randint(low, high)
    if yuan >= 100:
        return (yuan // 10 * 10 + 9) * 100
    return yuan * 100 + 90


def _review(rng: random.Random, quality: float) -> tuple[int, str]:
    roll = rng.random() + quality
    if roll > 1.0:
        return rng.choice((5, 5, 4)), rng.choice(_GOOD)
    if roll > 0.7:
        return rng.choice((3, 4)), rng.choice(_MIXED)
    return rng.choice((1, 2)), rng.choice(_BAD)


def build() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows for products, variants and reviews: the same every time."""
    rng = random.Random(SEED)
    products: list[dict[str, Any]] = []
    variants: list[dict[str, Any]] = []
    reviews: list[dict[str, Any]] = []
    for cat in CATEGORIES:
        for kind in cat.kinds:
            for _ in range(PRODUCTS_PER_KIND):
                pid = f"P-{len(products) + 1:05d}"
                brand = rng.choice(cat.brands)
                style = rng.choice(cat.styles)
                name = f"{brand} {style} {kind.name}"
                base = _price_fen(rng, *kind.price)
                quality = rng.uniform(0.05, 0.6)
                n_reviews = rng.choice((0, 1, 2, 3, 4, 5, 6))
                stars = []
                for _ in range(n_reviews):
                    r, text = _review(rng, quality)
                    stars.append(r)
                    reviews.append(
                        {
                            "product_id": pid,
                            "rating": r,
                            "text": text,
                            "author": f"{rng.choice(_NAMES)}{rng.randint(1, 99)}",
                        }
                    )
                rating = round(sum(stars) / len(stars), 1) if stars else 0.0
                words = f"{name} {kind.name_zh} {cat.name} {cat.name_zh} {kind.words}"
                products.append(
                    {
                        "id": pid,
                        "name": name,
                        "name_zh": f"{brand} {kind.name_zh}",
                        "brand": brand,
                        "category": cat.name,
                        "search_text": words.lower(),
                        "rating": rating,
                        "review_count": n_reviews,
                        "return_days": cat.return_days,
                        "currency": CURRENCY,
                    }
                )
                colours = rng.sample(kind.colours, k=min(len(kind.colours), rng.randint(1, 3)))
                for step, size in enumerate(kind.sizes):
                    for colour in colours:
                        variants.append(
                            {
                                "id": f"V-{len(variants) + 1:06d}",
                                "product_id": pid,
                                "size": size,
                                "colour": colour,
                                "price": max(base + step * kind.size_step * 100, 990),
                                "stock": rng.choice((0, 2, 5, 8, 12, 20, 30, 50, 80, 120)),
                            }
                        )
    return products, variants, reviews


def seed(session: Session) -> None:
    """Insert the catalogue (about 3,000 products) in bulk."""
    products, variants, reviews = build()
    session.execute(insert(Product), products)
    session.execute(insert(Variant), variants)
    session.execute(insert(Review), reviews)


def is_seeded(session: Session) -> bool:
    """Whether the catalogue is already there."""
    return session.scalar(select(Product.id).limit(1)) is not None
