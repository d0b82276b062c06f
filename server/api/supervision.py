"""督办, 包案 and the caller's notifications."""

from __future__ import annotations

import uuid
from datetime import datetime

from litestar import Controller, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter

from grid.supervision import SUPERVISION_STATUS_NAMES_ZH, CaseLead, Supervision, current_lead
from server.api.deps import context_of
from server.outbox import Notification
from server.principal import Principal
from server.schemas.supervision import (
    CaseLeadRead,
    LeadAssign,
    LeadEnd,
    LeadRead,
    NotificationPage,
    NotificationRead,
    SupervisionOpen,
    SupervisionRead,
    SupervisionReplyCreate,
)
from server.services.leads import LeadService
from server.services.notifications import NotificationService
from server.services.supervision import SupervisionService


def supervision_read(item: Supervision, now: datetime) -> SupervisionRead:
    status = item.status(now)
    return SupervisionRead(
        id=item.id,
        case_id=item.case_id,
        source=item.source,
        trigger_key=item.trigger_key,
        supervising_level=item.supervising_level,
        supervised_level=item.supervised_level,
        supervised_node_code=item.supervised_node_code,
        reason=item.reason,
        opened_at=item.opened_at,
        opened_by=item.opened_by,
        reply_due_at=item.reply_due_at,
        reply_last_day=item.reply_last_day,
        status=status.value,
        status_name=SUPERVISION_STATUS_NAMES_ZH[status],
        reply_text=item.reply_text,
        replied_at=item.replied_at,
        replied_by=item.replied_by,
        replied_late=item.replied_at >= item.reply_due_at if item.replied_at else None,
    )


def lead_read(row: CaseLead) -> LeadRead:
    return LeadRead(
        id=row.id,
        seq=row.seq,
        action=row.action,
        leader_id=row.leader_id,
        leader_name=row.leader_name,
        measures=row.measures,
        target_date=row.target_date,
        responsibility=row.responsibility,
        reason=row.reason,
        at=row.at,
        by_id=row.by_id,
        by_name=row.by_name,
    )


def case_lead_read(history: list[CaseLead]) -> CaseLeadRead:
    current = current_lead(history)
    return CaseLeadRead(current=lead_read(current) if current else None, history=[lead_read(row) for row in history])


def notification_read(row: Notification) -> NotificationRead:
    return NotificationRead(
        id=row.id,
        event=row.event,
        case_id=row.case_id,
        title=row.title,
        body=row.body,
        payload=row.payload,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        read_at=row.read_at,
    )


class SupervisionController(Controller):
    path = "/cases/{case_id:uuid}/supervisions"
    tags = ["supervision"]

    @get("/", summary="案件的督办事项")
    async def list_supervisions(
        self, case_id: FromPath[uuid.UUID], principal: NamedDependency[Principal], state: State
    ) -> list[SupervisionRead]:
        context = context_of(state)
        now = context.clock.now()
        return [supervision_read(item, now) for item in await SupervisionService(context).list(principal, case_id)]

    @post("/", summary="启动督办（上级机关对下级办理的案件；《信访工作条例》第四十条）")
    async def open_supervision(
        self,
        case_id: FromPath[uuid.UUID],
        data: JSONBody[SupervisionOpen],
        principal: NamedDependency[Principal],
        state: State,
    ) -> SupervisionRead:
        context = context_of(state)
        item = await SupervisionService(context).open(principal, case_id, data.reason)
        return supervision_read(item, context.clock.now())

    @post("/{supervision_id:uuid}/reply", status_code=200, summary="被督办单位书面回复（只能回复一次）")
    async def reply(
        self,
        case_id: FromPath[uuid.UUID],
        supervision_id: FromPath[uuid.UUID],
        data: JSONBody[SupervisionReplyCreate],
        principal: NamedDependency[Principal],
        state: State,
    ) -> SupervisionRead:
        context = context_of(state)
        item = await SupervisionService(context).reply(principal, case_id, supervision_id, data.text)
        return supervision_read(item, context.clock.now())


class LeadController(Controller):
    path = "/cases/{case_id:uuid}/lead"
    tags = ["supervision"]

    @get("/", summary="包案领导及包案记录")
    async def get_lead(
        self, case_id: FromPath[uuid.UUID], principal: NamedDependency[Principal], state: State
    ) -> CaseLeadRead:
        return case_lead_read(await LeadService(context_of(state)).history(principal, case_id))

    @put("/", summary="确定或更换包案领导（定领导、定措施、定时间、定责任）")
    async def assign_lead(
        self,
        case_id: FromPath[uuid.UUID],
        data: JSONBody[LeadAssign],
        principal: NamedDependency[Principal],
        state: State,
    ) -> CaseLeadRead:
        return case_lead_read(await LeadService(context_of(state)).assign(principal, case_id, data))

    @post("/end", status_code=200, summary="结束包案")
    async def end_lead(
        self,
        case_id: FromPath[uuid.UUID],
        data: JSONBody[LeadEnd],
        principal: NamedDependency[Principal],
        state: State,
    ) -> CaseLeadRead:
        return case_lead_read(await LeadService(context_of(state)).end(principal, case_id, data.reason))


class NotificationController(Controller):
    path = "/notifications"
    tags = ["notifications"]

    @get("/", summary="我的通知（新的在前，游标分页）")
    async def list_notifications(
        self,
        principal: NamedDependency[Principal],
        state: State,
        unread: bool = Parameter(default=False, description="只看未读"),
        cursor: str | None = Parameter(default=None, max_length=200),
        limit: int = Parameter(default=50, ge=1, le=500),
    ) -> NotificationPage:
        rows, next_cursor = await NotificationService(context_of(state)).mine(
            principal, cursor=cursor, limit=limit, unread=unread
        )
        return NotificationPage(items=[notification_read(row) for row in rows], next_cursor=next_cursor)

    @post("/{notification_id:uuid}/read", status_code=200, summary="标记为已读")
    async def mark_read(
        self, notification_id: FromPath[uuid.UUID], principal: NamedDependency[Principal], state: State
    ) -> NotificationRead:
        return notification_read(await NotificationService(context_of(state)).mark_read(principal, notification_id))
