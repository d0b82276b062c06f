"""Statistics of a region and period: gathering the plain records, the stored monthly
reports, and the monthly job.

The indicators are ``reports.statistics``'s (pure); this module reads what they need in
one read transaction with a handful of set queries (no per-case query: the monthly report
of a county with 10,000 cases in the month reads them in one pass, bench/monthly_bench.py),
and stores the monthly report so the job that makes it is safe to run twice and in two
processes: one row per region and period, inserted with ON CONFLICT DO NOTHING.
docs/statistics.md.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid.calendar import local_date
from grid.cases import Case, CaseEvent, Kind, PartyKind, PartyRole
from grid.cases import Party as CaseParty
from grid.categories import Category
from grid.hierarchy import Level, Region
from grid.lifecycle import Action, CaseFacts
from grid.people import User
from grid.policy import Policy
from grid.repeats import CaseDuplicate, CaseSkipLevel
from grid.screening import REPORTING_LEVELS, ScreeningReport, cadence_level
from grid.supervision import Supervision, supervision_status
from reports.statistics import (
    Activity,
    CaseRecord,
    Period,
    ScreeningDue,
    Statistics,
    check_started,
    compute,
    parse_period,
    previous_month,
)
from reports.statistics_report import render_statistics_pdf
from reports.statistics_tables import StatisticsReport
from server.errors import ServiceError
from server.principal import Principal
from server.services.context import ServiceContext
from server.services.escalation import policy_in_force
from server.services.regions import in_subtree
from server.services.upsert import upsert_statement

log = logging.getLogger(__name__)

SCHEDULE = "schedule"
MANUAL = "manual"
# The monthly job looks once an hour whether last month's reports are all made; the first
# look waits a few minutes after the process starts, so a short-lived server (a test, a
# restart loop) does not spend its life rendering.
MONTHLY_REPORT_INTERVAL_SECONDS = 3600.0
STARTUP_GRACE_SECONDS = 300.0
# Activities counted for the annual report (timeline entry kinds).
ACTIVITY_ENTRIES = (Action.ROUTE.value, Action.REFER_DOWN.value)


@dataclass(frozen=True)
class Inputs:
    """Everything :func:`reports.statistics.compute` needs, as read from the database."""

    region: Region
    period: Period
    as_of: datetime
    cases: list[CaseRecord]
    activities: list[Activity]
    screening: list[ScreeningDue]
    categories: dict[str, str]
    children: dict[str, str]


@dataclass(frozen=True)
class Result:
    """Figures for the API: live, or those of the stored report of that region and month."""

    figures: dict[str, Any]
    report: StatisticsReport | None


def _out_of_scope() -> ServiceError:
    return ServiceError("区划不存在或不在您的管辖范围内", code="auth.out_of_scope")


def _live(year: int):
    return or_(col(Region.valid_to_year).is_(None), col(Region.valid_to_year) >= year)


class StatisticsService:
    def __init__(self, context: ServiceContext, policy: Policy | None = None):
        self.context = context
        self.policy = policy or policy_in_force(context.settings)

    # ------------------------------------------------------------ reading

    async def region_in_scope(self, principal: Principal, code: str | None) -> Region:
        async with self.context.db.read() as session:
            region = await session.get(Region, code or principal.node_code)
        if region is None or not principal.covers(region.path):
            raise _out_of_scope()
        return region

    async def gather(self, region: Region, period: Period, as_of: datetime) -> Inputs:
        async with self.context.db.read() as session:
            return Inputs(
                region=region,
                period=period,
                as_of=as_of,
                cases=await self._cases(session, region, period),
                activities=await self._activities(session, region, period, as_of),
                screening=await self._screening(session, region, period),
                categories=await self._categories(session),
                children=await self._children(session, region, period),
            )

    def _cohort(self, region: Region, period: Period):
        return and_(
            in_subtree(col(Case.region_path), region.path),
            col(Case.registered_at) >= period.starts_at,
            col(Case.registered_at) < period.ends_at,
        )

    async def _cases(self, session: AsyncSession, region: Region, period: Period) -> list[CaseRecord]:
        cohort = self._cohort(region, period)
        declined = dict(
            (
                await session.exec(
                    select(col(CaseEvent.case_id), func.min(col(CaseEvent.at)))
                    .join(Case, col(Case.id) == col(CaseEvent.case_id))
                    .where(cohort, col(CaseEvent.kind) == Action.DECLINE.value)
                    .group_by(col(CaseEvent.case_id))
                )
            ).all()
        )
        organisations: dict[uuid.UUID, list[str]] = defaultdict(list)
        for case_id, name in (
            await session.exec(
                select(col(CaseParty.case_id), col(CaseParty.name))
                .join(Case, col(Case.id) == col(CaseParty.case_id))
                .where(
                    cohort,
                    col(CaseParty.kind) == PartyKind.ORGANISATION.value,
                    col(CaseParty.role) == PartyRole.RESPONDENT.value,
                )
                .order_by(col(CaseParty.case_id), col(CaseParty.ordinal))
            )
        ).all():
            organisations[case_id].append(name.strip())
        rows = (
            await session.exec(
                select(
                    col(Case.id),
                    col(Case.kind),
                    col(Case.category_code),
                    col(Case.channel),
                    col(Case.is_collective),
                    col(Case.region_path),
                    col(Case.registered_at),
                    col(Case.lifecycle),
                    col(CaseDuplicate.case_id),
                    col(CaseSkipLevel.case_id),
                )
                .outerjoin(CaseDuplicate, col(CaseDuplicate.case_id) == col(Case.id))
                .outerjoin(CaseSkipLevel, col(CaseSkipLevel.case_id) == col(Case.id))
                .where(cohort)
                .order_by(col(Case.registered_at), col(Case.id))
            )
        ).all()
        return [
            CaseRecord(
                id=str(case_id),
                kind=Kind(kind),
                category=category,
                channel=channel,
                is_collective=bool(collective),
                region_path=path,
                registered_at=registered_at,
                facts=CaseFacts.from_json(lifecycle),
                duplicate=duplicate is not None,
                skip_level=skip is not None,
                declined_at=declined.get(case_id),
                respondent_organisations=tuple(organisations.get(case_id, ())),
            )
            for case_id, kind, category, channel, collective, path, registered_at, lifecycle, duplicate, skip in rows
        ]

    async def _activities(
        self, session: AsyncSession, region: Region, period: Period, as_of: datetime
    ) -> list[Activity]:
        """转送 and 交办 entries, and 督办 items opened, in the period, on cases of the region
        (whenever those were registered)."""
        in_region = in_subtree(col(Case.region_path), region.path)
        activities = [
            Activity(kind, at, str(case_id), (data or {}).get("route") if kind == Action.ROUTE.value else None)
            for kind, at, case_id, data in (
                await session.exec(
                    select(
                        col(CaseEvent.kind),
                        col(CaseEvent.at),
                        col(CaseEvent.case_id),
                        col(CaseEvent.data),
                    )
                    .join(Case, col(Case.id) == col(CaseEvent.case_id))
                    .where(
                        in_region,
                        col(CaseEvent.kind).in_(ACTIVITY_ENTRIES),
                        col(CaseEvent.at) >= period.starts_at,
                        col(CaseEvent.at) < period.ends_at,
                    )
                )
            ).all()
        ]
        for case_id, opened_at, replied_at, due_at in (
            await session.exec(
                select(
                    col(Supervision.case_id),
                    col(Supervision.opened_at),
                    col(Supervision.replied_at),
                    col(Supervision.reply_due_at),
                )
                .join(Case, col(Case.id) == col(Supervision.case_id))
                .where(
                    in_region,
                    col(Supervision.opened_at) >= period.starts_at,
                    col(Supervision.opened_at) < period.ends_at,
                )
            )
        ).all():
            state = supervision_status(replied_at if replied_at and replied_at <= as_of else None, due_at, as_of)
            activities.append(Activity("supervision", opened_at, str(case_id), state.value))
        activities.sort(key=lambda item: (item.at, item.kind, item.case_id))
        return activities

    async def _screening(self, session: AsyncSession, region: Region, period: Period) -> list[ScreeningDue]:
        """Every report a node of the region owed for a report period ending in ``period``."""
        nodes = (
            await session.exec(
                select(Region.code, Region.level)
                .where(
                    in_subtree(col(Region.path), region.path),
                    col(Region.level).in_([level.value for level in REPORTING_LEVELS]),
                    _live(period.start.year),
                )
                .order_by(Region.code)
            )
        ).all()
        if not nodes:
            return []
        periods = {}
        for level in {level for _, level in nodes}:
            periods[level] = [
                item
                for item in self.policy.screening_periods(
                    cadence_level(level), period.start, period.end, self.context.calendar
                )
                if period.start <= item.end <= period.end
            ]
        spans = [item for items in periods.values() for item in items]
        if not spans:
            return []
        reports: dict[str, list[ScreeningReport]] = defaultdict(list)
        for report in (
            await session.exec(
                select(ScreeningReport)
                .join(Region, col(Region.code) == col(ScreeningReport.region_code))
                .where(
                    in_subtree(col(Region.path), region.path),
                    col(ScreeningReport.period_end) >= min(item.start for item in spans),
                    col(ScreeningReport.period_start) <= period.end,
                )
            )
        ).all():
            reports[report.region_code].append(report)
        owed = []
        for code, level in nodes:
            for item in periods[level]:
                filed = next(
                    (r for r in reports.get(code, ()) if r.period_start <= item.end and r.period_end >= item.start),
                    None,
                )
                owed.append(
                    ScreeningDue(code, level, item.start, item.end, item.due, filed.submitted_at if filed else None)
                )
        return owed

    async def _categories(self, session: AsyncSession) -> dict[str, str]:
        """Code → name, the newest list's names and order first, retired codes after."""
        rows = (
            await session.exec(
                select(Category.code, Category.name, Category.version, Category.position).order_by(
                    col(Category.version).desc(), col(Category.position)
                )
            )
        ).all()
        names: dict[str, str] = {}
        for code, name, _, _ in rows:
            names.setdefault(code, name)
        return names

    async def _children(self, session: AsyncSession, region: Region, period: Period) -> dict[str, str]:
        rows = (
            await session.exec(
                select(Region.code, Region.name)
                .where(col(Region.parent_code) == region.code, _live(period.start.year))
                .order_by(Region.code)
            )
        ).all()
        return dict(rows)

    async def compute(self, region: Region, period: Period, as_of: datetime) -> Statistics:
        inputs = await self.gather(region, period, as_of)
        # Counting a county's month is ~0.7 s of CPU at 10,000 cases: not on the event loop.
        indicators = functools.partial(
            compute,
            region_code=region.code,
            region_name=region.name,
            region_path=region.path,
            period=period,
            as_of=as_of,
            calendar=self.context.calendar,
            cases=inputs.cases,
            activities=inputs.activities,
            screening=inputs.screening,
            categories=inputs.categories,
            children=inputs.children,
        )
        return await asyncio.to_thread(indicators)

    async def figures(self, principal: Principal, region_code: str | None, period_text: str, *, live: bool) -> Result:
        """The figures of a region in the caller's jurisdiction for a period: those of the
        stored monthly report when there is one (unless ``live``), else computed now."""
        period = parse_period(period_text)
        check_started(period, self.context.clock.now())
        region = await self.region_in_scope(principal, region_code)
        return await self.result(region, period, live=live)

    async def result(self, region: Region, period: Period, *, live: bool) -> Result:
        if not live:
            stored = await self.stored(region.code, period.key)
            if stored is not None:
                return Result(stored.figures, stored)
        return Result((await self.compute(region, period, self.context.clock.now())).to_json(), None)

    async def region(self, code: str) -> Region:
        """A region by code, for callers without a jurisdiction (the CLI)."""
        async with self.context.db.read() as session:
            region = await session.get(Region, code)
        if region is None:
            raise ServiceError(f"区划 {code} 不存在", code="region.not_found", data={"code": code})
        return region

    # ------------------------------------------------------------ stored reports

    async def stored(self, region_code: str, period_key: str) -> StatisticsReport | None:
        async with self.context.db.read() as session:
            return (
                await session.exec(
                    select(StatisticsReport).where(
                        StatisticsReport.region_code == region_code, StatisticsReport.period == period_key
                    )
                )
            ).first()

    async def store(self, region: Region, period: Period, figures: dict[str, Any], pdf: bytes, source: str) -> bool:
        """Insert the report unless one exists for the region and period; True when this
        call inserted it (the row is the claim: a second run, or process, inserts nothing)."""
        row = {
            "id": uuid.uuid4(),
            "region_code": region.code,
            "period": period.key,
            "period_kind": period.kind,
            "period_start": period.start,
            "period_end": period.end,
            "as_of": datetime.fromisoformat(figures["as_of"]),
            "generated_at": self.context.clock.now(),
            "source": source,
            "figures": figures,
            "pdf": pdf,
            "pdf_sha256": hashlib.sha256(pdf).hexdigest(),
        }
        table: Any = StatisticsReport.__table__
        async with self.context.db.write() as session:
            statement = upsert_statement(session.bind.dialect.name, table, ["region_code", "period"], None)
            inserted = (await session.exec(statement.values(row).returning(table.c.id))).scalars().all()  # type: ignore[call-overload]
        return bool(inserted)

    async def report_regions(self, period: Period) -> list[Region]:
        """The regions the monthly job reports on: every county where someone works (an
        active user in its subtree), and each of its townships."""
        async with self.context.db.read() as session:
            live = _live(period.start.year)
            counties = (
                await session.exec(
                    select(Region).where(col(Region.level) == Level.COUNTY.value, live).order_by(Region.code)
                )
            ).all()
            deployed = []
            for county in counties:
                someone = exists().where(col(User.active).is_(True), in_subtree(col(User.node_path), county.path))
                if (await session.exec(select(someone))).one():
                    deployed.append(county)
            regions: list[Region] = []
            for county in deployed:
                regions.append(county)
                regions.extend(
                    (
                        await session.exec(
                            select(Region)
                            .where(
                                col(Region.parent_code) == county.code,
                                col(Region.level) == Level.TOWNSHIP.value,
                                live,
                            )
                            .order_by(Region.code)
                        )
                    ).all()
                )
        return regions


async def generate_monthly_reports(
    context: ServiceContext,
    *,
    regions: Sequence[Region] | None = None,
) -> int:
    """Make the previous month's report (by ``context.clock``) of every region the job
    covers that has none yet; returns how many this call stored.

    Safe twice and in two processes: regions already stored are skipped, and the insert
    of a report another process stored meanwhile does nothing.
    """
    now = context.clock.now()
    period = previous_month(local_date(now))
    service = StatisticsService(context)
    regions = list(regions) if regions is not None else await service.report_regions(period)
    async with context.db.read() as session:
        done = set(
            (
                await session.exec(select(StatisticsReport.region_code).where(StatisticsReport.period == period.key))
            ).all()
        )
    missing = [region for region in regions if region.code not in done]
    stored = 0
    for region in missing:
        statistics = await service.compute(region, period, context.clock.now())
        figures = statistics.to_json()
        pdf = await render_report(context, figures)
        if await service.store(region, period, figures, pdf, SCHEDULE):
            stored += 1
            log.info("monthly statistics report %s %s stored", region.code, period.key)
    return stored


async def render_report(context: ServiceContext, figures: dict[str, Any]) -> bytes:
    return await context.off_loop(render_statistics_pdf, figures)


async def monthly_report_job(context: ServiceContext) -> int:
    """The scheduler's job: on the 1st (or the first run after it) the previous month."""
    return await generate_monthly_reports(context)
