"""Periodic 排查 reports: filing (from the API and from phones), lists, periods,
completeness, and the reminder job.

The rules (periods, due dates, timeliness, completeness, reminder instants) are
``grid.screening``'s; this module loads rows, asks the rules, and writes the report, or
the reminder claim and its notification, in one transaction. docs/screening.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid.calendar import local_date
from grid.cases import Case, HandlingLevel
from grid.errors import InvalidInput, Issue
from grid.hierarchy import Level, Region, codes_on_path
from grid.people import User
from grid.policy import Policy, ScreeningPeriod
from grid.screening import (
    CADENCE_LEVEL,
    FILERS,
    REPORTING_LEVELS,
    Completeness,
    DueReminder,
    ScreeningReminder,
    ScreeningReport,
    Timeliness,
    cadence_level,
    check_findings,
    check_started,
    due_after,
    is_on_time,
    match_period,
    period_on,
    periods_between,
    reminders_due,
    tally,
    timeliness,
)
from server.errors import ServiceError
from server.principal import Principal
from server.schemas.screening import ScreeningReportCreate
from server.services.cases import CaseService
from server.services.context import ServiceContext
from server.services.escalation import policy_in_force
from server.services.notifications import enqueue
from server.services.regions import in_subtree
from server.services.upsert import upsert_statement
from sync.protocol import Mutation

# A sync result's code when a phone filed a report the server already holds (same id,
# same content): acknowledged, nothing written.
DUPLICATE = "screening.duplicate"
REMINDER_EVENT = "screening_reminder"
# The longest span GET /screening/periods lists at once (a year and a bit).
MAX_PERIOD_SPAN_DAYS = 400


@dataclass(frozen=True)
class ReportView:
    report: ScreeningReport
    region_name: str
    submitted_by_name: str


@dataclass(frozen=True)
class Filed:
    view: ReportView
    # False when this was a retry of a report already filed (nothing was written).
    created: bool


@dataclass(frozen=True)
class PeriodView:
    period: ScreeningPeriod
    status: Timeliness
    report_id: uuid.UUID | None
    submitted_at: datetime | None


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    level: str
    status: Timeliness


@dataclass
class CompletenessRow:
    code: str
    name: str
    level: str
    units: list[Unit] = field(default_factory=list)

    @property
    def counts(self) -> Completeness:
        return tally(unit.status for unit in self.units)


@dataclass(frozen=True)
class CompletenessResult:
    region: Region
    day: date
    as_of: datetime
    periods: dict[str, ScreeningPeriod]  # by node level (grid, village, township, county)
    own: CompletenessRow | None
    children: list[CompletenessRow]
    total: CompletenessRow


def report_digest(data: ScreeningReportCreate, region_code: str) -> str:
    """What a retry must repeat to be the same report (the device's clock is not part of it)."""
    canonical = {
        "region": region_code,
        "period_start": data.period_start.isoformat(),
        "period_end": data.period_end.isoformat(),
        "zero_report": data.zero_report,
        "found_count": data.found_count,
        "items": data.items,
        "case_ids": [str(case_id) for case_id in data.case_ids],
    }
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _encode_cursor(report: ScreeningReport) -> str:
    raw = json.dumps([report.submitted_at.isoformat(), str(report.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, row_id = json.loads(base64.urlsafe_b64decode(padded))
        submitted_at = datetime.fromisoformat(at)
        if submitted_at.tzinfo is None:
            raise ValueError("naive cursor time")
        return submitted_at, uuid.UUID(row_id)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise InvalidInput([Issue("cursor", "cursor.invalid", "分页游标无效")]) from None


def _out_of_scope() -> ServiceError:
    return ServiceError("区划不存在或不在您的管辖范围内", code="auth.out_of_scope")


class ScreeningService:
    def __init__(self, context: ServiceContext, policy: Policy | None = None):
        self.context = context
        self.policy = policy or policy_in_force(context.settings)

    # ------------------------------------------------------------ filing

    async def file(self, principal: Principal, data: ScreeningReportCreate) -> Filed:
        async with self.context.db.write() as session:
            return await self.file_in(session, principal, data)

    async def file_in(self, session: AsyncSession, principal: Principal, data: ScreeningReportCreate) -> Filed:
        """File a report inside the caller's transaction (a sync batch runs many)."""
        now = self.context.clock.now()
        region_code = data.region or principal.node_code
        digest = report_digest(data, region_code)
        existing = await session.get(ScreeningReport, data.id)
        if existing is not None:
            if existing.digest == digest and existing.submitted_by == principal.user_id:
                return Filed(await self._view(session, existing), created=False)
            raise ServiceError(
                "该报告编号已被另一份内容使用", code="screening.duplicate_id", data={"report_id": str(data.id)}
            )
        region = await session.get(Region, region_code)
        if region is None or not principal.covers(region.path):
            raise _out_of_scope()
        cadence_level(region.level)  # provinces and cities file nothing
        level = Level(region.level)
        if region.code != principal.node_code or principal.role not in FILERS[level]:
            raise ServiceError("只能由本网格（本级）的报送人报送本级排查报告", code="auth.forbidden")
        issues = check_findings(data.zero_report, data.found_count, data.items, data.case_ids)
        issues += await self._unknown_cases(session, principal, data.case_ids)
        if issues:
            raise InvalidInput(issues)
        period = match_period(self.policy, level, data.period_start, data.period_end, self.context.calendar)
        check_started(period, now)
        await self._check_not_reported(session, region.code, period)
        report = ScreeningReport(
            id=data.id,
            region_code=region.code,
            level=level.value,
            period_start=period.start,
            period_end=period.end,
            cadence=period.cadence.value,
            sensitive=period.sensitive,
            zero_report=data.zero_report,
            found_count=data.found_count,
            items=list(data.items),
            case_ids=[str(case_id) for case_id in data.case_ids],
            submitted_by=principal.user_id,
            submitted_at=now,
            captured_at=data.captured_at,
            digest=digest,
        )
        try:
            async with session.begin_nested():
                session.add(report)
                await session.flush()
        except IntegrityError:
            # Another request filed this period between the check and the insert.
            await self._check_not_reported(session, region.code, period)
            raise
        return Filed(ReportView(report, region.name, principal.display_name), created=True)

    async def _check_not_reported(self, session: AsyncSession, region_code: str, period: ScreeningPeriod) -> None:
        statement = select(ScreeningReport).where(
            ScreeningReport.region_code == region_code,
            col(ScreeningReport.period_start) <= period.end,
            col(ScreeningReport.period_end) >= period.start,
        )
        other = (await session.exec(statement)).first()
        if other is not None:
            raise ServiceError(
                f"本期（{other.period_start.isoformat()}至{other.period_end.isoformat()}）的排查报告已报送",
                code="screening.already_reported",
                data={"report_id": str(other.id), "submitted_at": other.submitted_at.isoformat()},
            )

    async def _unknown_cases(
        self, session: AsyncSession, principal: Principal, case_ids: list[uuid.UUID]
    ) -> list[Issue]:
        if not case_ids:
            return []
        readable = CaseService(self.context).scope_clause(principal)
        found = set((await session.exec(select(Case.id).where(col(Case.id).in_(case_ids), readable))).all())
        return [
            Issue(f"case_ids.{index}", "screening.case_unknown", "所列案件不存在或不在您的管辖范围内")
            for index, case_id in enumerate(case_ids)
            if case_id not in found
        ]

    async def _view(self, session: AsyncSession, report: ScreeningReport) -> ReportView:
        region = await session.get(Region, report.region_code)
        user = await session.get(User, report.submitted_by)
        return ReportView(report, region.name if region else report.region_code, user.display_name if user else "")

    # ------------------------------------------------------------ reads

    async def _region_in_scope(self, session: AsyncSession, principal: Principal, code: str | None) -> Region:
        region = await session.get(Region, code or principal.node_code)
        if region is None or not principal.covers(region.path):
            raise _out_of_scope()
        return region

    async def list(
        self,
        principal: Principal,
        *,
        region: str | None,
        start: date | None,
        end: date | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[ReportView], str | None]:
        """Reports of the region's subtree whose period overlaps ``start..end``, newest first."""
        async with self.context.db.read() as session:
            place = await self._region_in_scope(session, principal, region)
            statement = (
                select(ScreeningReport, Region.name, User.display_name)
                .join(Region, col(Region.code) == col(ScreeningReport.region_code))
                .join(User, col(User.id) == col(ScreeningReport.submitted_by))
                .where(in_subtree(col(Region.path), place.path))
            )
            if start is not None:
                statement = statement.where(col(ScreeningReport.period_end) >= start)
            if end is not None:
                statement = statement.where(col(ScreeningReport.period_start) <= end)
            if cursor:
                at, last_id = _decode_cursor(cursor)
                statement = statement.where(
                    or_(
                        col(ScreeningReport.submitted_at) < at,
                        and_(col(ScreeningReport.submitted_at) == at, col(ScreeningReport.id) < last_id),
                    )
                )
            statement = statement.order_by(col(ScreeningReport.submitted_at).desc(), col(ScreeningReport.id).desc())
            rows = list((await session.exec(statement.limit(limit + 1))).all())
        views = [ReportView(report, name, submitter) for report, name, submitter in rows[:limit]]
        next_cursor = _encode_cursor(views[-1].report) if len(rows) > limit else None
        return views, next_cursor

    async def periods(
        self, principal: Principal, *, region: str | None, start: date | None, end: date | None
    ) -> tuple[Region, list[PeriodView]]:
        """The periods a node owes over ``start..end`` (default: the last 31 days) and their reports."""
        now = self.context.clock.now()
        today = local_date(now)
        end = end or today
        start = start or end - timedelta(days=31)
        if start > end or (end - start).days > MAX_PERIOD_SPAN_DAYS:
            raise InvalidInput(
                [Issue("from", "screening.range_invalid", f"起止日期应有序且相隔不超过 {MAX_PERIOD_SPAN_DAYS} 天")]
            )
        async with self.context.db.read() as session:
            place = await self._region_in_scope(session, principal, region)
            periods = periods_between(self.policy, place.level, start, end, self.context.calendar)
            statement = select(ScreeningReport).where(
                ScreeningReport.region_code == place.code,
                col(ScreeningReport.period_start) <= periods[-1].end,
                col(ScreeningReport.period_end) >= periods[0].start,
            )
            reports = list((await session.exec(statement)).all())
        views = []
        for period in periods:
            report = next((r for r in reports if r.period_start <= period.end and r.period_end >= period.start), None)
            status = self._status(period, report, now)
            views.append(
                PeriodView(period, status, report.id if report else None, report.submitted_at if report else None)
            )
        return place, views

    def _status(self, period: ScreeningPeriod, report: ScreeningReport | None, now: datetime) -> Timeliness:
        if report is None:
            return timeliness(period.due, None, now)
        # A report is judged by the period it was filed for (the same one unless the
        # policy moved the period's bounds since).
        due = period.due if report.period_end == period.end else self.due_of(report)
        return timeliness(due, report.submitted_at, now)

    def due_of(self, report: ScreeningReport):
        return due_after(self.policy, report.period_end, self.context.calendar)

    def on_time(self, report: ScreeningReport) -> bool:
        return is_on_time(self.due_of(report), report.submitted_at)

    async def completeness(
        self, principal: Principal, *, region: str, day: date | None, level: Level | None
    ) -> CompletenessResult:
        """How every reporting node under ``region`` stands for its period containing ``day``.

        Each node is judged on its own level's period (grids and villages on the village
        cadence, the township and county on theirs); the answer names those periods. Rows
        are the region's children, each counting every node of its subtree; ``own`` is the
        region's own report when it is a reporting node itself.
        """
        now = self.context.clock.now()
        day = day or local_date(now)
        if level is not None and level not in CADENCE_LEVEL:
            raise InvalidInput([Issue("level", "screening.not_a_unit", "该层级不报送排查报告")])
        levels = [level] if level is not None else list(REPORTING_LEVELS)
        async with self.context.db.read() as session:
            place = await self._region_in_scope(session, principal, region)
            live = or_(col(Region.valid_to_year).is_(None), col(Region.valid_to_year) >= day.year)
            units = (
                await session.exec(
                    select(Region.code, Region.name, Region.level, Region.path).where(
                        in_subtree(col(Region.path), place.path),
                        col(Region.level).in_([item.value for item in levels]),
                        live,
                    )
                )
            ).all()
            children = (
                await session.exec(
                    select(Region.code, Region.name, Region.level)
                    .where(Region.parent_code == place.code, live)
                    .order_by(Region.code)
                )
            ).all()
            reports = (
                await session.exec(
                    select(ScreeningReport)
                    .join(Region, col(Region.code) == col(ScreeningReport.region_code))
                    .where(
                        in_subtree(col(Region.path), place.path),
                        col(ScreeningReport.period_start) <= day,
                        col(ScreeningReport.period_end) >= day,
                    )
                )
            ).all()
        by_region = {report.region_code: report for report in reports}
        periods: dict[str, ScreeningPeriod] = {}
        for unit_level in sorted({unit.level for unit in units}, key=lambda name: list(Level).index(Level(name))):
            periods[unit_level] = period_on(self.policy, unit_level, day, self.context.calendar)
        depth = len(codes_on_path(place.path))
        rows = {code: CompletenessRow(code, name, level_name) for code, name, level_name in children}
        own = CompletenessRow(place.code, place.name, place.level) if place.level in periods else None
        total = CompletenessRow(place.code, place.name, place.level)
        for code, name, unit_level, path in sorted(units, key=lambda unit: unit.path):
            status = self._status(periods[unit_level], by_region.get(code), now)
            unit = Unit(code, name, unit_level, status)
            total.units.append(unit)
            if code == place.code:
                assert own is not None
                own.units.append(unit)
                continue
            child = codes_on_path(path)[depth]
            rows.setdefault(child, CompletenessRow(child, child, ""))
            rows[child].units.append(unit)
        return CompletenessResult(
            region=place,
            day=day,
            as_of=now,
            periods=periods,
            own=own,
            children=list(rows.values()),
            total=total,
        )


# ---------------------------------------------------------------- the phone's mutation


async def file_screening_mutation(
    session: AsyncSession, context: ServiceContext, principal: Principal, mutation: Mutation
) -> str | None:
    """Apply a ``file_screening_report`` mutation: ``case_id`` carries the report's id.

    Returns the result code: None when filed, ``screening.duplicate`` when the server
    already held this very report (a retry through another path). Refusals raise.
    """
    device_time = mutation.device_time
    # A device clock without an offset is not worth refusing the report over: drop it.
    captured_at = device_time if device_time is not None and device_time.utcoffset() is not None else None
    data = ScreeningReportCreate.model_validate(
        {"captured_at": captured_at, **mutation.data, "id": str(mutation.case_id)}
    )
    filed = await ScreeningService(context).file_in(session, principal, data)
    return None if filed.created else DUPLICATE


# ---------------------------------------------------------------- reminders


async def screening_reminder_job(context: ServiceContext) -> int:
    """Remind the people of every node whose report is not in yet, once per reminder instant.

    For each level and each period with a reminder worth sending now (grid.screening.
    reminders_due), one transaction claims a ``screening_reminder`` row per node that owes
    the report and has someone to file it, and enqueues a notification for the claims it
    won. A second run (or a second process) finds the claims and sends nothing. Returns the
    number of nodes reminded.
    """
    policy = policy_in_force(context.settings)
    now = context.clock.now()
    sent = 0
    for level in HandlingLevel:
        for due in reminders_due(policy, level, now, context.calendar):
            sent += await _remind(context, level, due, now)
    return sent


async def _remind(context: ServiceContext, level: HandlingLevel, due: DueReminder, now: datetime) -> int:
    period = due.period
    node_levels = [node for node, cadence in CADENCE_LEVEL.items() if cadence is level]
    roles = {role.value for node in node_levels for role in FILERS[node]}
    async with context.db.write() as session:
        live = or_(col(Region.valid_to_year).is_(None), col(Region.valid_to_year) >= period.start.year)
        people = (
            await session.exec(
                select(User.id, User.role, Region.code, Region.name, Region.level)
                .join(Region, col(Region.code) == col(User.node_code))
                .where(
                    col(Region.level).in_([node.value for node in node_levels]),
                    col(User.role).in_(sorted(roles)),
                    col(User.active).is_(True),
                    live,
                )
                .order_by(Region.code, User.id)
            )
        ).all()
        recipients: dict[str, list[uuid.UUID]] = defaultdict(list)
        names: dict[str, str] = {}
        for user_id, role, code, name, node_level in people:
            if role in {item.value for item in FILERS[Level(node_level)]}:
                recipients[code].append(user_id)
                names[code] = name
        if not recipients:
            return 0
        filed = set(
            (
                await session.exec(
                    select(ScreeningReport.region_code).where(
                        col(ScreeningReport.region_code).in_(sorted(recipients)),
                        col(ScreeningReport.period_start) <= period.end,
                        col(ScreeningReport.period_end) >= period.start,
                    )
                )
            ).all()
        )
        owing = [code for code in sorted(recipients) if code not in filed]
        if not owing:
            return 0
        claims = [
            {
                "region_code": code,
                "period_start": period.start,
                "remind_at": due.at,
                "period_end": period.end,
                "due_on": period.due.last_day,
                "recipients": [str(user_id) for user_id in recipients[code]],
                "sent_at": now,
            }
            for code in owing
        ]
        table: Any = ScreeningReminder.__table__
        statement = upsert_statement(
            session.bind.dialect.name, table, ["region_code", "period_start", "remind_at"], None
        )
        claimed = set((await session.exec(statement.values(claims).returning(table.c.region_code))).scalars().all())  # type: ignore[call-overload]
        for code in owing:
            if code not in claimed:
                continue
            await enqueue(
                session,
                dedupe_key=f"screening:{code}:{period.start.isoformat()}:{due.at.isoformat()}",
                event=REMINDER_EVENT,
                case_id=None,
                recipients=recipients[code],
                title="排查报告提醒",
                body=(
                    f"请于{_day_zh(period.due.last_day)}前报送{names[code]}"
                    f"{_day_zh(period.start)}至{_day_zh(period.end)}的矛盾纠纷排查报告；"
                    "本期未发现矛盾纠纷的，请报零报告。"
                ),
                payload={
                    "region": code,
                    "period_start": period.start.isoformat(),
                    "period_end": period.end.isoformat(),
                    "due_on": period.due.last_day.isoformat(),
                    "remind_at": due.at.isoformat(),
                },
                created_at=now,
            )
        return len(claimed)


def _day_zh(day: date) -> str:
    return f"{day.month}月{day.day}日"
