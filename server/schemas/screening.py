"""Request and response bodies for 排查 reports (never table models)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from grid.screening import MAX_CASE_IDS, MAX_FOUND, MAX_ITEMS, Timeliness

ItemText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ScreeningReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: uuid.UUID = Field(description="由设备生成的报告 ID（UUIDv7）；同一 ID、同一内容重复提交视为重复")
    region: str | None = Field(
        default=None, min_length=1, max_length=20, description="报告的网格或区划代码；默认为本人所在节点"
    )
    period_start: date = Field(description="报告期第一天")
    period_end: date = Field(description="报告期最后一天")
    zero_report: bool = Field(description="零报告：本期未发现矛盾纠纷")
    found_count: int = Field(default=0, ge=0, le=MAX_FOUND, description="发现的矛盾纠纷数")
    items: list[ItemText] = Field(
        default_factory=list, max_length=MAX_ITEMS, description="发现事项的简要说明，每条一句（200 字以内）"
    )
    case_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=MAX_CASE_IDS, description="排查中登记的案件 ID（可选）"
    )
    captured_at: AwareDatetime | None = Field(default=None, description="设备时钟记录的填报时间（带时区，仅作记录）")


class ScreeningReportRead(BaseModel):
    id: uuid.UUID
    region: str
    region_name: str
    level: str
    period_start: date
    period_end: date
    cadence: str
    cadence_name: str
    sensitive: str | None
    due_on: date = Field(description="截止日（当日 24:00 前为按时）")
    due_at: datetime
    due_provisional: bool = Field(description="截止日所在年份尚无节假日安排，按周末推算，待更新")
    status: Timeliness = Field(description="on_time 按时上报 / late 逾期上报")
    status_name: str
    zero_report: bool
    found_count: int
    items: list[str]
    case_ids: list[uuid.UUID]
    submitted_by: uuid.UUID
    submitted_by_name: str
    submitted_at: datetime
    captured_at: datetime | None


class ScreeningReportPage(BaseModel):
    items: list[ScreeningReportRead]
    next_cursor: str | None


class ScreeningPeriodRead(BaseModel):
    """One period a node owes a report for, and where that report stands."""

    start: date
    end: date
    cadence: str
    cadence_name: str
    sensitive: str | None
    due_on: date
    due_at: datetime
    due_provisional: bool
    reminders: list[datetime]
    status: Timeliness
    status_name: str
    report_id: uuid.UUID | None
    submitted_at: datetime | None


class ScreeningPeriodList(BaseModel):
    region: str
    region_name: str
    level: str
    periods: list[ScreeningPeriodRead]


class OutstandingUnit(BaseModel):
    region: str
    name: str
    level: str
    status: Timeliness


class CompletenessRow(BaseModel):
    region: str
    name: str
    level: str
    due: int = Field(description="应报数")
    received: int = Field(description="已报数（含零报告）")
    on_time: int
    late: int
    missing: int = Field(description="逾期未报")
    pending: int = Field(description="未报、尚未到截止时间")
    timely_rate: float | None = Field(description="排查上报及时率 = 按时上报 ÷（按时 + 逾期上报 + 逾期未报）")
    received_rate: float | None = Field(description="上报率 = 已报 ÷ 应报")
    outstanding: list[OutstandingUnit] = Field(description="尚未报送的节点（逾期未报与未到期）")


class CompletenessPeriod(BaseModel):
    level: str
    start: date
    end: date
    cadence: str
    sensitive: str | None
    due_on: date
    due_at: datetime


class CompletenessRead(BaseModel):
    region: str
    name: str
    level: str
    day: date = Field(description="所查询的日期：各节点按本层级频次落在该日的报告期")
    as_of: datetime
    periods: list[CompletenessPeriod]
    own: CompletenessRow | None = Field(description="本级自身的报告（本级为报送节点时）")
    children: list[CompletenessRow] = Field(description="每个下级区划（含其下全部节点）")
    total: CompletenessRow
