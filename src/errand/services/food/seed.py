"""Deterministic seed data: restaurants in nine cities and their menus.

Everything comes from one `random.Random(SEED)`, so every install sees the same
restaurants at the same prices. Each cuisine has a catalogue of real dishes with
honest dietary and allergen tags; a restaurant serves part of its cuisine's
catalogue at prices set by the city's price level and the restaurant's own.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from errand.services.food.models import MenuItem, Restaurant

SEED = 20261201
"""Seed of the generator; change it and every restaurant changes."""
RESTAURANTS_PER_CITY = 40
"""Restaurants generated in each city."""
ALLERGENS = ("peanut", "shellfish", "dairy", "gluten", "egg", "soy")
"""Allergens every dish is tagged with (or not)."""


@dataclass(frozen=True)
class _City:
    code: str
    name: str
    name_zh: str
    currency: str
    level: float
    """Price level against a Hangzhou restaurant (1.0)."""
    districts: tuple[str, ...]
    cuisines: dict[str, int]
    """Cuisine weights: how common each kind of restaurant is."""


_CN = {"sichuan": 3, "cantonese": 3, "northern": 2, "hunan": 2, "halal": 1, "japanese": 2}
_INTL = {"italian": 1, "thai": 1, "indian": 1, "vegetarian": 1}

CITIES: tuple[_City, ...] = (
    _City(
        "HZ",
        "Hangzhou",
        "杭州",
        "CNY",
        1.0,
        ("Xihu", "Shangcheng", "Gongshu", "Binjiang", "Xiaoshan"),
        _CN | _INTL | {"hangzhou": 6},
    ),
    _City(
        "SH",
        "Shanghai",
        "上海",
        "CNY",
        1.2,
        ("Jing'an", "Xuhui", "Huangpu", "Pudong", "Changning"),
        _CN | _INTL | {"hangzhou": 3, "italian": 3, "japanese": 4},
    ),
    _City(
        "BJ",
        "Beijing",
        "北京",
        "CNY",
        1.15,
        ("Chaoyang", "Haidian", "Dongcheng", "Xicheng", "Fengtai"),
        _CN | _INTL | {"northern": 7, "halal": 2},
    ),
    _City(
        "SZ",
        "Shenzhen",
        "深圳",
        "CNY",
        1.1,
        ("Nanshan", "Futian", "Luohu", "Bao'an", "Longgang"),
        _CN | _INTL | {"cantonese": 6, "hunan": 3},
    ),
    _City(
        "CD",
        "Chengdu",
        "成都",
        "CNY",
        0.9,
        ("Jinjiang", "Wuhou", "Qingyang", "Jinniu", "Chenghua"),
        _CN | _INTL | {"sichuan": 9},
    ),
    _City(
        "SG",
        "Singapore",
        "新加坡",
        "SGD",
        0.3,
        ("Orchard", "Tanjong Pagar", "Bugis", "Tiong Bahru", "Bedok"),
        {
            "singaporean": 8,
            "cantonese": 3,
            "indian": 3,
            "japanese": 2,
            "thai": 2,
            "italian": 2,
            "sichuan": 1,
            "vegetarian": 1,
        },
    ),
    _City(
        "GZ",
        "Guangzhou",
        "广州",
        "CNY",
        1.0,
        ("Tianhe", "Yuexiu", "Haizhu", "Liwan", "Panyu"),
        _CN | _INTL | {"cantonese": 9},
    ),
    _City(
        "XA",
        "Xi'an",
        "西安",
        "CNY",
        0.85,
        ("Beilin", "Lianhu", "Yanta", "Xincheng", "Weiyang"),
        _CN | _INTL | {"halal": 6, "northern": 4},
    ),
    _City(
        "NJ",
        "Nanjing",
        "南京",
        "CNY",
        0.95,
        ("Xuanwu", "Qinhuai", "Gulou", "Jianye", "Qixia"),
        _CN | _INTL | {"hangzhou": 3, "sichuan": 3},
    ),
)

# A dish: name, category, price in whole CNY at level 1.0, tags, allergens, spice, serves.
# Tags: v vegetarian, vg vegan, h halal, gf gluten-free.
_Dish = tuple[str, str, int, str, str, int, int]

_RICE: _Dish = ("Steamed rice 米饭", "side", 3, "v vg h gf", "", 0, 1)
_PLUM: _Dish = ("Sour plum drink 酸梅汤", "drink", 10, "v vg h gf", "", 0, 1)
_SOYMILK: _Dish = ("Chilled soy milk 冰豆浆", "drink", 8, "v vg h gf", "soy", 0, 1)

DISHES: dict[str, tuple[_Dish, ...]] = {
    "sichuan": (
        ("Mapo tofu 麻婆豆腐", "main", 32, "", "soy", 3, 2),
        ("Kung pao chicken 宫保鸡丁", "main", 42, "", "peanut soy", 2, 2),
        ("Twice-cooked pork 回锅肉", "main", 48, "", "soy gluten", 2, 2),
        ("Boiled fish in chili oil 水煮鱼", "main", 88, "", "soy", 3, 3),
        ("Dan dan noodles 担担面", "main", 22, "", "peanut gluten soy", 2, 1),
        ("Dry-fried green beans 干煸四季豆", "side", 28, "v vg gf", "", 1, 2),
        ("Fish-fragrant eggplant 鱼香茄子", "main", 34, "v vg", "soy gluten", 2, 2),
        ("Beef and tripe in chili sauce 夫妻肺片", "starter", 46, "", "peanut soy", 3, 2),
        ("Smashed cucumber 拍黄瓜", "starter", 16, "v vg gf", "", 1, 2),
        ("Chongqing chili chicken 辣子鸡", "main", 58, "", "soy", 3, 2),
        ("Hot and sour glass noodles 酸辣粉", "main", 20, "v vg", "peanut soy", 2, 1),
        ("Brown sugar rice cake 红糖糍粑", "dessert", 22, "v vg gf", "", 0, 2),
        ("Tea-smoked duck 樟茶鸭", "main", 68, "", "soy gluten", 0, 2),
        _RICE,
        _SOYMILK,
    ),
    "cantonese": (
        ("Honey char siu 蜜汁叉烧", "main", 58, "", "soy gluten", 0, 2),
        ("Shrimp dumplings 虾饺", "starter", 32, "", "shellfish gluten", 0, 1),
        ("Siu mai 烧卖", "starter", 28, "", "shellfish gluten", 0, 1),
        ("White cut chicken 白切鸡", "main", 68, "gf", "", 0, 2),
        ("Garlic gai lan 蒜蓉芥兰", "side", 26, "v vg gf", "", 0, 2),
        ("Beef chow fun 干炒牛河", "main", 42, "", "soy gluten", 0, 1),
        ("Wonton noodle soup 云吞面", "main", 28, "", "shellfish gluten egg", 0, 1),
        ("Steamed sea bass 清蒸鲈鱼", "main", 98, "", "soy gluten", 0, 3),
        ("Roast goose 烧鹅", "main", 88, "", "soy", 0, 2),
        ("Mango pomelo sago 杨枝甘露", "dessert", 22, "v gf", "dairy", 0, 1),
        ("Egg tart 蛋挞", "dessert", 8, "v", "egg dairy gluten", 0, 1),
        ("Century egg and pork congee 皮蛋瘦肉粥", "main", 18, "gf", "egg", 0, 1),
        ("Hong Kong milk tea 港式奶茶", "drink", 16, "v gf", "dairy", 0, 1),
        ("Turnip cake 萝卜糕", "starter", 20, "", "shellfish gluten", 0, 2),
        _RICE,
    ),
    "hangzhou": (
        ("West Lake vinegar fish 西湖醋鱼", "main", 78, "", "soy gluten", 0, 3),
        ("Dongpo pork 东坡肉", "main", 58, "", "soy gluten", 0, 2),
        ("Longjing tea shrimp 龙井虾仁", "main", 88, "gf", "shellfish", 0, 2),
        ("Beggar's chicken 叫花鸡", "main", 98, "", "soy gluten", 0, 3),
        ("Braised spring bamboo 油焖春笋", "side", 32, "v vg", "soy gluten", 0, 2),
        ("Sister Song's fish soup 宋嫂鱼羹", "starter", 36, "", "egg soy", 0, 2),
        ("Pian'er chuan noodles 片儿川", "main", 26, "", "gluten soy", 0, 1),
        ("Crispy tofu skin rolls 干炸响铃", "starter", 28, "", "soy gluten", 0, 2),
        ("Osmanthus sticky rice lotus root 桂花糯米藕", "dessert", 22, "v vg gf", "", 0, 2),
        ("Shepherd's purse wontons 荠菜馄饨", "main", 20, "v", "gluten egg soy", 0, 1),
        ("Stir-fried seasonal greens 清炒时蔬", "side", 22, "v vg gf", "", 0, 2),
        ("Longjing green tea 龙井茶", "drink", 18, "v vg h gf", "", 0, 1),
        _RICE,
    ),
    "northern": (
        ("Peking duck, half 北京烤鸭(半只)", "main", 128, "", "gluten soy", 0, 2),
        ("Zhajiang noodles 炸酱面", "main", 26, "", "soy gluten", 0, 1),
        ("Pork and cabbage dumplings 猪肉白菜饺子", "main", 32, "", "gluten", 0, 1),
        ("Egg and chive dumplings 韭菜鸡蛋饺子", "main", 28, "v", "gluten egg", 0, 1),
        ("Scallion pancake 葱油饼", "starter", 12, "v vg", "gluten", 0, 1),
        ("Tomato and egg stir-fry 西红柿炒鸡蛋", "main", 26, "v gf", "egg", 0, 2),
        ("Potato, eggplant and pepper 地三鲜", "main", 28, "v vg", "soy gluten", 0, 2),
        ("Sweet and sour crispy pork 锅包肉", "main", 52, "", "gluten", 0, 2),
        ("Cumin lamb 孜然羊肉", "main", 62, "h", "soy", 2, 2),
        ("Millet congee 小米粥", "side", 8, "v vg h gf", "", 0, 1),
        ("Candied hawthorn 冰糖葫芦", "dessert", 10, "v vg h gf", "", 0, 1),
        _PLUM,
    ),
    "hunan": (
        ("Chairman Mao's braised pork 毛氏红烧肉", "main", 58, "", "soy", 1, 2),
        ("Fish head with chopped chili 剁椒鱼头", "main", 88, "gf", "", 3, 3),
        ("Farmer's stir-fried pork 农家小炒肉", "main", 42, "", "soy", 3, 2),
        ("Stinky tofu 臭豆腐", "starter", 18, "v vg", "soy", 2, 1),
        ("Hand-torn cabbage 手撕包菜", "side", 22, "v vg", "soy", 1, 2),
        ("Spicy crayfish 麻辣小龙虾", "main", 128, "gf", "shellfish", 3, 2),
        ("Changde beef rice noodles 常德牛肉粉", "main", 22, "", "soy", 2, 1),
        ("Preserved egg with green pepper 擂辣椒皮蛋", "starter", 26, "v gf", "egg", 3, 2),
        ("Sugar-coated rice cakes 糖油粑粑", "dessert", 12, "v vg gf", "", 0, 1),
        _RICE,
        _PLUM,
    ),
    "halal": (
        ("Oil-splashed biangbiang noodles 油泼扯面", "main", 24, "v vg h", "gluten soy", 2, 1),
        ("Cured beef roujiamo 腊牛肉夹馍", "main", 18, "h", "gluten", 0, 1),
        ("Lamb paomo soup 羊肉泡馍", "main", 38, "h", "gluten", 0, 1),
        ("Big plate chicken 大盘鸡", "main", 88, "h", "gluten soy", 2, 3),
        ("Lamb pilaf 手抓饭", "main", 42, "h gf", "", 0, 1),
        ("Lamb skewers, five 羊肉串(5串)", "starter", 36, "h gf", "", 1, 2),
        ("Liangpi cold noodles 凉皮", "starter", 14, "v vg h", "gluten soy peanut", 2, 1),
        ("Baked naan 馕", "side", 6, "v vg h", "gluten", 0, 1),
        ("Strained yogurt 老酸奶", "dessert", 12, "v h gf", "dairy", 0, 1),
        _PLUM,
    ),
    "japanese": (
        ("Salmon sashimi 三文鱼刺身", "starter", 68, "gf", "", 0, 2),
        ("Tonkotsu ramen 豚骨拉面", "main", 48, "", "gluten soy egg", 0, 1),
        ("Chicken teriyaki don 照烧鸡肉饭", "main", 42, "", "soy gluten", 0, 1),
        ("Prawn tempura 天妇罗虾", "starter", 46, "", "shellfish gluten egg", 0, 2),
        ("California roll 加州卷", "starter", 38, "", "shellfish egg soy", 0, 2),
        ("Vegetable gyoza 素煎饺", "starter", 26, "v vg", "gluten soy", 0, 2),
        ("Edamame 毛豆", "side", 16, "v vg gf", "soy", 0, 2),
        ("Agedashi tofu 扬出豆腐", "starter", 24, "v", "soy gluten", 0, 2),
        ("Spicy tuna roll 辣金枪鱼卷", "starter", 42, "", "soy egg", 1, 2),
        ("Matcha ice cream 抹茶冰淇淋", "dessert", 22, "v gf", "dairy egg", 0, 1),
        ("Iced green tea 冰绿茶", "drink", 8, "v vg h gf", "", 0, 1),
        _RICE,
    ),
    "italian": (
        ("Margherita pizza", "main", 78, "v", "gluten dairy", 0, 2),
        ("Pepperoni pizza", "main", 88, "", "gluten dairy", 1, 2),
        ("Spaghetti carbonara", "main", 68, "", "gluten dairy egg", 0, 1),
        ("Penne arrabbiata", "main", 58, "v vg", "gluten", 2, 1),
        ("Mushroom risotto", "main", 72, "v gf", "dairy", 0, 1),
        ("Shrimp linguine", "main", 88, "", "shellfish gluten", 1, 1),
        ("Lasagne", "main", 78, "", "gluten dairy egg", 0, 1),
        ("Caesar salad", "starter", 48, "", "dairy egg gluten", 0, 1),
        ("Garden salad", "starter", 38, "v vg gf", "", 0, 1),
        ("Grilled chicken breast", "main", 68, "h gf", "", 0, 1),
        ("Garlic bread", "side", 22, "v", "gluten dairy", 0, 2),
        ("Tiramisu", "dessert", 42, "v", "dairy egg gluten", 0, 1),
        ("Sparkling water", "drink", 12, "v vg h gf", "", 0, 1),
    ),
    "thai": (
        ("Pad thai with shrimp", "main", 58, "gf", "shellfish peanut egg soy", 1, 1),
        ("Green curry chicken", "main", 62, "h gf", "", 2, 1),
        ("Tom yum goong", "main", 68, "gf", "shellfish", 3, 2),
        ("Som tam papaya salad", "starter", 36, "gf", "peanut shellfish", 3, 1),
        ("Pineapple fried rice", "main", 52, "gf", "egg soy", 0, 1),
        ("Vegetable red curry", "main", 48, "v vg gf", "", 2, 1),
        ("Chicken satay", "starter", 42, "h gf", "peanut", 1, 2),
        ("Mango sticky rice", "dessert", 38, "v vg gf", "", 0, 1),
        ("Thai iced tea", "drink", 22, "v gf", "dairy", 0, 1),
        ("Jasmine rice", "side", 5, "v vg h gf", "", 0, 1),
    ),
    "indian": (
        ("Butter chicken", "main", 68, "h gf", "dairy", 1, 1),
        ("Chana masala", "main", 48, "v vg h gf", "", 2, 1),
        ("Palak paneer", "main", 52, "v h gf", "dairy", 1, 1),
        ("Lamb rogan josh", "main", 78, "h gf", "dairy", 2, 1),
        ("Vegetable biryani", "main", 58, "v h gf", "dairy", 2, 1),
        ("Chicken biryani", "main", 68, "h gf", "dairy", 2, 1),
        ("Dal tadka", "main", 42, "v vg h gf", "", 1, 1),
        ("Vegetable samosa", "starter", 24, "v vg h", "gluten", 1, 2),
        ("Garlic naan", "side", 14, "v h", "gluten dairy", 0, 1),
        ("Basmati rice", "side", 10, "v vg h gf", "", 0, 1),
        ("Mango lassi", "drink", 22, "v h gf", "dairy", 0, 1),
    ),
    "vegetarian": (
        ("Buddha's delight 罗汉斋", "main", 38, "v vg", "soy gluten", 0, 2),
        ("Mock char siu 素叉烧", "main", 36, "v vg", "soy gluten", 0, 2),
        ("Mushroom and tofu claypot 菌菇豆腐煲", "main", 46, "v vg gf", "soy", 1, 2),
        ("Vegetable spring rolls 素春卷", "starter", 18, "v vg", "gluten soy", 0, 2),
        ("Shiitake with greens 香菇菜心", "side", 28, "v vg", "soy gluten", 0, 2),
        ("Kung pao tofu 宫保豆腐", "main", 34, "v vg", "peanut soy", 2, 2),
        ("Pumpkin congee 南瓜粥", "side", 12, "v vg h gf", "", 0, 1),
        ("Vegetable fried rice 素炒饭", "main", 24, "v", "egg soy", 0, 1),
        ("Red bean soup 红豆沙", "dessert", 14, "v vg h gf", "", 0, 1),
        _SOYMILK,
    ),
    "singaporean": (
        ("Hainanese chicken rice 海南鸡饭", "main", 22, "gf", "soy", 0, 1),
        ("Laksa 叻沙", "main", 26, "", "shellfish egg", 2, 1),
        ("Char kway teow 炒粿条", "main", 24, "", "shellfish egg soy", 1, 1),
        ("Chilli crab 辣椒螃蟹", "main", 228, "", "shellfish egg gluten", 2, 3),
        ("Nasi lemak 椰浆饭", "main", 22, "h", "peanut egg", 1, 1),
        ("Satay, ten sticks 沙爹", "starter", 36, "h gf", "peanut", 1, 2),
        ("Roti prata 印度煎饼", "main", 12, "v h", "gluten dairy egg", 0, 1),
        ("Kaya toast 咖椰吐司", "dessert", 10, "v", "gluten egg dairy", 0, 1),
        ("Bak kut teh 肉骨茶", "main", 32, "", "soy gluten", 1, 1),
        ("Fried carrot cake 菜头粿", "main", 18, "v", "egg soy", 0, 1),
        ("Popiah 薄饼", "starter", 14, "", "peanut shellfish gluten", 0, 1),
        ("Sambal kangkong 参巴空心菜", "side", 18, "gf", "shellfish", 2, 2),
        ("Mee goreng 马来炒面", "main", 22, "h", "egg gluten soy", 2, 1),
        ("Chendol 煎蕊", "dessert", 12, "v vg h gf", "", 0, 1),
        ("Teh tarik 拉茶", "drink", 8, "v h gf", "dairy", 0, 1),
    ),
}

_LABEL = {
    "sichuan": ("Sichuan", "川菜"),
    "cantonese": ("Cantonese", "粤菜"),
    "hangzhou": ("Hangzhou", "杭帮菜"),
    "northern": ("Beijing", "京味"),
    "hunan": ("Hunan", "湘菜"),
    "halal": ("Halal", "清真"),
    "japanese": ("Japanese", "日料"),
    "italian": ("Italian", ""),
    "thai": ("Thai", ""),
    "indian": ("Indian", ""),
    "vegetarian": ("Vegetarian", "素食"),
    "singaporean": ("Hawker", ""),
}
_PREFIX = (
    "Golden",
    "Old Town",
    "Jade",
    "Red Lantern",
    "Lucky",
    "Bamboo",
    "Lotus",
    "Riverside",
    "Family",
    "Grandma's",
    "Happy",
    "Silver Spoon",
    "Corner",
    "Harbour",
    "Green Leaf",
)
_SUFFIX = ("Kitchen", "House", "Bistro", "Diner", "Eatery", "Canteen", "Garden")
# Opening hours (open, close) in minutes after midnight, with weights.
_HOURS = (((600, 1320), 6), ((660, 1380), 4), ((540, 1290), 2), ((1020, 1560), 2), ((420, 840), 1))
_FEES = {"CNY": (0, 300, 500, 600, 800), "SGD": (0, 199, 299, 399, 499)}
_MIN_ORDER = {"CNY": (2000, 3000, 4000, 5000, 8000, 10000), "SGD": (1000, 1500, 2000, 3000, 4000)}


def _price(rng: random.Random, base: int, level: float, currency: str) -> int:
    """A menu price in minor units: whole yuan in China, ten-cent steps in Singapore."""
    raw = base * level * 100
    step = 100 if currency == "CNY" else 10
    return max(step, round(raw / step) * step)


def build_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every restaurant and menu item as plain dicts, the same on every call."""
    rng = random.Random(SEED)
    restaurants: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    item_id = 0
    for c in CITIES:
        kinds = list(c.cuisines)
        weights = [c.cuisines[k] for k in kinds]
        for n in range(1, RESTAURANTS_PER_CITY + 1):
            cuisine = rng.choices(kinds, weights)[0]
            en, zh = _LABEL[cuisine]
            name = f"{rng.choice(_PREFIX)} {en} {rng.choice(_SUFFIX)}" + (f" {zh}" if zh else "")
            (open_min, close_min) = rng.choices([h for h, _ in _HOURS], [w for _, w in _HOURS])[0]
            rid = f"{c.code}-R{n:03d}"
            level = c.level * min(max(rng.gauss(1.0, 0.15), 0.75), 1.5)
            restaurants.append(
                {
                    "id": rid,
                    "city": c.name,
                    "city_zh": c.name_zh,
                    "district": rng.choice(c.districts),
                    "name": name,
                    "cuisine": cuisine,
                    "rating": round(min(max(rng.gauss(4.3, 0.3), 3.2), 4.9), 1),
                    "reviews": rng.randint(40, 6000),
                    "open_min": open_min,
                    "close_min": close_min,
                    "delivery_min": rng.randrange(20, 60, 5),
                    "delivery_fee": rng.choice(_FEES[c.currency]),
                    "min_order": rng.choice(_MIN_ORDER[c.currency]),
                    "currency": c.currency,
                }
            )
            catalogue = DISHES[cuisine]
            chosen = sorted(
                rng.sample(range(len(catalogue)), rng.randint(len(catalogue) - 4, len(catalogue)))
            )
            for i in chosen:
                dish, category, base, tags, allergens, spice, serves = catalogue[i]
                item_id += 1
                t = set(tags.split())
                items.append(
                    {
                        "id": item_id,
                        "restaurant_id": rid,
                        "name": dish,
                        "category": category,
                        "price": _price(rng, base, level * rng.uniform(0.95, 1.05), c.currency),
                        "currency": c.currency,
                        "serves": serves,
                        "vegetarian": "v" in t,
                        "vegan": "vg" in t,
                        "halal": "h" in t,
                        "gluten_free": "gf" in t,
                        "allergens": "," + "".join(a + "," for a in allergens.split()),
                        "spice": spice,
                        "stock_left": rng.randint(3, 20) if rng.random() < 0.05 else None,
                    }
                )
    return restaurants, items


def seed(session: Session) -> None:
    """Insert the seed rows in bulk; the caller owns the transaction."""
    restaurants, items = build_rows()
    session.execute(insert(Restaurant), restaurants)
    session.execute(insert(MenuItem), items)


def is_seeded(session: Session) -> bool:
    """Whether the restaurants are already there."""
    return bool(session.scalar(select(func.count()).select_from(Restaurant)))
