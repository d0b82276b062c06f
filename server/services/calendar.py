"""Loading the State Council's annual holiday notice into the official calendar."""

from __future__ import annotations

from sqlalchemy import text

from grid.calendar import YearCalendar, parse_holiday_notice
from server.errors import ServiceError
from server.principal import Principal
from server.services.context import ServiceContext
from server.services.deadlines import restamp_provisional_deadlines
from server.services.escalation import recheck_open_cases
from server.tables import HolidayNotice


class CalendarService:
    def __init__(self, context: ServiceContext):
        self.context = context

    async def ping(self) -> None:
        async with self.context.db.read() as session:
            await session.exec(text("SELECT 1"))  # type: ignore[call-overload]

    async def load_notice(self, notice_text: str, *, by: Principal | None = None) -> YearCalendar:
        """Store a year's notice and rebuild the calendar; deadlines in that year stop being provisional."""
        if by is not None and not by.is_admin:
            raise ServiceError("只有管理员可以载入节假日安排", code="auth.forbidden")
        notice = parse_holiday_notice(notice_text)
        async with self.context.db.write() as session:
            row = await session.get(HolidayNotice, notice.year)
            if row is None:
                row = HolidayNotice(
                    year=notice.year, source=notice.source, text=notice_text, loaded_at=self.context.clock.now()
                )
            row.source = notice.source
            row.text = notice_text
            row.loaded_at = self.context.clock.now()
            row.loaded_by = by.user_id if by else None
            session.add(row)
        await self.context.reload_calendar()
        await restamp_provisional_deadlines(self.context)
        # Stage targets and lights move with the new working days: the sweeper re-evaluates.
        await recheck_open_cases(self.context)
        return notice
