"""The indicators of DOMAIN.md §7 for one region and one period, from plain records.

Pure: the caller (server/services/statistics.py) gathers the plain records of a region's
subtree — :class:`CaseRecord` for every case registered in the period, :class:`Activity`
for every 转送 / 交办 / 督办 done in it, :class:`ScreeningDue` for every 排查 report owed
for a period ending in it — and :func:`compute` turns them into :class:`Statistics`.
Nothing here reads a clock or a database: ``as_of`` says when the facts were read.

Every indicator's exact definition (numerator, denominator, which statuses and facts
count) is in docs/statistics.md; the code below follows it line by line, and the two must
change together.

The population: the **cohort** of cases registered in the period (China time, the period's
first day 00:00 to the day after its last day 00:00), each as it stands at ``as_of``. A
rate whose outcome is not known yet for some cases (a clock still running, an agreement
not yet due) leaves those cases out of its denominator and counts them as ``pending``, so
a rate read early is the rate so far, never one pulled down by work that is not late.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from grid import deadlines
from grid.calendar import CHINA_TZ, StatutoryCalendar, local_date
from grid.cases import (
    CHANNEL_NAMES_ZH,
    HANDLING_LEVEL_NAMES_ZH,
    KIND_NAMES_ZH,
    Channel,
    HandlingLevel,
    Kind,
)
from grid.errors import DomainError
from grid.hierarchy import codes_on_path
from grid.lifecycle import (
    OUTCOME_NAMES_ZH,
    PETITION_KINDS,
    ROUTE_NAMES_ZH,
    STATUS_NAMES_ZH,
    CaseFacts,
    Evaluation,
    Outcome,
    Route,
    Status,
)
from grid.screening import Timeliness, timeliness

INVALID_PERIOD = "statistics.invalid_period"
PERIOD_NOT_STARTED = "statistics.period_not_started"
# The years a period may name: before the first statute this system encodes (the 2022
# 条例) there is nothing to count, and a typo like 20226 is better refused than summed.
FIRST_YEAR = 2000
LAST_YEAR = 2100
# The annual report lists this many organs and units most complained about (Art. 41).
TOP_ORGANS = 10

PeriodKind = Literal["month", "quarter", "year"]
QUARTER_NAMES_ZH = {1: "第一季度", 2: "第二季度", 3: "第三季度", 4: "第四季度"}


# ---------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    """A calendar month, quarter or year, in China time."""

    kind: PeriodKind
    year: int
    number: int  # the month (1-12), the quarter (1-4), or 0 for a year
    start: date
    end: date  # the last day, inclusive

    @property
    def key(self) -> str:
        """How the API and file names spell it: 2026-11, 2026-Q4, 2026."""
        if self.kind == "month":
            return f"{self.year}-{self.number:02d}"
        if self.kind == "quarter":
            return f"{self.year}-Q{self.number}"
        return str(self.year)

    @property
    def label_zh(self) -> str:
        if self.kind == "month":
            return f"{self.year}年{self.number}月"
        if self.kind == "quarter":
            return f"{self.year}年{QUARTER_NAMES_ZH[self.number]}"
        return f"{self.year}年"

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, time(0), tzinfo=CHINA_TZ)

    @property
    def ends_at(self) -> datetime:
        """The first instant after the period (00:00 of the next day, China time)."""
        return datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=CHINA_TZ)

    def contains(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at

    def buckets(self) -> list[tuple[str, date, date]]:
        """The trend's steps: each day of a month, each month of a quarter or year."""
        if self.kind == "month":
            days = (self.end - self.start).days + 1
            return [
                (f"{day.day}日", day, day) for day in (self.start + timedelta(days=offset) for offset in range(days))
            ]
        steps = []
        month = self.start
        while month <= self.end:
            last = _month_end(month.year, month.month)
            steps.append((f"{month.month}月", month, last))
            month = last + timedelta(days=1)
        return steps


def _month_end(year: int, month: int) -> date:
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return following - timedelta(days=1)


def month_period(year: int, month: int) -> Period:
    return Period("month", year, month, date(year, month, 1), _month_end(year, month))


def quarter_period(year: int, quarter: int) -> Period:
    first = 3 * (quarter - 1) + 1
    return Period("quarter", year, quarter, date(year, first, 1), _month_end(year, first + 2))


def year_period(year: int) -> Period:
    return Period("year", year, 0, date(year, 1, 1), date(year, 12, 31))


def previous_month(day: date) -> Period:
    """The month before the one containing ``day`` (the monthly job's period)."""
    last = day.replace(day=1) - timedelta(days=1)
    return month_period(last.year, last.month)


class PeriodError(DomainError):
    code = INVALID_PERIOD


_PERIOD = re.compile(r"^(\d{4})(?:-(?:(\d{1,2})|[Qq](\d)))?$")


def parse_period(text: str) -> Period:
    """``2026-11`` (a month), ``2026-Q4`` (a quarter) or ``2026`` (a year).

    Anything else is refused with ``statistics.invalid_period``, saying what was wrong.
    """
    raw = (text or "").strip()
    expected = "统计期应写作 2026-11（月）、2026-Q4（季度）或 2026（年）"
    match = _PERIOD.match(raw)
    if match is None:
        raise PeriodError(f"无法识别的统计期“{raw}”：{expected}", data={"period": raw, "expected": _FORMATS})
    year = int(match.group(1))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise PeriodError(
            f"统计期的年份 {year} 超出范围（{FIRST_YEAR}-{LAST_YEAR}）",
            data={"period": raw, "expected": _FORMATS},
        )
    if match.group(2) is not None:
        month = int(match.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(f"月份应为 01-12，不是 {match.group(2)}", data={"period": raw, "expected": _FORMATS})
        return month_period(year, month)
    if match.group(3) is not None:
        quarter = int(match.group(3))
        if not 1 <= quarter <= 4:
            raise PeriodError(f"季度应为 Q1-Q4，不是 Q{quarter}", data={"period": raw, "expected": _FORMATS})
        return quarter_period(year, quarter)
    return year_period(year)


_FORMATS = ["YYYY-MM", "YYYY-Qn", "YYYY"]


def check_started(period: Period, now: datetime) -> None:
    """A period that has not begun has nothing to count: say so rather than show zeros."""
    if local_date(now) < period.start:
        raise DomainError(
            f"统计期{period.label_zh}尚未开始",
            code=PERIOD_NOT_STARTED,
            data={"period": period.key, "period_start": period.start.isoformat()},
        )


# ---------------------------------------------------------------- plain records


@dataclass(frozen=True)
class CaseRecord:
    """One case registered in the period, as the statistics need it."""

    id: str
    kind: Kind
    category: str  # the category code
    channel: str
    is_collective: bool
    region_path: str  # the place of the matter (village or grid path)
    registered_at: datetime
    facts: CaseFacts
    # Linked as a repeat of an earlier matter (grid/repeats.py, Art. 19 ¶3).
    duplicate: bool = False
    # Recorded as 越级 (Art. 20 ¶1), and the channel it came by.
    skip_level: bool = False
    # When the case was declined (不予受理): the lifecycle facts keep no time for it, the
    # timeline's ``decline`` entry does.
    declined_at: datetime | None = None
    # Names of the organisations the case complains about (respondents of kind
    # organisation): the nearest recorded fact to "organs complained about" (Art. 41).
    respondent_organisations: tuple[str, ...] = ()


ActivityKind = Literal["route", "refer_down", "supervision"]
ACTIVITY_NAMES_ZH: dict[str, str] = {"route": "转送", "refer_down": "交办", "supervision": "督办"}


@dataclass(frozen=True)
class Activity:
    """One 转送 (``route``), 交办 (``refer_down``) or 督办 (``supervision``) done in the period."""

    kind: ActivityKind
    at: datetime
    case_id: str
    # 转送: the route (grid.lifecycle.Route); 督办: replied / open / overdue at as_of.
    detail: str | None = None


@dataclass(frozen=True)
class ScreeningDue:
    """One 排查 report a node owed for a report period that ended in the statistics period."""

    region_code: str
    level: str
    period_start: date
    period_end: date
    due: deadlines.Due
    submitted_at: datetime | None


# ---------------------------------------------------------------- figures


@dataclass(frozen=True)
class Ratio:
    """A rate with its parts. ``pending`` cases are known to the population but not yet
    decided either way; they are outside the denominator."""

    numerator: int
    denominator: int
    pending: int = 0

    @property
    def value(self) -> float | None:
        return round(self.numerator / self.denominator, 4) if self.denominator else None

    def to_json(self) -> dict[str, Any]:
        return {
            "numerator": self.numerator,
            "denominator": self.denominator,
            "pending": self.pending,
            "rate": self.value,
        }


@dataclass(frozen=True)
class Count:
    code: str
    name: str
    count: int


@dataclass(frozen=True)
class UnitRow:
    """One child region of the report's region (a township of a county, a village of a township)."""

    code: str
    name: str
    registered: int
    resolved: int
    resolution: Ratio


# Indicator keys, their Chinese names and the section they belong to, in report order.
RATE_NAMES_ZH: dict[str, str] = {
    "resolution": "化解率",
    "resolved_in_village": "村级化解占比",
    "resolved_in_township": "镇级化解占比",
    "resolved_in_county": "县级化解占比",
    "timely_acceptance": "及时受理率",
    "on_time_handling": "按期办结率",
    "satisfaction": "满意率",
    "participation": "参评率",
    "repeat": "重复访率",
    "mediation_success": "调解成功率",
    "agreement_performance": "协议履行率",
    "judicial_confirmation": "司法确认（申请）率",
    "screening_timeliness": "排查上报及时率",
}
COUNT_NAMES_ZH: dict[str, str] = {
    "registered": "登记件数",
    "accepted": "受理件数",
    "routed_out": "依法分流（转送）件数",
    "resolved": "化解件数",
    "skip_level": "越级访件数",
    "skip_level_visits": "其中越级来访",
    "collective": "集体信访件数",
    "collective_visits": "集体访件数（来访）",
    "duplicates": "重复信访件数",
    "evaluated_satisfied": "满意",
    "evaluated_basically_satisfied": "基本满意",
    "evaluated_dissatisfied": "不满意",
    "screening_owed": "应报排查报告",
    "screening_on_time": "按时上报",
    "screening_late": "逾期上报",
    "screening_missing": "逾期未报",
    "screening_pending": "未到期",
}
BREAKDOWN_NAMES_ZH = {
    "kind": "按事项类型",
    "category": "按纠纷类别",
    "level": "按办理层级",
    "channel": "按来源渠道",
    "status": "按办理状态",
}
ANNUAL_NAMES_ZH = {
    "route": "转送（分流）次数",
    "refer_down": "交办次数",
    "supervision": "督办件次",
    "supervision_replied": "其中已书面回复",
    "supervision_open": "其中待回复",
    "supervision_overdue": "其中逾期未回复",
    "suggestions": "建议意见类事项",
}


@dataclass(frozen=True)
class Statistics:
    region_code: str
    region_name: str
    period: Period
    as_of: datetime
    counts: dict[str, int]
    rates: dict[str, Ratio]
    breakdowns: dict[str, list[Count]]
    units: list[UnitRow]
    trend: list[tuple[str, int, int]]  # (label, petitions, civil disputes) registered per step
    organs: list[Count]  # organisations most complained about
    activities: dict[str, int]
    routes: list[Count]  # 转送 by route
    suggestion_outcomes: list[Count]

    def to_json(self) -> dict[str, Any]:
        return {
            "region": {"code": self.region_code, "name": self.region_name},
            "period": {
                "key": self.period.key,
                "kind": self.period.kind,
                "label": self.period.label_zh,
                "start": self.period.start.isoformat(),
                "end": self.period.end.isoformat(),
            },
            "as_of": self.as_of.astimezone(CHINA_TZ).isoformat(),
            "counts": dict(self.counts),
            "rates": {key: ratio.to_json() for key, ratio in self.rates.items()},
            "breakdowns": {
                key: [{"code": item.code, "name": item.name, "count": item.count} for item in items]
                for key, items in self.breakdowns.items()
            },
            "units": [
                {
                    "code": unit.code,
                    "name": unit.name,
                    "registered": unit.registered,
                    "resolved": unit.resolved,
                    "resolution": unit.resolution.to_json(),
                }
                for unit in self.units
            ],
            "trend": [{"label": label, "petitions": p, "civil_disputes": c} for label, p, c in self.trend],
            "annual": {
                "activities": dict(self.activities),
                "routes": [{"code": item.code, "name": item.name, "count": item.count} for item in self.routes],
                "organs": [{"name": item.name, "count": item.count} for item in self.organs],
                "suggestions": {
                    "count": self.counts["suggestions"],
                    "outcomes": [
                        {"code": item.code, "name": item.name, "count": item.count} for item in self.suggestion_outcomes
                    ],
                    # The model records the reply's outcome, never whether a suggestion
                    # was adopted (采纳): docs/statistics.md.
                    "adoption_recorded": False,
                },
            },
        }


# ---------------------------------------------------------------- the rules per case


def is_routed_out(facts: CaseFacts) -> bool:
    """分流转送 (Art. 30, 31 (1)-(5)): the matter went to another organ or procedure."""
    return facts.route is not None


def is_resolved(facts: CaseFacts) -> bool:
    """化解: a mediation agreement in effect and not reported unperformed, or the case
    closed after a written reply (信访处理意见书, 复查 or 复核意见)."""
    if facts.agreement_effective_at is not None and facts.performance != "not_performed":
        return True
    return facts.status is Status.CLOSED and facts.reply_outcome is not None


DueOf = Callable[..., deadlines.Due]


def by_day(due_of: DueOf) -> DueOf:
    """``due_of(at, *extra)`` remembered per China date of ``at``: a statutory period is
    counted from the event's day (民法典 Art. 201), so every event of one day shares it,
    and 10,000 cases of a month need only some thirty calendar walks."""
    known: dict[tuple[Any, ...], deadlines.Due] = {}

    def due(at: datetime, *extra: Any) -> deadlines.Due:
        key = (local_date(at), *extra)
        if key not in known:
            known[key] = due_of(at, *extra)
        return known[key]

    return due


def acceptance_timeliness(
    record: CaseRecord, calendar: StatutoryCalendar, as_of: datetime, notice_due: DueOf | None = None
) -> Timeliness | None:
    """Was a petition accepted or declined within the 15-day notice clock (Art. 22, 23)?

    None for civil disputes: the clock is the 条例's, not people's mediation's.
    """
    if record.kind not in PETITION_KINDS:
        return None
    facts = record.facts
    decided = [at for at in (facts.accepted_at, record.declined_at) if at is not None]
    due = (notice_due or (lambda at: deadlines.notice_due(calendar, at)))(record.registered_at)
    return timeliness(due, min(decided) if decided else None, as_of)


def handling_done_at(facts: CaseFacts) -> datetime | None:
    """When route-(6) handling ended: the first of the written reply, a mediation agreement
    taking effect (Art. 33), routing out, or closure, on or after handling began."""
    started = facts.handling_started_at
    if started is None:
        return None
    ends = [
        at
        for at in (facts.replied_at, facts.agreement_effective_at, facts.routed_at, facts.closed_at)
        if at is not None and at >= started
    ]
    return min(ends) if ends else None


def handling_timeliness(
    facts: CaseFacts, calendar: StatutoryCalendar, as_of: datetime, handling_due: DueOf | None = None
) -> Timeliness | None:
    """Was route-(6) handling finished within 60 days of acceptance (90 with the extension)?"""
    if facts.handling_started_at is None or facts.accepted_at is None:
        return None
    due_of = handling_due or (lambda at, days: deadlines.handling_due(calendar, at, days))
    return timeliness(due_of(facts.accepted_at, facts.extension_days or 0), handling_done_at(facts), as_of)


_MEDIATING = frozenset({Status.IN_MEDIATION, Status.AGREEMENT_PENDING})
_CONTENT = frozenset({Evaluation.SATISFIED, Evaluation.BASICALLY_SATISFIED})


def _ratio(outcomes: Iterable[Timeliness | None]) -> Ratio:
    counts = Counter(outcome for outcome in outcomes if outcome is not None)
    on_time = counts[Timeliness.ON_TIME]
    return Ratio(on_time, on_time + counts[Timeliness.LATE] + counts[Timeliness.MISSING], counts[Timeliness.PENDING])


def unit_of(region_path: str, depth: int, own_code: str) -> str:
    """The child of the report's region (at ``depth`` on the path) that holds a case;
    the region itself for a case filed on the region's own node."""
    codes = codes_on_path(region_path)
    return codes[depth] if len(codes) > depth else own_code


# ---------------------------------------------------------------- compute


def compute(
    *,
    region_code: str,
    region_name: str,
    region_path: str,
    period: Period,
    as_of: datetime,
    calendar: StatutoryCalendar,
    cases: Sequence[CaseRecord],
    activities: Sequence[Activity] = (),
    screening: Sequence[ScreeningDue] = (),
    categories: Mapping[str, str] | None = None,
    children: Mapping[str, str] | None = None,
) -> Statistics:
    """Every indicator of DOMAIN.md §7 and the Art. 41 sections, for one region and period.

    ``cases`` are those registered in the period under the region (the caller filters);
    ``categories`` names category codes; ``children`` names the region's child regions
    (code → name) for the per-unit table, in the order to show them.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware datetime")
    categories = categories or {}
    children = dict(children or {})
    facts_of = [record.facts for record in cases]

    accepted = [facts for facts in facts_of if facts.accepted_at is not None]
    routed = [facts for facts in accepted if is_routed_out(facts)]
    handled = [facts for facts in accepted if not is_routed_out(facts)]
    resolved = [facts for facts in handled if is_resolved(facts)]
    resolved_at = Counter(facts.level for facts in resolved)

    # Only an evaluation of something evaluable counts (a later agreement or reply clears
    # what the earlier one's evaluation was about).
    evaluable = [facts for facts in facts_of if facts.reply_outcome is not None or facts.agreement_effective_at]
    evaluations = Counter(facts.evaluation for facts in evaluable if facts.evaluation is not None)
    evaluated = sum(evaluations.values())

    mediated = [facts for facts in facts_of if facts.mediation_started_at is not None]
    mediation_success = sum(1 for facts in mediated if facts.agreement_effective_at is not None)
    mediation_pending = sum(
        1 for facts in mediated if facts.agreement_effective_at is None and facts.status in _MEDIATING
    )
    agreements = [facts for facts in facts_of if facts.agreement_effective_at is not None]
    performed = sum(1 for facts in agreements if facts.performance == "performed")
    not_performed = sum(1 for facts in agreements if facts.performance == "not_performed")
    performance_pending = len(agreements) - performed - not_performed
    written = [facts for facts in agreements if facts.agreement_form == "written"]
    confirmed = sum(1 for facts in written if facts.judicial_confirmation_requested_at is not None)

    notice_due = by_day(lambda at: deadlines.notice_due(calendar, at))
    handling_due = by_day(lambda at, days: deadlines.handling_due(calendar, at, days))
    screening_outcomes = [timeliness(item.due, item.submitted_at, as_of) for item in screening]
    screening_counts = Counter(screening_outcomes)

    registered = len(cases)
    duplicates = sum(1 for record in cases if record.duplicate)
    skip_level = [record for record in cases if record.skip_level]
    collective = [record for record in cases if record.is_collective]
    suggestions = [record for record in cases if record.kind is Kind.SUGGESTION]

    counts = {
        "registered": registered,
        "accepted": len(accepted),
        "routed_out": len(routed),
        "resolved": len(resolved),
        "skip_level": len(skip_level),
        "skip_level_visits": sum(1 for record in skip_level if record.channel == Channel.VISIT.value),
        "collective": len(collective),
        "collective_visits": sum(1 for record in collective if record.channel == Channel.VISIT.value),
        "duplicates": duplicates,
        "evaluated_satisfied": evaluations[Evaluation.SATISFIED],
        "evaluated_basically_satisfied": evaluations[Evaluation.BASICALLY_SATISFIED],
        "evaluated_dissatisfied": evaluations[Evaluation.DISSATISFIED],
        "screening_owed": len(screening_outcomes),
        "screening_on_time": screening_counts[Timeliness.ON_TIME],
        "screening_late": screening_counts[Timeliness.LATE],
        "screening_missing": screening_counts[Timeliness.MISSING],
        "screening_pending": screening_counts[Timeliness.PENDING],
        "suggestions": len(suggestions),
    }
    rates = {
        "resolution": Ratio(len(resolved), len(handled)),
        "resolved_in_village": Ratio(resolved_at[HandlingLevel.VILLAGE], len(resolved)),
        "resolved_in_township": Ratio(resolved_at[HandlingLevel.TOWNSHIP], len(resolved)),
        "resolved_in_county": Ratio(resolved_at[HandlingLevel.COUNTY], len(resolved)),
        "timely_acceptance": _ratio(acceptance_timeliness(record, calendar, as_of, notice_due) for record in cases),
        "on_time_handling": _ratio(handling_timeliness(facts, calendar, as_of, handling_due) for facts in facts_of),
        "satisfaction": Ratio(sum(evaluations[item] for item in _CONTENT), evaluated),
        "participation": Ratio(evaluated, len(evaluable)),
        "repeat": Ratio(duplicates, registered),
        "mediation_success": Ratio(mediation_success, len(mediated) - mediation_pending, mediation_pending),
        "agreement_performance": Ratio(performed, performed + not_performed, performance_pending),
        "judicial_confirmation": Ratio(confirmed, len(written)),
        "screening_timeliness": _ratio(screening_outcomes),
    }

    def breakdown(values: Iterable[str], names: Mapping[str, str], order: Iterable[str] = ()) -> list[Count]:
        tally = Counter(values)
        known = [code for code in order if code in tally] + sorted(code for code in tally if code not in order)
        return [Count(code, names.get(code, code), tally[code]) for code in known]

    breakdowns = {
        "kind": breakdown((r.kind.value for r in cases), {k.value: v for k, v in KIND_NAMES_ZH.items()}, _values(Kind)),
        "level": breakdown(
            (f.level.value for f in facts_of),
            {k.value: v for k, v in HANDLING_LEVEL_NAMES_ZH.items()},
            _values(HandlingLevel),
        ),
        "channel": breakdown(
            (r.channel for r in cases), {k.value: v for k, v in CHANNEL_NAMES_ZH.items()}, _values(Channel)
        ),
        "status": breakdown(
            (f.status.value for f in facts_of), {k.value: v for k, v in STATUS_NAMES_ZH.items()}, _values(Status)
        ),
    }
    # Every category of the list appears, a zero being a figure too; most cases first, then
    # the list's own order (a stable sort keeps it among equals).
    category_tally = Counter(record.category for record in cases)
    category_order = [*categories, *sorted(code for code in category_tally if code not in categories)]
    breakdowns["category"] = sorted(
        (Count(code, categories.get(code, code), category_tally[code]) for code in category_order),
        key=lambda item: -item.count,
    )

    depth = len(codes_on_path(region_path))
    per_unit: dict[str, list[CaseFacts]] = {code: [] for code in children}
    for record in cases:
        per_unit.setdefault(unit_of(record.region_path, depth, region_code), []).append(record.facts)
    units = []
    for code, unit_facts in per_unit.items():
        unit_handled = [f for f in unit_facts if f.accepted_at is not None and not is_routed_out(f)]
        unit_resolved = sum(1 for f in unit_handled if is_resolved(f))
        name = children.get(code) or (f"{region_name}（本级）" if code == region_code else code)
        units.append(UnitRow(code, name, len(unit_facts), unit_resolved, Ratio(unit_resolved, len(unit_handled))))

    # One pass over the cases, then one look-up per day of each step.
    per_day = Counter((local_date(record.registered_at), record.kind in PETITION_KINDS) for record in cases)
    trend = []
    for label, first, last in period.buckets():
        days = [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
        petitions = sum(per_day[(day, True)] for day in days)
        trend.append((label, petitions, sum(per_day[(day, False)] for day in days)))

    organ_counts = Counter(name for record in cases for name in dict.fromkeys(record.respondent_organisations))
    organs = [
        Count(name, name, count)
        for name, count in sorted(organ_counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_ORGANS]
    ]
    activity_counts = Counter(activity.kind for activity in activities)
    supervision_states = Counter(activity.detail for activity in activities if activity.kind == "supervision")
    activity_figures = {
        "route": activity_counts["route"],
        "refer_down": activity_counts["refer_down"],
        "supervision": activity_counts["supervision"],
        "supervision_replied": supervision_states["replied"],
        "supervision_open": supervision_states["open"],
        "supervision_overdue": supervision_states["overdue"],
    }
    routes = breakdown(
        (activity.detail or "" for activity in activities if activity.kind == "route"),
        {route.value: name for route, name in ROUTE_NAMES_ZH.items()},
        _values(Route),
    )
    suggestion_outcomes = breakdown(
        (record.facts.reply_outcome.value if record.facts.reply_outcome else "pending" for record in suggestions),
        {**{outcome.value: name for outcome, name in OUTCOME_NAMES_ZH.items()}, "pending": "尚未答复"},
        [*_values(Outcome), "pending"],
    )
    return Statistics(
        region_code=region_code,
        region_name=region_name,
        period=period,
        as_of=as_of,
        counts=counts,
        rates=rates,
        breakdowns=breakdowns,
        units=units,
        trend=trend,
        organs=organs,
        activities=activity_figures,
        routes=routes,
        suggestion_outcomes=suggestion_outcomes,
    )


def _values(enum: Iterable[Any]) -> list[str]:
    return [item.value for item in enum]


# ---------------------------------------------------------------- flat rows


@dataclass(frozen=True)
class Row:
    """One figure as a spreadsheet line: the same figures as the JSON, flattened."""

    section: str
    key: str
    name: str
    value: int | float | None
    numerator: int | None = None
    denominator: int | None = None
    pending: int | None = None


def rows_of(figures: Mapping[str, Any]) -> list[Row]:
    """The figures of :meth:`Statistics.to_json` (or a stored copy of it) as rows.

    Taking the JSON, not the object, lets a stored report's CSV and XLSX be made from the
    very figures that were stored.
    """
    rows: list[Row] = []
    counts = figures["counts"]
    for key, name in COUNT_NAMES_ZH.items():
        rows.append(Row("总量", f"counts.{key}", name, counts[key]))
    for key, name in RATE_NAMES_ZH.items():
        rate = figures["rates"][key]
        rows.append(
            Row("指标", f"rates.{key}", name, rate["rate"], rate["numerator"], rate["denominator"], rate["pending"])
        )
    for key, name in BREAKDOWN_NAMES_ZH.items():
        for item in figures["breakdowns"][key]:
            rows.append(Row(name, f"breakdowns.{key}.{item['code']}", item["name"], item["count"]))
    for unit in figures["units"]:
        ratio = unit["resolution"]
        rows.append(Row("分地区", f"units.{unit['code']}.registered", f"{unit['name']}登记件数", unit["registered"]))
        rows.append(
            Row(
                "分地区",
                f"units.{unit['code']}.resolution",
                f"{unit['name']}化解率",
                ratio["rate"],
                ratio["numerator"],
                ratio["denominator"],
                ratio["pending"],
            )
        )
    for step in figures["trend"]:
        total = step["petitions"] + step["civil_disputes"]
        rows.append(Row("登记趋势", f"trend.{step['label']}", f"{step['label']}登记件数", total))
    annual = figures["annual"]
    for key, name in ANNUAL_NAMES_ZH.items():
        value = annual["suggestions"]["count"] if key == "suggestions" else annual["activities"][key]
        rows.append(Row("转送交办督办", f"annual.{key}", name, value))
    for item in annual["routes"]:
        rows.append(Row("转送去向", f"annual.routes.{item['code']}", item["name"], item["count"]))
    for item in annual["suggestions"]["outcomes"]:
        rows.append(Row("建议意见办理结果", f"annual.suggestions.{item['code']}", item["name"], item["count"]))
    for index, item in enumerate(annual["organs"], start=1):
        rows.append(Row("被反映较多的单位", f"annual.organs.{index}", item["name"], item["count"]))
    return rows


@dataclass
class ChartData:
    """What the report's charts draw, taken from the figures (so a stored report redraws)."""

    categories: list[tuple[str, float]] = field(default_factory=list)
    units: list[tuple[str, float]] = field(default_factory=list)
    rates: list[tuple[str, float]] = field(default_factory=list)
    trend_labels: list[str] = field(default_factory=list)
    trend_petitions: list[float] = field(default_factory=list)
    trend_disputes: list[float] = field(default_factory=list)


CHART_RATES = (
    "resolution",
    "timely_acceptance",
    "on_time_handling",
    "satisfaction",
    "mediation_success",
    "agreement_performance",
    "screening_timeliness",
)


def chart_data(figures: Mapping[str, Any]) -> ChartData:
    data = ChartData()
    data.categories = [(item["name"], item["count"]) for item in figures["breakdowns"]["category"] if item["count"]]
    data.units = [(unit["name"], unit["registered"]) for unit in figures["units"]]
    data.rates = [
        (RATE_NAMES_ZH[key], round(100 * figures["rates"][key]["rate"], 1))
        for key in CHART_RATES
        if figures["rates"][key]["rate"] is not None
    ]
    data.trend_labels = [step["label"] for step in figures["trend"]]
    data.trend_petitions = [step["petitions"] for step in figures["trend"]]
    data.trend_disputes = [step["civil_disputes"] for step in figures["trend"]]
    return data
