"""Numbers in answers and arguments must come from the request or a tool result."""

from __future__ import annotations

from typing import Annotated

from typing_extensions import TypedDict

from errand.agent import Agent
from errand.agent.dates import time_limits
from errand.agent.events import ToolCallStarted
from errand.agent.grounding import (
    ground_arguments,
    known_numbers,
    limits_in,
    numbers_in,
    orient_limits,
    orient_times,
    unverified_in,
    unverified_numbers,
)
from errand.llm.scripted import ScriptedModel, call
from errand.tools import AsAsked, FromResults, FromUser, ToolRegistry, tool


def test_numbers_in_reads_units_words_and_chinese() -> None:
    values = [
        v for _, v in numbers_in("5.8M, 5,800,000, 580万, 1.2亿, three rooms, 三居室, 9分以上, 预算600万以内")
    ]
    # "5.8M" reads as 5.8 million or 5.8 metres: an answer is grounded by either reading
    assert values == [5_800_000, 5.8, 5_800_000, 5_800_000, 120_000_000, 3, 3, 9, 6_000_000]


def test_a_time_limit_goes_to_the_parameter_of_its_kind() -> None:
    """ "need to be in beijing by 2pm" was searched as depart_after 14:00 (a dev run): only
    flights landing too late matched. The time the user gave as a limit moves to its parameter."""
    props = {
        "properties": {n: {"type": "string"} for n in ("depart_after", "depart_before", "arrive_before")}
    }
    by_two = time_limits("need to be in beijing by 2pm")
    assert orient_times({"depart_after": "14:00", "date": "2026-12-05"}, props, by_two) == (
        {"arrive_before": "14:00", "date": "2026-12-05"},
        ["depart_after=14:00 is used as arrive_before"],
    )
    after_ten = time_limits("I can't leave before 10:00")
    assert orient_times({"depart_before": "10:00"}, props, after_ten)[0] == {"depart_after": "10:00"}
    # a time the user did not give as a limit, or a tool without the parameter: left alone
    assert orient_times({"depart_after": "09:00"}, props, by_two)[0] == {"depart_after": "09:00"}
    assert orient_times({"depart_after": "14:00"}, {"properties": {}}, by_two)[0] == {"depart_after": "14:00"}


def test_a_duration_states_its_minutes() -> None:
    """A train's "0h55m" grounds "55 minutes", and "1h05m" grounds "65 minutes" (a dev run's
    fastest train was sent back as ungrounded and the model then searched for flights)."""
    known = known_numbers(['{"duration": "0h55m"}', '{"duration": "1h05m"}'])
    assert unverified_in("G16 is the fastest: 55 minutes; G14 takes 65 minutes", known) == []
    assert unverified_in("It takes 75 minutes", known) == ["75"]


def test_metres_and_kilometres_are_not_millions() -> None:
    """ "within 500m of the metro" keeps its filter, and "1,360 m" quoting a result is grounded."""
    known = known_numbers(["within 500m of the metro, school 1.2km away"])
    assert ground_arguments({"max_metro_distance_m": 500}, {"properties": {}}, known) == (
        {"max_metro_distance_m": 500},
        [],
    )
    assert (
        unverified_in("1,360 m from the metro, 2公里 to school", known_numbers(['{"m": 1360, "s": 2000}']))
        == []
    )
    assert unverified_in("HZ-1 is 1.2 km from school", known) == []
    # a time of day is a filter only when the user gave its hour
    asked = known_numbers(["the fastest train after 7pm"])
    assert ground_arguments(
        {"depart_after": "19:00", "depart_before": "23:00"}, {"properties": {}}, asked
    ) == (
        {"depart_after": "19:00"},
        ["depart_before=23:00"],
    )
    # an argument is the user's own figure: 500 metres do not ground a rating of 5 (500 fen)
    assert ground_arguments({"min_school_rating": 5}, {"properties": {}}, known) == (
        {},
        ["min_school_rating=5"],
    )
    assert unverified_in("it costs 5.9M", known_numbers(['{"price": 5800000}'])) == ["5.9M"]


def test_a_refusal_states_figures_an_answer_may_repeat() -> None:
    known = known_numbers(["Error from buy_product: the payment of 321.00 CNY is short by 201.00 CNY."])
    assert unverified_in("You are 201.00 CNY short of the 321.00 CNY price.", known) == []


def test_ids_are_not_figures_and_dates_state_their_parts() -> None:
    assert [v for _, v in numbers_in("HZ-00042")] == []
    assert [v for _, v in numbers_in("on 2026-12-02")] == [2026, 12, 2]
    assert [v for _, v in numbers_in("2026-11-29T11:16:00+09:00")][:5] == [2026, 11, 29, 11, 16]
    # "November 29, 2026" restates a date a tool gave as 2026-11-29: not an invented figure
    assert (
        unverified_numbers(
            "Tokyo: 11:16 AM on November 29, 2026", ['{"datetime": "2026-11-29T11:16:00+09:00"}']
        )
        == []
    )


def test_unverified_numbers_tolerate_formatting_and_flag_inventions() -> None:
    source = '{"price": 5230000, "monthly_payment": 18234, "change_pct": -1.4, "price_fen": 523000000}'
    assert unverified_numbers("5.23M CNY, 18,234 a month, down 1.4%", [source]) == []
    assert unverified_numbers("about 19,999 a month", [source]) == ["19,999"]


def test_optional_numbers_nobody_stated_are_dropped() -> None:
    params = {
        "required": ["city"],
        "properties": {
            "city": {},
            "max_price": {},
            "min_area": {},
            "limit": {"default": 5},
            "sort": {"enum": [1, 2]},
        },
    }
    known = known_numbers(["3-bedroom in Hangzhou under 6 million"])
    args, dropped = ground_arguments(
        {"city": "Hangzhou", "max_price": 6_000_000, "min_area": 0, "limit": 5, "sort": 2}, params, known
    )
    assert args == {"city": "Hangzhou", "max_price": 6_000_000, "limit": 5, "sort": 2}
    assert dropped == ["min_area=0"]
    # "no filter" written out is no filter: "dish": "无" found no restaurant at all
    args, _ = ground_arguments(
        {"city": "上海", "cuisine": "川菜", "dish": "无", "avoid": ["None", "peanut"], "diet": ["any"]},
        params,
        known,
    )
    assert args == {"city": "上海", "cuisine": "川菜", "avoid": ["peanut"]}


async def test_the_loop_drops_invented_filters_and_says_so() -> None:
    seen: list[dict[str, object]] = []

    @tool
    def find(city: str, max_price: int | None = None, max_metro_m: int | None = None) -> dict[str, int]:
        """Find homes."""
        seen.append({"max_price": max_price, "max_metro_m": max_metro_m})
        return {"count": 1}

    model = ScriptedModel([call("find", city="Chengdu", max_price=2_000_000, max_metro_m=0), "ok"])
    events = [e async for e in Agent(model, ToolRegistry([find])).stream("flats in Chengdu under 2 million")]
    assert seen == [{"max_price": 2_000_000, "max_metro_m": None}]
    started = next(e for e in events if isinstance(e, ToolCallStarted))
    assert started.arguments == {"city": "Chengdu", "max_price": 2_000_000}
    observation = model.requests[1][0][-1].text
    assert "max_metro_m=0" in observation and "did not give" in observation


async def test_an_optional_filter_only_the_user_sets_is_dropped_when_they_did_not_set_it() -> None:
    """dev wl-u-all-balances: "wallet bal? all currencies pls" was asked as
    ``wallet_balance(currency="CNY")`` and answered with one currency (three dev tasks)."""
    seen: list[object] = []

    @tool
    def balance(currency: Annotated[str | None, FromUser("the currency")] = None) -> dict[str, int]:
        """Balances."""
        seen.append(currency)
        return {"CNY": 1, "SGD": 2}

    for said, kept in (("wallet bal? all currencies pls", None), ("how much SGD do I have", "SGD")):
        model = ScriptedModel([call("balance", currency=kept or "CNY"), "ok"])
        await Agent(model, ToolRegistry([balance])).run(said)
        assert seen.pop() == kept
        told = model.requests[1][0][-1].text
        assert ("currency=CNY is dropped" in told) == (kept is None)


def test_a_signed_amount_states_its_number_but_an_id_does_not() -> None:
    known = known_numbers(['{"amount": "-749.95 CNY", "id": "PAY-000123"}'])
    assert unverified_in("You paid 749.95 CNY.", known) == []
    assert unverified_in("Payment 123 went through.", known) == ["123"]


def test_limits_say_which_end_of_a_range_the_user_meant() -> None:
    assert limits_in("新加坡150万新元以内的两居室") == {1_500_000: "high"}
    assert limits_in("3-bedroom in Suzhou under 4 million") == {4_000_000: "high"}
    assert limits_in("rated at least 4.5, no more than 800 a night") == {4.5: "low", 800: "high"}
    assert limits_in("总共别超过2000，评分4.5以上") == {2000: "high", 4.5: "low"}
    assert limits_in("no less than 3 bedrooms, 超过2000的") == {3: "low", 2000: "low"}
    assert limits_in("离地铁500米内") == {500: "high"}  # "500米" is metres only
    assert limits_in("between 2M and 3M, 5000 budget?") == {}  # no limit word: no side taken


def test_a_limit_written_at_the_wrong_end_is_moved() -> None:
    params = {"properties": {"min_price": {}, "max_price": {}, "min_rating": {}}}
    limits = limits_in("两居室，150万以内，评分至少4")
    assert orient_limits({"min_price": 1_500_000}, params, limits) == (
        {"max_price": 1_500_000},
        ["min_price=1500000 is used as max_price"],
    )
    # "under 3M" written as min=max=3M: one range end, the right one
    assert orient_limits({"min_price": 1_500_000, "max_price": 1_500_000}, params, limits)[0] == {
        "max_price": 1_500_000
    }
    # a figure at its own end, a parameter with no other end, or a number given as no limit: kept
    assert orient_limits({"max_price": 1_500_000, "min_rating": 4}, params, limits)[1] == []
    assert orient_limits({"min_price": 2_000_000}, params, limits)[1] == []


async def test_the_loop_searches_under_the_limit_the_user_gave() -> None:
    seen: list[dict[str, object]] = []

    @tool
    def find(city: str, min_price: int | None = None, max_price: int | None = None) -> dict[str, int]:
        """Find homes."""
        seen.append({"min_price": min_price, "max_price": max_price})
        return {"count": 3}

    model = ScriptedModel([call("find", city="Singapore", min_price=1_500_000), "3"])
    await Agent(model, ToolRegistry([find])).run("新加坡150万新元以内的两居室有多少套？")
    assert seen == [{"min_price": None, "max_price": 1_500_000}]
    assert "min_price=1500000 is used as max_price" in model.requests[1][0][-1].text


def test_food_filters_the_model_filled_in_are_dropped_in_either_language() -> None:
    """dev food runs: the 1.5B filled every optional filter of ``search_restaurants`` and
    ``get_menu`` (a cuisine, all six allergens, ``vegetarian``, ``max_spice: 0``, ``open_at``
    "12:00" from the "12" of "12 Keyuan Road"), so the search found nothing or the menu hid the
    dish asked for. A filter stays only where the user said it, in any of the service's words."""
    from errand.agent.grounding import unsaid_filters
    from errand.services.food.ordering import place_order
    from errand.services.food.search import get_menu, search_restaurants

    def kept(tool: object, said: str, **arguments: object) -> dict[str, object]:
        out, _ = unsaid_filters(arguments, tool.parameters, tool.provenance, [said])  # type: ignore[attr-defined]
        return out

    filled = {
        "city": "Shenzhen",
        "cuisine": "sichuan",
        "exclude_allergens": ["peanut", "shellfish", "dairy", "gluten", "egg", "soy"],
        "vegetarian": True,
        "open_at": "12:00",
    }
    assert kept(search_restaurants, "dinner for two to 12 Keyuan Road, shenzhen", **filled) == {
        "city": "Shenzhen"
    }
    assert kept(
        search_restaurants, "我对花生过敏，想吃川菜，晚上7点还开着的", **filled | {"open_at": "19:00"}
    ) == {
        "city": "Shenzhen",
        "cuisine": "sichuan",
        "exclude_allergens": ["peanut"],
        "open_at": "19:00",
    }
    assert kept(search_restaurants, "szechuan, vegan, no seafood, open now", **filled) == {
        "city": "Shenzhen",
        "cuisine": "sichuan",
        "exclude_allergens": ["shellfish"],
        "vegetarian": True,
        "open_at": "12:00",
    }
    # "nut" is not the one in "minutes"; a flag that is off filters nothing and stays
    assert kept(get_menu, "within 30 minutes pls", restaurant_id="SZ-R001", exclude_allergens=["nuts"]) == {
        "restaurant_id": "SZ-R001"
    }
    assert kept(search_restaurants, "anything", city="Shenzhen", vegetarian=False) == {
        "city": "Shenzhen",
        "vegetarian": False,
    }
    assert kept(get_menu, "不要太辣", restaurant_id="SZ-R001", max_spice=1) == {
        "restaurant_id": "SZ-R001",
        "max_spice": 1,
    }
    assert kept(get_menu, "Order a Chilli crab, 辣子鸡 too", restaurant_id="SZ-R001", max_spice=0) == {
        "restaurant_id": "SZ-R001"
    }  # a dish's own chilli is no limit on heat (dev fd-insufficient-funds-erin)
    assert kept(get_menu, "the menu of SZ-R001", restaurant_id="SZ-R001", max_spice=0) == {
        "restaurant_id": "SZ-R001"
    }
    assert kept(
        get_menu, "SZ-R023的白切鸡一份", restaurant_id="SZ-R023", dishes=["白切鸡", "roast goose"]
    ) == {
        "restaurant_id": "SZ-R023",
        "dishes": ["白切鸡"],
    }
    # the same words hold an order: no allergen refusal, no delivery time nobody asked for
    order = {
        "restaurant_id": "SZ-R023",
        "items": [{"item_id": 1, "quantity": 1}],
        "address": "12 Keyuan Road",
    }
    filler = {"deliver_at": "12:00", "exclude_allergens": ["egg", "soy"]}
    assert kept(place_order, "one rice from SZ-R023 to 12 Keyuan Road", **order, **filler) == order
    assert kept(place_order, "right now please", **order, deliver_at="12:00") == order  # "now" is no time
    assert kept(
        place_order,
        "明天中午12点送到科苑路12号，不要鸡蛋",
        **order,
        **filler | {"deliver_at": "2026-12-07 12:00"},
    ) == (order | {"deliver_at": "2026-12-07 12:00", "exclude_allergens": ["egg"]})


class Line(TypedDict):
    item_id: Annotated[int, FromResults("item_id", typed=False)]
    quantity: Annotated[int, AsAsked("quantity_asked", row="item_id")]


async def test_an_order_line_takes_the_count_the_menu_read_from_the_user() -> None:
    """dev fd-u-tomorrow-lunch-zh: "白切鸡一份、烧卖两份" was ordered as one 烧卖 and two 白切鸡,
    though the menu had marked each dish with the count asked. A line's ``quantity`` is declared
    `AsAsked`, so the count the result read for that dish is the one ordered, and the model is told."""
    ordered: list[list[Line]] = []

    @tool
    def menu(dishes: list[str]) -> dict[str, object]:
        """A menu."""
        return {
            "items": [
                {"item_id": 1528, "quantity_asked": 1},
                {"item_id": 1529, "quantity_asked": 2},
                {"item_id": 7},
            ]
        }

    @tool
    def order(items: list[Line]) -> dict[str, str]:
        """Order."""
        ordered.append(items)
        return {"order_id": "FO-000001"}

    swapped = [
        {"item_id": 1528, "quantity": 2},
        {"item_id": 1529, "quantity": 1},
        {"item_id": 7, "quantity": 3},
    ]
    model = ScriptedModel(
        [call("menu", dishes=["白切鸡一份", "烧卖两份"]), call("order", items=swapped), "ok"]
    )
    await Agent(model, ToolRegistry([menu, order])).run("白切鸡一份、烧卖两份")
    assert ordered == [
        [{"item_id": 1528, "quantity": 1}, {"item_id": 1529, "quantity": 2}, {"item_id": 7, "quantity": 3}]
    ]
    told = model.requests[2][0][-1].text
    assert "items[0].quantity=2 is set to 1" in told and "items[2]" not in told


async def test_a_measure_is_not_a_price() -> None:
    """dev sh-u-cheapest-20000mah: "cheapest 20000mah power bank" was searched with
    ``max_price=20000``. A number the user wrote only with a unit of measure against it is no
    price limit; one also written as money (or bare, or after a space) still is."""
    from errand.agent.grounding import measured_only

    assert measured_only("cheapest 20000mah power bank u got? how much") == {20000.0}
    assert measured_only("256GB phone under 3000") == {256.0}
    for said in (
        "20000mah under 20000",
        "3-bedroom under 5 million",
        "hotel under 400 a night",
        "3k budget, 5m",
    ):
        assert not measured_only(said) - {5.0}, said
    seen: list[object] = []

    @tool
    def search(query: str, max_price: int | None = None, min_capacity: int | None = None) -> dict[str, int]:
        """Find products."""
        seen.append((max_price, min_capacity))
        return {"count": 1}

    for said, price in (("cheapest 20000mah power bank?", None), ("20000mah power bank under 200", 200)):
        model = ScriptedModel(
            [call("search", query="power bank", max_price=price or 20000, min_capacity=20000), "ok"]
        )
        await Agent(model, ToolRegistry([search])).run(said)
        assert seen.pop() == (price, 20000)


async def test_a_search_filter_is_a_number_the_user_gave_not_one_a_result_holds() -> None:
    """dev tr-weekend-hangzhou-600: "the cheapest hotel" was searched with ``min_rating: 4``,
    kept because a train result held a 4, and the cheapest hotel (rated 3.8) was hidden. A
    search's ``min_``/``max_`` filter must be a number the user stated; a figure taken from a
    result, or a filter with words of its own ("不要太辣"), is not judged so."""
    seen: list[object] = []

    @tool
    def trains(city: str) -> dict[str, object]:
        """Trains."""
        return {"options": [{"train": "G16", "stops": 4, "price": 107}]}

    @tool
    def hotels(
        city: str,
        min_rating: float | None = None,
        max_spice: Annotated[int | None, FromUser("how spicy", said_as=lambda v: ("不要太辣",))] = None,
        nights: int = 1,
    ) -> dict[str, int]:
        """Hotels."""
        seen.append((min_rating, max_spice, nights))
        return {"count": 1}

    reg = ToolRegistry([trains, hotels])
    for said, rating in (
        ("cheapest hotel in hangzhou, 不要太辣", None),
        ("hotel rated 4 or more in hangzhou, 不要太辣", 4),
    ):
        model = ScriptedModel(
            [
                call("trains", city="Hangzhou"),
                call("hotels", city="Hangzhou", min_rating=4, max_spice=1, nights=4),
                "ok",
            ]
        )
        await Agent(model, reg).run(said)
        assert seen.pop() == (rating, 1, 4)  # nights is no filter: a result's figure may fill it


def test_a_filter_of_fixed_choices_the_user_named_and_the_model_left_out_is_set() -> None:
    """dev wl-u-priciest-food-week-zh: "这周…外卖…哪一单最贵" was asked of the history with no
    period, so the run read ten rows and named the first. The user's words name one choice of
    each filter, in the service's own table; two choices named, or none, set nothing."""
    from errand.agent.grounding import ground_calls
    from errand.llm.types import ToolCall
    from errand.services import builtin_registry

    registry = builtin_registry()

    def grounded(said: str, **arguments: object) -> dict[str, object]:
        calls = [ToolCall(id="c1", name="transaction_history", arguments=dict(arguments))]
        out, _ = ground_calls(calls, registry, set(), said=[said])
        return out[0].arguments

    assert grounded("这周钱包里外卖消费哪一单最贵？多少钱") == {
        "kind": "payment",
        "service": "food",
        "period": "this_week",
    }
    assert grounded("did the refund for my cancelled train come in?") == {
        "kind": "refund",
        "service": "travel",
    }
    assert grounded("compare this week with last week") == {}  # two periods named: the model's call
    # dev sh-u-gift-toothbrush: an electric toothbrush searched in "shoes" found nothing
    calls = [
        ToolCall(id="c1", name="search_products", arguments={"query": "toothbrush", "category": "shoes"})
    ]
    assert ground_calls(calls, registry, set(), said=["electric toothbrush under 200"])[0][0].arguments == {
        "query": "toothbrush"
    }
    calls = [ToolCall(id="c1", name="search_products", arguments={"query": "running shoes"})]
    assert ground_calls(calls, registry, set(), said=["跑步鞋"])[0][0].arguments["category"] == "shoes"
    assert grounded("show my transactions", period="today") == {}  # and one the user never said goes
