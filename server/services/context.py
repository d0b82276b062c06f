"""What every service needs: the database, the clock, the cipher and the calendar."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlmodel import select

from grid.calendar import StatutoryCalendar, parse_holiday_notice
from server.clock import Clock
from server.crypto import FieldCipher
from server.db import Database
from server.settings import Settings
from server.tables import HolidayNotice

if TYPE_CHECKING:
    from reports.render import RenderPool

T = TypeVar("T")


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

    async def off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        """CPU-heavy work (rendering, checking a PDF) away from the event loop: in the
        render pool when the server has one, else in a thread (tests, the CLI). ``fn`` is
        a module-level function, as a worker process needs."""
        if self.render_pool is not None:
            return await self.render_pool.render(fn, *args)
        return await asyncio.to_thread(fn, *args)

    async def reload_calendar(self) -> StatutoryCalendar:
        """Rebuild the calendar from the holiday notices admins have loaded."""
        async with self.db.read() as session:
            rows = (await session.exec(select(HolidayNotice))).all()
        self.calendar = StatutoryCalendar([parse_holiday_notice(row.text) for row in rows])
        return self.calendar
