"""The reviewer's side of sync: conflicted and rejected mutations, and decisions on them.

A device's mutation row is never changed; a decision is a separate row (``SyncReview``).
Who sees a mutation: whoever can read its case, and the device owner's supervisors (a
mutation pushed out of scope names a case its sender may not see).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import exists, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid.cases import Case
from grid.people import Role, User
from server.errors import ServiceError
from server.principal import Principal
from server.schemas.cases import CaseFlags, CaseUpdate
from server.services.cases import CaseService
from server.services.context import ServiceContext
from server.services.devices import DEVICE_SUPERVISORS
from server.services.regions import in_subtree
from sync.protocol import ResultStatus
from sync.tables import Device, SyncMutation, SyncReview

REVIEWABLE = (ResultStatus.CONFLICT.value, ResultStatus.REJECTED.value)


class Decision(StrEnum):
    # Conflicts: keep what the server holds, or take the device's values of the held fields.
    KEEP_SERVER = "keep_server"
    APPLY_DEVICE = "apply_device"
    # Rejections: seen and dealt with (the worker was told, the record re-entered, …).
    DISMISS = "dismiss"


DECISIONS_FOR = {
    ResultStatus.CONFLICT.value: {Decision.KEEP_SERVER, Decision.APPLY_DEVICE},
    ResultStatus.REJECTED.value: {Decision.DISMISS},
}


@dataclass(frozen=True)
class ReviewItem:
    mutation: SyncMutation
    device: Device
    sender: User
    review: SyncReview | None


@dataclass(frozen=True)
class ReviewFilters:
    status: list[str]
    open_only: bool
    case_id: uuid.UUID | None
    device_id: uuid.UUID | None


class SyncReviewService:
    def __init__(self, context: ServiceContext):
        self.context = context
        self.cases = CaseService(context)

    def _visible(self, principal: Principal):
        readable_case = exists().where(col(Case.id) == col(SyncMutation.case_id), self.cases.scope_clause(principal))
        own_device = col(Device.user_id) == principal.user_id
        if principal.role not in DEVICE_SUPERVISORS:
            return or_(readable_case, own_device)
        return or_(readable_case, own_device, in_subtree(col(User.node_path), principal.node_path))

    def _visible_items(self, principal: Principal):
        """Mutations this principal may see, with their device, sender and review if any."""
        return (
            select(SyncMutation, Device, User, SyncReview)
            .join(Device, col(Device.id) == col(SyncMutation.device_id))
            .join(User, col(User.id) == col(Device.user_id))
            .outerjoin(
                SyncReview,
                (col(SyncReview.device_id) == col(SyncMutation.device_id))
                & (col(SyncReview.seq) == col(SyncMutation.seq)),
            )
            .where(self._visible(principal))
        )

    async def list(self, principal: Principal, filters: ReviewFilters, limit: int) -> list[ReviewItem]:
        async with self.context.db.read() as session:
            statement = self._visible_items(principal).where(col(SyncMutation.status).in_(filters.status))
            if filters.open_only:
                statement = statement.where(col(SyncReview.seq).is_(None))
            if filters.case_id is not None:
                statement = statement.where(col(SyncMutation.case_id) == filters.case_id)
            if filters.device_id is not None:
                statement = statement.where(col(SyncMutation.device_id) == filters.device_id)
            statement = statement.order_by(col(SyncMutation.received_at), col(SyncMutation.seq)).limit(limit)
            rows = (await session.exec(statement)).all()
            return [ReviewItem(*row) for row in rows]

    async def review(
        self, principal: Principal, device_id: uuid.UUID, seq: int, decision: Decision, note: str
    ) -> ReviewItem:
        if principal.role is Role.GRID_WORKER:
            raise ServiceError("网格员不能审核同步冲突", code="auth.forbidden")
        async with self.context.db.write() as session:
            item = await self._visible_item(session, principal, device_id, seq)
            mutation = item.mutation
            if mutation.status not in REVIEWABLE:
                raise ServiceError("该变更已生效，无需审核", code="sync.not_reviewable")
            if item.review is not None:
                raise ServiceError("该变更已审核", code="sync.already_reviewed")
            if decision not in DECISIONS_FOR[mutation.status]:
                raise ServiceError(
                    f"此类变更（{mutation.status}）不能作“{decision.value}”处理", code="sync.review_invalid"
                )
            case_version = None
            if decision is Decision.APPLY_DEVICE:
                case_version = await self._apply_held_fields(session, principal, mutation)
            review = SyncReview(
                device_id=mutation.device_id,
                seq=mutation.seq,
                decision=decision.value,
                note=note,
                reviewed_by=principal.user_id,
                reviewed_at=self.context.clock.now(),
                case_version=case_version,
            )
            session.add(review)
            await session.flush()
            return ReviewItem(mutation, item.device, item.sender, review)

    async def _visible_item(
        self, session: AsyncSession, principal: Principal, device_id: uuid.UUID, seq: int
    ) -> ReviewItem:
        statement = self._visible_items(principal).where(SyncMutation.device_id == device_id, SyncMutation.seq == seq)
        row = (await session.exec(statement)).first()
        if row is None:
            raise ServiceError("该变更不存在或不在您的管辖范围内", code="auth.out_of_scope")
        return ReviewItem(*row)

    async def _apply_held_fields(self, session: AsyncSession, principal: Principal, mutation: SyncMutation) -> int:
        """The device's values of the held fields, as an edit by the reviewer on the
        current version (it goes through the same rules and timeline as any edit)."""
        case = await session.get(Case, mutation.case_id)
        if case is None:
            raise ServiceError("案件不存在或不在您的管辖范围内", code="auth.out_of_scope")
        held = set((mutation.conflict or {}).keys())
        sent = mutation.payload["data"]
        wanted: dict[str, Any] = {name: value for name, value in sent.items() if name in held}
        held_flags = held.intersection(CaseFlags.model_fields)
        if held_flags:
            # The edit API takes the flags whole: the case's own, with the held ones replaced.
            flags = {flag: getattr(case, flag) for flag in CaseFlags.model_fields}
            flags.update({flag: sent["flags"][flag] for flag in held_flags})
            wanted["flags"] = flags
        update = CaseUpdate.model_validate({**wanted, "version": case.version})
        bundle = await self.cases.update_in(session, principal, case.id, update)
        return bundle.case.version
