"""Statistics of a region and period: JSON, CSV, XLSX or the report PDF (docs/statistics.md)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import Parameter, QueryParameter

from reports.spreadsheets import to_csv, to_xlsx
from server.api.deps import context_of
from server.errors import ServiceError
from server.principal import Principal
from server.services.statistics import Result, StatisticsService, render_report

FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "pdf": ("application/pdf", "pdf"),
}


def provide_statistics(state: State) -> StatisticsService:
    return StatisticsService(context_of(state))


def _report(result: Result) -> dict[str, Any] | None:
    report = result.report
    if report is None:
        return None
    return {
        "id": str(report.id),
        "generated_at": report.generated_at.isoformat(),
        "source": report.source,
        "pdf_sha256": report.pdf_sha256,
    }


async def _pdf(state: State, result: Result) -> bytes:
    if result.report is not None:
        return result.report.pdf
    return await render_report(context_of(state), result.figures)


class StatisticsController(Controller):
    path = "/statistics"
    tags = ["statistics"]
    dependencies = {"statistics": Provide(provide_statistics, sync_to_thread=False)}

    @get(
        "",
        summary="区域统计指标（月、季度、年度）：JSON，或 CSV、XLSX、PDF 报表",
        description=(
            "period：2026-11（月）、2026-Q4（季度）或 2026（年）。有已生成的月报时返回月报的数据和文件"
            "（report 字段），live=true 时按当前数据重新统计。指标定义见 docs/statistics.md。"
        ),
    )
    async def statistics(
        self,
        principal: NamedDependency[Principal],
        statistics: NamedDependency[StatisticsService],
        state: State,
        period: str = Parameter(max_length=10, description="统计期：2026-11、2026-Q4 或 2026"),
        region: str | None = Parameter(default=None, max_length=20, description="区划代码，默认为本人所在区划"),
        file_format: Annotated[str, QueryParameter(name="format", description="json、csv、xlsx 或 pdf")] = "json",
        live: bool = Parameter(default=False, description="不用已生成的月报，按当前数据统计"),
    ) -> Response[Any]:
        if file_format != "json" and file_format not in FORMATS:
            raise ServiceError(
                f"不支持的格式“{file_format}”：可选 json、csv、xlsx、pdf",
                code="statistics.invalid_format",
                data={"formats": ["json", *FORMATS]},
            )
        result = await statistics.figures(principal, region, period, live=live)
        figures = result.figures
        if file_format == "json":
            return Response({**figures, "report": _report(result)})
        media_type, extension = FORMATS[file_format]
        if file_format == "csv":
            content = to_csv(figures)
        elif file_format == "xlsx":
            content = to_xlsx(figures)
        else:
            content = await _pdf(state, result)
        name = f"statistics-{figures['region']['code']}-{figures['period']['key']}.{extension}"
        return Response(
            content,
            media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
