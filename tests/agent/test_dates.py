"""Date phrases people type, resolved against the run's clock (a Sunday, like the eval's)."""

from __future__ import annotations

from datetime import date

import pytest

from errand.agent import prompts
from errand.agent.dates import date_notes, resolve_dates, time_limits

SUNDAY = date(2026, 11, 29)
WEDNESDAY = date(2026, 12, 2)


@pytest.mark.parametrize(
    ("text", "today", "expected"),
    [
        ("book a train to hangzhou next friday", SUNDAY, ["2026-12-04"]),
        ("下周五去杭州", SUNDAY, ["2026-12-04"]),
        ("this fri", SUNDAY, ["2026-12-04"]),
        ("friday", WEDNESDAY, ["2026-12-04"]),
        ("next friday", WEDNESDAY, ["2026-12-11"]),
        ("这周五", WEDNESDAY, ["2026-12-04"]),
        ("12月7号的机票", SUNDAY, ["2026-12-07"]),
        ("十二月二十一日出发", SUNDAY, ["2026-12-21"]),
        ("flight on the 7th", SUNDAY, ["2026-12-07"]),
        ("move it to the 7th", WEDNESDAY, ["2026-12-07"]),
        ("the 1st", WEDNESDAY, ["2027-01-01"]),
        ("dec 12 hotel 2 nights", SUNDAY, ["2026-12-12"]),
        ("12 December", SUNDAY, ["2026-12-12"]),
        ("jan 3", SUNDAY, ["2027-01-03"]),
        ("12/20", SUNDAY, ["2026-12-20"]),
        ("next weekend trip", SUNDAY, ["2026-12-05", "2026-12-06"]),
        ("下周末去成都", SUNDAY, ["2026-12-05", "2026-12-06"]),
        ("this weekend", WEDNESDAY, ["2026-12-05", "2026-12-06"]),
        ("tonight at 7pm", SUNDAY, ["2026-11-29"]),
        ("明天中午", SUNDAY, ["2026-11-30"]),
        ("后天", SUNDAY, ["2026-12-01"]),
        ("大后天", SUNDAY, ["2026-12-02"]),
        ("the day after tomorrow", SUNDAY, ["2026-12-01"]),
        ("in 3 days", SUNDAY, ["2026-12-02"]),
        ("back in ten days", SUNDAY, ["2026-12-09"]),
        ("3天后", SUNDAY, ["2026-12-02"]),
        ("4号的高铁", SUNDAY, ["2026-12-04"]),
        ("xmas eve in hangzhou, 1 night", SUNDAY, ["2026-12-24"]),
        ("平安夜订个餐厅", SUNDAY, ["2026-12-24"]),
        ("New Year's Eve party", SUNDAY, ["2026-12-31"]),
        ("元旦去哈尔滨", SUNDAY, ["2027-01-01"]),
        ("元旦想去哈尔滨玩，12月31号出发", SUNDAY, ["2026-12-31"]),  # the holiday is the occasion
        ("christmas trip, leaving dec 23", SUNDAY, ["2026-12-23"]),
        ("国庆去北京", SUNDAY, ["2027-10-01"]),
    ],
)
def test_a_phrase_means_one_calendar_date(text: str, today: date, expected: list[str]) -> None:
    (found,) = resolve_dates(text, today)
    assert [d.isoformat() for d in found[1]] == expected


@pytest.mark.parametrize(
    "text",
    [
        "within 500m of the metro",
        "2026-12-20 flight",  # already a date
        "cancel BK-000001",
        "room 302号",
        "3 bedrooms under 6m",
        "最近一周花了多少",
        "a new yearly plan, annoyed",
        "双11买的耳机",  # a shopping day, mostly named for a purchase already made
    ],
)
def test_numbers_that_are_not_dates_are_left_alone(text: str) -> None:
    assert resolve_dates(text, SUNDAY) == []


def test_the_request_carries_the_dates_and_the_language() -> None:
    sent = prompts.dated_task("下周五去杭州的高铁", "2026-11-29 12:00, Sunday, time zone Asia/Shanghai")
    assert '"下周五" = 2026-12-04 (Friday)' in sent and "Reply in Chinese." in sent
    english = prompts.dated_task("train to Green Leaf 川菜 next fri", "2026-11-29 12:00, Sunday")
    assert "2026-12-04" in english and "Chinese" not in english
    assert date_notes("hello", SUNDAY) == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("flying shanghai -> beijing sat, need to be in beijing by 2pm", {840: "arrive"}),
        ("I can't leave before 10:00. Which is the earliest train?", {600: "after"}),
        ("any train after 6pm?", {1080: "after"}),
        ("I have to leave before 9am", {540: "before"}),
        ("arrive by 9 o'clock", {540: "arrive"}),
        ("下午两点前到北京", {840: "arrive"}),
        ("明天上午10点以后的高铁", {600: "after"}),
        ("晚上8点半之前出发", {1230: "before"}),
        # counts and dates are not times of day
        ("from 3 to 5 rooms, after 2 nights, before 12月5号", {}),
    ],
)
def test_a_time_given_as_a_limit_says_which_end(text: str, expected: dict[int, str]) -> None:
    assert time_limits(text) == expected
