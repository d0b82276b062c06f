"""The official working-day calendar of the People's Republic of China.

Statutory clocks (see ``grid.deadlines``) need to know, for any date, whether it is a
working day: Monday-Friday unless the State Council declared a holiday, plus the 调休
make-up working days that fall on weekends. That calendar is published once a year, late
in the previous year, as 国务院办公厅关于某年部分节假日安排的通知.

Three sources, in priority order, decide a year:

1. a notice an administrator loaded (``parse_holiday_notice``): the county must never wait
   for a library release, and a loaded notice is the authority;
2. the ``chinese_calendar`` package (2004-2026 in 1.11; it raises NotImplementedError
   outside its range, so the range is probed rather than hard-coded);
3. weekends only. Such a day is *provisional*: deadlines computed on it are flagged and
   recomputed once the year's notice is loaded.

Pure domain: no file or clock access. Parse functions take text.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import chinese_calendar

from grid.errors import DomainError

# China has observed a single UTC+8 offset without DST since 1991, so a fixed offset is
# exact for every date this system handles and needs no tz database on the device.
CHINA_TZ = timezone(timedelta(hours=8), "UTC+08:00")

NOTICE_ERROR = "calendar.invalid_notice"

_SATURDAY = 5


def local_date(at: datetime) -> date:
    """The calendar date in China of an instant.

    Naive datetimes are refused: guessing their zone would silently move a deadline by a
    day for events recorded near midnight.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: statutory clocks need an aware datetime")
    return at.astimezone(CHINA_TZ).date()


class CalendarSource(StrEnum):
    """Where the working-day data of a year came from."""

    NOTICE = "notice"  # loaded State Council notice
    LIBRARY = "library"  # chinese_calendar package
    WEEKENDS = "weekends"  # no data: weekends only, provisional


def _is_weekend(day: date) -> bool:
    return day.weekday() >= _SATURDAY


def _notice_error(key: str, rule: str, message: str) -> DomainError:
    return DomainError(
        f"节假日安排通知有误（{key}）：{message}",
        code=NOTICE_ERROR,
        data={"key": key, "rule": rule},
    )


@dataclass(frozen=True)
class YearCalendar:
    """One year's State Council holiday notice.

    ``holidays`` lists every day off of the arrangement, weekend days inside a holiday
    block included; ``makeup_workdays`` lists the weekend days declared working (调休).
    Days in neither set follow the weekday rule.
    """

    year: int
    holidays: frozenset[date]
    makeup_workdays: frozenset[date]
    source: str

    def __post_init__(self) -> None:
        # A YearCalendar may also be built in code (tests, a database row): keep the same
        # invariants as the parser, which already reports them per entry.
        if not self.holidays:
            raise _notice_error("holiday", "no_holidays", "至少应有一个放假日期")
        for name, days in (("holiday", self.holidays), ("makeup_workdays", self.makeup_workdays)):
            for day in sorted(days):
                if day.year != self.year:
                    raise _notice_error(name, "outside_year", f"{day.isoformat()} 不在 {self.year} 年内")
        both = sorted(self.holidays & self.makeup_workdays)
        if both:
            raise _notice_error(
                "makeup_workdays",
                "holiday_and_makeup",
                f"{both[0].isoformat()} 不能既放假又调休上班",
            )
        for day in sorted(self.makeup_workdays):
            if not _is_weekend(day):
                raise _notice_error(
                    "makeup_workdays",
                    "makeup_not_weekend",
                    f"{day.isoformat()} 不是周六或周日，调休上班日只能是周末",
                )

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_workdays:
            return True
        return not _is_weekend(day) and day not in self.holidays


# --- holiday notice parsing -----------------------------------------------------------

_TOP_KEYS = frozenset({"year", "source", "holiday"})
_ENTRY_KEYS = frozenset({"name", "days", "makeup_workdays"})
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _as_date(value: Any, key: str, year: int) -> date:
    if isinstance(value, datetime):
        # TOML's offset/local date-times are a different type from dates; a time of day has
        # no meaning in a holiday list and usually signals a typo.
        raise _notice_error(key, "date_format", f"{value} 应为日期（YYYY-MM-DD），不应带时间")
    if isinstance(value, date):
        day = value
    elif isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            raise _notice_error(key, "date_format", f"“{value}”不是有效日期") from None
    else:
        raise _notice_error(key, "date_format", f"“{value}”不是日期，格式应为 YYYY-MM-DD")
    if day.year != year:
        raise _notice_error(key, "outside_year", f"{day.isoformat()} 不在通知所属的 {year} 年内")
    return day


def _date_list(entry: Mapping[str, Any], field: str, key: str, year: int) -> list[date]:
    raw = entry.get(field, [])
    if not isinstance(raw, list):
        raise _notice_error(f"{key}.{field}", "type", '应为日期列表，例如 ["2027-01-01"]')
    return [_as_date(value, f"{key}.{field}[{i}]", year) for i, value in enumerate(raw)]


def parse_holiday_notice(text: str) -> YearCalendar:
    """Parse one year's holiday notice written as TOML (format in docs/statutory-clocks.md).

    Strict on purpose: a typo in a key (``makeup_workday``) would otherwise drop 调休 days
    silently and move every deadline near them. Errors carry code
    ``calendar.invalid_notice``, a message naming the key and the rule, and
    ``data={"key": ..., "rule": ...}``.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _notice_error("TOML", "toml_syntax", f"不是有效的 TOML：{exc}") from None

    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise _notice_error(unknown[0], "unknown_key", "未知字段，允许的字段为 year、source、holiday")

    year = doc.get("year")
    if year is None:
        raise _notice_error("year", "required", "缺少年份 year")
    if isinstance(year, bool) or not isinstance(year, int) or not 1949 <= year <= 9998:
        raise _notice_error("year", "type", f"“{year}”不是有效年份，应为整数，例如 2027")

    source = doc.get("source")
    if not isinstance(source, str) or not source.strip():
        raise _notice_error("source", "required", "缺少通知来源 source（通知标题及文号），以便核对")

    entries = doc.get("holiday", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise _notice_error("holiday", "type", "应为 [[holiday]] 表数组")
    if not entries:
        raise _notice_error("holiday", "no_holidays", "至少应有一个 [[holiday]] 节日")

    holidays: dict[date, str] = {}
    makeups: dict[date, str] = {}
    for index, entry in enumerate(entries):
        name = entry.get("name")
        label = f"holiday[{index}]"
        if isinstance(name, str) and name.strip():
            label = f"{label}（{name.strip()}）"
        unknown = sorted(set(entry) - _ENTRY_KEYS)
        if unknown:
            raise _notice_error(
                f"{label}.{unknown[0]}",
                "unknown_key",
                "未知字段，允许的字段为 name、days、makeup_workdays",
            )
        if not isinstance(name, str) or not name.strip():
            raise _notice_error(f"{label}.name", "required", "缺少节日名称 name")
        days = _date_list(entry, "days", label, year)
        if not days:
            raise _notice_error(f"{label}.days", "empty_days", "放假日期 days 不能为空")
        makeup = _date_list(entry, "makeup_workdays", label, year)

        for i, day in enumerate(days):
            key = f"{label}.days[{i}]"
            if day in holidays:
                raise _notice_error(key, "duplicate_date", f"{day.isoformat()} 已列为“{holidays[day]}”的放假日期")
            if day in makeups:
                raise _notice_error(
                    key,
                    "holiday_and_makeup",
                    f"{day.isoformat()} 已列为“{makeups[day]}”的调休上班日，不能同时放假",
                )
            holidays[day] = name.strip()
        for i, day in enumerate(makeup):
            key = f"{label}.makeup_workdays[{i}]"
            if day in holidays:
                raise _notice_error(
                    key,
                    "holiday_and_makeup",
                    f"{day.isoformat()} 已列为“{holidays[day]}”的放假日期，不能同时调休上班",
                )
            if day in makeups:
                raise _notice_error(key, "duplicate_date", f"{day.isoformat()} 已列为“{makeups[day]}”的调休上班日")
            if not _is_weekend(day):
                raise _notice_error(
                    key,
                    "makeup_not_weekend",
                    f"{day.isoformat()} 是工作日，调休上班日只能是周六或周日",
                )
            makeups[day] = name.strip()

    return YearCalendar(
        year=year,
        holidays=frozenset(holidays),
        makeup_workdays=frozenset(makeups),
        source=source.strip(),
    )


# --- the calendar ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _YearTable:
    first_ordinal: int
    working: bytes  # one byte per day of the year: 1 = working day
    source: CalendarSource


def _library_is_working_day(day: date) -> bool | None:
    """``chinese_calendar``'s answer, or None when the library has no data for the year."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


class StatutoryCalendar:
    """Working days of the official calendar, from loaded notices, the library, or weekends.

    Immutable once built: loading a new notice means building a new calendar
    (``with_notices``), so a sweep in progress never sees a year change under it. Per-year
    tables are computed lazily and cached, so a sweep over many cases asks each year once.
    """

    __slots__ = ("_notices", "_tables")

    def __init__(self, notices: Iterable[YearCalendar] = ()) -> None:
        by_year: dict[int, YearCalendar] = {}
        for notice in notices:
            # Later wins: an amended notice for a year is loaded after the original.
            by_year[notice.year] = notice
        self._notices: Mapping[int, YearCalendar] = MappingProxyType(by_year)
        self._tables: dict[int, _YearTable] = {}

    def with_notices(self, *notices: YearCalendar) -> StatutoryCalendar:
        """A new calendar with these notices added (replacing any for the same years)."""
        return StatutoryCalendar([*self._notices.values(), *notices])

    @property
    def notices(self) -> Mapping[int, YearCalendar]:
        """The loaded notices by year (read-only)."""
        return self._notices

    def _table(self, year: int) -> _YearTable:
        table = self._tables.get(year)
        if table is None:
            table = self._build(year)
            # A concurrent build of the same year yields an equal table: a race is harmless.
            self._tables[year] = table
        return table

    def _build(self, year: int) -> _YearTable:
        first = date(year, 1, 1)
        days = [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]
        notice = self._notices.get(year)
        if notice is not None:
            flags = [notice.is_working_day(day) for day in days]
            source = CalendarSource.NOTICE
        elif _library_is_working_day(first) is not None:
            flags = [bool(chinese_calendar.is_workday(day)) for day in days]
            source = CalendarSource.LIBRARY
        else:
            flags = [not _is_weekend(day) for day in days]
            source = CalendarSource.WEEKENDS
        return _YearTable(first.toordinal(), bytes(flags), source)

    def is_working_day(self, day: date) -> bool:
        """True on a working day: a weekday that is not a holiday, or a 调休 make-up day."""
        table = self._table(day.year)
        return table.working[day.toordinal() - table.first_ordinal] == 1

    def is_provisional(self, day: date) -> bool:
        """True when no notice and no library data cover the year of ``day``."""
        return self._table(day.year).source is CalendarSource.WEEKENDS

    def source_for_year(self, year: int) -> CalendarSource:
        """Where the data for ``year`` comes from (to tell users why a date is provisional)."""
        return self._table(year).source

    def covered_years(self) -> dict[int, CalendarSource]:
        """Every year with real data and its source; any other year is provisional."""
        years = {day.year: CalendarSource.LIBRARY for day in chinese_calendar.holidays}
        years.update(dict.fromkeys(self._notices, CalendarSource.NOTICE))
        return dict(sorted(years.items()))

    def next_working_day(self, day: date) -> date:
        """``day`` itself if it is a working day, else the first working day after it."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def __repr__(self) -> str:
        return f"StatutoryCalendar(notices={sorted(self._notices)})"
