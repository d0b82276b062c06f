"""Periodic 排查 reports: who owes one, for which period, by when, and how a region stands.

Every grid, village, township and county owes one report per period of its level's
cadence (DOMAIN.md §7); a 零报告 ("nothing found") is a report. Grids report on the
village cadence. The cadence, the sensitive periods and the grace are local policy
(``[screening]`` of the county's policy file, parsed by ``grid.policy``); this module
turns them into periods, due dates, timeliness, completeness and reminder instants.

Rules (docs/screening.md):

- A period follows its cadence's natural boundaries (weekly: Monday-Sunday; half-month:
  1st-15th and 16th-end of month; monthly: the calendar month). A sensitive period that
  lists the level replaces the cadence on its days, and both cadences are **cut** where the
  sensitive period begins and ends: every day belongs to exactly one period, and no period
  straddles a change of cadence. So a sensitive period from Friday 25 September to
  Saturday 10 October 2026 (weekly) turns the village half-month of 16-30 September into
  16-24 September, then weeks 25-27 September, 28 September-4 October, 5-10 October,
  then the half-month resumes with 11-15 October.
- A report is due by the end (24:00, China time) of the ``grace_working_days``-th working
  day after the period's last day on the official calendar (holidays and 调休 included);
  with no grace, by the end of the last day rolled over to the next working day.
- Server time decides: a report is on time when the server received it before the due
  instant, late otherwise. The device's clock is kept as data only.
- Reminders fall at the policy's reminder hour ``remind_days_before`` calendar days before
  the due day (never before the period began); only the latest one due is worth sending.

Pure: every function takes the policy, the calendar and ``now``; nothing reads a clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from grid import policy as policy_rules
from grid.calendar import StatutoryCalendar, local_date
from grid.cases import HandlingLevel
from grid.deadlines import Due
from grid.errors import DomainError, Issue
from grid.hierarchy import Level
from grid.people import Role
from grid.policy import Policy, ScreeningPeriod
from grid.storage_types import UTCDateTime

INVALID_PERIOD = "screening.invalid_period"
NOT_STARTED = "screening.period_not_started"
NOT_A_UNIT = "screening.not_a_unit"

# Which cadence of the policy each reporting node follows: grids report on the village's.
CADENCE_LEVEL: Mapping[Level, HandlingLevel] = MappingProxyType(
    {
        Level.GRID: HandlingLevel.VILLAGE,
        Level.VILLAGE: HandlingLevel.VILLAGE,
        Level.TOWNSHIP: HandlingLevel.TOWNSHIP,
        Level.COUNTY: HandlingLevel.COUNTY,
    }
)
REPORTING_LEVELS = tuple(CADENCE_LEVEL)
# Who files a node's report: the person answering for that node, on it. Mediators and
# admins do not file; a village leader files the village's own report, not a grid's.
FILERS: Mapping[Level, frozenset[Role]] = MappingProxyType(
    {
        Level.GRID: frozenset({Role.GRID_WORKER}),
        Level.VILLAGE: frozenset({Role.VILLAGE_LEADER}),
        Level.TOWNSHIP: frozenset({Role.TOWN_OFFICER}),
        Level.COUNTY: frozenset({Role.COUNTY_OFFICER}),
    }
)
# How far back a reminder can still be pending: a period's due day lies at most 15
# working days (the policy's ceiling on grace) after its end, well within this.
REMINDER_LOOKBACK_DAYS = 62

MAX_ITEMS = 50
MAX_CASE_IDS = 100
MAX_FOUND = 10_000


class Timeliness(StrEnum):
    ON_TIME = "on_time"  # received before the due instant
    LATE = "late"  # received at or after it
    MISSING = "missing"  # not received, and the due instant has passed
    PENDING = "pending"  # not received, not due yet


TIMELINESS_NAMES_ZH = {
    Timeliness.ON_TIME: "按时上报",
    Timeliness.LATE: "逾期上报",
    Timeliness.MISSING: "逾期未报",
    Timeliness.PENDING: "未到期",
}


# ---------------------------------------------------------------- periods


def cadence_level(level: Level | str) -> HandlingLevel:
    """The policy level whose cadence a node follows; provinces and cities file nothing."""
    try:
        return CADENCE_LEVEL[Level(level)]
    except (KeyError, ValueError):
        raise DomainError(
            "该区划层级不报送排查报告（只有网格、村（社区）、乡镇（街道）和县报送）",
            code=NOT_A_UNIT,
            data={"level": str(level)},
        ) from None


def period_on(policy: Policy, level: Level | str, day: date, calendar: StatutoryCalendar) -> ScreeningPeriod:
    """The report period of a node of ``level`` that contains ``day``."""
    [period] = policy.screening_periods(cadence_level(level), day, day, calendar)
    return period


def periods_between(
    policy: Policy, level: Level | str, start: date, end: date, calendar: StatutoryCalendar
) -> list[ScreeningPeriod]:
    """Every report period of a node of ``level`` that overlaps ``start..end``, in order."""
    return policy.screening_periods(cadence_level(level), start, end, calendar)


def match_period(
    policy: Policy, level: Level | str, start: date, end: date, calendar: StatutoryCalendar
) -> ScreeningPeriod:
    """The period ``start..end`` exactly, or ``screening.invalid_period`` naming the right one.

    A phone that computed its period under an older policy (a sensitive period added
    since) is told which period its first day now belongs to.
    """
    period = period_on(policy, level, start, calendar)
    if (period.start, period.end) != (start, end):
        raise DomainError(
            f"报告期应为{_span_zh(period)}，不是{start.isoformat()}至{end.isoformat()}",
            code=INVALID_PERIOD,
            data={
                "expected_start": period.start.isoformat(),
                "expected_end": period.end.isoformat(),
                "cadence": period.cadence.value,
            },
        )
    return period


def check_started(period: ScreeningPeriod, now: datetime) -> None:
    """A report may be filed from the period's first day on (early, if the worker will be away)."""
    if local_date(now) < period.start:
        raise DomainError(
            f"报告期{_span_zh(period)}尚未开始，不能提前报送",
            code=NOT_STARTED,
            data={"period_start": period.start.isoformat()},
        )


def due_after(policy: Policy, last_day: date, calendar: StatutoryCalendar) -> Due:
    """When a report for a period ending on ``last_day`` is due (the policy's own rule)."""
    return policy_rules._report_due(calendar, last_day, policy.screening.grace_working_days)


def _span_zh(period: ScreeningPeriod) -> str:
    return f"{period.start.isoformat()}至{period.end.isoformat()}"


# ---------------------------------------------------------------- timeliness


def is_on_time(due: Due, submitted_at: datetime) -> bool:
    return submitted_at < due.ends_at


def timeliness(due: Due, submitted_at: datetime | None, now: datetime) -> Timeliness:
    if submitted_at is not None:
        return Timeliness.ON_TIME if is_on_time(due, submitted_at) else Timeliness.LATE
    return Timeliness.MISSING if now >= due.ends_at else Timeliness.PENDING


@dataclass(frozen=True)
class Completeness:
    """How the nodes of a region stand for a period.

    ``due`` counts every node that owes a report; ``received`` those whose report is in
    (a 零报告 counts). 排查上报及时率 is ``on_time`` over the nodes whose outcome is
    known (on time, late, or missing past the due instant): reports not yet due neither
    help nor hurt, so the rate read mid-period is the rate so far, and once every due
    instant has passed it is on time / due.
    """

    due: int = 0
    received: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0
    pending: int = 0

    @property
    def decided(self) -> int:
        return self.on_time + self.late + self.missing

    @property
    def timely_rate(self) -> Fraction | None:
        return Fraction(self.on_time, self.decided) if self.decided else None

    @property
    def received_rate(self) -> Fraction | None:
        return Fraction(self.received, self.due) if self.due else None

    def __add__(self, other: Completeness) -> Completeness:
        return Completeness(
            self.due + other.due,
            self.received + other.received,
            self.on_time + other.on_time,
            self.late + other.late,
            self.missing + other.missing,
            self.pending + other.pending,
        )


def tally(outcomes: Iterable[Timeliness]) -> Completeness:
    counts = dict.fromkeys(Timeliness, 0)
    for outcome in outcomes:
        counts[outcome] += 1
    received = counts[Timeliness.ON_TIME] + counts[Timeliness.LATE]
    return Completeness(
        due=sum(counts.values()),
        received=received,
        on_time=counts[Timeliness.ON_TIME],
        late=counts[Timeliness.LATE],
        missing=counts[Timeliness.MISSING],
        pending=counts[Timeliness.PENDING],
    )


# ---------------------------------------------------------------- reminders


@dataclass(frozen=True)
class DueReminder:
    period: ScreeningPeriod
    at: datetime


def deliverable_reminder(period: ScreeningPeriod, now: datetime) -> datetime | None:
    """The reminder instant of ``period`` worth sending at ``now``, if any.

    The latest instant that has come, while the report is not yet due. An earlier one
    found only after a later one came (the job did not run in between) is overtaken:
    one reminder, the nearest to the due day, is sent instead of a burst.
    """
    if now >= period.due.ends_at:
        return None
    come = [at for at in period.reminders if at <= now]
    return max(come) if come else None


def reminders_due(
    policy: Policy, level: HandlingLevel, now: datetime, calendar: StatutoryCalendar
) -> list[DueReminder]:
    """Every period of ``level`` with a reminder worth sending at ``now``."""
    today = local_date(now)
    periods = policy.screening_periods(level, today - timedelta(days=REMINDER_LOOKBACK_DAYS), today, calendar)
    found = []
    for period in periods:
        at = deliverable_reminder(period, now)
        if at is not None:
            found.append(DueReminder(period, at))
    return found


# ---------------------------------------------------------------- findings


def check_findings(zero_report: bool, found_count: int, items: list[str], case_ids: list[Any]) -> list[Issue]:
    """A 零报告 finds nothing; a report that found something says what (at least one line)."""
    issues: list[Issue] = []
    if zero_report:
        if found_count or items or case_ids:
            issues.append(
                Issue("zero_report", "screening.zero_report_with_findings", "零报告不能填写排查发现的事项或案件")
            )
        return issues
    if found_count < 1:
        issues.append(
            Issue("found_count", "screening.findings_required", "非零报告须填写发现的矛盾纠纷数（至少 1 件）")
        )
    if not items:
        issues.append(Issue("items", "screening.findings_required", "非零报告须简要列出发现的事项"))
    elif len(items) > max(found_count, 1):
        issues.append(
            Issue("items", "screening.items_exceed_count", f"列出的事项（{len(items)} 条）多于发现数（{found_count}）")
        )
    if len(set(case_ids)) != len(case_ids):
        issues.append(Issue("case_ids", "screening.duplicate_case", "同一案件不能重复列出"))
    return issues


# ---------------------------------------------------------------- storage


class ScreeningReport(SQLModel, table=True):
    """One node's 排查 report for one period (a 零报告 when nothing was found).

    The id is made on the phone; the report is immutable once filed. One per (node,
    period): the unique key stops a second one, and a retry of the same report (same id,
    same content) is acknowledged without a second row.
    """

    __tablename__ = "screening_report"
    __table_args__ = (
        UniqueConstraint("region_code", "period_start", name="uq_screening_report_region_period"),
        Index("ix_screening_report_period", "period_start", "period_end"),
        Index("ix_screening_report_submitted", "submitted_at", "id"),
    )

    id: uuid.UUID = Field(primary_key=True)
    region_code: str = Field(max_length=20, foreign_key="region.code")
    # The node's level when it filed (grid, village, township, county).
    level: str = Field(max_length=16)
    period_start: date
    period_end: date
    cadence: str = Field(max_length=16)
    # The sensitive period whose cadence applied, by name, or None.
    sensitive: str | None = Field(default=None, max_length=100)
    zero_report: bool
    found_count: int = 0
    items: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    case_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    submitted_by: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    submitted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    captured_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # SHA-256 of the filed content: a retry with the same id must carry the same content.
    digest: str = Field(max_length=64)


class ScreeningReminder(SQLModel, table=True):
    """A reminder sent to a node for one period at one reminder instant: never twice.

    The row is the claim: the job inserts it (ignoring a row already there) and writes
    the notification only for rows it inserted, in the same transaction.
    """

    __tablename__ = "screening_reminder"

    region_code: str = Field(max_length=20, foreign_key="region.code", primary_key=True)
    period_start: date = Field(primary_key=True)
    remind_at: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    period_end: date
    due_on: date
    recipients: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    sent_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
