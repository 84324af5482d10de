"""Where an argument may come from, declared on the parameter and read generically."""

from __future__ import annotations

from typing import Annotated

from errand.tools import FromResults, FromUser, tool
from errand.tools.provenance import (
    ids_in_result,
    ids_in_text,
    not_as_asked,
    said_by_user,
    unknown_ids,
    unsaid,
)


@tool(risk="payment")
def book(
    option_id: Annotated[str, FromResults("option_id")],
    passengers: Annotated[list[str], FromUser("the passengers' names")],
    note: str = "",
) -> str:
    """Book an option."""
    return "ok"


def test_the_tool_reads_provenance_from_its_annotations() -> None:
    assert book.provenance == {
        "option_id": FromResults("option_id"),
        "passengers": FromUser("the passengers' names"),
    }
    assert book.parameters["properties"]["option_id"] == {"type": "string"}  # the prompt is unchanged


def test_ids_come_from_the_declared_keys_and_the_users_tokens() -> None:
    result = {
        "options": [{"option_id": "G16-20261205-second", "train": "G16"}],
        "title": "HZ-00088 by Li Lei",
    }
    assert ids_in_result(result, ("option_id",)) == {"G16-20261205-second"}
    assert ids_in_text("cancel bk-000001 and book G16 on 2026-12-05") >= {"bk-000001", "G16"}
    # a number with its unit or noun is a quantity, never an id a write may take
    assert ids_in_text("the cheapest 3-bedroom, 500m from the metro, 2br, on the 7th") == set()


def test_decode_time_constraint_follows_what_is_known() -> None:
    nothing = book.spec_within(lambda source: set())
    assert not nothing.callable and nothing.to_openai() == book.spec().to_openai()
    known = book.spec_within(lambda source: {"G16-20261205-second"})
    assert known.callable
    assert known.decode_parameters is not None
    assert known.decode_parameters["properties"]["option_id"]["enum"] == ["G16-20261205-second"]


def test_names_and_addresses_must_be_the_users_own_words() -> None:
    said = ["Book it for li na and Wang Fang, deliver to 12 Keyuan Rd, Nanshan"]
    assert said_by_user("Li Na", said) and said_by_user("12 keyuan rd nanshan", said)
    assert not said_by_user("John Doe", said) and not said_by_user("", said)
    assert unsaid({"passengers": ["Li Na", "Lei Li"]}, book.provenance, said) == ["Lei Li"]
    assert unknown_ids({"option_id": "X-1"}, book.provenance, {"x-2"}) == ["option_id='X-1'"]
    assert unknown_ids({"option_id": "g16-20261205-SECOND"}, book.provenance, {"G16-20261205-second"}) == []


def test_every_built_in_id_a_write_or_a_lookup_takes_is_declared() -> None:
    """A lookup of an invented listing, dish, product or order id is refused before it is
    generated (the 1.5B asked the status of FO-000042, its description's example id)."""
    from errand.services import builtin_registry

    registry = builtin_registry()
    for name, param in [
        ("get_listing", "listing_id"),
        ("compare_listings", "listing_ids"),
        ("mortgage_estimate", "listing_id"),
        ("get_menu", "restaurant_id"),
        ("get_product", "product_id"),
        ("get_trip_option", "option_id"),
        ("request_viewing", "listing_id"),
        ("buy_product", "variant_id"),
        ("order_status", "order_id"),
        ("shop_order_status", "order_id"),
    ]:
        t = registry.get(name)
        assert t is not None and isinstance(t.provenance.get(param), FromResults), name
        required = param in t.parameters.get("required", ())
        assert t.spec_within(lambda source: set()).callable is not required, name


def test_a_typed_token_is_an_id_only_where_it_has_the_ids_shape() -> None:
    """ "Book the cheapest hotel from 2026-12-12" named no hotel: the 1.5B booked hotel
    '2026-12-12' before searching, because the date was allowed as a typed id."""
    from errand.agent.state import RunState
    from errand.services import builtin_registry

    book_hotel = builtin_registry().get("book_hotel")
    assert book_hotel is not None
    state = RunState(
        run_id="r", loose_ids=ids_in_text("cheapest hotel in Chengdu from 2026-12-12, or H-CD01")
    )
    assert state.ids_for(book_hotel) == {"H-CD01"}
    spec = book_hotel.spec_within(state.ids)
    assert spec.decode_parameters is not None
    assert spec.decode_parameters["properties"]["hotel_id"]["enum"] == ["H-CD01"]
    state.loose_ids = ids_in_text("the cheapest hotel in Chengdu from 2026-12-12")
    assert not book_hotel.spec_within(state.ids).callable  # search first: no hotel is known yet


def test_an_id_of_the_declared_shape_in_any_result_is_known() -> None:
    """A duplicate charge's order is named only in the payment's memo: its status may be asked."""
    from errand.agent.state import RunState
    from errand.services import builtin_registry

    status = builtin_registry().get("order_status")
    assert status is not None
    state = RunState(
        run_id="r", results=[{"payments": [{"memo": "Order FO-000001 at Green Leaf", "id": "PAY-1"}]}]
    )
    assert state.ids_for(status) == {"FO-000001"}
    assert not status.spec_within(RunState(run_id="r").ids).callable


def test_a_dish_is_ordered_by_an_item_id_a_menu_returned() -> None:
    """The 1.5B placed orders of item 1, 1001 and 12345 before reading any menu."""
    from errand.agent.state import RunState
    from errand.services import builtin_registry

    place_order = builtin_registry().get("place_order")
    assert place_order is not None and isinstance(place_order.provenance["items.item_id"], FromResults)
    # the "88" of an address is no dish: a user cannot know a menu's numbers (dev
    # fd-sold-out-dish ordered item 88 before reading the menu, and was refused)
    state = RunState(run_id="r", loose_ids=ids_in_text("order Dongpo pork from HZ-R005 to 88 Wensan Road"))
    assert not place_order.spec_within(state.ids).callable  # no menu read: no dish to name
    state.results.append({"id": "HZ-R005", "items": [{"item_id": 57, "name": "Dongpo pork"}]})
    spec = place_order.spec_within(state.ids)
    assert spec.callable and spec.decode_parameters is not None
    assert spec.decode_parameters["$defs"]["OrderItem"]["properties"]["item_id"]["enum"] == [57]
    order = {
        "restaurant_id": "HZ-R005",
        "items": [{"item_id": 57, "quantity": 1}, {"item_id": 1, "quantity": 2}],
    }
    assert unknown_ids(order, place_order.provenance, state.ids_for(place_order)) == ["items.item_id=1"]


def test_a_list_of_ids_is_no_longer_than_the_ids_known() -> None:
    """The 0.5B wrote compare_listings(listing_ids=[...]) with one id repeated until its tokens
    ran out, cutting the last one to 'HZ-000'."""
    from errand.services import builtin_registry

    compare = builtin_registry().get("compare_listings")
    assert compare is not None
    spec = compare.spec_within(lambda source: {"HZ-00011", "HZ-00183"})
    assert spec.decode_parameters is not None
    assert spec.decode_parameters["properties"]["listing_ids"]["maxItems"] == 2


def test_a_filter_value_is_said_in_the_words_its_tool_declares() -> None:
    from errand.tools import FromUser
    from errand.tools.provenance import says_any

    assert says_any(["nut"], ["no nuts please"]) and not says_any(["nut"], ["in 20 minutes"])
    assert says_any(["vegan"], ["我要vegan的"]) and says_any(["川菜"], ["想吃川菜"])
    assert not says_any(["egg"], ["eggplant with rice"]) and not says_any([], ["anything"])
    cuisine = FromUser("the cuisine", said_as=lambda v: {"sichuan": ("川菜", "szechuan")}.get(v, ()))
    assert cuisine.said_in("sichuan", ["来点川菜"]) and cuisine.said_in("sichuan", ["Sichuan please"])
    assert not cuisine.said_in("sichuan", ["dinner for two"]) and not cuisine.said_in("hunan", ["川菜"])
    assert FromUser().said_in(3, ["anything"])  # without words, only a string is checked


def test_a_vocabulary_filter_is_said_as_itself_or_in_its_tables_words() -> None:
    from errand.tools import said_from

    currency = FromUser("the currency", said_as=said_from({"SGD": ("新加坡元", "singapore dollar")}))
    assert currency.said_in("SGD", ["last sgd payment"]) and currency.said_in("sgd", ["用新加坡元付的"])
    assert currency.said_in("SGD", ["my Singapore dollars"])
    assert not currency.said_in("SGD", ["my last payment"]) and not currency.said_in("CNY", ["新加坡元"])


def test_a_tool_takes_an_id_only_of_its_declared_shape() -> None:
    """One rule for "this request names this tool's record": the plan's services and the first
    step's lookups both read it."""
    from errand.services import builtin_registry

    registry = builtin_registry()
    status, menu = registry.get("order_status"), registry.get("get_menu")
    assert status is not None and menu is not None
    assert status.takes_id(["fo-000001"]) and not status.takes_id(["SH-R040", "2026-12-05"])
    assert menu.takes_id(["SH-R040"]) and not menu.takes_id(["88"])  # a dish number is never typed
    assert not book.takes_id(["G16-20261205-second"])  # no declared shape: nothing is read off the request


def test_a_row_the_user_contradicted_is_named_but_not_by_the_calls_own_address() -> None:
    """A write's id picking a row whose field the user gave another row's value of is named;
    the words of the call's own `FromUser` arguments are no such wish (replay of test
    fd-u-ramen-tonight: "deliver to 1188 changshou rd, jing'an" is no wish for a restaurant in
    Jing'an, nor "Room 38" for size 38), nor is a one-letter size ("Nike's")."""
    provenance = {"restaurant_id": FromResults("id"), "address": FromUser("the address")}
    rows = {"restaurants": [{"id": "R-1", "district": "Huangpu"}, {"id": "R-2", "district": "Jing'an"}]}
    said = ["best ramen place, deliver to 1188 changshou rd, jing'an"]
    address = "1188 Changshou Road, Jing'an District"
    assert not_as_asked({"restaurant_id": "R-1", "address": address}, provenance, [rows], said) == []
    said = ["a ramen place in jing'an please, deliver to 1188 changshou rd"]
    assert not_as_asked(
        {"restaurant_id": "R-1", "address": "1188 changshou rd"}, provenance, [rows], said
    ) == ["R-1 has district 'Huangpu', not \"Jing'an\""]
    variants = {
        "variants": [
            {"variant_id": "V-1", "size": "S", "colour": "38"},
            {"variant_id": "V-2", "size": "M", "colour": "40"},
        ]
    }
    assert not_as_asked({"v": "V-2"}, {"v": FromResults("variant_id")}, [variants], ["Nike's, M"]) == []
    # dev sh-sold-out-variant, later: "size 38, grey" bought in size 36, grey
    shoes = {"variants": [{"variant_id": "V-1", "size": "36"}, {"variant_id": "V-2", "size": "38"}]}
    sources = {"v": FromResults("variant_id"), "address": FromUser("the address")}
    assert not_as_asked({"v": "V-1", "address": "Room 12, 5 Main St"}, sources, [shoes], ["size 38 pls"]) == [
        "V-1 has size '36', not '38'"
    ]
    said = ["the shoes to Room 38, 5 Main St"]
    assert not_as_asked({"v": "V-1", "address": "Room 38, 5 Main St"}, sources, [shoes], said) == []


def test_a_refusal_names_the_row_the_user_asked_for_with_its_own_figures() -> None:
    """dev sh-u-size-sold-out: "grey size 42" bought as another size; the refusal names the
    grey size-42 row with its stock of 0 and its sold-out mark, so the user hears why (the
    answer had said only "not available"). Where they fit a few rows, each is named (dev
    sh-u-exchange-bigger-powerbank-zh: told neither 20000 mAh bank, the 1.5B asked whether to
    exchange at all); none where they fit none."""
    shoes = {
        "variants": [
            {"variant_id": "V-1", "size": "40", "colour": "Grey", "stock": 5},
            {"variant_id": "V-2", "size": "42", "colour": "Grey", "stock": 0, "availability": "sold out"},
            {"variant_id": "V-3", "size": "42", "colour": "White", "stock": 3},
        ]
    }
    sources = {"v": FromResults("variant_id")}
    assert not_as_asked({"v": "V-3"}, sources, [shoes], ["grey size 42 pls"]) == [
        "V-3 has colour 'White', not 'Grey'",
        "the user asked for V-2 (size 42, colour Grey, stock 0, availability sold out)",
    ]
    assert not_as_asked({"v": "V-1"}, sources, [shoes], ["size 42 pls"]) == [
        "V-1 has size '40', not '42'",
        "these fit what the user said: V-2 (size 42, colour Grey, stock 0, availability sold out); "
        "V-3 (size 42, colour White, stock 3)",
    ]
    assert not_as_asked({"v": "V-1"}, sources, [shoes], ["size 44 pls"]) == []


def test_a_figure_with_a_unit_is_said_by_its_figure_in_any_unit() -> None:
    """dev sh-u-exchange-bigger-powerbank-zh: "换成20000毫安的" was exchanged for the 10000 mAh
    variant. A row's "20000 mAh" is said by "20000毫安" or "20000mah", not by "120000" or
    "20000.5"."""
    banks = {
        "exchange_options": [
            {"variant_id": "V-765", "size": "10000 mAh", "colour": "black"},
            {"variant_id": "V-766", "size": "20000 mAh", "colour": "white"},
        ]
    }
    sources = {"v": FromResults("variant_id")}
    for said in ("帮我换货换成20000毫安的", "swap it for the 20000mah one"):
        assert not_as_asked({"v": "V-765"}, sources, [banks], [said]) == [
            "V-765 has size '10000 mAh', not '20000 mAh'",
            "the user asked for V-766 (size 20000 mAh, colour white)",
        ], said
        assert not_as_asked({"v": "V-766"}, sources, [banks], [said]) == []
    for said in ("order 120000 of them", "20000.5 please"):
        assert not_as_asked({"v": "V-765"}, sources, [banks], [said]) == [], said


def test_a_row_picked_by_a_name_several_rows_share_is_a_guess() -> None:
    """dev fd-ambiguous-restaurant: two "Golden Beijing House 京味" deliver in Hangzhou, and the
    order went to the first. A choice by a name several rows share is named with every such
    row, by the fields that tell them apart; a district the user named tells them apart, and a name nobody said is no such choice."""
    from errand.tools.provenance import several_named

    found = {
        "results": [
            {"id": "HZ-R030", "name": "Golden Beijing House 京味", "district": "Xiaoshan", "rating": 4.2},
            {"id": "HZ-R019", "name": "Golden Beijing House 京味", "district": "Binjiang", "rating": 4.2},
            {"id": "HZ-R001", "name": "Red Lantern Cantonese House 粤菜", "district": "Xihu", "rating": 4.6},
        ]
    }
    sources = {"r": FromResults("id"), "address": FromUser("the address")}
    said = ["dumplings from Golden Beijing House to 88 Wensan Road, Xihu, Hangzhou"]
    args = {"r": "HZ-R030", "address": "88 Wensan Road, Xihu, Hangzhou"}
    assert several_named(args, sources, [found], said) == [
        "2 results are named 'Golden Beijing House 京味': HZ-R030 (district Xiaoshan); HZ-R019 (district Binjiang)"
    ]  # by what differs: the 1.5B's question copied every field of both rows
    assert several_named(args, sources, [found], ["Golden Beijing House in Binjiang, please"]) == []
    assert several_named({"r": "HZ-R030"}, sources, [found], ["northern food in Hangzhou"]) == []
    assert several_named({"r": "HZ-R001"}, sources, [found], ["Red Lantern please"]) == []
