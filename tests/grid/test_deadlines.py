"""Statutory clocks on real 2025/2026 dates, provisional 2027, and counting properties.

2025 National Day + Mid-Autumn: off Oct 1-8, make-up working days Sun Sep 28 and Sat
Oct 11. 2026 Spring Festival: off Feb 15-23, make-up Sat Feb 14 and Sat Feb 28.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grid.calendar import CHINA_TZ, StatutoryCalendar, parse_holiday_notice
from grid.deadlines import (
    HANDLING_DAYS,
    MAX_EXTENSION_DAYS,
    Due,
    Light,
    add_months,
    calendar_days_period,
    dispatch_due,
    handling_due,
    judicial_confirmation_window,
    light,
    mediation_target,
    months_period,
    notice_due,
    objection_due,
    rereview_decision_due,
    rereview_request_window,
    review_decision_due,
    review_request_window,
    working_days_period,
)
from grid.errors import DomainError

from .test_calendar import NOTICE_2027

CAL = StatutoryCalendar()


def at(day: str, clock: str = "10:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}+08:00")


# --- calendar-day periods -------------------------------------------------------------


def test_a_notice_whose_last_day_falls_in_national_day_2025_ends_on_the_first_working_day_after():
    due = notice_due(CAL, at("2025-09-20"))  # Sep 20 + 15 = Oct 5, inside Oct 1-8
    assert due == Due(date(2025, 10, 9), provisional=False)


def test_a_period_ending_on_a_makeup_sunday_ends_that_day():
    assert notice_due(CAL, at("2025-09-13")).last_day == date(2025, 9, 28)


def test_a_period_ending_on_a_makeup_saturday_ends_that_day():
    assert dispatch_due(CAL, at("2025-09-26")).last_day == date(2025, 10, 11)


def test_a_period_ending_on_an_ordinary_saturday_moves_to_monday():
    assert notice_due(CAL, at("2025-10-03")).last_day == date(2025, 10, 20)  # Oct 18 is Sat


def test_a_period_ending_on_a_working_day_ends_exactly_n_days_after_the_event():
    # Art. 201: the event day is not counted, so 15 days from Mar 3 ends on Mar 18.
    assert notice_due(CAL, at("2025-03-03")).last_day == date(2025, 3, 18)


def test_an_event_late_at_night_in_china_counts_from_the_china_date():
    # 23:30 Beijing time on Sep 30 is 15:30 UTC on Sep 30: the day is Sep 30.
    assert notice_due(CAL, at("2025-09-30", "23:30")).last_day == date(2025, 10, 15)
    assert notice_due(CAL, datetime(2025, 9, 30, 15, 30, tzinfo=UTC)).last_day == date(2025, 10, 15)
    # 16:30 UTC on Sep 30 is already 00:30 on Oct 1 in China.
    assert notice_due(CAL, datetime(2025, 9, 30, 16, 30, tzinfo=UTC)).last_day == date(2025, 10, 16)


def test_a_naive_event_time_is_refused():
    with pytest.raises(ValueError):
        notice_due(CAL, datetime(2025, 9, 30, 10, 0))


def test_a_zero_day_period_is_a_programming_error():
    with pytest.raises(ValueError):
        calendar_days_period(CAL, at("2025-09-30"), 0)
    with pytest.raises(ValueError):
        working_days_period(CAL, at("2025-09-30"), -1)


# --- working-day periods --------------------------------------------------------------


def test_five_working_days_spanning_national_day_2025_skip_the_whole_holiday():
    # Mon Sep 29: Sep 30 (1), Oct 1-8 off, Oct 9 (2), Oct 10 (3), Sat Oct 11 make-up (4),
    # Sun Oct 12 off, Mon Oct 13 (5).
    assert objection_due(CAL, at("2025-09-29")) == Due(date(2025, 10, 13), provisional=False)


def test_five_working_days_count_the_makeup_sunday_before_national_day():
    # Fri Sep 26: Sun Sep 28 make-up (1), Sep 29 (2), Sep 30 (3), Oct 9 (4), Oct 10 (5).
    assert objection_due(CAL, at("2025-09-26")).last_day == date(2025, 10, 10)


def test_five_working_days_across_spring_festival_2026():
    # Thu Feb 12: Feb 13 (1), Sat Feb 14 make-up (2), Feb 15-23 off, Feb 24-26 (3-5).
    assert objection_due(CAL, at("2026-02-12")).last_day == date(2026, 2, 26)


# --- handling and extension -----------------------------------------------------------


def test_sixty_day_handling_that_ends_in_national_day_rolls_over():
    # Aug 7 + 60 = Oct 6, a National Day holiday.
    assert handling_due(CAL, at("2025-08-07")).last_day == date(2025, 10, 9)


def test_a_thirty_day_extension_counts_ninety_days_from_acceptance():
    # Aug 7 + 90 = Wed Nov 5: the extension is not counted from the rolled-over Oct 9.
    due = handling_due(CAL, at("2025-08-07"), extension_days=MAX_EXTENSION_DAYS)
    assert due.last_day == date(2025, 11, 5)


def test_an_extension_of_thirty_one_days_is_refused():
    with pytest.raises(DomainError) as caught:
        handling_due(CAL, at("2025-08-07"), extension_days=31)
    assert caught.value.code == "case.extension_too_long"
    assert "30" in caught.value.message


def test_a_negative_extension_is_refused():
    with pytest.raises(DomainError) as caught:
        handling_due(CAL, at("2025-08-07"), extension_days=-1)
    assert caught.value.code == "case.invalid_extension"


# --- review, re-review, mediation, judicial confirmation ------------------------------


def test_review_and_rereview_periods_are_thirty_days_rolled_over():
    # Sep 6 + 30 = Oct 6 (holiday) -> Oct 9.
    for clock in (
        review_request_window,
        review_decision_due,
        rereview_request_window,
        rereview_decision_due,
        judicial_confirmation_window,
    ):
        assert clock(CAL, at("2025-09-06")).last_day == date(2025, 10, 9), clock.__name__


def test_hearing_days_are_not_counted_in_a_rereview():
    # Sep 1 + 30 = Oct 1 (holiday) -> Oct 9; with a 10-day hearing Sep 1 + 40 = Oct 11,
    # the make-up Saturday.
    assert rereview_decision_due(CAL, at("2025-09-01")).last_day == date(2025, 10, 9)
    assert rereview_decision_due(CAL, at("2025-09-01"), hearing_days=10).last_day == date(2025, 10, 11)
    with pytest.raises(DomainError) as caught:
        rereview_decision_due(CAL, at("2025-09-01"), hearing_days=-1)
    assert caught.value.code == "case.invalid_hearing_days"


def test_a_month_from_january_31_ends_on_the_last_day_of_february():
    # 2025: Feb 28 is a Friday.
    assert mediation_target(CAL, at("2025-01-31")).last_day == date(2025, 2, 28)
    # 2024 is a leap year: Feb 29 is a Thursday.
    assert months_period(CAL, at("2024-01-31"), 1).last_day == date(2024, 2, 29)


def test_a_month_period_rolls_over_a_holiday():
    # Sep 6 + 1 month = Oct 6 (holiday) -> Oct 9.
    assert mediation_target(CAL, at("2025-09-06")).last_day == date(2025, 10, 9)


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (date(2025, 3, 31), 1, date(2025, 4, 30)),
        (date(2025, 12, 15), 1, date(2026, 1, 15)),
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2023, 2, 28), 12, date(2024, 2, 28)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
    ],
)
def test_add_months_takes_the_corresponding_day_or_the_month_end(start, months, end):
    assert add_months(start, months) == end


# --- provisional years ----------------------------------------------------------------


def test_a_clock_ending_in_2027_is_provisional_and_moves_once_the_2027_notice_is_loaded():
    accepted = at("2026-12-17")  # + 15 = Fri Jan 1, 2027
    before = notice_due(CAL, accepted)
    assert before == Due(date(2027, 1, 1), provisional=True)  # weekends only: a Friday

    loaded = CAL.with_notices(parse_holiday_notice(NOTICE_2027))
    after = notice_due(loaded, accepted)
    assert after == Due(date(2027, 1, 4), provisional=False)  # 元旦 Jan 1-3 -> Monday


def test_a_sixty_day_clock_from_december_2026_is_recomputed_with_the_2027_notice():
    accepted = at("2026-12-07")  # + 60 = Fri Feb 5, 2027
    assert handling_due(CAL, accepted) == Due(date(2027, 2, 5), provisional=True)
    loaded = StatutoryCalendar([parse_holiday_notice(NOTICE_2027)])
    # Test notice: 春节 Feb 5-12 off, Sat Feb 13 a make-up working day.
    assert handling_due(loaded, accepted) == Due(date(2027, 2, 13), provisional=False)


def test_a_roll_over_from_2026_into_an_unknown_2027_is_provisional():
    # Dec 2 + 30 = Fri Jan 1, 2027; the last day alone is in the unknown year.
    assert review_request_window(CAL, at("2026-12-02")).provisional
    # Dec 1 + 30 = Thu Dec 31, 2026, a known working day: not provisional.
    assert review_request_window(CAL, at("2026-12-01")) == Due(date(2026, 12, 31), False)


def test_working_days_that_reach_into_2027_are_provisional():
    # Thu Dec 24, 2026: Dec 25, 28, 29, 30, 31 are five working days, all in 2026.
    assert objection_due(CAL, at("2026-12-24")) == Due(date(2026, 12, 31), provisional=False)
    # Fri Dec 25: Dec 28-31 are four; the fifth lies in 2027.
    assert objection_due(CAL, at("2026-12-25")) == Due(date(2027, 1, 1), provisional=True)


# --- Due and the traffic light --------------------------------------------------------


def test_a_due_ends_at_midnight_china_time_after_its_last_day():
    due = Due(date(2025, 10, 9), provisional=False)
    assert due.ends_at == datetime(2025, 10, 10, 0, 0, tzinfo=CHINA_TZ)
    assert due.ends_at == datetime(2025, 10, 9, 16, 0, tzinfo=UTC)
    assert not due.is_overdue(at("2025-10-09", "23:59:59.999999"))
    assert due.is_overdue(at("2025-10-10", "00:00"))
    assert due.is_overdue(datetime(2025, 10, 9, 16, 0, tzinfo=UTC))
    with pytest.raises(ValueError):
        due.is_overdue(datetime(2025, 10, 10))


def test_the_light_turns_yellow_at_two_thirds_and_red_when_overdue():
    started = at("2025-03-03", "00:00")
    due = Due(date(2025, 3, 5), provisional=False)  # ends Mar 6 00:00: a 72-hour span
    assert light(started, started, due) is Light.GREEN
    assert light(at("2025-03-04", "23:59:59.999999"), started, due) is Light.GREEN
    assert light(at("2025-03-05", "00:00"), started, due) is Light.YELLOW  # 48h of 72h
    assert light(at("2025-03-05", "23:59:59.999999"), started, due) is Light.YELLOW
    assert light(at("2025-03-06", "00:00"), started, due) is Light.RED
    assert light(at("2025-04-01"), started, due) is Light.RED


def test_the_light_share_is_configurable_and_before_the_start_is_green():
    started = at("2025-03-03", "00:00")
    due = Due(date(2025, 3, 5), provisional=False)
    half = Fraction(1, 2)
    assert light(at("2025-03-04", "11:59:59.999999"), started, due, half) is Light.GREEN
    assert light(at("2025-03-04", "12:00"), started, due, half) is Light.YELLOW
    assert light(at("2025-03-01"), started, due) is Light.GREEN
    with pytest.raises(ValueError):
        light(started, started, due, Fraction(3, 2))


def test_the_light_of_a_real_notice_clock():
    received = at("2025-09-20", "09:00")
    due = notice_due(CAL, received)  # ends Oct 10 00:00; span 19 days 15 hours, 2/3 at Oct 3 11:00
    assert light(at("2025-10-01"), received, due) is Light.GREEN
    assert light(at("2025-10-04"), received, due) is Light.YELLOW
    assert light(at("2025-10-10", "00:00"), received, due) is Light.RED


# --- properties -----------------------------------------------------------------------

events = st.builds(
    lambda day, minute: datetime.combine(day, datetime.min.time(), tzinfo=CHINA_TZ) + timedelta(minutes=minute),
    st.dates(min_value=date(2004, 1, 1), max_value=date(2028, 12, 31)),
    st.integers(min_value=0, max_value=24 * 60 - 1),
)
WITH_2027 = StatutoryCalendar([parse_holiday_notice(NOTICE_2027)])
calendars = st.sampled_from([CAL, WITH_2027])


@settings(max_examples=300, deadline=None)
@given(cal=calendars, event_at=events, days=st.integers(min_value=1, max_value=120))
def test_a_calendar_days_period_ends_on_the_first_working_day_on_or_after_event_plus_n(cal, event_at, days):
    due = calendar_days_period(cal, event_at, days)
    nominal = event_at.date() + timedelta(days=days)
    assert cal.is_working_day(due.last_day)
    assert due.last_day >= nominal
    span = [nominal + timedelta(days=i) for i in range((due.last_day - nominal).days)]
    assert not any(cal.is_working_day(day) for day in span)
    assert due.provisional == any(cal.is_provisional(d) for d in [*span, due.last_day])


@settings(max_examples=200, deadline=None)
@given(cal=calendars, event_at=events, days=st.integers(min_value=1, max_value=40))
def test_working_days_period_is_strictly_increasing_and_counts_exactly_n_working_days(cal, event_at, days):
    due = working_days_period(cal, event_at, days)
    after = working_days_period(cal, event_at, days + 1)
    assert after.last_day > due.last_day
    assert cal.is_working_day(due.last_day)
    start = event_at.date()
    counted = [
        start + timedelta(days=i)
        for i in range(1, (due.last_day - start).days + 1)
        if cal.is_working_day(start + timedelta(days=i))
    ]
    assert len(counted) == days


@settings(max_examples=200, deadline=None)
@given(cal=calendars, event_at=events, months=st.integers(min_value=1, max_value=24))
def test_a_month_period_ends_on_a_working_day_not_before_the_corresponding_day(cal, event_at, months):
    due = months_period(cal, event_at, months)
    assert cal.is_working_day(due.last_day)
    assert due.last_day >= add_months(event_at.date(), months)
    assert due.last_day > event_at.date()


@settings(max_examples=100, deadline=None)
@given(event_at=events, extension=st.integers(min_value=0, max_value=MAX_EXTENSION_DAYS))
def test_an_extension_never_makes_handling_end_earlier(event_at, extension):
    base = handling_due(CAL, event_at)
    extended = handling_due(CAL, event_at, extension)
    assert extended.last_day >= base.last_day
    assert extended.last_day >= event_at.date() + timedelta(days=HANDLING_DAYS + extension)
