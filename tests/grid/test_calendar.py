"""The official working-day calendar: sources, provisional years, holiday notices.

Reference dates are those of the State Council notices for 2025 (国办发明电〔2024〕12号)
and 2026, as carried by chinese_calendar 1.11 and checked by hand.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from grid.calendar import (
    CHINA_TZ,
    CalendarSource,
    StatutoryCalendar,
    YearCalendar,
    local_date,
    parse_holiday_notice,
)
from grid.errors import DomainError

# A made-up 2027 notice for tests (the real one is not published yet): 元旦 Jan 1-3,
# 春节 Feb 5-12 with make-up working days on Sunday Jan 31 and Saturday Feb 13.
NOTICE_2027 = """
year = 2027
source = "测试用：国务院办公厅关于2027年部分节假日安排的通知（虚构）"

[[holiday]]
name = "元旦"
days = ["2027-01-01", "2027-01-02", "2027-01-03"]
makeup_workdays = []

[[holiday]]
name = "春节"
days = [2027-02-05, 2027-02-06, 2027-02-07, 2027-02-08, 2027-02-09, 2027-02-10,
        2027-02-11, 2027-02-12]
makeup_workdays = ["2027-01-31", "2027-02-13"]
"""


def test_china_time_is_a_fixed_utc_plus_8_offset():
    assert datetime(2025, 7, 1, tzinfo=CHINA_TZ).utcoffset() == timedelta(hours=8)
    assert datetime(2025, 1, 1, tzinfo=CHINA_TZ).utcoffset() == timedelta(hours=8)


def test_local_date_is_the_date_in_china_not_in_utc():
    assert local_date(datetime(2025, 9, 30, 23, 30, tzinfo=CHINA_TZ)) == date(2025, 9, 30)
    assert local_date(datetime(2025, 9, 30, 15, 30, tzinfo=UTC)) == date(2025, 9, 30)
    assert local_date(datetime(2025, 9, 30, 16, 30, tzinfo=UTC)) == date(2025, 10, 1)
    minus_five = timezone(timedelta(hours=-5))
    assert local_date(datetime(2025, 9, 30, 11, 0, tzinfo=minus_five)) == date(2025, 10, 1)


def test_local_date_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="naive"):
        local_date(datetime(2025, 9, 30, 23, 30))


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 9, 26), True),  # Friday
        (date(2025, 9, 27), False),  # plain Saturday
        (date(2025, 9, 28), True),  # Sunday, 调休 make-up working day for National Day
        (date(2025, 10, 1), False),  # National Day
        (date(2025, 10, 4), False),  # Saturday inside the National Day block
        (date(2025, 10, 8), False),  # last day of the Oct 1-8 block (a Wednesday)
        (date(2025, 10, 9), True),  # Thursday, back to work
        (date(2025, 10, 11), True),  # Saturday, 调休 make-up working day
        (date(2025, 10, 12), False),  # Sunday
        (date(2025, 1, 26), True),  # Sunday, make-up for Spring Festival 2025
        (date(2025, 2, 4), False),  # Spring Festival 2025 (Jan 28 - Feb 4)
        (date(2025, 2, 8), True),  # Saturday, make-up for Spring Festival 2025
        (date(2026, 1, 2), False),  # New Year 2026 (Jan 1-3)
        (date(2026, 1, 4), True),  # Sunday, make-up for New Year 2026
        (date(2026, 2, 23), False),  # Spring Festival 2026 (Feb 15-23)
        (date(2026, 2, 28), True),  # Saturday, make-up for Spring Festival 2026
        (date(2026, 10, 7), False),  # National Day 2026 (Oct 1-7)
        (date(2026, 10, 10), True),  # Saturday, make-up for National Day 2026
    ],
)
def test_working_days_follow_the_official_2025_and_2026_calendars(day, working):
    cal = StatutoryCalendar()
    assert cal.is_working_day(day) is working
    assert cal.is_provisional(day) is False
    assert cal.source_for_year(day.year) is CalendarSource.LIBRARY


def test_a_year_without_data_is_weekends_only_and_provisional():
    cal = StatutoryCalendar()
    assert cal.source_for_year(2027) is CalendarSource.WEEKENDS
    assert cal.is_provisional(date(2027, 1, 1))
    assert cal.is_working_day(date(2027, 1, 1))  # a Friday: no holiday is known yet
    assert not cal.is_working_day(date(2027, 1, 2))  # Saturday
    assert not cal.is_working_day(date(2027, 1, 31))  # Sunday
    assert cal.is_provisional(date(2003, 6, 1))  # before the library's range too


def test_a_loaded_notice_covers_its_year_and_is_no_longer_provisional():
    cal = StatutoryCalendar([parse_holiday_notice(NOTICE_2027)])
    assert cal.source_for_year(2027) is CalendarSource.NOTICE
    assert not cal.is_provisional(date(2027, 6, 1))
    assert not cal.is_working_day(date(2027, 1, 1))
    assert cal.is_working_day(date(2027, 1, 4))
    assert cal.is_working_day(date(2027, 1, 31))  # make-up Sunday
    assert not cal.is_working_day(date(2027, 2, 8))  # a Monday in 春节
    assert cal.is_working_day(date(2027, 2, 13))  # make-up Saturday
    assert not cal.is_working_day(date(2027, 2, 14))  # ordinary Sunday
    assert cal.is_provisional(date(2028, 1, 3))


def test_a_loaded_notice_overrides_the_library_for_its_year():
    # Say the State Council amended 2025: only New Year's Day off. The notice is the
    # authority, so National Day 2025 becomes working days in this calendar.
    amended = parse_holiday_notice('year = 2025\nsource = "测试"\n[[holiday]]\nname = "元旦"\ndays = ["2025-01-01"]\n')
    cal = StatutoryCalendar([amended])
    assert cal.source_for_year(2025) is CalendarSource.NOTICE
    assert cal.is_working_day(date(2025, 10, 1))
    assert not cal.is_working_day(date(2025, 1, 1))
    assert not cal.is_working_day(date(2025, 9, 28))  # no longer a make-up Sunday
    # Other years still come from the library.
    assert not cal.is_working_day(date(2026, 1, 2))


def test_with_notices_returns_a_new_calendar_and_leaves_the_old_one_alone():
    old = StatutoryCalendar()
    assert old.is_working_day(date(2027, 1, 1))
    new = old.with_notices(parse_holiday_notice(NOTICE_2027))
    assert not new.is_working_day(date(2027, 1, 1))
    assert old.is_working_day(date(2027, 1, 1))
    assert old.is_provisional(date(2027, 1, 1))
    assert set(new.notices) == {2027}


def test_a_later_notice_for_the_same_year_replaces_the_earlier():
    first = parse_holiday_notice(NOTICE_2027)
    amended = parse_holiday_notice('year = 2027\nsource = "更正"\n[[holiday]]\nname = "元旦"\ndays = ["2027-01-01"]\n')
    cal = StatutoryCalendar([first, amended])
    assert cal.notices[2027].source == "更正"
    assert cal.is_working_day(date(2027, 2, 8))


def test_covered_years_lists_library_and_notice_years():
    years = StatutoryCalendar([parse_holiday_notice(NOTICE_2027)]).covered_years()
    assert years[2004] is CalendarSource.LIBRARY
    assert years[2026] is CalendarSource.LIBRARY
    assert years[2027] is CalendarSource.NOTICE
    assert 2028 not in years
    assert list(years) == sorted(years)


def test_next_working_day_skips_the_national_day_block():
    cal = StatutoryCalendar()
    assert cal.next_working_day(date(2025, 10, 1)) == date(2025, 10, 9)
    assert cal.next_working_day(date(2025, 10, 9)) == date(2025, 10, 9)
    assert cal.next_working_day(date(2025, 9, 27)) == date(2025, 9, 28)


def test_a_notice_parses_into_the_days_it_lists():
    notice = parse_holiday_notice(NOTICE_2027)
    assert notice.year == 2027
    assert notice.source.startswith("测试用")
    assert date(2027, 1, 3) in notice.holidays
    assert date(2027, 2, 12) in notice.holidays  # TOML native dates are accepted too
    assert len(notice.holidays) == 11
    assert notice.makeup_workdays == frozenset({date(2027, 1, 31), date(2027, 2, 13)})


def test_makeup_workdays_may_be_omitted_from_an_entry():
    notice = parse_holiday_notice('year = 2027\nsource = "s"\n[[holiday]]\nname = "清明节"\ndays = ["2027-04-05"]\n')
    assert notice.makeup_workdays == frozenset()


def _notice(body: str) -> str:
    return 'year = 2027\nsource = "测试"\n' + body


@pytest.mark.parametrize(
    ("text", "key", "rule"),
    [
        ("this is = not toml [", "TOML", "toml_syntax"),
        ('source = "s"\n[[holiday]]\nname = "元旦"\ndays = ["2027-01-01"]\n', "year", "required"),
        (
            'year = "2027"\nsource = "s"\n[[holiday]]\nname = "元旦"\ndays = ["2027-01-01"]\n',
            "year",
            "type",
        ),
        ('year = 2027\n[[holiday]]\nname = "元旦"\ndays = ["2027-01-01"]\n', "source", "required"),
        (_notice(""), "holiday", "no_holidays"),
        (
            _notice('[[holiday]]\nname = "元旦"\ndays = []\n'),
            "holiday[0]（元旦）.days",
            "empty_days",
        ),
        (_notice('[[holiday]]\ndays = ["2027-01-01"]\n'), "holiday[0].name", "required"),
        (
            _notice('[[holiday]]\nname = "元旦"\ndays = ["2026-12-31", "2027-01-01"]\n'),
            "holiday[0]（元旦）.days[0]",
            "outside_year",
        ),
        (
            _notice('[[holiday]]\nname = "元旦"\ndays = ["2027-01-01"]\nmakeup_workdays = ["2028-01-01"]\n'),
            "holiday[0]（元旦）.makeup_workdays[0]",
            "outside_year",
        ),
        (
            _notice('[[holiday]]\nname = "元旦"\ndays = ["2027-02-30"]\n'),
            "holiday[0]（元旦）.days[0]",
            "date_format",
        ),
        (
            _notice('[[holiday]]\nname = "元旦"\ndays = ["2027/01/01"]\n'),
            "holiday[0]（元旦）.days[0]",
            "date_format",
        ),
        (
            _notice('[[holiday]]\nname = "元旦"\ndays = [2027-01-01T00:00:00]\n'),
            "holiday[0]（元旦）.days[0]",
            "date_format",
        ),
        (
            _notice('[[holiday]]\nname = "元旦"\ndays = "2027-01-01"\n'),
            "holiday[0]（元旦）.days",
            "type",
        ),
        (
            # Saturday Jan 2 both off and worked
            _notice(
                '[[holiday]]\nname = "元旦"\ndays = ["2027-01-01", "2027-01-02"]\nmakeup_workdays = ["2027-01-02"]\n'
            ),
            "holiday[0]（元旦）.makeup_workdays[0]",
            "holiday_and_makeup",
        ),
        (
            _notice(
                '[[holiday]]\nname = "元旦"\ndays = ["2027-01-01"]\n'
                'makeup_workdays = ["2027-02-06"]\n'
                '[[holiday]]\nname = "春节"\ndays = ["2027-02-06"]\n'
            ),
            "holiday[1]（春节）.days[0]",
            "holiday_and_makeup",
        ),
        (
            # Monday Jan 4 is already a working day
            _notice('[[holiday]]\nname = "元旦"\ndays = ["2027-01-01"]\nmakeup_workdays = ["2027-01-04"]\n'),
            "holiday[0]（元旦）.makeup_workdays[0]",
            "makeup_not_weekend",
        ),
        (
            _notice(
                '[[holiday]]\nname = "元旦"\ndays = ["2027-01-01"]\n[[holiday]]\nname = "春节"\ndays = ["2027-01-01"]\n'
            ),
            "holiday[1]（春节）.days[0]",
            "duplicate_date",
        ),
        (
            _notice('[[holiday]]\nname = "元旦"\ndays = ["2027-01-01"]\nmakeup_workday = ["2027-01-02"]\n'),
            "holiday[0]（元旦）.makeup_workday",
            "unknown_key",
        ),
        (
            _notice('years = 2028\n[[holiday]]\nname = "元旦"\ndays = ["2027-01-01"]\n'),
            "years",
            "unknown_key",
        ),
    ],
)
def test_an_invalid_notice_is_refused_naming_the_key_and_the_rule(text, key, rule):
    with pytest.raises(DomainError) as caught:
        parse_holiday_notice(text)
    error = caught.value
    assert error.code == "calendar.invalid_notice"
    assert error.data == {"key": key, "rule": rule}
    assert key in error.message
    assert error.message.startswith("节假日安排通知有误")


def test_a_year_calendar_built_in_code_keeps_the_same_rules():
    with pytest.raises(DomainError) as caught:
        YearCalendar(2027, frozenset({date(2027, 1, 1)}), frozenset({date(2027, 1, 4)}), "s")
    assert caught.value.code == "calendar.invalid_notice"
    assert caught.value.data["rule"] == "makeup_not_weekend"
    with pytest.raises(DomainError):
        YearCalendar(2027, frozenset(), frozenset(), "s")
    with pytest.raises(DomainError):
        YearCalendar(2027, frozenset({date(2026, 12, 31)}), frozenset(), "s")
