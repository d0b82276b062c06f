"""The change feed's clock: one value per writing transaction, in commit order."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel.ext.asyncio.session import AsyncSession

from server.services.upsert import upsert_statement
from sync.tables import ChangeClock

CLOCK = "cases"
_SESSION_KEY = "fengqiao.change_seq"


async def transaction_change_seq(session: AsyncSession) -> int:
    """The change sequence number of this transaction, drawn on first use.

    The UPDATE takes the clock row's lock until commit: writers that change cases queue
    here (on SQLite they already queue on BEGIN IMMEDIATE), so a reader never sees value
    n + 1 committed while n is still to come. Callers that use savepoints must draw it
    before the first savepoint: a rolled-back savepoint would return the value.
    """
    cached = session.info.get(_SESSION_KEY)
    if cached is not None:
        return int(cached)
    # On the table, not the mapped class: an ORM UPDATE would first reconcile the session's
    # loaded objects, work this row never needs.
    clock = ChangeClock.__table__.c
    draw = update(ChangeClock.__table__).where(clock.name == CLOCK).values(value=clock.value + 1).returning(clock.value)
    result = await session.exec(draw)  # type: ignore[call-overload]
    value = result.scalar_one_or_none()
    if value is None:  # the first change of a new database
        dialect = session.bind.dialect.name
        await session.exec(  # type: ignore[call-overload]
            upsert_statement(dialect, ChangeClock.__table__, ["name"], None).values(name=CLOCK, value=0)
        )
        value = (await session.exec(draw)).scalar_one()  # type: ignore[call-overload]
    value = int(value)
    session.info[_SESSION_KEY] = value
    return value
