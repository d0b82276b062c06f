"""Extension requests (Art. 34), recusals (Art. 28), the handler, organ heads and the inbox."""

from __future__ import annotations

import uuid

from litestar import Controller, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter

from grid.calendar import StatutoryCalendar
from grid.extensions import EXTENSION_STATUS_NAMES_ZH, ExtensionStatus
from grid.lifecycle import STATUS_NAMES_ZH, Status, next_duty_clock
from grid.recusals import RECUSAL_SOURCE_NAMES_ZH, CaseRecusal, RecusalSource
from server.api.deps import context_of
from server.api.presenters import case_read
from server.principal import Principal
from server.schemas.cases import CaseRead
from server.schemas.oversight import (
    AssignmentRequest,
    ExtensionDecision,
    ExtensionRequestCreate,
    ExtensionRequestRead,
    InboxCase,
    InboxCases,
    InboxExtension,
    InboxExtensions,
    InboxNotification,
    InboxNotifications,
    InboxRead,
    InboxSupervision,
    InboxSupervisions,
    OrganHeadCreate,
    OrganHeadRead,
    RecusalCreate,
    RecusalLift,
    RecusalRead,
)
from server.services.extensions import ExtensionService, ExtensionView
from server.services.inbox import CaseLine, Inbox, InboxService, Section, supervision_state
from server.services.organs import HeadView, OrganService
from server.services.recusals import RecusalService

# ---------------------------------------------------------------- presenters


def extension_read(view: ExtensionView) -> ExtensionRequestRead:
    row = view.request
    return ExtensionRequestRead(
        id=row.id,
        case_id=row.case_id,
        organ_node_code=row.organ_node_code,
        days=row.days,
        reason=row.reason,
        status=row.status,
        status_name=EXTENSION_STATUS_NAMES_ZH[ExtensionStatus(row.status)],
        requested_by=row.requested_by,
        requested_by_name=row.requested_by_name,
        requested_at=row.requested_at,
        decided_by=row.decided_by,
        decided_by_name=row.decided_by_name,
        decided_at=row.decided_at,
        decision_note=row.decision_note,
        extended_last_day=view.extended.last_day if view.extended else None,
        extended_provisional=view.extended.provisional if view.extended else False,
    )


def recusal_read(row: CaseRecusal) -> RecusalRead:
    return RecusalRead(
        id=row.id,
        case_id=row.case_id,
        user_id=row.user_id,
        user_name=row.user_name,
        source=row.source,
        source_name=RECUSAL_SOURCE_NAMES_ZH[RecusalSource(row.source)],
        party_id=row.party_id,
        reason=row.reason,
        recorded_by=row.recorded_by,
        recorded_by_name=row.recorded_by_name,
        recorded_at=row.recorded_at,
        active=row.active,
        lifted_at=row.lifted_at,
        lifted_by=row.lifted_by,
        lifted_by_name=row.lifted_by_name,
        lift_reason=row.lift_reason,
    )


def head_read(view: HeadView) -> OrganHeadRead:
    return OrganHeadRead(
        id=view.designation.id,
        node_code=view.designation.node_code,
        user_id=view.user.id,
        username=view.user.username,
        display_name=view.user.display_name,
        designated_at=view.designation.designated_at,
        designated_by=view.designation.designated_by,
    )


def inbox_case(line: CaseLine) -> InboxCase:
    case, clock = line.case, line.clock
    return InboxCase(
        id=case.id,
        number=case.number,
        title=case.title,
        status=case.status,
        status_name=STATUS_NAMES_ZH[Status(case.status)],
        level=case.level,
        handling_node_code=case.handling_node_code,
        assigned_to_me=line.assigned_to_me,
        light=line.light.value,
        clock=clock.clock if clock else None,
        clock_name=clock.label_zh if clock else None,
        statutory=clock.statutory if clock else None,
        started_at=clock.started_at if clock else None,
        last_day=clock.due.last_day if clock else None,
        ends_at=clock.due.ends_at if clock else None,
        provisional=clock.due.provisional if clock else None,
        updated_at=case.updated_at,
    )


def _cases(section: Section[CaseLine]) -> InboxCases:
    return InboxCases(count=section.count, items=[inbox_case(line) for line in section.items])


def inbox_read(inbox: Inbox, calendar: StatutoryCalendar) -> InboxRead:
    extensions = []
    for line in inbox.extension_approvals.items:
        clock = next_duty_clock(line.current, calendar)
        extensions.append(
            InboxExtension(
                request=extension_read(line.view),
                case_number=line.case.number,
                case_title=line.case.title,
                current_last_day=clock.due.last_day if clock else None,
                current_ends_at=clock.due.ends_at if clock else None,
            )
        )
    return InboxRead(
        generated_at=inbox.generated_at,
        limit=inbox.limit,
        overdue=_cases(inbox.overdue),
        due_soon=_cases(inbox.due_soon),
        escalated_to_me=_cases(inbox.escalated_to_me),
        extension_approvals=InboxExtensions(
            is_head=inbox.is_head, count=inbox.extension_approvals.count, items=extensions
        ),
        supervision_replies=InboxSupervisions(
            count=inbox.supervision_replies.count,
            items=[
                InboxSupervision(
                    id=item.id,
                    case_id=case.id,
                    case_number=case.number,
                    case_title=case.title,
                    reason=item.reason,
                    opened_at=item.opened_at,
                    reply_due_at=item.reply_due_at,
                    reply_last_day=item.reply_last_day,
                    status=supervision_state(item, inbox.generated_at),
                )
                for item, case in inbox.supervision_replies.items
            ],
        ),
        unread_notifications=InboxNotifications(
            count=inbox.unread_notifications.count,
            items=[
                InboxNotification(
                    id=row.id,
                    event=row.event,
                    case_id=row.case_id,
                    title=row.title,
                    body=row.body,
                    created_at=row.created_at,
                )
                for row in inbox.unread_notifications.items
            ],
        ),
    )


# ---------------------------------------------------------------- controllers


class ExtensionController(Controller):
    path = "/cases/{case_id:uuid}/extension-requests"
    tags = ["cases"]

    @post("/", summary="申请延长办理期限（不超过30日，须说明理由；《信访工作条例》第三十四条）")
    async def request_extension(
        self,
        case_id: FromPath[uuid.UUID],
        data: JSONBody[ExtensionRequestCreate],
        principal: NamedDependency[Principal],
        state: State,
    ) -> ExtensionRequestRead:
        return extension_read(await ExtensionService(context_of(state)).request(principal, case_id, data))

    @get("/", summary="案件的延期申请")
    async def list_extensions(
        self, case_id: FromPath[uuid.UUID], principal: NamedDependency[Principal], state: State
    ) -> list[ExtensionRequestRead]:
        return [extension_read(view) for view in await ExtensionService(context_of(state)).list(principal, case_id)]

    @post("/{request_id:uuid}/decision", status_code=200, summary="机关负责人批准或不批准延期")
    async def decide_extension(
        self,
        case_id: FromPath[uuid.UUID],
        request_id: FromPath[uuid.UUID],
        data: JSONBody[ExtensionDecision],
        principal: NamedDependency[Principal],
        state: State,
    ) -> ExtensionRequestRead:
        service = ExtensionService(context_of(state))
        return extension_read(await service.decide(principal, case_id, request_id, data))


class RecusalController(Controller):
    path = "/cases/{case_id:uuid}/recusals"
    tags = ["cases"]

    @post("/", summary="回避：本人申明、当事人申请或领导决定（《信访工作条例》第二十八条）")
    async def record_recusal(
        self,
        case_id: FromPath[uuid.UUID],
        data: JSONBody[RecusalCreate],
        principal: NamedDependency[Principal],
        state: State,
    ) -> RecusalRead:
        return recusal_read(await RecusalService(context_of(state)).record(principal, case_id, data))

    @get("/", summary="案件的回避记录")
    async def list_recusals(
        self, case_id: FromPath[uuid.UUID], principal: NamedDependency[Principal], state: State
    ) -> list[RecusalRead]:
        return [recusal_read(row) for row in await RecusalService(context_of(state)).list(principal, case_id)]

    @post("/{recusal_id:uuid}/lift", status_code=200, summary="撤销当事人申请或领导决定的回避（机关负责人）")
    async def lift_recusal(
        self,
        case_id: FromPath[uuid.UUID],
        recusal_id: FromPath[uuid.UUID],
        data: JSONBody[RecusalLift],
        principal: NamedDependency[Principal],
        state: State,
    ) -> RecusalRead:
        return recusal_read(await RecusalService(context_of(state)).lift(principal, case_id, recusal_id, data))


class AssignmentController(Controller):
    path = "/cases/{case_id:uuid}/assignment"
    tags = ["cases"]

    @post("/", status_code=200, summary="指定或取消承办人（已回避的人不能指定）")
    async def assign(
        self,
        case_id: FromPath[uuid.UUID],
        data: JSONBody[AssignmentRequest],
        principal: NamedDependency[Principal],
        state: State,
    ) -> CaseRead:
        context = context_of(state)
        bundle = await RecusalService(context).assign(principal, case_id, data)
        return case_read(bundle.case, bundle.parties, bundle.facts, principal, context.calendar, context.clock.now())


class OrganHeadController(Controller):
    path = "/organs/{code:str}/heads"
    tags = ["directory"]

    @get("/", summary="机关负责人（乡镇、街道或县）")
    async def list_heads(
        self, code: FromPath[str], principal: NamedDependency[Principal], state: State
    ) -> list[OrganHeadRead]:
        return [head_read(view) for view in await OrganService(context_of(state)).heads(principal, code)]

    @post("/", summary="指定机关负责人（管理员）")
    async def designate_head(
        self,
        code: FromPath[str],
        data: JSONBody[OrganHeadCreate],
        principal: NamedDependency[Principal],
        state: State,
    ) -> OrganHeadRead:
        return head_read(await OrganService(context_of(state)).designate(principal, code, data.user_id))

    @delete("/{user_id:uuid}", summary="撤销机关负责人（管理员）")
    async def revoke_head(
        self, code: FromPath[str], user_id: FromPath[uuid.UUID], principal: NamedDependency[Principal], state: State
    ) -> None:
        await OrganService(context_of(state)).revoke(principal, code, user_id)


class InboxController(Controller):
    path = "/inbox"
    tags = ["inbox"]

    @get("/", summary="我的待办：临期、超期、新上报、待批延期、待回复督办、未读通知")
    async def inbox(
        self,
        principal: NamedDependency[Principal],
        state: State,
        limit: int = Parameter(default=20, ge=1, le=100, description="每一类最多列出的条数"),
    ) -> InboxRead:
        context = context_of(state)
        inbox = await InboxService(context).inbox(principal, limit=limit)
        return inbox_read(inbox, context.calendar)
