"""A county's escalation policy: TOML text in, frozen dataclasses out.

The policy is local practice (DOMAIN.md §6-7): stage targets per level and complexity,
risk and failure triggers, who is told what, 督办, reminders and the 排查 cadence. What
the law fixes (the statutory clocks of ``grid.deadlines``, review by the next-higher
organ) is not in the file and cannot be loosened by it: :func:`parse_policy` refuses a
policy whose targets or thresholds would be looser than the law.

Format and every rule code: docs/escalation-policy.md. Pure: parse functions take text.

Errors name the line: ``tomllib`` gives line numbers only for syntax errors, so
:class:`_Locator` re-scans the (already valid) text once and maps every key, table and
array element to the line it starts on.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from grid import deadlines
from grid.calendar import CHINA_TZ, StatutoryCalendar
from grid.cases import HANDLING_LEVEL_NAMES_ZH, HandlingLevel, Kind
from grid.errors import DomainError
from grid.lifecycle import PETITIONER_WINDOWS, ClockKind

POLICY_ERROR = "policy.invalid"

# The share of a statutory period after which the API shows yellow (grid.deadlines.light's
# default). A policy may warn earlier, never later.
STATUTORY_YELLOW_SHARE = Fraction(2, 3)
# A stage target may not be longer than the statutory handling period (条例 Art. 34).
CALENDAR_DAYS_CEILING = deadlines.HANDLING_DAYS
# N working days reach at most this many calendar days on the official calendar: on every
# day of 2004-2026, 35 working days ended within 59 calendar days, 36 within 60 and 37 took
# 61 (two long holidays). 35 keeps a day's margin for a future year's arrangement.
# tests/grid/test_policy.py re-checks it against the calendar.
WORKING_DAYS_CEILING = 35


class Complexity(StrEnum):
    SIMPLE = "simple"
    ORDINARY = "ordinary"
    COMPLEX = "complex"


COMPLEXITY_NAMES_ZH = {Complexity.SIMPLE: "简易", Complexity.ORDINARY: "一般", Complexity.COMPLEX: "复杂"}


class DayUnit(StrEnum):
    CALENDAR = "calendar"  # 日
    WORKING = "working"  # 工作日


DAY_UNIT_NAMES_ZH = {DayUnit.CALENDAR: "日", DayUnit.WORKING: "个工作日"}


class Condition(StrEnum):
    """Facts of a case that a risk trigger or the complexity rule can test."""

    HIGH_RISK = "high_risk"
    COLLECTIVE = "collective"
    VIOLENCE_RISK = "violence_risk"
    CADRES_INVOLVED = "cadres_involved"
    MULTI_VILLAGE = "multi_village"


CONDITION_NAMES_ZH = {
    Condition.HIGH_RISK: "风险等级为高",
    Condition.COLLECTIVE: "群体性（集体访）事项",
    Condition.VIOLENCE_RISK: "可能激化为刑事案件或引发暴力",
    Condition.CADRES_INVOLVED: "涉及村（社区）干部",
    Condition.MULTI_VILLAGE: "涉及多个村（社区）",
}


class Failure(StrEnum):
    MEDIATION_FAILED = "mediation_failed"  # 人民调解法 Art. 26 (or an agreement not performed)
    MEDIATION_REFUSED = "mediation_refused"  # Art. 17, 23


FAILURE_NAMES_ZH = {Failure.MEDIATION_FAILED: "调解不成", Failure.MEDIATION_REFUSED: "当事人拒绝调解"}


class Recipient(StrEnum):
    """People named relative to the case; the server resolves them to users."""

    HANDLER = "handler"  # the user the case is assigned to
    HANDLER_LEADER = "handler_leader"  # the leader of the handler's organ
    BAOAN_LEADER = "baoan_leader"  # the 包案 leader (Art. 18 ¶2), when one is assigned
    CREATOR = "creator"  # who captured the case (usually the grid worker)
    HANDLING_OFFICERS = "handling_officers"  # officers of the node that now holds the case
    VILLAGE_LEADER = "village_leader"  # the case's village 两委
    TOWN_OFFICER = "town_officer"  # officers of the case's township
    COUNTY_OFFICER = "county_officer"  # officers of the county


class NotifyEvent(StrEnum):
    YELLOW = "yellow"
    RED = "red"
    ESCALATED = "escalated"
    SUPERVISION = "supervision"
    REMINDER = "reminder"


class ReviewOrgan(StrEnum):
    """Where a 复查/复核 goes: the next-higher organ by law (Art. 35, 36)."""

    TOWNSHIP = "township"
    COUNTY = "county"
    ABOVE_COUNTY = "above_county"  # outside this deployment (the city); the county keeps the file


class Cadence(StrEnum):
    WEEKLY = "weekly"
    HALF_MONTH = "half_month"
    MONTHLY = "monthly"


CADENCE_NAMES_ZH = {Cadence.WEEKLY: "每周", Cadence.HALF_MONTH: "每半月", Cadence.MONTHLY: "每月"}
# More frequent first: a sensitive period may only make the cadence more frequent.
_CADENCE_ORDER = [Cadence.WEEKLY, Cadence.HALF_MONTH, Cadence.MONTHLY]

STAGE_CLOCK = "stage"
# Clocks that can turn red and so can open a 督办: the local stage target and every
# statutory duty clock. Petitioner windows are never late (grid.lifecycle).
SUPERVISABLE_CLOCKS = (STAGE_CLOCK, *(kind.value for kind in ClockKind if kind not in PETITIONER_WINDOWS))

_LEVELS = list(HandlingLevel)


# ---------------------------------------------------------------- the policy


@dataclass(frozen=True)
class StageTarget:
    """How long a level has for a case of one complexity (and optionally one kind)."""

    level: HandlingLevel
    complexity: Complexity
    kind: Kind | None
    days: int
    unit: DayUnit
    rule_id: str

    def due(self, calendar: StatutoryCalendar, entered_at: datetime) -> deadlines.Due:
        """Counted like the statutory clocks (民法典 Art. 201-203), from entry to the level."""
        if self.unit is DayUnit.WORKING:
            return deadlines.working_days_period(calendar, entered_at, self.days)
        return deadlines.calendar_days_period(calendar, entered_at, self.days)

    @property
    def label_zh(self) -> str:
        return (
            f"{HANDLING_LEVEL_NAMES_ZH[self.level]}化解时限"
            f"（{COMPLEXITY_NAMES_ZH[self.complexity]}，{self.days}{DAY_UNIT_NAMES_ZH[self.unit]}）"
        )


@dataclass(frozen=True)
class RiskTrigger:
    """A condition that sends the case up to ``to_level``: one level per step unless ``at_once``."""

    condition: Condition
    to_level: HandlingLevel
    at_once: bool
    rule_id: str


@dataclass(frozen=True)
class FailureTrigger:
    """A failed or refused mediation at one of ``levels`` sends the case one level up."""

    failure: Failure
    levels: frozenset[HandlingLevel]
    rule_id: str


@dataclass(frozen=True)
class ReviewRoute:
    organ_level: ReviewOrgan
    organ: str
    notify: tuple[Recipient, ...]
    rule_id: str


@dataclass(frozen=True)
class DissatisfactionPolicy:
    on_dissatisfied: tuple[Recipient, ...]
    review: Mapping[ReviewOrgan, ReviewRoute]
    rereview: Mapping[ReviewOrgan, ReviewRoute]


@dataclass(frozen=True)
class SupervisionPolicy:
    """督办 (Art. 40) opens when a red light has lasted ``after_red_days``."""

    after_red_days: int
    unit: DayUnit
    reply_days: int
    reply_unit: DayUnit
    clocks: frozenset[str]

    def opens_at(self, calendar: StatutoryCalendar, red_at: datetime) -> datetime:
        if self.unit is DayUnit.WORKING:
            # Red starts at 24:00 of the last day: count working days after that day.
            last_day_instant = red_at - timedelta(microseconds=1)
            return deadlines.working_days_period(calendar, last_day_instant, self.after_red_days).ends_at
        return red_at + timedelta(days=self.after_red_days)


@dataclass(frozen=True)
class ReminderPolicy:
    lead_days: tuple[int, ...]  # largest first
    hour: int


@dataclass(frozen=True)
class ComplexityPolicy:
    default: Complexity
    complex_when: frozenset[Condition]
    complex_categories: frozenset[str]
    simple_categories: frozenset[str]

    def classify(self, category: str, conditions: Iterable[Condition]) -> tuple[Complexity, str]:
        """The complexity and why (for the record): conditions, then categories, then the default."""
        matched = sorted(set(conditions) & self.complex_when)
        if matched:
            return Complexity.COMPLEX, f"condition:{matched[0].value}"
        if category in self.complex_categories:
            return Complexity.COMPLEX, f"category:{category}"
        if category in self.simple_categories:
            return Complexity.SIMPLE, f"category:{category}"
        return self.default, "default"


@dataclass(frozen=True)
class SensitivePeriod:
    name: str
    start: date
    end: date
    cadence: Cadence
    levels: frozenset[HandlingLevel]


@dataclass(frozen=True)
class ScreeningPeriod:
    """One 排查 report that a node of ``level`` owes (a 零报告 counts)."""

    level: HandlingLevel
    start: date
    end: date
    cadence: Cadence
    sensitive: str | None
    due: deadlines.Due
    reminders: tuple[datetime, ...]


@dataclass(frozen=True)
class ScreeningPolicy:
    cadence: Mapping[HandlingLevel, Cadence]
    sensitive: tuple[SensitivePeriod, ...]
    grace_working_days: int
    remind_days_before: tuple[int, ...]

    def cadence_on(self, level: HandlingLevel, day: date) -> tuple[Cadence, SensitivePeriod | None]:
        for period in self.sensitive:
            if level in period.levels and period.start <= day <= period.end:
                return period.cadence, period
        return self.cadence[level], None

    def periods(
        self, level: HandlingLevel, start: date, end: date, calendar: StatutoryCalendar, reminder_hour: int = 9
    ) -> list[ScreeningPeriod]:
        """Every report period of ``level`` that overlaps ``start..end``, in order.

        A period follows its cadence's natural boundaries (Monday-Sunday, 1-15 / 16-end,
        the month), cut where a sensitive period begins or ends, so every day belongs to
        exactly one period. A report is due on the period's last day (rolled over to a
        working day) plus ``grace_working_days``.
        """
        periods: list[ScreeningPeriod] = []
        day = start
        while day <= end:
            cadence, sensitive = self.cadence_on(level, day)
            natural_start, natural_end = _natural_period(cadence, day)
            run_start, run_end = self._run(level, day, sensitive)
            first, last = max(natural_start, run_start), min(natural_end, run_end)
            due = _report_due(calendar, last, self.grace_working_days)
            reminders = tuple(
                datetime.combine(due.last_day - timedelta(days=lead), time(reminder_hour), tzinfo=CHINA_TZ)
                for lead in self.remind_days_before
                if due.last_day - timedelta(days=lead) >= first
            )
            periods.append(
                ScreeningPeriod(level, first, last, cadence, sensitive.name if sensitive else None, due, reminders)
            )
            day = last + timedelta(days=1)
        return periods

    def _run(self, level: HandlingLevel, day: date, sensitive: SensitivePeriod | None) -> tuple[date, date]:
        """The stretch of days around ``day`` that share its cadence source."""
        if sensitive is not None:
            return sensitive.start, sensitive.end
        run_start, run_end = date.min, date.max
        for period in self.sensitive:
            if level not in period.levels:
                continue
            if period.end < day:
                run_start = max(run_start, period.end + timedelta(days=1))
            elif period.start > day:
                run_end = min(run_end, period.start - timedelta(days=1))
        return run_start, run_end


def _natural_period(cadence: Cadence, day: date) -> tuple[date, date]:
    if cadence is Cadence.WEEKLY:
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=6)
    month_end = (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    if cadence is Cadence.HALF_MONTH:
        return (day.replace(day=1), day.replace(day=15)) if day.day <= 15 else (day.replace(day=16), month_end)
    return day.replace(day=1), month_end


def _report_due(calendar: StatutoryCalendar, last: date, grace_working_days: int) -> deadlines.Due:
    end_of_last = datetime.combine(last, time(12), tzinfo=CHINA_TZ)
    if grace_working_days:
        return deadlines.working_days_period(calendar, end_of_last, grace_working_days)
    day, provisional = last, calendar.is_provisional(last)
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
        provisional = provisional or calendar.is_provisional(day)
    return deadlines.Due(day, provisional)


@dataclass(frozen=True)
class Policy:
    id: str
    version: int
    effective: date
    county: str
    name: str
    yellow_share: Fraction
    complexity: ComplexityPolicy
    targets: Mapping[tuple[HandlingLevel, Complexity, Kind | None], StageTarget]
    risk: tuple[RiskTrigger, ...]
    failure: tuple[FailureTrigger, ...]
    dissatisfaction: DissatisfactionPolicy
    notify: Mapping[NotifyEvent, tuple[Recipient, ...]]
    supervision: SupervisionPolicy
    reminders: ReminderPolicy
    screening: ScreeningPolicy
    sha256: str

    @property
    def label(self) -> str:
        return f"{self.id}@{self.version}"

    def target_for(self, level: HandlingLevel, complexity: Complexity, kind: Kind) -> StageTarget:
        """The kind-specific target when the policy has one, else the level's target."""
        return self.targets.get((level, complexity, kind)) or self.targets[(level, complexity, None)]

    def screening_periods(
        self, level: HandlingLevel, start: date, end: date, calendar: StatutoryCalendar
    ) -> list[ScreeningPeriod]:
        """The 排查 report periods of ``level`` over ``start..end``, reminders at the policy's hour."""
        return self.screening.periods(level, start, end, calendar, self.reminders.hour)

    def statutory_yellow_share(self) -> Fraction:
        """Statutory clocks warn at the policy's share or the statutory one, whichever is earlier."""
        return min(self.yellow_share, STATUTORY_YELLOW_SHARE)


# ---------------------------------------------------------------- errors


@dataclass(frozen=True)
class PolicyIssue:
    line: int | None
    key: str
    rule: str
    message: str

    def __str__(self) -> str:
        where = f"第{self.line}行 " if self.line is not None else ""
        return f"{where}{self.key}：{self.message}（{self.rule}）"


class PolicyInvalid(DomainError):
    """The policy file breaks rules; ``issues`` names every one with its line and rule code."""

    code = POLICY_ERROR

    def __init__(self, issues: list[PolicyIssue]):
        self.issues = sorted(issues, key=lambda issue: (issue.line or 0, issue.key, issue.rule))
        first = self.issues[0]
        more = f"（另有{len(self.issues) - 1}处）" if len(self.issues) > 1 else ""
        super().__init__(
            f"升级规则文件有误：{first}{more}",
            data={
                "line": first.line,
                "key": first.key,
                "rule": first.rule,
                "issues": [issue.__dict__ for issue in self.issues],
            },
        )


# ---------------------------------------------------------------- where each key is

Path = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class _Locator:
    """Line of every key, table header and array element of a valid TOML document.

    A small scanner of TOML's surface syntax, run only after ``tomllib`` accepted the text,
    so it may assume well-formed input; it never decides what a value is.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[Path, int] = {}
        self.array_tables: dict[Path, int] = {}
        self._document()

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest enclosing key or table."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return None

    # -- scanning

    def _peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def _advance(self, count: int = 1) -> None:
        for _ in range(count):
            if self._peek() == "\n":
                self.line += 1
            self.pos += 1

    def _skip_blank(self, newlines: bool) -> None:
        while self.pos < len(self.text):
            char = self._peek()
            if char in " \t\r" or (newlines and char == "\n"):
                self._advance()
            elif char == "#":
                while self.pos < len(self.text) and self._peek() != "\n":
                    self._advance()
            else:
                return

    def _record(self, path: Path) -> None:
        # Implicit parents (``[targets.village]`` creates ``targets``) start where first named.
        for end in range(1, len(path) + 1):
            self.lines.setdefault(path[:end], self.line)

    def _document(self) -> None:
        table: Path = ()
        while True:
            self._skip_blank(newlines=True)
            if self.pos >= len(self.text):
                return
            if self._peek() == "[":
                table = self._header()
            else:
                self._key_value(table)

    def _header(self) -> Path:
        array = self._peek(1) == "["
        self._advance(2 if array else 1)
        self._skip_blank(newlines=False)
        names = self._dotted_key()
        self._skip_blank(newlines=False)
        self._advance(2 if array else 1)
        path: Path = ()
        for index, name in enumerate(names):
            path = (*path, name)
            last = index == len(names) - 1
            if last and array:
                self._record(path)
                position = self.array_tables.get(path, -1) + 1
                self.array_tables[path] = position
                path = (*path, position)
            elif path in self.array_tables:
                path = (*path, self.array_tables[path])
        self._record(path)
        return path

    def _key_value(self, table: Path) -> None:
        path = (*table, *self._dotted_key())
        self._record(path)
        self._skip_blank(newlines=False)
        self._advance()  # "="
        self._skip_blank(newlines=False)
        self._value(path)

    def _dotted_key(self) -> list[str]:
        names = [self._simple_key()]
        while True:
            self._skip_blank(newlines=False)
            if self._peek() != ".":
                return names
            self._advance()
            self._skip_blank(newlines=False)
            names.append(self._simple_key())

    def _simple_key(self) -> str:
        char = self._peek()
        if char in "\"'":
            return self._string()
        match = _BARE_KEY.match(self.text, self.pos)
        if match is None:  # pragma: no cover - tomllib accepted the text
            self._advance()
            return ""
        self._advance(match.end() - self.pos)
        return match.group()

    def _string(self) -> str:
        quote = self._peek()
        multi = self.text.startswith(quote * 3, self.pos)
        delimiter = quote * 3 if multi else quote
        self._advance(len(delimiter))
        start = self.pos
        while self.pos < len(self.text) and not self.text.startswith(delimiter, self.pos):
            if quote == '"' and self._peek() == "\\":
                self._advance()
            self._advance()
        value = self.text[start : self.pos]
        self._advance(len(delimiter))
        # Extra closing quotes belong to the string in TOML (""""a"""" is '"a"').
        while multi and self._peek() == quote:
            self._advance()
        return value

    def _value(self, path: Path) -> None:
        char = self._peek()
        if char == "[":
            self._advance()
            index = 0
            while True:
                self._skip_blank(newlines=True)
                if self._peek() == "]" or self.pos >= len(self.text):
                    self._advance()
                    return
                self._record((*path, index))
                self._value((*path, index))
                self._skip_blank(newlines=True)
                if self._peek() == ",":
                    self._advance()
                index += 1
        elif char == "{":
            self._advance()
            while True:
                self._skip_blank(newlines=False)
                if self._peek() == "}" or self.pos >= len(self.text):
                    self._advance()
                    return
                self._key_value(path)
                self._skip_blank(newlines=False)
                if self._peek() == ",":
                    self._advance()
        elif char in "\"'":
            self._string()
        else:
            while self.pos < len(self.text) and self._peek() not in ",]}\n#":
                self._advance()


# ---------------------------------------------------------------- reading with checks


def _key_text(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


_MISSING = object()
_ID = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_COUNTY = re.compile(r"\d{6}")
_CATEGORY = re.compile(r"[a-z0-9_]{1,40}")


class _Reader:
    def __init__(self, locator: _Locator) -> None:
        self.locator = locator
        self.issues: list[PolicyIssue] = []

    def issue(self, path: Path, rule: str, message: str) -> None:
        self.issues.append(PolicyIssue(self.locator.line_of(path), _key_text(path), rule, message))

    def table(self, value: Any, path: Path, keys: Iterable[str], required: Iterable[str] = ()) -> dict[str, Any] | None:
        """A table with only ``keys``; reports unknown keys (a typo would drop a rule) and missing ones."""
        if not isinstance(value, dict):
            self.issue(path, "value.type", "应为表（[表名] 或 { … }）")
            return None
        allowed = list(keys)
        for key in value:
            if key not in allowed:
                self.issue((*path, key), "key.unknown", f"未知字段“{key}”，允许的字段：{'、'.join(allowed)}")
        for key in required:
            if key not in value:
                self.issue((*path, key), "key.required", f"缺少必填字段“{key}”")
        return value

    def get(self, table: Mapping[str, Any] | None, path: Path, key: str, default: Any = _MISSING) -> Any:
        """The raw value, or ``_MISSING`` when absent (already reported when required)."""
        if table is None:
            return _MISSING
        return table.get(key, default)

    def integer(self, table: Mapping[str, Any] | None, path: Path, key: str, low: int, high: int, default=_MISSING):
        value = self.get(table, path, key, default)
        if value is _MISSING:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.issue((*path, key), "value.type", f"应为整数，实为“{value}”")
            return None
        if not low <= value <= high:
            self.issue((*path, key), "value.range", f"应在 {low} 到 {high} 之间，实为 {value}")
            return None
        return value

    def boolean(self, table: Mapping[str, Any] | None, path: Path, key: str, default: bool) -> bool | None:
        value = self.get(table, path, key, default)
        if value is _MISSING:
            return None
        if not isinstance(value, bool):
            self.issue((*path, key), "value.type", "应为 true 或 false")
            return None
        return value

    def text(self, table: Mapping[str, Any] | None, path: Path, key: str, pattern: re.Pattern | None = None):
        value = self.get(table, path, key)
        if value is _MISSING:
            return None
        if not isinstance(value, str) or not value.strip():
            self.issue((*path, key), "value.type", "应为非空字符串")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.issue((*path, key), "value.format", f"“{value}”格式不对（应符合 {pattern.pattern}）")
            return None
        return value.strip()

    def day(self, table: Mapping[str, Any] | None, path: Path, key: str) -> date | None:
        value = self.get(table, path, key)
        if value is _MISSING:
            return None
        if isinstance(value, datetime) or not isinstance(value, date):
            self.issue((*path, key), "value.type", "应为 TOML 日期，例如 2026-01-01（不加引号，不带时间）")
            return None
        return value

    def choice(self, value: Any, path: Path, enum: type[StrEnum], allowed: Iterable[Any] | None = None):
        options = list(allowed) if allowed is not None else list(enum)
        names = [getattr(option, "value", option) for option in options]
        if isinstance(value, str) and value in names:
            return enum(value)
        self.issue(path, "value.choice", f"“{value}”不是可选值，可选：{'、'.join(names)}")
        return None

    def field_choice(self, table, path: Path, key: str, enum: type[StrEnum], allowed=None, default=_MISSING):
        value = self.get(table, path, key, default)
        if value is _MISSING:
            return None
        if isinstance(value, enum):
            return value
        return self.choice(value, (*path, key), enum, allowed)

    def items(self, table, path: Path, key: str, default: Any = _MISSING) -> list[tuple[Path, Any]] | None:
        """The elements of a list with their paths; duplicates are reported."""
        value = self.get(table, path, key, default)
        if value is _MISSING:
            return None
        if not isinstance(value, list):
            self.issue((*path, key), "value.type", '应为列表，例如 ["a", "b"]')
            return None
        seen: list[Any] = []
        result = []
        for index, item in enumerate(value):
            if item in seen:
                self.issue((*path, key, index), "value.duplicate", f"“{item}”重复")
                continue
            seen.append(item)
            result.append(((*path, key, index), item))
        return result

    def choices(self, table, path: Path, key: str, enum: type[StrEnum], allowed=None, default=_MISSING):
        items = self.items(table, path, key, default)
        if items is None:
            return None
        chosen = [self.choice(item, item_path, enum, allowed) for item_path, item in items]
        return None if None in chosen else tuple(chosen)


# ---------------------------------------------------------------- the parser

_TOP = ["policy", "lights", "complexity", "targets", "risk", "failure", "dissatisfaction", "notify"]
_TOP += ["supervision", "reminders", "screening"]
_TOP_REQUIRED = [key for key in _TOP if key not in ("risk", "failure")]


def parse_policy(text: str) -> Policy:
    """Parse and validate a policy file (docs/escalation-policy.md).

    Raises :class:`PolicyInvalid` (code ``policy.invalid``) listing every broken rule with
    its line, key and rule code; the first one is also in ``data["line"|"key"|"rule"]``.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"line (\d+)", str(error))
        line = int(match.group(1)) if match else None
        raise PolicyInvalid([PolicyIssue(line, "TOML", "toml.syntax", f"不是有效的 TOML：{error}")]) from None

    reader = _Reader(_Locator(text))
    root = reader.table(doc, (), _TOP, _TOP_REQUIRED) or {}

    header = _header(reader, root)
    yellow = _lights(reader, root)
    complexity = _complexity(reader, root)
    targets = _targets(reader, root)
    risk = _risk(reader, root)
    failure = _failure(reader, root)
    dissatisfaction = _dissatisfaction(reader, root)
    notify = _notify(reader, root)
    supervision = _supervision(reader, root)
    reminders = _reminders(reader, root)
    screening = _screening(reader, root)

    if reader.issues:
        raise PolicyInvalid(reader.issues)
    assert header and yellow and complexity and targets is not None and risk is not None and failure is not None
    assert dissatisfaction and notify and supervision and reminders and screening
    return Policy(
        **header,
        yellow_share=yellow,
        complexity=complexity,
        targets=MappingProxyType(targets),
        risk=risk,
        failure=failure,
        dissatisfaction=dissatisfaction,
        notify=MappingProxyType(notify),
        supervision=supervision,
        reminders=reminders,
        screening=screening,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def _header(reader: _Reader, root: dict[str, Any]) -> dict[str, Any] | None:
    path: Path = ("policy",)
    if "policy" not in root:
        return None
    keys = ["id", "version", "effective", "county", "name"]
    table = reader.table(root["policy"], path, keys, keys)
    values = {
        "id": reader.text(table, path, "id", _ID),
        "version": reader.integer(table, path, "version", 1, 1_000_000),
        "effective": reader.day(table, path, "effective"),
        "county": reader.text(table, path, "county", _COUNTY),
        "name": reader.text(table, path, "name"),
    }
    return values if None not in values.values() else None


def _lights(reader: _Reader, root: dict[str, Any]) -> Fraction | None:
    path: Path = ("lights",)
    if "lights" not in root:
        return None
    table = reader.table(root["lights"], path, ["yellow_share"], ["yellow_share"])
    raw = reader.get(table, path, "yellow_share")
    if raw is _MISSING:
        return None
    try:
        if isinstance(raw, bool) or not isinstance(raw, str | float | int):
            raise ValueError
        share = Fraction(str(raw).strip())
    except (ValueError, ZeroDivisionError):
        reader.issue((*path, "yellow_share"), "value.type", f'“{raw}”不是比例，应写作 "2/3" 或 0.6')
        return None
    if not 0 < share < 1:
        reader.issue(
            (*path, "yellow_share"),
            "statutory.yellow_share",
            f"黄灯比例应大于 0 且小于 1，实为 {share}：达到或超过 1 时期限届满前永不亮黄灯",
        )
        return None
    return share


def _conditions(reader: _Reader, table, path: Path, key: str) -> frozenset[Condition] | None:
    chosen = reader.choices(table, path, key, Condition, default=[])
    return None if chosen is None else frozenset(chosen)


def _categories(reader: _Reader, table, path: Path, key: str) -> frozenset[str] | None:
    items = reader.items(table, path, key, default=[])
    if items is None:
        return None
    good = True
    for item_path, item in items:
        if not isinstance(item, str) or not _CATEGORY.fullmatch(item):
            reader.issue(item_path, "value.format", f"“{item}”不是分类代码（小写英文字母、数字、下划线）")
            good = False
    return frozenset(item for _, item in items) if good else None


def _complexity(reader: _Reader, root: dict[str, Any]) -> ComplexityPolicy | None:
    path: Path = ("complexity",)
    if "complexity" not in root:
        return None
    keys = ["default", "complex_when", "complex_categories", "simple_categories"]
    table = reader.table(root["complexity"], path, keys, ["default"])
    default = reader.field_choice(table, path, "default", Complexity)
    complex_when = _conditions(reader, table, path, "complex_when")
    complex_categories = _categories(reader, table, path, "complex_categories")
    simple_categories = _categories(reader, table, path, "simple_categories")
    if complex_categories is not None and simple_categories is not None:
        for both in sorted(complex_categories & simple_categories):
            index = table["simple_categories"].index(both) if table else 0
            reader.issue(
                (*path, "simple_categories", index),
                "complexity.conflict",
                f"分类“{both}”不能既是简易又是复杂",
            )
    if None in (default, complex_when, complex_categories, simple_categories):
        return None
    return ComplexityPolicy(default, complex_when, complex_categories, simple_categories)


def _target(
    reader: _Reader, value: Any, path: Path, level: HandlingLevel, complexity: Complexity, kind: Kind | None
) -> StageTarget | None:
    table = reader.table(value, path, ["days", "unit"], ["days", "unit"])
    days = reader.integer(table, path, "days", 1, 366)
    unit = reader.field_choice(table, path, "unit", DayUnit)
    if days is None or unit is None:
        return None
    ceiling = WORKING_DAYS_CEILING if unit is DayUnit.WORKING else CALENDAR_DAYS_CEILING
    if days > ceiling:
        if unit is DayUnit.WORKING:
            message = (
                f"{days}个工作日可能超过法定办理期限{CALENDAR_DAYS_CEILING}日（《信访工作条例》第三十四条），"
                f"以工作日计最多{WORKING_DAYS_CEILING}个工作日；本地时限只能比法定期限更严"
            )
        else:
            message = (
                f"{days}日超过法定办理期限{CALENDAR_DAYS_CEILING}日（《信访工作条例》第三十四条），"
                "本地时限只能比法定期限更严"
            )
        reader.issue((*path, "days"), "statutory.target_too_long", message)
        return None
    rule = f"time.{level.value}.{kind.value}.{complexity.value}" if kind else f"time.{level.value}.{complexity.value}"
    return StageTarget(level, complexity, kind, days, unit, rule)


def _targets(reader: _Reader, root: dict[str, Any]) -> dict[tuple, StageTarget] | None:
    path: Path = ("targets",)
    if "targets" not in root:
        return None
    table = reader.table(root["targets"], path, [level.value for level in _LEVELS], [level.value for level in _LEVELS])
    if table is None:
        return None
    targets: dict[tuple, StageTarget] = {}
    good = True
    for level in _LEVELS:
        if level.value not in table:
            good = False
            continue
        level_path = (*path, level.value)
        complexities = [c.value for c in Complexity]
        level_table = reader.table(table[level.value], level_path, [*complexities, "kinds"], complexities)
        if level_table is None:
            good = False
            continue
        for complexity in Complexity:
            if complexity.value not in level_table:
                good = False
                continue
            target = _target(
                reader, level_table[complexity.value], (*level_path, complexity.value), level, complexity, None
            )
            good = good and target is not None
            if target is not None:
                targets[(level, complexity, None)] = target
        kinds_path = (*level_path, "kinds")
        kinds = reader.table(level_table.get("kinds", {}), kinds_path, [kind.value for kind in Kind])
        for kind_name, kind_value in (kinds or {}).items():
            if kind_name not in [kind.value for kind in Kind]:
                good = False
                continue
            kind = Kind(kind_name)
            kind_path = (*kinds_path, kind_name)
            kind_table = reader.table(kind_value, kind_path, complexities)
            if not kind_table:
                if kind_table is not None:
                    reader.issue(kind_path, "key.required", "至少应给出一种复杂程度的时限")
                good = False
                continue
            for complexity_name, value in kind_table.items():
                if complexity_name not in complexities:
                    good = False
                    continue
                complexity = Complexity(complexity_name)
                target = _target(reader, value, (*kind_path, complexity_name), level, complexity, kind)
                good = good and target is not None
                if target is not None:
                    targets[(level, complexity, kind)] = target
        good = good and kinds is not None
    return targets if good else None


def _risk(reader: _Reader, root: dict[str, Any]) -> tuple[RiskTrigger, ...] | None:
    path: Path = ("risk",)
    table = reader.table(root.get("risk", {}), path, [condition.value for condition in Condition])
    if table is None:
        return None
    triggers = []
    good = True
    for condition in Condition:
        if condition.value not in table:
            continue
        item_path = (*path, condition.value)
        item = reader.table(table[condition.value], item_path, ["to", "at_once"], ["to"])
        to_level = reader.field_choice(item, item_path, "to", HandlingLevel, _LEVELS[1:])
        at_once = reader.boolean(item, item_path, "at_once", False)
        if to_level is None or at_once is None:
            good = False
            continue
        triggers.append(RiskTrigger(condition, to_level, at_once, f"risk.{condition.value}"))
    return tuple(triggers) if good else None


def _failure(reader: _Reader, root: dict[str, Any]) -> tuple[FailureTrigger, ...] | None:
    path: Path = ("failure",)
    table = reader.table(root.get("failure", {}), path, [failure.value for failure in Failure])
    if table is None:
        return None
    triggers = []
    good = True
    for failure in Failure:
        if failure.value not in table:
            continue
        item_path = (*path, failure.value)
        item = reader.table(table[failure.value], item_path, ["levels"], ["levels"])
        items = reader.items(item, item_path, "levels")
        if items is None:
            good = False
            continue
        levels = []
        for level_path, raw in items:
            level = reader.choice(raw, level_path, HandlingLevel)
            if level is not None and level.above() is None:
                reader.issue(
                    level_path, "trigger.no_level_above", f"{HANDLING_LEVEL_NAMES_ZH[level]}之上没有可上报的层级"
                )
                level = None
            levels.append(level)
        if None in levels or not levels:
            if not levels:
                reader.issue((*item_path, "levels"), "value.range", "至少应列出一个层级")
            good = False
            continue
        triggers.append(FailureTrigger(failure, frozenset(levels), f"failure.{failure.value}"))
    return tuple(triggers) if good else None


def _recipients(reader: _Reader, table, path: Path, key: str, default: Any = _MISSING) -> tuple[Recipient, ...] | None:
    return reader.choices(table, path, key, Recipient, default=default)


def _routes(reader: _Reader, value: Any, path: Path, organs: list[ReviewOrgan], kind: str):
    table = reader.table(value, path, [organ.value for organ in organs], [organ.value for organ in organs])
    if table is None:
        return None
    routes = {}
    for organ in organs:
        if organ.value not in table:
            continue
        route_path = (*path, organ.value)
        route = reader.table(table[organ.value], route_path, ["organ", "notify"], ["organ", "notify"])
        name = reader.text(route, route_path, "organ")
        notify = _recipients(reader, route, route_path, "notify")
        if name is not None and notify is not None:
            routes[organ] = ReviewRoute(organ, name, notify, f"dissatisfaction.{kind}.{organ.value}")
    return MappingProxyType(routes) if len(routes) == len(organs) else None


def _dissatisfaction(reader: _Reader, root: dict[str, Any]) -> DissatisfactionPolicy | None:
    path: Path = ("dissatisfaction",)
    if "dissatisfaction" not in root:
        return None
    table = reader.table(
        root["dissatisfaction"], path, ["on_dissatisfied", "review", "rereview"], ["review", "rereview"]
    )
    on_dissatisfied = _recipients(reader, table, path, "on_dissatisfied", default=[])
    review = rereview = None
    if table is not None and "review" in table:
        review = _routes(reader, table["review"], (*path, "review"), list(ReviewOrgan), "review")
    if table is not None and "rereview" in table:
        organs = [ReviewOrgan.COUNTY, ReviewOrgan.ABOVE_COUNTY]
        rereview = _routes(reader, table["rereview"], (*path, "rereview"), organs, "rereview")
    if on_dissatisfied is None or review is None or rereview is None:
        return None
    return DissatisfactionPolicy(on_dissatisfied, review, rereview)


# Who must hear of a light whatever the county writes (DOMAIN.md §6: yellow → the handler;
# red → the handler's leader and the 包案 leader).
NOTIFY_FLOOR: Mapping[NotifyEvent, frozenset[Recipient]] = MappingProxyType(
    {
        NotifyEvent.YELLOW: frozenset({Recipient.HANDLER}),
        NotifyEvent.RED: frozenset({Recipient.HANDLER_LEADER, Recipient.BAOAN_LEADER}),
    }
)


def _notify(reader: _Reader, root: dict[str, Any]) -> dict[NotifyEvent, tuple[Recipient, ...]] | None:
    path: Path = ("notify",)
    if "notify" not in root:
        return None
    events = [event.value for event in NotifyEvent]
    table = reader.table(root["notify"], path, events, events)
    result = {}
    for event in NotifyEvent:
        recipients = _recipients(reader, table, path, event.value)
        if recipients is None:
            continue
        missing = sorted(NOTIFY_FLOOR.get(event, frozenset()) - set(recipients))
        if missing:
            reader.issue(
                (*path, event.value),
                "statutory.notify_floor",
                f"{'黄灯' if event is NotifyEvent.YELLOW else '红灯'}须通知：{'、'.join(m.value for m in missing)}",
            )
            continue
        result[event] = recipients
    return result if len(result) == len(NotifyEvent) else None


def _supervision(reader: _Reader, root: dict[str, Any]) -> SupervisionPolicy | None:
    path: Path = ("supervision",)
    if "supervision" not in root:
        return None
    keys = ["after_red_days", "unit", "reply_days", "reply_unit", "clocks"]
    table = reader.table(root["supervision"], path, keys, keys[:4])
    after = reader.integer(table, path, "after_red_days", 0, 60)
    unit = reader.field_choice(table, path, "unit", DayUnit)
    reply = reader.integer(table, path, "reply_days", 1, 60)
    reply_unit = reader.field_choice(table, path, "reply_unit", DayUnit)
    default_clocks = [clock for clock in SUPERVISABLE_CLOCKS if clock != ClockKind.MEDIATION.value]
    items = reader.items(table, path, "clocks", default=default_clocks)
    clocks = []
    for item_path, item in items or []:
        if item in SUPERVISABLE_CLOCKS:
            clocks.append(item)
        else:
            reader.issue(item_path, "value.choice", f"“{item}”不是可督办的期限，可选：{'、'.join(SUPERVISABLE_CLOCKS)}")
    if None in (after, unit, reply, reply_unit) or items is None or len(clocks) != len(items):
        return None
    if after == 0 and unit is DayUnit.WORKING:
        unit = DayUnit.CALENDAR  # zero days is "at once" in either unit
    return SupervisionPolicy(after, unit, reply, reply_unit, frozenset(clocks))


def _day_list(reader: _Reader, table, path: Path, key: str, high: int, default: list[int]) -> tuple[int, ...] | None:
    items = reader.items(table, path, key, default=default)
    if items is None:
        return None
    values = []
    for item_path, item in items:
        if isinstance(item, bool) or not isinstance(item, int):
            reader.issue(item_path, "value.type", f"应为整数天数，实为“{item}”")
        elif not 0 <= item <= high:
            reader.issue(item_path, "value.range", f"应在 0 到 {high} 之间，实为 {item}")
        else:
            values.append(item)
    return tuple(sorted(values, reverse=True)) if len(values) == len(items) else None


def _reminders(reader: _Reader, root: dict[str, Any]) -> ReminderPolicy | None:
    path: Path = ("reminders",)
    if "reminders" not in root:
        return None
    table = reader.table(root["reminders"], path, ["lead_days", "hour"])
    lead = _day_list(reader, table, path, "lead_days", 30, [1])
    hour = reader.integer(table, path, "hour", 0, 23, default=9)
    if lead is None or hour is None:
        return None
    return ReminderPolicy(lead, hour)


def _screening(reader: _Reader, root: dict[str, Any]) -> ScreeningPolicy | None:
    path: Path = ("screening",)
    if "screening" not in root:
        return None
    levels = [level.value for level in _LEVELS]
    keys = [*levels, "grace_working_days", "remind_days_before", "sensitive"]
    table = reader.table(root["screening"], path, keys, levels)
    cadence = {}
    for level in _LEVELS:
        chosen = reader.field_choice(table, path, level.value, Cadence)
        if chosen is not None:
            cadence[level] = chosen
    grace = reader.integer(table, path, "grace_working_days", 0, 15, default=0)
    remind = _day_list(reader, table, path, "remind_days_before", 15, [1])
    sensitive = _sensitive(reader, table, path, cadence)
    if len(cadence) != len(_LEVELS) or grace is None or remind is None or sensitive is None:
        return None
    return ScreeningPolicy(MappingProxyType(cadence), sensitive, grace, remind)


def _sensitive(reader: _Reader, table, path: Path, cadence: Mapping[HandlingLevel, Cadence]):
    raw = reader.get(table, path, "sensitive", [])
    if raw is _MISSING:
        return None
    list_path = (*path, "sensitive")
    if not isinstance(raw, list):
        reader.issue(list_path, "value.type", "应为 [[screening.sensitive]] 表数组")
        return None
    periods: list[tuple[Path, SensitivePeriod]] = []
    good = True
    for index, value in enumerate(raw):
        item_path = (*list_path, index)
        item = reader.table(
            value, item_path, ["name", "from", "to", "cadence", "levels"], ["name", "from", "to", "cadence", "levels"]
        )
        name = reader.text(item, item_path, "name")
        start = reader.day(item, item_path, "from")
        end = reader.day(item, item_path, "to")
        chosen = reader.field_choice(item, item_path, "cadence", Cadence)
        levels = reader.choices(item, item_path, "levels", HandlingLevel)
        if None in (name, start, end, chosen, levels) or not levels:
            if levels == ():
                reader.issue((*item_path, "levels"), "value.range", "至少应列出一个层级")
            good = False
            continue
        if start > end:
            reader.issue((*item_path, "to"), "screening.range_order", f"结束日期 {end} 早于开始日期 {start}")
            good = False
            continue
        for level in levels:
            default = cadence.get(level)
            if default is not None and _CADENCE_ORDER.index(chosen) > _CADENCE_ORDER.index(default):
                reader.issue(
                    (*item_path, "cadence"),
                    "screening.sensitive_looser",
                    f"敏感时期的排查频次（{CADENCE_NAMES_ZH[chosen]}）不能低于{HANDLING_LEVEL_NAMES_ZH[level]}"
                    f"平时的频次（{CADENCE_NAMES_ZH[default]}）",
                )
                good = False
        for other_path, other in periods:
            if other.levels & set(levels) and other.start <= end and start <= other.end:
                reader.issue(
                    (*item_path, "from"),
                    "screening.overlap",
                    f"与{_key_text(other_path)}（{other.name}）的时间重叠",
                )
                good = False
        periods.append((item_path, SensitivePeriod(name, start, end, chosen, frozenset(levels))))
    return tuple(period for _, period in periods) if good else None
