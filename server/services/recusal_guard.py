"""The one check that keeps a recused person off a case (信访工作条例 Art. 28).

Separate from ``server.services.recusals`` so the case service can call it on every
change without importing the recusal service (which builds on the case service).
"""

from __future__ import annotations

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid.recusals import CaseRecusal, recused
from server.principal import Principal


async def active_recusal(session: AsyncSession, case_id: uuid.UUID, user_id: uuid.UUID) -> CaseRecusal | None:
    statement = select(CaseRecusal).where(
        CaseRecusal.case_id == case_id,
        CaseRecusal.user_id == user_id,
        col(CaseRecusal.lifted_at).is_(None),
    )
    return (await session.exec(statement)).first()


async def ensure_not_recused(
    session: AsyncSession, case_id: uuid.UUID, principal: Principal, *, user_id: uuid.UUID | None = None
) -> None:
    """Refuse with ``case.recused`` when ``user_id`` (by default the caller) has withdrawn
    from the case: the caller acting, or the caller naming them as handler or leader."""
    target = user_id or principal.user_id
    found = await active_recusal(session, case_id, target)
    if found is not None:
        raise recused(found.user_name, acting_self=target == principal.user_id)
