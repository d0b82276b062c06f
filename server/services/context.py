"""What every service needs: the database, the clock, the cipher and the calendar."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlmodel import select

from grid.calendar import StatutoryCalendar, parse_holiday_notice
from server.clock import Clock
from server.crypto import FieldCipher
from server.db import Database
from server.settings import Settings
from server.tables import HolidayNotice

if TYPE_CHECKING:
    from reports.render import RenderPool


@dataclass
class ServiceContext:
    settings: Settings
    db: Database
    clock: Clock
    cipher: FieldCipher
    calendar: StatutoryCalendar = field(default_factory=StatutoryCalendar)
    # Worker processes for PDF rendering (reports/render.py), set by the server at start;
    # None (tests, the CLI): services render in a thread.
    render_pool: RenderPool | None = None

    async def reload_calendar(self) -> StatutoryCalendar:
        """Rebuild the calendar from the holiday notices admins have loaded."""
        async with self.db.read() as session:
            rows = (await session.exec(select(HolidayNotice))).all()
        self.calendar = StatutoryCalendar([parse_holiday_notice(row.text) for row in rows])
        return self.calendar
