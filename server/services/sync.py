"""Applying a device's outbox: each mutation exactly once, each answered, none blocking.

One request is one write transaction. Each new mutation runs in its own savepoint, so a
mutation that cannot apply is rolled back alone, recorded as rejected with its code, and
the ones behind it still apply. The device's ``last_seq`` and every mutation row commit
with the changes they caused.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid.cases import Case
from grid.errors import DomainError, InvalidInput
from server.errors import ServiceError
from server.schemas.cases import CaseCreate, CaseUpdate, TransitionRequest
from server.services.cases import CaseService
from server.services.context import ServiceContext
from server.services.devices import DeviceCaller
from sync.protocol import (
    MIN_PROTOCOL_VERSION,
    Mutation,
    MutationResult,
    MutationType,
    ResultStatus,
    SyncRequest,
    SyncResponse,
    mutation_digest,
    plan_outbox,
)
from sync.tables import Device, SyncMutation

log = logging.getLogger(__name__)


class SyncService:
    def __init__(self, context: ServiceContext):
        self.context = context
        self.cases = CaseService(context)

    async def sync(self, caller: DeviceCaller, request: SyncRequest) -> SyncResponse:
        if request.protocol < MIN_PROTOCOL_VERSION:
            raise ServiceError(
                "应用版本过旧，请更新后再同步（未同步的记录仍保存在手机上）",
                code="sync.client_outdated",
                data={"min_protocol": MIN_PROTOCOL_VERSION},
            )
        if request.device_id != caller.device.id:
            raise ServiceError("设备编号与设备凭证不符", code="sync.device_mismatch")
        now = self.context.clock.now()
        async with self.context.db.write() as session:
            # Serialises two deliveries of the same request (a retry racing the original).
            device = (await session.exec(select(Device).where(Device.id == caller.device.id).with_for_update())).one()
            plan = plan_outbox(device.last_seq, request.outbox)
            if plan.gap_expected is not None:
                raise ServiceError(
                    f"变更编号不连续：应从第 {plan.gap_expected} 条开始",
                    code="sync.gap",
                    data={"expected_seq": plan.gap_expected, "last_seq": device.last_seq},
                )
            results = [await self._replay(session, device, mutation) for mutation in plan.replays]
            for mutation in plan.new:
                results.append(await self._apply(session, caller, device, mutation, now))
                device.last_seq = mutation.seq
            device.last_seen_at = now
            device.app_version = request.app_version
            session.add(device)
            return SyncResponse(last_seq=device.last_seq, results=results, server_time=now)

    async def _replay(self, session: AsyncSession, device: Device, mutation: Mutation) -> MutationResult:
        """A mutation already received: answered from the record, never applied again."""
        stored = await session.get(SyncMutation, (device.id, mutation.seq))
        if stored is None or stored.digest != mutation_digest(mutation):
            return MutationResult(
                seq=mutation.seq,
                id=mutation.id,
                status=ResultStatus.REJECTED,
                code="sync.seq_reused",
                message="该编号已用于另一条变更",
            )
        return MutationResult(
            seq=mutation.seq,
            id=mutation.id,
            status=ResultStatus.DUPLICATE,
            original_status=ResultStatus(stored.status),
            code=stored.code,
            message=stored.message,
        )

    async def _apply(
        self, session: AsyncSession, caller: DeviceCaller, device: Device, mutation: Mutation, now
    ) -> MutationResult:
        status, code, message, version = ResultStatus.APPLIED, None, None, None
        taken = (await session.exec(select(SyncMutation).where(SyncMutation.mutation_id == mutation.id))).first()
        if taken is not None:
            status, code, message = ResultStatus.REJECTED, "sync.mutation_replayed", "该变更已由其他设备或编号提交"
        else:
            try:
                async with session.begin_nested():
                    version = await self._run(session, caller, mutation)
            except _Conflict as conflict:
                status, code, message = ResultStatus.CONFLICT, "sync.stale_edit", conflict.message
                version = conflict.current_version
            except DomainError as error:
                status, code, message = ResultStatus.REJECTED, _rejection_code(error), error.message
            except ValidationError as error:
                status, code = ResultStatus.REJECTED, "validation.failed"
                message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            except Exception:
                log.exception("mutation %s of device %s failed", mutation.seq, device.id)
                status, code, message = ResultStatus.REJECTED, "internal", "服务器处理该条记录时出错，已留存待查"
        if status is not ResultStatus.APPLIED:
            log.info("device %s mutation %s %s: %s", device.id, mutation.seq, status.value, code)
        session.add(
            SyncMutation(
                device_id=device.id,
                seq=mutation.seq,
                mutation_id=mutation.id,
                digest=mutation_digest(mutation),
                type=mutation.type.value,
                case_id=mutation.case_id,
                status=status.value,
                code=code,
                message=message,
                payload=mutation.model_dump(mode="json"),
                device_time=mutation.device_time,
                received_at=now,
            )
        )
        return MutationResult(
            seq=mutation.seq, id=mutation.id, status=status, code=code, message=message, case_version=version
        )

    async def _run(self, session: AsyncSession, caller: DeviceCaller, mutation: Mutation) -> int:
        principal = caller.principal
        if mutation.type is MutationType.CREATE_CASE:
            data = CaseCreate.model_validate({**mutation.data, "id": str(mutation.case_id)})
            bundle = await self.cases.create_in(session, principal, data)
        elif mutation.type is MutationType.EDIT_CASE:
            current = await session.get(Case, mutation.case_id)
            if current is not None and mutation.base_version is not None and current.version != mutation.base_version:
                # Field-level merging comes with the conflict rules of the protocol; until
                # then a stale edit is never applied over someone else's.
                raise _Conflict("案件已被他人修改，本次修改未生效，待审核处理", current.version)
            update = CaseUpdate.model_validate(
                {**mutation.data, "version": mutation.base_version or (current.version if current else 1)}
            )
            bundle = await self.cases.update_in(session, principal, mutation.case_id, update)
        else:
            request = TransitionRequest.model_validate(mutation.data)
            bundle = await self.cases.transition_in(session, principal, mutation.case_id, request)
        return bundle.case.version


class _Conflict(Exception):
    def __init__(self, message: str, current_version: int):
        super().__init__(message)
        self.message = message
        self.current_version = current_version


def _rejection_code(error: DomainError) -> str:
    # Intake names an out-of-scope place as a field rule; for a device it is the whole
    # mutation that is out of scope.
    if isinstance(error, InvalidInput) and any(issue.rule == "auth.out_of_scope" for issue in error.issues):
        return "auth.out_of_scope"
    return error.code
