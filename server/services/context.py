"""What every service needs: the database, the clock, the cipher and the calendar."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import select

from grid.calendar import StatutoryCalendar, parse_holiday_notice
from server.clock import Clock
from server.crypto import FieldCipher
from server.db import Database
from server.settings import Settings
from server.tables import HolidayNotice


@dataclass
class ServiceContext:
    settings: Settings
    db: Database
    clock: Clock
    cipher: FieldCipher
    calendar: StatutoryCalendar = field(default_factory=StatutoryCalendar)

    async def reload_calendar(self) -> StatutoryCalendar:
        """Rebuild the calendar from the holiday notices admins have loaded."""
        async with self.db.read() as session:
            rows = (await session.exec(select(HolidayNotice))).all()
        self.calendar = StatutoryCalendar([parse_holiday_notice(row.text) for row in rows])
        return self.calendar
