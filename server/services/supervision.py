"""督办 (信访工作条例 Art. 40): items opened by a rule or by an officer of a higher organ,
and the supervised organ's written reply.

``open_supervision`` is also what the escalation sweeper calls for an ``OpenSupervision``
decision, inside its own transaction: it is idempotent on (case, trigger key).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid.cases import Case, CaseEvent, HandlingLevel
from grid.escalation import ENGINE_ACTOR
from grid.hierarchy import Region
from grid.lifecycle import Status, TimelineEntry
from grid.people import Role, User
from grid.policy import NotifyEvent, Policy, SupervisionPolicy
from grid.supervision import (
    SUPERVISION_OPENED,
    SUPERVISION_REPLIED,
    Supervision,
    SupervisionSource,
    check_may_reply,
    check_may_supervise,
    last_day_of,
    opening_reason_zh,
    reply_due,
    supervising_level_for,
)
from server.errors import ServiceError
from server.principal import Principal
from server.services.cases import CaseService, append_timeline
from server.services.context import ServiceContext
from server.services.escalation import policy_in_force
from server.services.notifications import enqueue
from server.services.upsert import upsert_statement

SUPERVISION_REPLIED_EVENT = "supervision_replied"


def policy_of(context: ServiceContext) -> Policy:
    """The county's policy in force: its [supervision] reply period and [notify] lists."""
    return policy_in_force(context.settings)


def _stamp(at: datetime) -> str:
    return at.isoformat()


async def _lock_case(session: AsyncSession, case_id: uuid.UUID) -> Case | None:
    # Appending to a case's timeline takes the next seq: the case row is the lock.
    return (await session.exec(select(Case).where(Case.id == case_id).with_for_update())).first()


async def _has_opening_entry(session: AsyncSession, case_id: uuid.UUID, trigger_key: str) -> bool:
    """Whether the sweeper already appended the engine's own "open_supervision" entry."""
    rows = await session.exec(
        select(CaseEvent.data).where(CaseEvent.case_id == case_id, CaseEvent.kind == SUPERVISION_OPENED)
    )
    return any((data or {}).get("trigger_key") == trigger_key for data in rows.all())


async def open_supervision(
    session: AsyncSession,
    *,
    case_id: uuid.UUID,
    trigger_key: str | None,
    reason: str,
    opened_at: datetime,
    reply_due_at: datetime,
    opened_by: uuid.UUID | None = None,
) -> Supervision:
    """Open a 督办 item on a case and write its timeline entry, in the caller's transaction.

    With a ``trigger_key`` a second call for the same case and key returns the first item
    and writes nothing (a sweep run twice opens one item). ``reply_due_at`` is the first
    late instant (24:00 of the reply's last day, as ``grid.deadlines.Due.ends_at``).
    ``opened_by`` None means a rule of the escalation policy opened it.
    """
    for name, value in (("opened_at", opened_at), ("reply_due_at", reply_due_at)):
        if value.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware")
    case = await _lock_case(session, case_id)
    if case is None:
        raise ValueError(f"no case {case_id}")
    if trigger_key is not None:
        existing = (
            await session.exec(
                select(Supervision).where(Supervision.case_id == case_id, Supervision.trigger_key == trigger_key)
            )
        ).first()
        if existing is not None:
            return existing
    case_level = HandlingLevel(case.level)
    actor_id, actor_name = ENGINE_ACTOR.user_id, ENGINE_ACTOR.name
    supervising = supervising_level_for(case_level)
    if opened_by is not None:
        opener = await session.get(User, opened_by)
        if opener is None:
            raise ValueError(f"no user {opened_by}")
        actor_id, actor_name = str(opener.id), opener.display_name
        supervising = {
            Role.TOWN_OFFICER.value: HandlingLevel.TOWNSHIP,
            Role.COUNTY_OFFICER.value: HandlingLevel.COUNTY,
        }.get(opener.role, supervising)
    item = Supervision(
        id=uuid.uuid4(),
        case_id=case_id,
        trigger_key=trigger_key,
        source=(SupervisionSource.PERSON if opened_by else SupervisionSource.RULE).value,
        supervising_level=supervising.value,
        supervised_level=case.level,
        supervised_node_code=case.handling_node_code,
        reason=reason,
        opened_at=opened_at,
        opened_by=opened_by,
        reply_due_at=reply_due_at,
        reply_last_day=last_day_of(reply_due_at),
    )
    if trigger_key is not None:
        # Two processes may race past the check above: the unique key decides, the loser
        # takes the winner's row.
        values = {column.name: getattr(item, column.name) for column in Supervision.__table__.columns}
        statement = upsert_statement(session.bind.dialect.name, Supervision.__table__, ["case_id", "trigger_key"], None)
        inserted = (
            await session.exec(statement.values(**values).returning(Supervision.__table__.c.id))  # type: ignore[call-overload]
        ).all()
        if not inserted:
            return (
                await session.exec(
                    select(Supervision).where(Supervision.case_id == case_id, Supervision.trigger_key == trigger_key)
                )
            ).one()
        item = (await session.exec(select(Supervision).where(Supervision.id == item.id))).one()
    else:
        session.add(item)
    if trigger_key is None or not await _has_opening_entry(session, case_id, trigger_key):
        entry = TimelineEntry(
            kind=SUPERVISION_OPENED,
            at=opened_at,
            actor_id=actor_id,
            actor_name=actor_name,
            reason=reason,
            from_status=Status(case.status),
            to_status=Status(case.status),
            data={
                "supervision": str(item.id),
                "trigger_key": trigger_key,
                "source": item.source,
                "supervising_level": item.supervising_level,
                "supervised_node": item.supervised_node_code,
                "reply_due_at": _stamp(reply_due_at),
                "reply_last_day": item.reply_last_day.isoformat(),
            },
        )
        await append_timeline(session, case, (entry,))
    await session.flush()
    # Read back as stored (instants in UTC), like every row loaded later.
    await session.refresh(item)
    return item


class SupervisionService:
    def __init__(self, context: ServiceContext):
        self.context = context
        self.cases = CaseService(context)

    def _supervision_policy(self) -> SupervisionPolicy:
        return policy_of(self.context).supervision

    async def list(self, principal: Principal, case_id: uuid.UUID) -> list[Supervision]:
        async with self.context.db.read() as session:
            await self.cases._readable(session, principal, case_id)
            rows = await session.exec(
                select(Supervision)
                .where(Supervision.case_id == case_id)
                .order_by(col(Supervision.opened_at), col(Supervision.id))
            )
            return list(rows.all())

    async def open(self, principal: Principal, case_id: uuid.UUID, reason: str) -> Supervision:
        """An officer of a higher organ supervises a case of their jurisdiction (Art. 40)."""
        now = self.context.clock.now()
        async with self.context.db.write() as session:
            case = await self.cases._load_for_change(session, principal, case_id)
            node = await session.get(Region, principal.node_code)
            check_may_supervise(
                principal.role,
                node.level if node else "",
                principal.node_path,
                HandlingLevel(case.level),
                case.region_path,
            )
            if case.status == Status.CLOSED.value:
                raise ServiceError("案件已办结，不能督办", code="case.closed")
            policy = self._supervision_policy()
            due = reply_due(self.context.calendar, now, policy.reply_days, policy.reply_unit)
            text = opening_reason_zh(reason, policy.reply_days, policy.reply_unit, due.last_day)
            item = await open_supervision(
                session,
                case_id=case_id,
                trigger_key=None,
                reason=text,
                opened_at=now,
                reply_due_at=due.ends_at,
                opened_by=principal.user_id,
            )
            await enqueue(
                session,
                dedupe_key=f"supervision:{item.id}",
                event=NotifyEvent.SUPERVISION.value,
                case_id=case_id,
                # The same list the engine's Notify uses for a rule-opened item.
                recipients=policy_of(self.context).notify[NotifyEvent.SUPERVISION],
                title=f"督办：{case.title}",
                body=text,
                payload={
                    "supervision_id": str(item.id),
                    "case_number": case.number,
                    "reply_due_at": _stamp(item.reply_due_at),
                    "reply_last_day": item.reply_last_day.isoformat(),
                },
                created_at=now,
            )
            return item

    async def reply(
        self, principal: Principal, case_id: uuid.UUID, supervision_id: uuid.UUID, text: str
    ) -> Supervision:
        """The supervised organ's written reply; one per item."""
        now = self.context.clock.now()
        text = text.strip()
        async with self.context.db.write() as session:
            case = await self.cases._load_for_change(session, principal, case_id)
            item = await session.get(Supervision, supervision_id, with_for_update=True)
            if item is None or item.case_id != case_id:
                raise ServiceError("督办事项不存在", code="supervision.not_found")
            check_may_reply(principal.role, principal.node_code, item.supervised_node_code, case.handling_node_code)
            if item.replied_at is not None:
                raise ServiceError(
                    "该督办事项已书面回复，不能重复回复",
                    code="supervision.already_replied",
                    data={"replied_at": _stamp(item.replied_at)},
                )
            if not text:
                # The schema refuses an empty body; a blank one is caught here.
                raise ServiceError("督办回复须有书面内容", code="supervision.reply_required")
            item.reply_text = text
            item.replied_at = now
            item.replied_by = principal.user_id
            session.add(item)
            late = now >= item.reply_due_at
            entry = TimelineEntry(
                kind=SUPERVISION_REPLIED,
                at=now,
                actor_id=str(principal.user_id),
                actor_name=principal.display_name,
                reason=text,
                from_status=Status(case.status),
                to_status=Status(case.status),
                data={"supervision": str(item.id), "late": late, "reply_due_at": _stamp(item.reply_due_at)},
            )
            await append_timeline(session, case, (entry,))
            recipients: list[str | uuid.UUID] = [item.opened_by] if item.opened_by else []
            if not recipients:
                # A rule opened it on behalf of the level above: tell that level's officers.
                recipients = [
                    "county_officer" if item.supervising_level == HandlingLevel.COUNTY.value else "town_officer"
                ]
            await enqueue(
                session,
                dedupe_key=f"supervision-reply:{item.id}",
                event=SUPERVISION_REPLIED_EVENT,
                case_id=case_id,
                recipients=recipients,
                title=f"督办回复：{case.title}",
                body=f"{principal.display_name}{'逾期' if late else ''}书面回复督办：{text}",
                payload={"supervision_id": str(item.id), "case_number": case.number, "late": late},
                created_at=now,
            )
            await session.flush()
            await session.refresh(item)
            return item
