"""Health and the official calendar."""

from __future__ import annotations

from datetime import datetime

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import JSONBody
from pydantic import BaseModel, Field

from server.api.deps import context_of
from server.principal import Principal
from server.services.calendar import CalendarService


class Health(BaseModel):
    status: str
    database: str
    time: datetime


class HolidayNoticeUpload(BaseModel):
    text: str = Field(min_length=1, max_length=100_000, description="国务院节假日安排通知（TOML 格式）")


class CalendarYear(BaseModel):
    year: int
    source: str


class HealthController(Controller):
    path = "/health"
    tags = ["system"]

    @get("/", summary="健康检查")
    async def health(self, state: State) -> Health:
        context = context_of(state)
        await CalendarService(context).ping()
        return Health(status="ok", database=context.db.dialect, time=context.clock.now())


class CalendarController(Controller):
    path = "/calendar"
    tags = ["system"]

    @get("/years", summary="各年份节假日数据来源")
    async def years(self, principal: NamedDependency[Principal], state: State) -> list[CalendarYear]:
        return [
            CalendarYear(year=year, source=source.value)
            for year, source in context_of(state).calendar.covered_years().items()
        ]

    @post("/notices", summary="载入国务院年度节假日安排（管理员）")
    async def load_notice(
        self, data: JSONBody[HolidayNoticeUpload], principal: NamedDependency[Principal], state: State
    ) -> CalendarYear:
        notice = await CalendarService(context_of(state)).load_notice(data.text, by=principal)
        return CalendarYear(year=notice.year, source=notice.source)
