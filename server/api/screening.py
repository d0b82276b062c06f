"""排查 reports: filing, lists, a node's periods, and completeness (docs/screening.md)."""

from __future__ import annotations

from datetime import UTC, date
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, Parameter, QueryParameter

from grid.hierarchy import Level
from grid.policy import CADENCE_NAMES_ZH, Cadence, ScreeningPeriod
from grid.screening import TIMELINESS_NAMES_ZH, Timeliness
from server.api.deps import context_of
from server.principal import Principal
from server.schemas.screening import (
    CompletenessPeriod,
    CompletenessRead,
    CompletenessRow,
    OutstandingUnit,
    ScreeningPeriodList,
    ScreeningPeriodRead,
    ScreeningReportCreate,
    ScreeningReportPage,
    ScreeningReportRead,
)
from server.services import screening as service
from server.services.screening import ReportView, ScreeningService


def provide_screening(state: State) -> ScreeningService:
    return ScreeningService(context_of(state))


def _rate(value) -> float | None:
    return None if value is None else round(float(value), 4)


def report_read(view: ReportView, screening: ScreeningService) -> ScreeningReportRead:
    report = view.report
    due = screening.due_of(report)
    status = Timeliness.ON_TIME if screening.on_time(report) else Timeliness.LATE
    return ScreeningReportRead(
        id=report.id,
        region=report.region_code,
        region_name=view.region_name,
        level=report.level,
        period_start=report.period_start,
        period_end=report.period_end,
        cadence=report.cadence,
        cadence_name=CADENCE_NAMES_ZH[Cadence(report.cadence)],
        sensitive=report.sensitive,
        due_on=due.last_day,
        due_at=due.ends_at,
        due_provisional=due.provisional,
        status=status,
        status_name=TIMELINESS_NAMES_ZH[status],
        zero_report=report.zero_report,
        found_count=report.found_count,
        items=report.items,
        case_ids=report.case_ids,  # type: ignore[arg-type]
        submitted_by=report.submitted_by,
        submitted_by_name=view.submitted_by_name,
        # As stored (UTC), so a retry's answer is the first answer byte for byte.
        submitted_at=report.submitted_at.astimezone(UTC),
        captured_at=report.captured_at.astimezone(UTC) if report.captured_at else None,
    )


def period_read(view: service.PeriodView) -> ScreeningPeriodRead:
    period = view.period
    return ScreeningPeriodRead(
        start=period.start,
        end=period.end,
        cadence=period.cadence.value,
        cadence_name=CADENCE_NAMES_ZH[period.cadence],
        sensitive=period.sensitive,
        due_on=period.due.last_day,
        due_at=period.due.ends_at,
        due_provisional=period.due.provisional,
        reminders=list(period.reminders),
        status=view.status,
        status_name=TIMELINESS_NAMES_ZH[view.status],
        report_id=view.report_id,
        submitted_at=view.submitted_at,
    )


def completeness_row(row: service.CompletenessRow) -> CompletenessRow:
    counts = row.counts
    return CompletenessRow(
        region=row.code,
        name=row.name,
        level=row.level,
        due=counts.due,
        received=counts.received,
        on_time=counts.on_time,
        late=counts.late,
        missing=counts.missing,
        pending=counts.pending,
        timely_rate=_rate(counts.timely_rate),
        received_rate=_rate(counts.received_rate),
        outstanding=[
            OutstandingUnit(region=unit.code, name=unit.name, level=unit.level, status=unit.status)
            for unit in row.units
            if unit.status in (Timeliness.MISSING, Timeliness.PENDING)
        ],
    )


def completeness_period(level: str, period: ScreeningPeriod) -> CompletenessPeriod:
    return CompletenessPeriod(
        level=level,
        start=period.start,
        end=period.end,
        cadence=period.cadence.value,
        sensitive=period.sensitive,
        due_on=period.due.last_day,
        due_at=period.due.ends_at,
    )


class ScreeningController(Controller):
    path = "/screening"
    tags = ["screening"]
    dependencies = {"screening": Provide(provide_screening, sync_to_thread=False)}

    @post("/reports", summary="报送排查报告（网格员报本网格；村两委报本村；可为零报告）")
    async def file_report(
        self,
        data: JSONBody[ScreeningReportCreate],
        principal: NamedDependency[Principal],
        screening: NamedDependency[ScreeningService],
    ) -> Response[ScreeningReportRead]:
        filed = await screening.file(principal, data)
        # A retry of a report already filed is acknowledged with the stored report.
        return Response(report_read(filed.view, screening), status_code=201 if filed.created else 200)

    @get("/reports", summary="排查报告列表（管辖范围内；按报送时间倒序，游标分页）")
    async def list_reports(
        self,
        principal: NamedDependency[Principal],
        screening: NamedDependency[ScreeningService],
        region: str | None = Parameter(default=None, max_length=20, description="默认为本人所在节点（含下级）"),
        start: Annotated[date | None, QueryParameter(name="from", description="报告期不早于（与其重叠）")] = None,
        end: Annotated[date | None, QueryParameter(name="to", description="报告期不晚于（与其重叠）")] = None,
        cursor: str | None = Parameter(default=None, max_length=200),
        limit: int = Parameter(default=50, ge=1, le=500),
    ) -> ScreeningReportPage:
        views, next_cursor = await screening.list(
            principal, region=region, start=start, end=end, cursor=cursor, limit=limit
        )
        return ScreeningReportPage(items=[report_read(view, screening) for view in views], next_cursor=next_cursor)

    @get("/periods", summary="报送节点的报告期、截止日与报送情况")
    async def periods(
        self,
        principal: NamedDependency[Principal],
        screening: NamedDependency[ScreeningService],
        region: str | None = Parameter(default=None, max_length=20, description="默认为本人所在节点"),
        start: Annotated[date | None, QueryParameter(name="from", description="默认为 to 之前 31 天")] = None,
        end: Annotated[date | None, QueryParameter(name="to", description="默认为今天")] = None,
    ) -> ScreeningPeriodList:
        place, views = await screening.periods(principal, region=region, start=start, end=end)
        return ScreeningPeriodList(
            region=place.code, region_name=place.name, level=place.level, periods=[period_read(v) for v in views]
        )

    @get("/completeness", summary="排查报告完整性与上报及时率（按下级区划）")
    async def completeness(
        self,
        principal: NamedDependency[Principal],
        screening: NamedDependency[ScreeningService],
        region: str = Parameter(max_length=20),
        period: date | None = Parameter(default=None, description="报告期内任一日；默认为今天"),
        level: Level | None = Parameter(default=None, description="只统计该层级的报送节点"),
    ) -> CompletenessRead:
        result = await screening.completeness(principal, region=region, day=period, level=level)
        return CompletenessRead(
            region=result.region.code,
            name=result.region.name,
            level=result.region.level,
            day=result.day,
            as_of=result.as_of,
            periods=[completeness_period(name, item) for name, item in result.periods.items()],
            own=completeness_row(result.own) if result.own is not None else None,
            children=[completeness_row(row) for row in result.children],
            total=completeness_row(result.total),
        )
