"""Applying a device's outbox: each mutation exactly once, each answered, none blocking.

One request is one write transaction. Each new mutation runs in its own savepoint, so a
mutation that cannot apply is rolled back alone, recorded as rejected with its code, and
the ones behind it still apply. The device's ``last_seq`` and every mutation row commit
with the changes they caused.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert, literal, tuple_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid.cases import Case, CaseAttachment, CaseEvent, Party
from grid.errors import DomainError, InvalidInput, Issue
from grid.lifecycle import CaseFacts, next_duty_clock
from server.errors import ServiceError
from server.schemas.cases import AttachmentCreate, CaseCreate, CaseUpdate, TransitionRequest
from server.services.cases import CaseService
from server.services.changes import transaction_change_seq
from server.services.context import ServiceContext
from server.services.devices import DeviceCaller, DeviceService
from server.services.screening import file_screening_mutation
from sync.attachments import Blob
from sync.beacon import BeaconAnswer
from sync.protocol import (
    MAX_CHANGE_SEQ,
    MIN_PROTOCOL_VERSION,
    Mutation,
    MutationResult,
    MutationType,
    ResultStatus,
    SyncRequest,
    SyncResponse,
    decode_cursor,
    encode_cursor,
    mutation_digest,
    payload_digest,
    plan_outbox,
    scope_digest,
)
from sync.tables import Device, SyncMutation

log = logging.getLogger(__name__)

# How stale a device's "last seen" may get before a sync with nothing to push updates it.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


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
        try:
            after = decode_cursor(request.cursor)
        except ValueError:
            raise InvalidInput([Issue("cursor", "cursor.invalid", "同步游标无效，请清空后重新同步")]) from None
        now = self.context.clock.now()
        if request.outbox:
            results, last_seq = await self._push(caller, request, now)
        else:
            results, last_seq = [], await self._touch(caller, request, now)
        # The pull reads after the push has committed, outside the write lock: on SQLite
        # the next device's push proceeds while this answer is assembled.
        async with self.context.db.read() as session:
            changes, cursor, more = await self._pull(session, caller, after, request.page_size)
            in_scope = await self._scope_ids(session, caller) if not more or request.want_scope_ids else []
            refetched = await self._snapshots(session, caller, request.refetch) if request.refetch else []
        return SyncResponse(
            last_seq=last_seq,
            results=results,
            changes=changes,
            cursor=cursor,
            more=more,
            scope=None if more else scope_digest(in_scope),
            scope_ids=sorted(case_id.hex for case_id in in_scope) if request.want_scope_ids else None,
            refetched=refetched,
            server_time=now,
        )

    async def _push(
        self, caller: DeviceCaller, request: SyncRequest, now: datetime
    ) -> tuple[list[MutationResult], int]:
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
            if plan.new:
                # Drawn before the savepoints: a rolled-back savepoint must not hand it back.
                await transaction_change_seq(session)
                results.extend(await self._apply_all(session, caller, device, plan.new, now))
                device.last_seq = plan.new[-1].seq
            device.last_seen_at = now
            device.app_version = request.app_version
            session.add(device)
            return results, device.last_seq

    async def _touch(self, caller: DeviceCaller, request: SyncRequest, now: datetime) -> int:
        """A sync with nothing to push writes only when the device's record is out of date:
        an idle phone's syncs then never queue for the write lock."""
        device = caller.device
        seen = device.last_seen_at
        if device.app_version != request.app_version or seen is None or now - seen >= LAST_SEEN_RESOLUTION:
            async with self.context.db.write() as session:
                await session.exec(  # type: ignore[call-overload]
                    update(Device)
                    .where(col(Device.id) == device.id)
                    .values(last_seen_at=now, app_version=request.app_version)
                )
        return device.last_seq

    async def beacon_answer(self, beacon: str, change_seq: int) -> BeaconAnswer:
        """The idle check, over HTTP or UDP: has the scope of the beacon's device changed
        after ``change_seq``? Unknown for a beacon that names no active device."""
        caller = await DeviceService(self.context).by_beacon(beacon)
        if caller is None:
            return BeaconAnswer.UNKNOWN
        return BeaconAnswer.NEWS if await self.changed_since(caller, change_seq) else BeaconAnswer.NOTHING_NEW

    async def changed_since(self, caller: DeviceCaller, change_seq: int) -> bool:
        """Whether a case in the device's scope changed after ``change_seq`` (the beacon)."""
        change_seq = min(change_seq, MAX_CHANGE_SEQ)
        async with self.context.db.read() as session:
            statement = (
                select(Case.id)
                .where(self.cases.scope_clause(caller.principal), col(Case.change_seq) > change_seq)
                .limit(1)
            )
            return (await session.exec(statement)).first() is not None

    async def _pull(
        self, session: AsyncSession, caller: DeviceCaller, after: tuple[int, uuid.UUID | None], page_size: int
    ) -> tuple[list[dict[str, Any]], str, bool]:
        """Cases in the device's scope changed since the cursor, in change order."""
        change_seq, last_id = after
        position = tuple_(col(Case.change_seq), col(Case.id))
        statement = select(Case).where(self.cases.scope_clause(caller.principal))
        if last_id is None:
            statement = statement.where(col(Case.change_seq) > change_seq)
        else:
            statement = statement.where(
                position > tuple_(literal(change_seq), literal(last_id, Case.__table__.c.id.type))
            )
        rows = list((await session.exec(statement.order_by(*position.clauses).limit(page_size + 1))).all())
        more = len(rows) > page_size
        rows = rows[:page_size]
        if not rows:
            return [], encode_cursor(change_seq, last_id), False
        return await self._snapshots_of(session, rows), encode_cursor(rows[-1].change_seq, rows[-1].id), more

    async def _snapshots(
        self, session: AsyncSession, caller: DeviceCaller, case_ids: list[uuid.UUID]
    ) -> list[dict[str, Any]]:
        statement = select(Case).where(self.cases.scope_clause(caller.principal), col(Case.id).in_(case_ids))
        return await self._snapshots_of(session, list((await session.exec(statement)).all()))

    async def _snapshots_of(self, session: AsyncSession, rows: list[Case]) -> list[dict[str, Any]]:
        if not rows:
            return []
        ids = [row.id for row in rows]
        parties = (
            await session.exec(select(Party).where(col(Party.case_id).in_(ids)).order_by(col(Party.ordinal)))
        ).all()
        events = (
            await session.exec(select(CaseEvent).where(col(CaseEvent.case_id).in_(ids)).order_by(col(CaseEvent.seq)))
        ).all()
        parties_of: dict[uuid.UUID, list[Party]] = defaultdict(list)
        for party in parties:
            parties_of[party.case_id].append(party)
        events_of: dict[uuid.UUID, list[CaseEvent]] = defaultdict(list)
        for event in events:
            events_of[event.case_id].append(event)
        attachments = (
            await session.exec(
                select(CaseAttachment)
                .where(col(CaseAttachment.case_id).in_(ids))
                .order_by(col(CaseAttachment.added_at))
            )
        ).all()
        attachments_of: dict[uuid.UUID, list[CaseAttachment]] = defaultdict(list)
        for attachment in attachments:
            attachments_of[attachment.case_id].append(attachment)
        snapshots = [
            case_snapshot(row, parties_of[row.id], events_of[row.id], attachments_of[row.id], self.context)
            for row in rows
        ]
        # Whether each cited file's bytes are on the server yet (records never wait for them).
        hashes = {attachment.sha256 for attachment in attachments}
        held = (
            set((await session.exec(select(Blob.sha256).where(col(Blob.sha256).in_(hashes)))).all())
            if hashes
            else set()
        )
        for snapshot in snapshots:
            for item in snapshot["att"]:
                item["ok"] = item["h"] in held
        return snapshots

    async def _scope_ids(self, session: AsyncSession, caller: DeviceCaller) -> list[uuid.UUID]:
        result = await session.exec(select(Case.id).where(self.cases.scope_clause(caller.principal)))
        return list(result.all())

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

    async def _apply_all(
        self, session: AsyncSession, caller: DeviceCaller, device: Device, mutations: list[Mutation], now: datetime
    ) -> list[MutationResult]:
        """New mutations, each applied or answered and recorded.

        First all in one savepoint, so the unit of work writes the whole outbox in a few
        batched statements. A mutation that cannot apply raises there; the outbox then goes
        through again with a savepoint per mutation, where the failing one is rolled back
        alone and the ones behind it still apply. Rejections are rare, and the same
        mutations give the same answers on the second pass (the rules are deterministic).
        """
        for guarded in (False, True):
            taken = await self._taken_ids(session, mutations)
            records: list[dict[str, Any]] = []
            try:
                async with session.begin_nested():
                    results = [
                        await self._apply(session, caller, device, mutation, now, taken, records, guarded=guarded)
                        for mutation in mutations
                    ]
            except _MutationFailed:
                continue
            except Exception:
                if guarded:
                    raise
                # A constraint only the database checks, found when the savepoint flushed.
                log.info("device %s: an outbox failed as a whole; applying it one by one", device.id, exc_info=True)
                continue
            # The outcome of every mutation, in one statement.
            await session.exec(insert(SyncMutation), params=records)  # type: ignore[call-overload]
            return results
        raise AssertionError("the guarded pass answers every mutation")

    async def _taken_ids(self, session: AsyncSession, mutations: list[Mutation]) -> set[uuid.UUID]:
        """Mutation ids already recorded (under another device or sequence number)."""
        ids = [mutation.id for mutation in mutations]
        found = await session.exec(select(SyncMutation.mutation_id).where(col(SyncMutation.mutation_id).in_(ids)))
        return set(found.all())

    async def _apply(
        self,
        session: AsyncSession,
        caller: DeviceCaller,
        device: Device,
        mutation: Mutation,
        now: datetime,
        taken: set[uuid.UUID],
        records: list[dict[str, Any]],
        *,
        guarded: bool,
    ) -> MutationResult:
        status, code, message, version, conflict = ResultStatus.APPLIED, None, None, None, None
        if mutation.id in taken:
            status, code, message = ResultStatus.REJECTED, "sync.mutation_replayed", "该变更已由其他设备或编号提交"
        else:
            taken.add(mutation.id)
            try:
                if guarded:
                    async with session.begin_nested():
                        outcome = await self._run(session, caller, mutation)
                else:
                    outcome = await self._run(session, caller, mutation)
                version, code, conflict = outcome.version, outcome.code, outcome.conflict
                if conflict:
                    status = ResultStatus.CONFLICT
                    message = "以下字段已被他人修改，本次修改未覆盖，待审核：" + "、".join(
                        FIELD_NAMES_ZH.get(name, name) for name in conflict
                    )
            except (DomainError, ValidationError) as error:
                if not guarded:
                    raise _MutationFailed from error
                status, code, message = _rejection(error)
            except Exception as error:
                if not guarded:
                    raise _MutationFailed from error
                log.exception("mutation %s of device %s failed", mutation.seq, device.id)
                status, code, message = ResultStatus.REJECTED, "internal", "服务器处理该条记录时出错，已留存待查"
        if status is not ResultStatus.APPLIED:
            log.info("device %s mutation %s %s: %s", device.id, mutation.seq, status.value, code)
        payload = mutation.model_dump(mode="json")
        records.append(
            {
                "device_id": device.id,
                "seq": mutation.seq,
                "mutation_id": mutation.id,
                "digest": payload_digest(payload),
                "type": mutation.type.value,
                "case_id": mutation.case_id,
                "status": status.value,
                "code": code,
                "message": message,
                "payload": payload,
                "conflict": conflict,
                "device_time": mutation.device_time,
                "received_at": now,
            }
        )
        return MutationResult(
            seq=mutation.seq,
            id=mutation.id,
            status=status,
            code=code,
            message=message,
            case_version=version,
            held=sorted(conflict) if conflict else None,
        )

    async def _run(self, session: AsyncSession, caller: DeviceCaller, mutation: Mutation) -> _Outcome:
        principal = caller.principal
        if mutation.type is MutationType.CREATE_CASE:
            data = CaseCreate.model_validate({**mutation.data, "id": str(mutation.case_id)})
            bundle = await self.cases.create_in(session, principal, data)
        elif mutation.type is MutationType.EDIT_CASE:
            if mutation.base_version is None:
                raise InvalidInput([Issue("base_version", "base_version.required", "修改须注明所依据的案件版本")])
            update = CaseUpdate.model_validate({**mutation.data, "version": mutation.base_version})
            merged = await self.cases.merge_edit_in(
                session, principal, mutation.case_id, mutation.base_version, update, author=f"device:{caller.device.id}"
            )
            conflict = {name: {"device": field.new, "server": field.old} for name, field in merged.held.items()} or None
            code = "sync.edit_conflict" if conflict else ("sync.merged" if merged.stale else None)
            return _Outcome(merged.bundle.case.version, code, conflict)
        elif mutation.type is MutationType.FILE_SCREENING_REPORT:
            return _Outcome(None, await file_screening_mutation(session, self.context, principal, mutation))
        elif mutation.type is MutationType.ATTACH_FILE:
            bundle = await self.cases.attach_in(
                session, principal, mutation.case_id, AttachmentCreate.model_validate(mutation.data)
            )
        else:
            request = TransitionRequest.model_validate(mutation.data)
            case = await self.cases.apply_transition_in(session, principal, mutation.case_id, request)
            return _Outcome(case.version)
        return _Outcome(bundle.case.version)


@dataclass(frozen=True)
class _Outcome:
    version: int | None  # None: the mutation is not about a case (a 排查 report)
    code: str | None = None
    # Held fields: {name: {"device": {column: value}, "server": {column: value}}}.
    conflict: dict[str, Any] | None = None


# What a worker reads when a field of theirs is held back.
FIELD_NAMES_ZH = {
    "title": "标题",
    "request": "诉求",
    "facts": "事实",
    "reasons": "理由",
    "risk": "风险等级",
    "category": "类别",
    "location": "位置",
    "people_involved": "涉及人数",
    "involves_litigation": "涉诉",
    "administrative_dispute": "行政争议",
    "violence_risk": "暴力风险",
    "cadres_involved": "涉及干部",
    "multi_village": "跨村",
}


def case_snapshot(
    case: Case,
    parties: list[Party],
    events: list[CaseEvent],
    attachments: list[CaseAttachment],
    context: ServiceContext,
) -> dict[str, Any]:
    """What a device stores of a case: compact, identity masked, the whole timeline.

    Keys are short where they repeat in every snapshot; docs/sync-protocol.md lists them.
    """
    facts = CaseFacts.from_json(case.lifecycle)
    duty = next_duty_clock(facts, context.calendar)
    return {
        "id": str(case.id),
        "v": case.version,
        "no": case.number,
        "st": case.status,
        "lv": case.level,
        "kind": case.kind,
        "cat": case.category_code,
        "ch": case.channel,
        "title": case.title,
        "req": case.request,
        "facts": case.facts,
        "why": case.reasons,
        "risk": case.risk,
        "loc": [case.latitude, case.longitude] if case.latitude is not None else None,
        "vil": case.village_code,
        "grid": case.grid_code,
        "node": case.handling_node_code,
        "by": str(case.created_by),
        "at": case.registered_at.isoformat(),
        "due": None
        if duty is None
        else {
            "k": duty.kind.value,
            "from": duty.started_at.isoformat(),
            "last": duty.due.last_day.isoformat(),
            "end": duty.due.ends_at.isoformat(),
            "prov": duty.due.provisional,
        },
        "parties": [
            {
                "id": str(party.id),
                "k": party.kind,
                "r": party.role,
                "n": party.name,
                "idn": party.id_number_masked,
                "tel": party.phone_masked,
                "addr": party.address_masked,
                "rep": party.is_representative,
                "sig": party.is_signer,
            }
            for party in parties
        ],
        "tl": [
            {
                "id": str(event.id),
                "s": event.seq,
                "k": event.kind,
                "at": event.at.isoformat(),
                "who": event.actor_name,
                "why": event.reason,
                "from": event.from_status,
                "to": event.to_status,
                "d": event.data,
            }
            for event in events
        ],
        "att": [
            {"id": str(item.id), "h": item.sha256, "t": item.media_type, "z": item.size, "n": item.name}
            for item in attachments
        ],
    }


class _MutationFailed(Exception):
    """A mutation failed in the optimistic pass: the outbox goes again, one savepoint each."""


def _rejection(error: DomainError | ValidationError) -> tuple[ResultStatus, str, str]:
    if isinstance(error, ValidationError):
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        return ResultStatus.REJECTED, "validation.failed", details
    return ResultStatus.REJECTED, _rejection_code(error), error.message


def _rejection_code(error: DomainError) -> str:
    # Intake names an out-of-scope place as a field rule; for a device it is the whole
    # mutation that is out of scope.
    if isinstance(error, InvalidInput) and any(issue.rule == "auth.out_of_scope" for issue in error.issues):
        return "auth.out_of_scope"
    return error.code
