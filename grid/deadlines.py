"""Statutory clocks of 信访工作条例 (2022) and 人民调解法, counted per 民法典 Art. 201-203.

Counting rules (民法典):

- Art. 201: the day of the event is not counted; counting starts the next day. A period
  of N 日 from an event on day D therefore ends on D + N.
- Art. 202: a period in months ends on the corresponding day of the target month, or on
  that month's last day when it has none (Jan 31 + 1 month -> Feb 28/29).
- Art. 203: when the last day is a statutory rest day, the period ends on the next working
  day; the last day ends at 24:00 (China time).

A "statutory rest day" is a non-working day of the official calendar: weekends and
holidays, but a 调休 make-up working Saturday/Sunday is a working day. 工作日 periods count
only working days of that calendar, starting the day after the event.

Every date is a date in China (``grid.calendar.CHINA_TZ``): an event at 23:30 Beijing time
is on that day even though UTC already shows the previous day's afternoon.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from fractions import Fraction

from grid.calendar import CHINA_TZ, StatutoryCalendar, local_date
from grid.errors import DomainError

# --- 信访工作条例 (2022) ------------------------------------------------------------------
NOTICE_DAYS = 15  # Art. 22-23 ¶1-2: written notice of acceptance within 15 days of receipt
DISPATCH_DAYS = 15  # Art. 22: petition office forwards/assigns (转送/交办) within 15 days
OBJECTION_WORKING_DAYS = 5  # Art. 23 ¶3: objection to a misrouted item, 5 working days
HANDLING_DAYS = 60  # Art. 34: decided within 60 days of acceptance
MAX_EXTENSION_DAYS = 30  # Art. 34: one extension of at most 30 days, approved by the head
REVIEW_REQUEST_DAYS = 30  # Art. 35: request 复查 within 30 days of receiving the reply
REVIEW_DECISION_DAYS = 30  # Art. 35: 复查 decided within 30 days of receiving the request
REREVIEW_REQUEST_DAYS = 30  # Art. 36: request 复核 within 30 days of the review reply
REREVIEW_DECISION_DAYS = 30  # Art. 36: 复核 decided within 30 days; 听证 time not counted
# --- 人民调解 ---------------------------------------------------------------------------
JUDICIAL_CONFIRMATION_DAYS = 30  # 人民调解法 Art. 33: joint application to the court
MEDIATION_TARGET_MONTHS = 1  # 人民调解工作若干规定 Art. 33: soft target, warn never block


@dataclass(frozen=True)
class Due:
    """When a statutory period ends.

    ``provisional`` is True when a day that decided ``last_day`` lies in a year without
    calendar data (weekends only were assumed): recompute once the year's notice is loaded.
    """

    last_day: date
    provisional: bool

    @property
    def ends_at(self) -> datetime:
        """The first instant that is late: 24:00 of ``last_day`` in China (Art. 203 ¶2)."""
        return datetime.combine(self.last_day + timedelta(days=1), time(0), tzinfo=CHINA_TZ)

    def is_overdue(self, now: datetime) -> bool:
        _require_aware(now, "now")
        return now >= self.ends_at


def _require_aware(at: datetime, name: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {at!r}")


def _require_positive(value: int, name: str) -> None:
    # A zero or negative statutory period does not exist; reaching here is a programming
    # error, not user input (user-entered extensions are checked with DomainError).
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _roll_over(cal: StatutoryCalendar, nominal: date) -> Due:
    """Art. 203: a last day on a rest day moves to the next working day.

    Every day from ``nominal`` to the result decided it, so any of them being provisional
    makes the result provisional (a holiday block may run into a year without data).
    """
    day = nominal
    provisional = cal.is_provisional(day)
    while not cal.is_working_day(day):
        day += timedelta(days=1)
        provisional = provisional or cal.is_provisional(day)
    return Due(day, provisional)


def calendar_days_period(cal: StatutoryCalendar, event_at: datetime, days: int) -> Due:
    """A period of ``days`` 日 from the event: ends on event day + days, rolled over."""
    _require_positive(days, "days")
    return _roll_over(cal, local_date(event_at) + timedelta(days=days))


def working_days_period(cal: StatutoryCalendar, event_at: datetime, days: int) -> Due:
    """A period of ``days`` 工作日: the days-th working day after the event day."""
    _require_positive(days, "days")
    day = local_date(event_at)
    provisional = False
    remaining = days
    while remaining:
        day += timedelta(days=1)
        # Every day counted or skipped decided the result.
        provisional = provisional or cal.is_provisional(day)
        if cal.is_working_day(day):
            remaining -= 1
    return Due(day, provisional)


def add_months(day: date, months: int) -> date:
    """Art. 202: the corresponding day ``months`` later, or that month's last day."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, _stdlib_calendar.monthrange(year, month)[1]))


def months_period(cal: StatutoryCalendar, event_at: datetime, months: int) -> Due:
    """A period of ``months`` 月 from the event (Art. 202), rolled over (Art. 203)."""
    _require_positive(months, "months")
    return _roll_over(cal, add_months(local_date(event_at), months))


# --- the clocks -----------------------------------------------------------------------


def notice_due(cal: StatutoryCalendar, received_at: datetime) -> Due:
    """Last day to give the written notice of acceptance (条例 Art. 22-23)."""
    return calendar_days_period(cal, received_at, NOTICE_DAYS)


def dispatch_due(cal: StatutoryCalendar, received_at: datetime) -> Due:
    """Last day for the petition office to 转送/交办 (条例 Art. 22)."""
    return calendar_days_period(cal, received_at, DISPATCH_DAYS)


def objection_due(cal: StatutoryCalendar, received_at: datetime) -> Due:
    """Last day to object to a misrouted item, with reasons (条例 Art. 23 ¶3)."""
    return working_days_period(cal, received_at, OBJECTION_WORKING_DAYS)


def handling_due(cal: StatutoryCalendar, accepted_at: datetime, extension_days: int = 0) -> Due:
    """Last day to decide (条例 Art. 34): 60 days from acceptance, plus an approved extension.

    The extension lengthens the one period counted from acceptance (60 + ext days), so a
    holiday roll-over at the original end does not shift the extended end.
    """
    if isinstance(extension_days, bool) or not isinstance(extension_days, int):
        raise ValueError(f"extension_days must be an int, got {extension_days!r}")
    if extension_days < 0:
        raise DomainError("延长期限天数不能为负数", code="case.invalid_extension")
    if extension_days > MAX_EXTENSION_DAYS:
        raise DomainError(
            f"延长期限不得超过{MAX_EXTENSION_DAYS}日（《信访工作条例》第三十四条），申请的是{extension_days}日",
            code="case.extension_too_long",
            data={"extension_days": extension_days, "max": MAX_EXTENSION_DAYS},
        )
    return calendar_days_period(cal, accepted_at, HANDLING_DAYS + extension_days)


def review_request_window(cal: StatutoryCalendar, reply_received_at: datetime) -> Due:
    """Last day for the petitioner to request 复查 (条例 Art. 35)."""
    return calendar_days_period(cal, reply_received_at, REVIEW_REQUEST_DAYS)


def review_decision_due(cal: StatutoryCalendar, requested_at: datetime) -> Due:
    """Last day to decide a 复查; ``requested_at`` is when the organ received the request."""
    return calendar_days_period(cal, requested_at, REVIEW_DECISION_DAYS)


def rereview_request_window(cal: StatutoryCalendar, review_reply_received_at: datetime) -> Due:
    """Last day for the petitioner to request 复核 (条例 Art. 36)."""
    return calendar_days_period(cal, review_reply_received_at, REREVIEW_REQUEST_DAYS)


def rereview_decision_due(cal: StatutoryCalendar, requested_at: datetime, hearing_days: int = 0) -> Due:
    """Last day to decide a 复核 (条例 Art. 36); days spent on a 听证 are not counted."""
    if isinstance(hearing_days, bool) or not isinstance(hearing_days, int):
        raise ValueError(f"hearing_days must be an int, got {hearing_days!r}")
    if hearing_days < 0:
        raise DomainError("听证天数不能为负数", code="case.invalid_hearing_days")
    return calendar_days_period(cal, requested_at, REREVIEW_DECISION_DAYS + hearing_days)


def mediation_target(cal: StatutoryCalendar, started_at: datetime) -> Due:
    """Soft target to close a people's mediation (若干规定 Art. 33): warn, never block."""
    return months_period(cal, started_at, MEDIATION_TARGET_MONTHS)


def judicial_confirmation_window(cal: StatutoryCalendar, agreement_effective_at: datetime) -> Due:
    """Last day for the parties to apply jointly for judicial confirmation (人民调解法 Art. 33)."""
    return calendar_days_period(cal, agreement_effective_at, JUDICIAL_CONFIRMATION_DAYS)


# --- traffic light --------------------------------------------------------------------


class Light(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


def light(
    now: datetime,
    started_at: datetime,
    due: Due,
    yellow_share: Fraction = Fraction(2, 3),
) -> Light:
    """Red when overdue; yellow once ``yellow_share`` of started_at..due.ends_at has passed."""
    _require_aware(now, "now")
    _require_aware(started_at, "started_at")
    share = Fraction(yellow_share)
    if not 0 <= share <= 1:
        raise ValueError(f"yellow_share must be within [0, 1], got {yellow_share!r}")
    if due.is_overdue(now):
        return Light.RED
    if now < started_at:
        return Light.GREEN
    # Exact integer arithmetic on microseconds: a float share could flip the colour one
    # microsecond early or late, which tests and sweeps on two machines would disagree on.
    elapsed = (now - started_at) // timedelta(microseconds=1)
    span = (due.ends_at - started_at) // timedelta(microseconds=1)
    if elapsed * share.denominator >= span * share.numerator:
        return Light.YELLOW
    return Light.GREEN
