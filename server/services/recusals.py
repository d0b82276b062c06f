"""Recusal (回避, 信访工作条例 Art. 28) and the handler assignment it guards.

Recording a recusal takes the person off the case at once: if they are its handler the
assignment is cleared in the same transaction, and from then on
``server.services.recusal_guard`` refuses them every change (the case service checks it
whenever it locks a case for change) and refuses to make them the handler.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid.cases import Case, Party
from grid.errors import InvalidInput, Issue
from grid.lifecycle import Status, TimelineEntry
from grid.people import User
from grid.recusals import (
    ASSIGNED,
    ASSIGNERS,
    RECUSAL_LIFTED,
    RECUSAL_RECORDED,
    CaseRecusal,
    check_may_lift,
    check_may_record,
)
from server.errors import ServiceError
from server.principal import Principal
from server.schemas.oversight import AssignmentRequest, RecusalCreate, RecusalLift
from server.services.cases import CaseBundle, CaseService
from server.services.context import ServiceContext
from server.services.organs import is_head, organ_of
from server.services.recusal_guard import active_recusal, ensure_not_recused


def _entry(kind: str, principal: Principal, case: Case, now: datetime, reason: str | None, data: dict) -> TimelineEntry:
    status = Status(case.status)
    return TimelineEntry(
        kind=kind,
        at=now,
        actor_id=str(principal.user_id),
        actor_name=principal.display_name,
        reason=reason,
        from_status=status,
        to_status=status,
        data=data,
    )


def _unknown_user() -> InvalidInput:
    return InvalidInput([Issue("user_id", "user.unknown", "用户不存在、已停用或不在您的管辖范围内")])


class RecusalService:
    def __init__(self, context: ServiceContext):
        self.context = context
        self.cases = CaseService(context)

    async def _append(self, session: AsyncSession, case: Case, now: datetime, entry: TimelineEntry) -> None:
        case.version += 1
        case.updated_at = now
        await self.cases._append_entries(session, case, (entry,))

    # ------------------------------------------------------------ recusals

    async def record(self, principal: Principal, case_id: uuid.UUID, data: RecusalCreate) -> CaseRecusal:
        now = self.context.clock.now()
        async with self.context.db.write() as session:
            case = await self.cases._load_for_change(session, principal, case_id)
            user_id = data.user_id or principal.user_id
            check_may_record(
                data.source,
                recorder_id=principal.user_id,
                recorder_role=principal.role,
                user_id=user_id,
                has_party=data.party_id is not None,
            )
            user = await session.get(User, user_id)
            if user is None or not user.active:
                raise _unknown_user()
            if data.party_id is not None:
                party = await session.get(Party, data.party_id)
                if party is None or party.case_id != case.id:
                    raise InvalidInput([Issue("party_id", "party.unknown", "该当事人不属于本案")])
            existing = await active_recusal(session, case.id, user.id)
            if existing is not None:
                raise ServiceError(
                    f"{user.display_name}已在本案回避", code="recusal.exists", data={"recusal_id": str(existing.id)}
                )
            row = CaseRecusal(
                id=uuid.uuid4(),
                case_id=case.id,
                user_id=user.id,
                user_name=user.display_name,
                source=data.source.value,
                party_id=data.party_id,
                reason=data.reason,
                recorded_by=principal.user_id,
                recorded_by_name=principal.display_name,
                recorded_at=now,
            )
            session.add(row)
            # The handler withdraws at once: the case is no longer theirs.
            unassigned = case.assigned_to == user.id
            if unassigned:
                case.assigned_to = None
            entry = _entry(
                RECUSAL_RECORDED,
                principal,
                case,
                now,
                data.reason,
                {
                    "recusal": str(row.id),
                    "user_id": str(user.id),
                    "user_name": user.display_name,
                    "source": data.source.value,
                    "party_id": str(data.party_id) if data.party_id else None,
                    "unassigned": unassigned,
                },
            )
            await self._append(session, case, now, entry)
            await session.flush()
            await session.refresh(row)
            return row

    async def list(self, principal: Principal, case_id: uuid.UUID) -> list[CaseRecusal]:
        async with self.context.db.read() as session:
            case = await self.cases._readable(session, principal, case_id)
            rows = await session.exec(
                select(CaseRecusal)
                .where(CaseRecusal.case_id == case.id)
                .order_by(col(CaseRecusal.recorded_at), col(CaseRecusal.id))
            )
            return list(rows.all())

    async def lift(
        self, principal: Principal, case_id: uuid.UUID, recusal_id: uuid.UUID, data: RecusalLift
    ) -> CaseRecusal:
        """A head of the handling organ finds a requested recusal unfounded."""
        now = self.context.clock.now()
        async with self.context.db.write() as session:
            case = await self.cases._load_for_change(session, principal, case_id)
            row = await session.get(CaseRecusal, recusal_id, with_for_update=True)
            if row is None or row.case_id != case.id:
                raise ServiceError("回避记录不存在", code="recusal.not_found")
            organ = await organ_of(session, case)
            check_may_lift(row, is_head=await is_head(session, principal.user_id, organ.code))
            row.lifted_at = now
            row.lifted_by = principal.user_id
            row.lifted_by_name = principal.display_name
            row.lift_reason = data.reason
            session.add(row)
            entry = _entry(
                RECUSAL_LIFTED,
                principal,
                case,
                now,
                data.reason,
                {"recusal": str(row.id), "user_id": str(row.user_id), "user_name": row.user_name},
            )
            await self._append(session, case, now, entry)
            await session.flush()
            await session.refresh(row)
            return row

    # ------------------------------------------------------------ the handler

    async def assign(self, principal: Principal, case_id: uuid.UUID, data: AssignmentRequest) -> CaseBundle:
        """Name the case's handler (``assigned_to``), or clear it; never a recused person."""
        now = self.context.clock.now()
        async with self.context.db.write() as session:
            case = await self.cases._load_for_change(session, principal, case_id)
            if principal.role not in ASSIGNERS or not principal.covers(case.handling_node_path):
                raise ServiceError("只有办理本案的层级的负责干部可以指定承办人", code="auth.forbidden")
            if case.status == Status.CLOSED.value:
                raise ServiceError("案件已办结，不能指定承办人", code="case.closed")
            user = None
            if data.user_id is not None:
                user = await session.get(User, data.user_id)
                if user is None or not user.active or not principal.covers(user.node_path):
                    raise _unknown_user()
                await ensure_not_recused(session, case.id, principal, user_id=user.id)
            if case.assigned_to != (user.id if user else None):
                previous = case.assigned_to
                case.assigned_to = user.id if user else None
                entry = _entry(
                    ASSIGNED,
                    principal,
                    case,
                    now,
                    data.reason,
                    {
                        "user_id": str(user.id) if user else None,
                        "user_name": user.display_name if user else None,
                        "previous": str(previous) if previous else None,
                    },
                )
                await self._append(session, case, now, entry)
            return await self.cases._bundle(session, case)
