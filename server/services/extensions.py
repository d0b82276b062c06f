"""Extension of the handling period (信访工作条例 Art. 34): a handler asks, a head decides.

The rules are in ``grid.extensions``; approval applies the lifecycle's ``extend`` command
through ``grid.lifecycle.decide`` and the case service's ``record_decision``, so the
extension lands exactly as every other transition does (facts, deadline, timeline, change
feed, the sweeper's index) in the same transaction as the request's new status.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid import deadlines
from grid.calendar import StatutoryCalendar
from grid.cases import Case
from grid.extensions import (
    EXTENSION_LAPSED,
    EXTENSION_REFUSED,
    EXTENSION_REQUESTED,
    ExtensionRequest,
    ExtensionStatus,
    check_may_decide,
    check_reason,
    check_request,
)
from grid.lifecycle import Action, CaseFacts, Command, Status, TimelineEntry, decide
from server.errors import ServiceError
from server.principal import Principal
from server.schemas.oversight import ExtensionDecision, ExtensionRequestCreate
from server.services.cases import CaseService
from server.services.context import ServiceContext
from server.services.organs import is_head, organ_of


@dataclass(frozen=True)
class ExtensionView:
    request: ExtensionRequest
    # The handling period's last day were this request approved (None before acceptance).
    extended: deadlines.Due | None


def extension_view(request: ExtensionRequest, facts: CaseFacts, calendar: StatutoryCalendar) -> ExtensionView:
    extended = None
    if facts.accepted_at is not None:
        extended = deadlines.handling_due(calendar, facts.accepted_at, request.days)
    return ExtensionView(request, extended)


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


class ExtensionService:
    def __init__(self, context: ServiceContext):
        self.context = context
        self.cases = CaseService(context)

    async def _append(self, session: AsyncSession, case: Case, now: datetime, entries: list[TimelineEntry]) -> None:
        case.version += 1
        case.updated_at = now
        await self.cases._append_entries(session, case, entries)

    async def request(self, principal: Principal, case_id: uuid.UUID, data: ExtensionRequestCreate) -> ExtensionView:
        now = self.context.clock.now()
        calendar = self.context.calendar
        reason = check_reason(data.reason)
        async with self.context.db.write() as session:
            case = await self.cases._load_for_change(session, principal, case_id)
            # Whoever may handle the case may ask; the same rule as the command itself.
            self.cases._check_may_act(principal, case, Action.EXTEND)
            facts = CaseFacts.from_json(case.lifecycle)
            due = check_request(facts, days=data.days, reason=reason, now=now, actor=principal.actor, calendar=calendar)
            organ = await organ_of(session, case)
            entries: list[TimelineEntry] = []
            pending = await session.exec(
                select(ExtensionRequest).where(
                    ExtensionRequest.case_id == case.id, ExtensionRequest.status == ExtensionStatus.PENDING.value
                )
            )
            for earlier in pending.all():
                if earlier.organ_node_code == organ.code:
                    raise ServiceError(
                        "本案已有待批准的延期申请，请等待机关负责人审批",
                        code="extension.pending",
                        data={"request_id": str(earlier.id)},
                    )
                # The case moved to another organ since: that organ's head decides anew.
                note = "案件已改由其他机关办理，原延期申请失效"
                earlier.status = ExtensionStatus.LAPSED.value
                earlier.decided_at = now
                earlier.decision_note = note
                session.add(earlier)
                entries.append(_entry(EXTENSION_LAPSED, principal, case, now, note, {"request": str(earlier.id)}))
            row = ExtensionRequest(
                id=uuid.uuid4(),
                case_id=case.id,
                organ_node_code=organ.code,
                days=data.days,
                reason=reason,
                requested_by=principal.user_id,
                requested_by_name=principal.display_name,
                requested_at=now,
                status=ExtensionStatus.PENDING.value,
            )
            session.add(row)
            entries.append(
                _entry(
                    EXTENSION_REQUESTED,
                    principal,
                    case,
                    now,
                    reason,
                    {
                        "request": str(row.id),
                        "days": data.days,
                        "organ": organ.code,
                        "due_last_day_if_approved": due.last_day.isoformat(),
                        "provisional": due.provisional,
                    },
                )
            )
            await self._append(session, case, now, entries)
            await session.flush()
            await session.refresh(row)
            return ExtensionView(row, due)

    async def list(self, principal: Principal, case_id: uuid.UUID) -> list[ExtensionView]:
        async with self.context.db.read() as session:
            case = await self.cases._readable(session, principal, case_id)
            rows = await session.exec(
                select(ExtensionRequest)
                .where(ExtensionRequest.case_id == case.id)
                .order_by(col(ExtensionRequest.requested_at), col(ExtensionRequest.id))
            )
            facts = CaseFacts.from_json(case.lifecycle)
            return [extension_view(row, facts, self.context.calendar) for row in rows.all()]

    async def decide(
        self, principal: Principal, case_id: uuid.UUID, request_id: uuid.UUID, data: ExtensionDecision
    ) -> ExtensionView:
        now = self.context.clock.now()
        calendar = self.context.calendar
        async with self.context.db.write() as session:
            case = await self.cases._load_for_change(session, principal, case_id)
            row = await session.get(ExtensionRequest, request_id, with_for_update=True)
            if row is None or row.case_id != case.id:
                raise ServiceError("延期申请不存在", code="extension.not_found")
            self.cases._check_may_act(principal, case, Action.EXTEND)
            head = await is_head(session, principal.user_id, row.organ_node_code)
            check_may_decide(row, approver_id=principal.user_id, is_head=head)
            organ = await organ_of(session, case)
            if organ.code != row.organ_node_code:
                raise ServiceError(
                    "案件已改由其他机关办理，原延期申请须由现办理机关重新提出",
                    code="extension.organ_changed",
                    data={"organ": organ.code, "request_organ": row.organ_node_code},
                )
            note = (data.note or "").strip() or None
            facts = CaseFacts.from_json(case.lifecycle)
            if data.decision == "approve":
                command = Command(Action.EXTEND, row.reason, {"days": row.days, "approved_by": principal.display_name})
                decision = decide(facts, command, now=now, actor=principal.actor, calendar=calendar)
                request_data = {
                    "request": str(row.id),
                    "requested_by": str(row.requested_by),
                    "requested_by_name": row.requested_by_name,
                    "requested_at": row.requested_at.isoformat(),
                    "approver_id": str(principal.user_id),
                    "note": note,
                }
                decision = replace(
                    decision, entries=tuple(replace(e, data={**e.data, **request_data}) for e in decision.entries)
                )
                await self.cases.record_decision(session, case, facts, decision, now=now)
                facts = decision.facts
                row.status = ExtensionStatus.APPROVED.value
            else:
                entry = _entry(
                    EXTENSION_REFUSED, principal, case, now, note, {"request": str(row.id), "days": row.days}
                )
                await self._append(session, case, now, [entry])
                row.status = ExtensionStatus.REFUSED.value
            row.decided_by = principal.user_id
            row.decided_by_name = principal.display_name
            row.decided_at = now
            row.decision_note = note
            session.add(row)
            await session.flush()
            await session.refresh(row)
            return extension_view(row, facts, calendar)
