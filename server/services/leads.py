"""包案 (信访工作条例 Art. 18 ¶2): a leader in charge of a case, with measures, a target
date and the responsibility; replaced or ended by new rows, never by rewriting one."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid.cases import Case, HandlingLevel
from grid.hierarchy import Region
from grid.lifecycle import Status, TimelineEntry
from grid.people import Role, User
from grid.supervision import (
    LEAD_ACTION_ENTRY,
    Candidate,
    CaseLead,
    LeadAction,
    check_lead_leader,
    check_may_assign_lead,
    check_target_date,
    current_lead,
    lead_reason_zh,
)
from server.errors import ServiceError
from server.principal import Principal
from server.schemas.supervision import LeadAssign
from server.services.cases import CaseService, append_timeline
from server.services.context import ServiceContext
from server.services.notifications import enqueue
from server.services.recusal_guard import ensure_not_recused

LEAD_ASSIGNED_EVENT = "lead_assigned"
LEAD_ENDED_EVENT = "lead_ended"


async def lead_history(session: AsyncSession, case_id: uuid.UUID) -> list[CaseLead]:
    rows = await session.exec(select(CaseLead).where(CaseLead.case_id == case_id).order_by(col(CaseLead.seq)))
    return list(rows.all())


async def current_lead_of(session: AsyncSession, case_id: uuid.UUID) -> CaseLead | None:
    """The assignment in force (the sweeper's ``baoan_leader_id`` comes from here)."""
    return current_lead(await lead_history(session, case_id))


class LeadService:
    def __init__(self, context: ServiceContext):
        self.context = context
        self.cases = CaseService(context)

    async def history(self, principal: Principal, case_id: uuid.UUID) -> list[CaseLead]:
        async with self.context.db.read() as session:
            await self.cases._readable(session, principal, case_id)
            return await lead_history(session, case_id)

    async def assign(self, principal: Principal, case_id: uuid.UUID, data: LeadAssign) -> list[CaseLead]:
        """Name the case's 包案 leader, or replace the one in force; returns the history."""
        now = self.context.clock.now()
        async with self.context.db.write() as session:
            case = await self.cases._load_for_change(session, principal, case_id)
            check_may_assign_lead(principal.role, principal.node_path, case.handling_node_path)
            if case.status == Status.CLOSED.value:
                raise ServiceError("案件已办结，不能确定包案领导", code="case.closed")
            leader = await session.get(User, data.leader_id)
            region = await session.get(Region, leader.node_code) if leader else None
            if leader is None or region is None:
                raise ServiceError("包案领导须为本系统中的用户", code="lead.invalid_leader")
            check_lead_leader(
                Candidate(Role(leader.role), region.level, leader.node_path, leader.active),
                HandlingLevel(case.level),
                case.handling_node_path,
            )
            # Art. 28: whoever has withdrawn from the case cannot be put in charge of it.
            await ensure_not_recused(session, case.id, principal, user_id=leader.id)
            check_target_date(data.target_date, now)
            history = await lead_history(session, case_id)
            previous = current_lead(history)
            action = LeadAction.ASSIGN if previous is None else LeadAction.REPLACE
            row = await self._append(
                session,
                principal,
                case,
                action,
                leader=leader,
                measures=data.measures,
                target_date=data.target_date,
                responsibility=data.responsibility,
                reason=data.reason,
            )
            await enqueue(
                session,
                dedupe_key=f"lead:{row.id}",
                event=LEAD_ASSIGNED_EVENT,
                case_id=case_id,
                recipients=[leader.id],
                title=f"包案：{case.title}",
                body=f"您被确定为该案件的包案领导。措施：{data.measures}；办结时限：{data.target_date.isoformat()}；"
                f"责任：{data.responsibility}",
                payload={
                    "lead_id": str(row.id),
                    "case_number": case.number,
                    "target_date": data.target_date.isoformat(),
                },
                created_at=now,
            )
            if previous is not None and previous.leader_id and previous.leader_id != leader.id:
                await self._tell_previous(session, case, previous, row, now)
            history.append(row)
            return history

    async def end(self, principal: Principal, case_id: uuid.UUID, reason: str) -> list[CaseLead]:
        now = self.context.clock.now()
        async with self.context.db.write() as session:
            case = await self.cases._load_for_change(session, principal, case_id)
            check_may_assign_lead(principal.role, principal.node_path, case.handling_node_path)
            history = await lead_history(session, case_id)
            previous = current_lead(history)
            if previous is None:
                raise ServiceError("该案件当前没有包案领导", code="lead.none")
            row = await self._append(
                session,
                principal,
                case,
                LeadAction.END,
                leader=None,
                measures=previous.measures,
                target_date=previous.target_date,
                responsibility=previous.responsibility,
                reason=reason,
            )
            await self._tell_previous(session, case, previous, row, now)
            history.append(row)
            return history

    async def _tell_previous(self, session: AsyncSession, case: Case, previous: CaseLead, row: CaseLead, now) -> None:
        if previous.leader_id is None:
            return
        await enqueue(
            session,
            dedupe_key=f"lead-ended:{row.id}",
            event=LEAD_ENDED_EVENT,
            case_id=case.id,
            recipients=[previous.leader_id],
            title=f"包案结束：{case.title}",
            body=f"您对该案件的包案已{'由他人接替' if row.action == LeadAction.REPLACE.value else '结束'}。"
            + (f"说明：{row.reason}" if row.reason else ""),
            payload={"lead_id": str(row.id), "case_number": case.number},
            created_at=now,
        )

    async def _append(
        self,
        session: AsyncSession,
        principal: Principal,
        case: Case,
        action: LeadAction,
        *,
        leader: User | None,
        measures: str | None,
        target_date: date | None,
        responsibility: str | None,
        reason: str | None,
    ) -> CaseLead:
        now = self.context.clock.now()
        last_seq = (await session.exec(select(func.max(CaseLead.seq)).where(CaseLead.case_id == case.id))).one()
        row = CaseLead(
            id=uuid.uuid4(),
            case_id=case.id,
            seq=(last_seq or 0) + 1,
            action=action.value,
            leader_id=leader.id if leader else None,
            leader_name=leader.display_name if leader else None,
            measures=measures,
            target_date=target_date,
            responsibility=responsibility,
            reason=reason,
            at=now,
            by_id=principal.user_id,
            by_name=principal.display_name,
        )
        session.add(row)
        entry = TimelineEntry(
            kind=LEAD_ACTION_ENTRY[action],
            at=now,
            actor_id=str(principal.user_id),
            actor_name=principal.display_name,
            reason=lead_reason_zh(action, row.leader_name, measures, target_date, responsibility, reason),
            from_status=Status(case.status),
            to_status=Status(case.status),
            data={
                "lead": str(row.id),
                "action": action.value,
                "leader_id": str(row.leader_id) if row.leader_id else None,
                "target_date": target_date.isoformat() if target_date else None,
            },
        )
        await append_timeline(session, case, (entry,))
        await session.flush()
        # Read back as stored (instants in UTC), like the rows loaded beside it.
        await session.refresh(row)
        return row
