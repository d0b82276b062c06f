"""排查 report rules (grid.screening) under 柞水县's default policy and the official calendar:
periods per level, sensitive periods cut at their edges, due dates across 中秋/国庆 2026 and
weekends, timeliness, completeness and reminder instants."""

from __future__ import annotations

from datetime import UTC, date, datetime
from fractions import Fraction
from importlib import resources

import pytest

from grid.calendar import CHINA_TZ, StatutoryCalendar
from grid.cases import HandlingLevel
from grid.deadlines import Due
from grid.errors import DomainError
from grid.hierarchy import Level
from grid.policy import Cadence, parse_policy
from grid.screening import (
    Completeness,
    Timeliness,
    cadence_level,
    check_findings,
    check_started,
    deliverable_reminder,
    due_after,
    is_on_time,
    match_period,
    period_on,
    periods_between,
    reminders_due,
    tally,
    timeliness,
)

CAL = StatutoryCalendar()
TEXT = resources.files("grid").joinpath("policies/zhashui.toml").read_text(encoding="utf-8")
POLICY = parse_policy(TEXT)


def variant(**replacements: str):
    text = TEXT
    for old, new in replacements.items():
        assert old in text
        text = text.replace(old, new)
    return parse_policy(text)


def at(day: date, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=CHINA_TZ)


def spans(periods) -> list[tuple[str, str, str, str | None]]:
    return [(p.start.isoformat(), p.end.isoformat(), p.cadence.value, p.sensitive) for p in periods]


# ---------------------------------------------------------------- periods


def test_grids_and_villages_report_every_half_month_and_towns_and_the_county_every_month():
    november = (date(2026, 11, 1), date(2026, 11, 30))
    half_months = [("2026-11-01", "2026-11-15", "half_month", None), ("2026-11-16", "2026-11-30", "half_month", None)]
    assert spans(periods_between(POLICY, Level.GRID, *november, CAL)) == half_months
    assert spans(periods_between(POLICY, Level.VILLAGE, *november, CAL)) == half_months
    for level in (Level.TOWNSHIP, Level.COUNTY):
        assert spans(periods_between(POLICY, level, *november, CAL)) == [("2026-11-01", "2026-11-30", "monthly", None)]


def test_the_period_on_a_day_is_the_one_containing_it():
    period = period_on(POLICY, "grid", date(2026, 11, 20), CAL)
    assert (period.start, period.end, period.cadence) == (date(2026, 11, 16), date(2026, 11, 30), Cadence.HALF_MONTH)
    # February's second half ends on the 28th.
    assert period_on(POLICY, Level.VILLAGE, date(2026, 2, 20), CAL).end == date(2026, 2, 28)


def test_a_sensitive_period_turns_the_village_weekly_and_cuts_the_periods_at_both_its_edges():
    # 国庆节 2026-09-25 (Friday) .. 2026-10-10 (Saturday), weekly for every level.
    periods = periods_between(POLICY, Level.GRID, date(2026, 9, 1), date(2026, 10, 31), CAL)
    assert spans(periods) == [
        ("2026-09-01", "2026-09-15", "half_month", None),
        # The half-month 16-30 September is cut the day before the sensitive period.
        ("2026-09-16", "2026-09-24", "half_month", None),
        # The week of Monday 21 September starts inside it on Friday the 25th.
        ("2026-09-25", "2026-09-27", "weekly", "国庆节"),
        ("2026-09-28", "2026-10-04", "weekly", "国庆节"),
        # The week of Monday 5 October ends with the sensitive period on Saturday the 10th.
        ("2026-10-05", "2026-10-10", "weekly", "国庆节"),
        # The half-month 1-15 October resumes the day after.
        ("2026-10-11", "2026-10-15", "half_month", None),
        ("2026-10-16", "2026-10-31", "half_month", None),
    ]


def test_a_sensitive_period_cuts_the_month_of_the_county_and_spares_levels_it_does_not_list():
    county = periods_between(POLICY, Level.COUNTY, date(2026, 9, 1), date(2026, 10, 31), CAL)
    assert [(p.start.isoformat(), p.end.isoformat()) for p in county] == [
        ("2026-09-01", "2026-09-24"),
        ("2026-09-25", "2026-09-27"),
        ("2026-09-28", "2026-10-04"),
        ("2026-10-05", "2026-10-10"),
        ("2026-10-11", "2026-10-31"),
    ]
    # 全国两会 (1-15 March) lists the village and the township only: the county stays monthly.
    assert spans(periods_between(POLICY, Level.COUNTY, date(2026, 3, 1), date(2026, 3, 31), CAL)) == [
        ("2026-03-01", "2026-03-31", "monthly", None)
    ]
    township = periods_between(POLICY, Level.TOWNSHIP, date(2026, 3, 1), date(2026, 3, 31), CAL)
    assert spans(township) == [
        ("2026-03-01", "2026-03-01", "weekly", "全国两会"),
        ("2026-03-02", "2026-03-08", "weekly", "全国两会"),
        ("2026-03-09", "2026-03-15", "weekly", "全国两会"),
        ("2026-03-16", "2026-03-31", "monthly", None),
    ]


def test_provinces_and_cities_owe_no_report():
    with pytest.raises(DomainError) as refused:
        cadence_level(Level.CITY)
    assert refused.value.code == "screening.not_a_unit"
    assert cadence_level("grid") is HandlingLevel.VILLAGE


def test_a_report_must_name_its_period_exactly_and_is_told_the_right_one():
    assert match_period(POLICY, Level.GRID, date(2026, 9, 28), date(2026, 10, 4), CAL).sensitive == "国庆节"
    # A phone that still thinks in half-months when the sensitive period has begun.
    with pytest.raises(DomainError) as refused:
        match_period(POLICY, Level.GRID, date(2026, 9, 16), date(2026, 9, 30), CAL)
    assert refused.value.code == "screening.invalid_period"
    assert refused.value.data == {"expected_start": "2026-09-16", "expected_end": "2026-09-24", "cadence": "half_month"}


def test_a_report_may_be_filed_from_the_first_day_of_its_period_but_not_before():
    period = period_on(POLICY, Level.GRID, date(2026, 11, 16), CAL)
    check_started(period, at(date(2026, 11, 16)))
    with pytest.raises(DomainError) as refused:
        check_started(period, at(date(2026, 11, 15), 23, 59, 59))
    assert refused.value.code == "screening.period_not_started"


# ---------------------------------------------------------------- due dates


def test_due_dates_count_two_working_days_across_mid_autumn_and_national_day_2026():
    due = {
        (p.start, p.end): p.due for p in periods_between(POLICY, Level.GRID, date(2026, 9, 16), date(2026, 10, 15), CAL)
    }
    # Ends Thu 24 Sep; Fri 25 - Sun 27 are 中秋 holidays: Mon 28 and Tue 29 are the two working days.
    assert due[(date(2026, 9, 16), date(2026, 9, 24))] == Due(date(2026, 9, 29), provisional=False)
    assert due[(date(2026, 9, 25), date(2026, 9, 27))] == Due(date(2026, 9, 29), provisional=False)
    # Ends Sun 4 Oct inside 国庆 (1-7 Oct): Thu 8 and Fri 9 October.
    assert due[(date(2026, 9, 28), date(2026, 10, 4))] == Due(date(2026, 10, 9), provisional=False)
    # Ends on Saturday 10 October, a 调休 working day; Sun 11 is off: Mon 12 and Tue 13.
    assert due[(date(2026, 10, 5), date(2026, 10, 10))] == Due(date(2026, 10, 13), provisional=False)


def test_a_period_ending_on_a_weekend_is_due_after_the_weekend():
    # 1-15 November 2026 ends on a Sunday: two working days later is Tuesday the 17th.
    assert period_on(POLICY, Level.GRID, date(2026, 11, 1), CAL).due == Due(date(2026, 11, 17), provisional=False)
    # Without grace the Sunday rolls over to Monday.
    no_grace = variant(**{"grace_working_days = 2": "grace_working_days = 0"})
    assert period_on(no_grace, Level.GRID, date(2026, 11, 1), CAL).due == Due(date(2026, 11, 16), provisional=False)
    assert due_after(no_grace, date(2026, 11, 15), CAL) == Due(date(2026, 11, 16), provisional=False)


def test_a_due_date_in_a_year_without_calendar_data_is_provisional():
    # The second half of December 2026 is due in January 2027, a year the library lacks.
    period = period_on(POLICY, Level.GRID, date(2026, 12, 20), CAL)
    assert period.end == date(2026, 12, 31)
    assert period.due.provisional is True


# ---------------------------------------------------------------- timeliness


def test_a_report_is_on_time_until_the_end_of_its_due_day_in_china():
    due = period_on(POLICY, Level.GRID, date(2026, 9, 28), CAL).due  # 9 October
    assert is_on_time(due, at(date(2026, 10, 9), 23, 59, 59))
    assert not is_on_time(due, at(date(2026, 10, 10)))
    # 16:30 UTC on the 9th is already 00:30 on the 10th in China.
    assert not is_on_time(due, datetime(2026, 10, 9, 16, 30, tzinfo=UTC))
    assert timeliness(due, at(date(2026, 10, 1)), at(date(2026, 10, 20))) is Timeliness.ON_TIME
    assert timeliness(due, at(date(2026, 10, 12)), at(date(2026, 10, 20))) is Timeliness.LATE
    assert timeliness(due, None, at(date(2026, 10, 9), 23)) is Timeliness.PENDING
    assert timeliness(due, None, at(date(2026, 10, 10))) is Timeliness.MISSING


def test_completeness_counts_a_report_for_every_node_and_rates_timeliness_over_settled_ones():
    counts = tally([Timeliness.ON_TIME, Timeliness.ON_TIME, Timeliness.LATE, Timeliness.MISSING, Timeliness.PENDING])
    assert counts == Completeness(due=5, received=3, on_time=2, late=1, missing=1, pending=1)
    # 排查上报及时率: two on time of the four whose outcome is known; 上报率: three of five.
    assert counts.timely_rate == Fraction(1, 2)
    assert counts.received_rate == Fraction(3, 5)
    assert tally([Timeliness.PENDING]).timely_rate is None
    assert tally([]).received_rate is None
    assert counts + tally([Timeliness.ON_TIME]) == Completeness(6, 4, 3, 1, 1, 1)


def test_a_zero_report_finds_nothing_and_a_report_that_found_something_says_what():
    assert check_findings(True, 0, [], []) == []
    assert [i.rule for i in check_findings(True, 2, ["邻里纠纷"], [])] == ["screening.zero_report_with_findings"]
    assert [i.rule for i in check_findings(False, 0, [], [])] == [
        "screening.findings_required",
        "screening.findings_required",
    ]
    assert [i.rule for i in check_findings(False, 1, ["甲", "乙"], [])] == ["screening.items_exceed_count"]
    assert [i.rule for i in check_findings(False, 2, ["甲"], ["c1", "c1"])] == ["screening.duplicate_case"]
    assert check_findings(False, 3, ["宅基地界址争议", "欠薪"], ["c1"]) == []


# ---------------------------------------------------------------- reminders


def test_a_reminder_falls_at_nine_the_day_before_the_due_day():
    period = period_on(POLICY, Level.GRID, date(2026, 9, 28), CAL)  # due Fri 9 October
    assert period.reminders == (at(date(2026, 10, 8), 9),)
    assert deliverable_reminder(period, at(date(2026, 10, 8), 8, 59)) is None
    assert deliverable_reminder(period, at(date(2026, 10, 8), 9)) == at(date(2026, 10, 8), 9)
    assert deliverable_reminder(period, at(date(2026, 10, 9), 23)) == at(date(2026, 10, 8), 9)
    # Once the report is due nothing is worth sending: it is missing, not pending.
    assert deliverable_reminder(period, at(date(2026, 10, 10))) is None


def test_of_several_reminders_only_the_latest_that_has_come_is_sent():
    policy = variant(**{"remind_days_before = [1]": "remind_days_before = [3, 1]"})
    period = period_on(policy, Level.GRID, date(2026, 11, 1), CAL)  # due Tue 17 November
    assert period.reminders == (at(date(2026, 11, 14), 9), at(date(2026, 11, 16), 9))
    assert deliverable_reminder(period, at(date(2026, 11, 15), 12)) == at(date(2026, 11, 14), 9)
    # A job that did not run on the 14th sends the one-day reminder, not both.
    assert deliverable_reminder(period, at(date(2026, 11, 16), 10)) == at(date(2026, 11, 16), 9)
    # A lead reaching back before the period began is dropped.
    early = variant(**{"remind_days_before = [1]": "remind_days_before = [5, 1]"})
    stub = period_on(early, Level.GRID, date(2026, 9, 25), CAL)  # 25-27 Sep, due 29 Sep
    assert stub.reminders == (at(date(2026, 9, 28), 9),)


def test_the_reminders_due_at_an_instant_are_those_of_every_period_still_open():
    # Mon 28 September 10:00: the half-month 16-24 September and the stub 25-27 September
    # are both due on the 29th and reminded at 9:00 today.
    found = reminders_due(POLICY, HandlingLevel.VILLAGE, at(date(2026, 9, 28), 10), CAL)
    assert [(r.period.start, r.period.end, r.at) for r in found] == [
        (date(2026, 9, 16), date(2026, 9, 24), at(date(2026, 9, 28), 9)),
        (date(2026, 9, 25), date(2026, 9, 27), at(date(2026, 9, 28), 9)),
    ]
    assert reminders_due(POLICY, HandlingLevel.VILLAGE, at(date(2026, 9, 28), 8), CAL) == []
    assert reminders_due(POLICY, HandlingLevel.VILLAGE, at(date(2026, 9, 30), 8), CAL) == []
