"""The stored copy of each case's next duty deadline (the column sweeps index on)."""

from __future__ import annotations

from sqlmodel import col, select

from grid.calendar import StatutoryCalendar
from grid.cases import Case
from grid.lifecycle import CaseFacts, next_duty_clock
from server.services.context import ServiceContext


def stamp_next_deadline(case: Case, facts: CaseFacts, calendar: StatutoryCalendar) -> None:
    duty = next_duty_clock(facts, calendar)
    case.next_deadline_at = duty.due.ends_at if duty else None
    case.next_deadline_kind = duty.kind.value if duty else None
    case.next_deadline_started_at = duty.started_at if duty else None
    case.deadline_provisional = duty.due.provisional if duty else False


async def restamp_provisional_deadlines(context: ServiceContext) -> int:
    """After a year's holiday notice is loaded, recompute the deadlines that were
    computed on weekends alone. Returns how many cases changed."""
    changed = 0
    async with context.db.write() as session:
        result = await session.exec(select(Case).where(col(Case.deadline_provisional).is_(True)))
        for case in result.all():
            before = (case.next_deadline_at, case.deadline_provisional)
            stamp_next_deadline(case, CaseFacts.from_json(case.lifecycle), context.calendar)
            if (case.next_deadline_at, case.deadline_provisional) != before:
                session.add(case)
                changed += 1
    return changed
