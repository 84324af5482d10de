"""Real estate: homes for sale in six cities, their schools, prices and viewings."""

from errand.services import Domain
from errand.services.realestate.seed import is_seeded, seed
from errand.services.realestate.tools import TOOLS

DOMAIN = Domain(
    name="realestate",
    description="Homes for sale: search, compare, value ranking, price trends, mortgages, viewings.",
    keywords=(
        "home",
        "homes",
        "house",
        "flat",
        "apartment",
        "condo",
        "listing",
        "property",
        "real estate",
        "mortgage",
        "bedroom",
        "school",
        "neighbourhood",
        "neighborhood",
        "price per m2",
        "viewing",
        "房",
        "房子",
        "公寓",
        "买房",
        "学区",
        "房贷",
        "小区",
        "二手房",
        "房价",
        "卧室",
        "看房",
        "居室",
        "几室",
        "室一厅",
        "室两厅",
        "学校",
        "首付",
        "月供",
        "楼盘",
        "住宅",
        "平米",
        "房源",
        "性价比",
    ),
    tools=TOOLS,
    seed=seed,
    is_seeded=is_seeded,
    tables=(
        "re_cities",
        "re_neighbourhoods",
        "re_schools",
        "re_listings",
        "re_price_history",
        "re_viewings",
    ),
)
"""The real-estate domain as `errand.services.builtin_domains` lists it."""

__all__ = ["DOMAIN"]
