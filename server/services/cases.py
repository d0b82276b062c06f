"""Cases: intake, reads in scope, edits, transitions and identity reveals.

Services orchestrate: they load rows, ask ``grid`` rules for decisions, and write the
state change and its timeline entries in one transaction.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, or_, tuple_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid.calendar import local_date
from grid.cases import (
    Case,
    CaseAttachment,
    CaseCounter,
    CaseEvent,
    HandlingLevel,
    IdentityAccess,
    Party,
    PartyKind,
    official_number,
)
from grid.categories import Category, CategoryVersion
from grid.errors import InvalidInput, Issue
from grid.hierarchy import Level, Region
from grid.identity import mask_address, mask_id_number, mask_phone
from grid.intake import PartyInput, check_parties
from grid.lifecycle import (
    Action,
    CaseFacts,
    Command,
    Decision,
    Status,
    TimelineEntry,
    decide,
    register,
)
from grid.people import IDENTITY_READERS, READ_SCOPE_ACTIONS, ROLE_ACTIONS, Role
from grid.recusals import CaseRecusal
from grid.storage_types import UTCDateTime
from server.errors import ServiceError
from server.principal import Principal
from server.schemas.cases import AttachmentCreate, CaseCreate, CaseUpdate, RevealRequest, TransitionRequest
from server.services.changes import transaction_change_seq
from server.services.context import ServiceContext
from server.services.deadlines import stamp_next_deadline
from server.services.escalation import fired_keys_subquery, policy_in_force, remember_fired, stamp_next_check
from server.services.recusal_guard import ensure_not_recused
from server.services.regions import ancestor_at, in_subtree
from server.services.repeats import screen_new_case
from server.services.review_chain import review_holder_for
from server.services.upsert import upsert_statement

HANDLING_TO_REGION_LEVEL = {
    HandlingLevel.VILLAGE: Level.VILLAGE,
    HandlingLevel.TOWNSHIP: Level.TOWNSHIP,
    HandlingLevel.COUNTY: Level.COUNTY,
}
NARROW_LEVELS = frozenset({Level.VILLAGE.value, Level.GRID.value})
# Only an acceptance that will succeed draws a number; a refused one must not burn it.
ACCEPTABLE = frozenset({Status.REGISTERED, Status.ESCALATED})


@dataclass(frozen=True)
class CaseFilters:
    status: list[str] | None = None
    kind: list[str] | None = None
    category: list[str] | None = None
    level: list[str] | None = None
    region: str | None = None
    q: str | None = None
    assigned_to_me: bool = False
    created_by_me: bool = False


@dataclass(frozen=True)
class EditedField:
    """One API field of an edit: the columns it sets, and their values before."""

    new: dict[str, Any]
    old: dict[str, Any]


@dataclass(frozen=True)
class MergedEdit:
    bundle: CaseBundle
    applied: list[str]
    held: dict[str, EditedField]
    # Made on an older version than the case's (merged field by field).
    stale: bool


@dataclass(frozen=True)
class CaseBundle:
    case: Case
    parties: list[Party]
    facts: CaseFacts


def out_of_scope() -> ServiceError:
    # One answer for "missing" and "not yours": the content and existence stay private.
    return ServiceError("案件不存在或不在您的管辖范围内", code="auth.out_of_scope")


def intake_digest(data: CaseCreate) -> str:
    canonical = data.model_dump(mode="json", exclude={"captured_at"})
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def encode_cursor(case: Case) -> str:
    raw = json.dumps([case.registered_at.isoformat(), str(case.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, case_id = json.loads(base64.urlsafe_b64decode(padded))
        registered_at = datetime.fromisoformat(at)
        if registered_at.tzinfo is None:
            # A naive instant cannot be compared with the stored ones (it would fail in
            # the query as a 500); only a cursor we did not issue looks like this.
            raise ValueError("naive cursor time")
        return registered_at, uuid.UUID(case_id)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise InvalidInput([Issue("cursor", "cursor.invalid", "分页游标无效")]) from None


class CaseService:
    def __init__(self, context: ServiceContext):
        self.context = context
        self._lookups: dict[tuple[Any, ...], Any] = {}

    async def _remembered(self, key: tuple[Any, ...], load: Callable[[], Awaitable[Any]]) -> Any:
        """Reference rows (regions, the category catalogue) read once per service: one
        service serves one request, and a sync applying fifty captures from one grid would
        otherwise read the same rows fifty times."""
        if key not in self._lookups:
            self._lookups[key] = await load()
        return self._lookups[key]

    @property
    def cipher(self):
        return self.context.cipher

    # ------------------------------------------------------------ scope

    def scope_clause(self, principal: Principal):
        return or_(
            in_subtree(col(Case.region_path), principal.node_path),
            col(Case.created_by) == principal.user_id,
            col(Case.assigned_to) == principal.user_id,
        )

    def _can_read(self, principal: Principal, case: Case) -> bool:
        return (
            principal.covers(case.region_path)
            or case.created_by == principal.user_id
            or case.assigned_to == principal.user_id
        )

    async def _readable(self, session: AsyncSession, principal: Principal, case_id: uuid.UUID) -> Case:
        case = await session.get(Case, case_id)
        if case is None or not self._can_read(principal, case):
            raise out_of_scope()
        return case

    def _check_may_act(self, principal: Principal, case: Case, action: Action) -> None:
        if action.value not in ROLE_ACTIONS[principal.role]:
            raise ServiceError(f"您的角色无权执行此操作（{action.value}）", code="auth.forbidden")
        if action.value in READ_SCOPE_ACTIONS:
            return
        # Decisions belong to the level that holds the case now; a village keeps reading an
        # escalated case but no longer decides on it.
        if not principal.covers(case.handling_node_path):
            raise ServiceError("案件当前不由您所在层级办理", code="auth.forbidden")

    def _check_may_edit(self, principal: Principal, case: Case) -> None:
        # The level holding the case owns its record; the grid worker who captured it may
        # correct it while it is still in the village.
        if principal.role is Role.GRID_WORKER:
            if case.created_by != principal.user_id or case.level != HandlingLevel.VILLAGE.value:
                raise ServiceError("网格员只能修改自己登记、仍在村级办理的案件", code="auth.forbidden")
            return
        if not principal.covers(case.handling_node_path):
            raise ServiceError("案件当前不由您所在层级办理", code="auth.forbidden")

    # ------------------------------------------------------------ intake

    async def create(self, principal: Principal, data: CaseCreate) -> CaseBundle:
        async with self.context.db.write() as session:
            return await self.create_in(session, principal, data)

    async def create_in(self, session: AsyncSession, principal: Principal, data: CaseCreate) -> CaseBundle:
        now = self.context.clock.now()
        digest = intake_digest(data)
        case_id = data.id or uuid.uuid4()
        checked = check_parties(
            [
                PartyInput(
                    kind=party.kind,
                    role=party.role,
                    name=party.name,
                    id_number=party.id_number,
                    id_unknown_reason=party.id_unknown_reason,
                    org_code=party.org_code,
                    phone=party.phone,
                    address=party.address,
                    is_representative=party.is_representative,
                    is_signer=party.is_signer,
                )
                for party in data.parties
            ],
            is_collective=data.is_collective,
        )
        existing = await session.get(Case, case_id)
        if existing is not None:
            if existing.intake_digest == digest and self._can_read(principal, existing):
                return await self._bundle(session, existing)
            raise ServiceError("该案件编号已被另一份内容使用", code="case.duplicate_id")
        place = await self._place_of(session, principal, data)
        category_version = await self._current_category_version(session, data.category)
        level = self._initial_level(principal)
        region_level = HANDLING_TO_REGION_LEVEL[level]
        handling_node = await self._remembered(
            ("ancestor", place.path, region_level), lambda: ancestor_at(session, place.path, region_level)
        )
        village_code = place.code if place.level == Level.VILLAGE else str(place.parent_code)
        parties: list[Party] = []
        party_ids: list[str] = []
        for ordinal, (given, party) in enumerate(zip(data.parties, checked, strict=True)):
            party_id = given.id or uuid.uuid4()
            party_ids.append(str(party_id))
            parties.append(self._party_row(case_id, party_id, ordinal, party))
        decision = register(
            kind=data.kind,
            level=level,
            party_ids=tuple(party_ids),
            involves_litigation=data.flags.involves_litigation,
            administrative_dispute=data.flags.administrative_dispute,
            now=now,
            actor=principal.actor,
        )
        case = Case(
            id=case_id,
            kind=data.kind.value,
            category_code=data.category,
            category_version=category_version,
            channel=data.channel.value,
            title=data.title,
            request=data.request,
            facts=data.facts,
            reasons=data.reasons,
            risk=data.risk.value,
            latitude=data.location.latitude if data.location else None,
            longitude=data.location.longitude if data.location else None,
            people_involved=max(data.people_involved, sum(1 for p in data.parties if p.kind is PartyKind.PERSON)),
            is_collective=data.is_collective,
            **data.flags.model_dump(),
            village_code=village_code,
            grid_code=place.code if place.level == Level.GRID else None,
            region_path=place.path,
            level=level.value,
            handling_node_code=handling_node.code,
            handling_node_path=handling_node.path,
            status=decision.facts.status.value,
            lifecycle={},
            created_by=principal.user_id,
            captured_at=data.captured_at,
            registered_at=now,
            updated_at=now,
            intake_digest=digest,
            field_versions={},
        )
        self._apply_facts(case, decision.facts)
        session.add(case)
        for party in parties:
            session.add(party)
        # Art. 36 ¶3, 19 ¶3, 20 ¶1: a final matter is refused, a duplicate linked, 越级 recorded.
        screened = await screen_new_case(session, self.context, case, parties)
        await self._append_entries(session, case, (*decision.entries, *screened), first_seq=1)
        await session.flush()
        return CaseBundle(case, parties, decision.facts)

    def _initial_level(self, principal: Principal) -> HandlingLevel:
        # A visit received at the town or county is handled there; door-to-door capture
        # starts in the village (小事不出村).
        if principal.role is Role.TOWN_OFFICER:
            return HandlingLevel.TOWNSHIP
        if principal.role is Role.COUNTY_OFFICER:
            return HandlingLevel.COUNTY
        return HandlingLevel.VILLAGE

    async def _place_of(self, session: AsyncSession, principal: Principal, data: CaseCreate) -> Region:
        code = data.grid_code or data.village_code
        if code is None:
            if principal.role is Role.GRID_WORKER:
                code = principal.node_code
            else:
                raise InvalidInput([Issue("village_code", "case.place_required", "请选择案件所在的村（社区）或网格")])
        place = await self._remembered(("region", code), lambda: session.get(Region, code))
        field = "grid_code" if data.grid_code else "village_code"
        if place is None or place.level not in (Level.VILLAGE, Level.GRID):
            raise InvalidInput([Issue(field, "case.place_invalid", "案件所在地须为村（社区）或网格")])
        if data.grid_code and data.village_code and place.parent_code != data.village_code:
            raise InvalidInput([Issue("grid_code", "case.place_mismatch", "网格不属于所选的村（社区）")])
        if not principal.covers(place.path):
            raise InvalidInput([Issue(field, "auth.out_of_scope", "案件所在地不在您的管辖范围内")])
        return place

    async def _current_category_version(self, session: AsyncSession, code: str) -> int:
        version, codes = await self._remembered(("categories",), lambda: self._current_catalogue(session))
        if code not in codes:
            raise InvalidInput([Issue("category", "case.unknown_category", f"分类 {code} 不在现行分类目录中")])
        return version

    async def _current_catalogue(self, session: AsyncSession) -> tuple[int, frozenset[str]]:
        version = (await session.exec(select(func.max(CategoryVersion.version)))).one()
        if version is None:
            raise ServiceError("尚未发布纠纷分类目录", code="categories.missing")
        codes = (await session.exec(select(Category.code).where(Category.version == version))).all()
        return int(version), frozenset(codes)

    def _party_row(self, case_id: uuid.UUID, party_id: uuid.UUID, ordinal: int, checked) -> Party:
        source = checked.source
        resident_id = checked.resident_id
        phone = checked.phone
        cipher = self.cipher
        id_value = resident_id.value if resident_id else None
        return Party(
            id=party_id,
            case_id=case_id,
            ordinal=ordinal,
            kind=source.kind.value,
            role=source.role.value,
            name=source.name,
            is_representative=source.is_representative,
            is_signer=source.is_signer,
            id_number_status=resident_id.status.value if resident_id else None,
            id_unknown_reason=resident_id.unknown_reason if resident_id else None,
            id_number_masked=mask_id_number(id_value) if id_value else None,
            id_number_cipher=cipher.encrypt(id_value, context="party.id_number") if id_value else None,
            id_number_index=cipher.blind_index(id_value, "party.id_number") if id_value else None,
            org_code=source.org_code,
            phone_kind=phone.kind.value if phone else None,
            phone_masked=mask_phone(phone) if phone else None,
            phone_cipher=cipher.encrypt(phone.number, context="party.phone") if phone else None,
            phone_index=cipher.blind_index(phone.number, "party.phone") if phone else None,
            address_masked=mask_address(source.address) if source.address else None,
            address_cipher=cipher.encrypt(source.address, context="party.address") if source.address else None,
        )

    # ------------------------------------------------------------ reads

    async def get(self, principal: Principal, case_id: uuid.UUID) -> CaseBundle:
        async with self.context.db.read() as session:
            case = await self._readable(session, principal, case_id)
            return await self._bundle(session, case)

    async def _bundle(self, session: AsyncSession, case: Case) -> CaseBundle:
        parties = (await session.exec(select(Party).where(Party.case_id == case.id).order_by(col(Party.ordinal)))).all()
        return CaseBundle(case, list(parties), CaseFacts.from_json(case.lifecycle))

    async def list(
        self, principal: Principal, filters: CaseFilters, *, cursor: str | None, limit: int
    ) -> tuple[list[Case], str | None]:
        async with self.context.db.read() as session:
            statement = await self.list_statement(session, principal, filters, cursor=cursor)
            rows = list((await session.exec(statement.limit(limit + 1))).all())
        next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
        return rows[:limit], next_cursor

    async def list_statement(
        self, session: AsyncSession, principal: Principal, filters: CaseFilters, *, cursor: str | None = None
    ):
        """The ordered query behind a case list, without its limit (the benchmark times it too)."""
        statement = select(Case).where(self.scope_clause(principal))
        if filters.status:
            statement = statement.where(col(Case.status).in_(filters.status))
        if filters.kind:
            statement = statement.where(col(Case.kind).in_(filters.kind))
        if filters.category:
            statement = statement.where(col(Case.category_code).in_(filters.category))
        if filters.level:
            statement = statement.where(col(Case.level).in_(filters.level))
        if filters.assigned_to_me:
            statement = statement.where(Case.assigned_to == principal.user_id)
        if filters.created_by_me:
            statement = statement.where(Case.created_by == principal.user_id)
        if filters.q:
            pattern = f"%{filters.q.replace('%', '').replace('_', '')}%"
            statement = statement.where(
                or_(col(Case.title).like(pattern), col(Case.request).like(pattern), col(Case.number).like(pattern))
            )
        if filters.region:
            region = await session.get(Region, filters.region)
            if region is None or not principal.covers(region.path):
                raise ServiceError("区划不在您的管辖范围内", code="auth.out_of_scope")
            path_column = col(Case.region_path)
            if session.bind.dialect.name == "sqlite" and region.level not in NARROW_LEVELS:
                # SQLite would take the path index for a township-wide range and then sort
                # thousands of rows; `|| ''` hides the index so it walks the
                # (status, registered_at) index in order instead: 45 ms → 0.4 ms on 100,000
                # cases (bench/api_bench.py). A village range stays indexed.
                path_column = path_column.op("||")("")
            statement = statement.where(in_subtree(path_column, region.path))
        if cursor:
            at, last_id = decode_cursor(cursor)
            # A row-value comparison lets the index start at the cursor; the equivalent OR
            # form makes SQLite walk from the first row.
            statement = statement.where(
                tuple_(col(Case.registered_at), col(Case.id))
                < tuple_(literal(at, UTCDateTime()), literal(last_id, Case.__table__.c.id.type))
            )
        return statement.order_by(col(Case.registered_at).desc(), col(Case.id).desc())

    async def timeline(self, principal: Principal, case_id: uuid.UUID) -> list[CaseEvent]:
        async with self.context.db.read() as session:
            await self._readable(session, principal, case_id)
            result = await session.exec(
                select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.seq))
            )
            return list(result.all())

    # ------------------------------------------------------------ changes

    async def _load_for_change(self, session: AsyncSession, principal: Principal, case_id: uuid.UUID) -> Case:
        # One statement reads what every change needs besides the row: whether the caller
        # withdrew from the case, its last timeline seq and its fired triggers (a device's
        # outbox applies dozens of changes in one transaction: statements are its cost).
        recused = (
            select(CaseRecusal.id)
            .where(
                col(CaseRecusal.case_id) == col(Case.id),
                col(CaseRecusal.user_id) == principal.user_id,
                col(CaseRecusal.lifted_at).is_(None),
            )
            .correlate(Case)
            .limit(1)
            .scalar_subquery()
        )
        last_seq = (
            select(func.max(CaseEvent.seq))
            .where(col(CaseEvent.case_id) == col(Case.id))
            .correlate(Case)
            .scalar_subquery()
        )
        # FOR UPDATE serialises concurrent changes of one case on PostgreSQL; SQLite's
        # BEGIN IMMEDIATE already has.
        result = await session.exec(
            select(Case, recused, last_seq, fired_keys_subquery()).where(Case.id == case_id).with_for_update(of=Case)
        )
        row = result.first()
        if row is None or not self._can_read(principal, row[0]):
            raise out_of_scope()
        case, recusal_id, last, fired = row
        if recusal_id is not None:
            # Art. 28: whoever withdrew from the case changes nothing on it, by any path.
            await ensure_not_recused(session, case.id, principal)
        session.info.setdefault(LAST_SEQ_READ_WITH_CASE, {})[case.id] = last or 0
        remember_fired(session, case.id, fired)
        return case

    async def update(self, principal: Principal, case_id: uuid.UUID, data: CaseUpdate) -> CaseBundle:
        async with self.context.db.write() as session:
            return await self.update_in(session, principal, case_id, data)

    async def update_in(
        self, session: AsyncSession, principal: Principal, case_id: uuid.UUID, data: CaseUpdate
    ) -> CaseBundle:
        case = await self._load_for_change(session, principal, case_id)
        self._check_may_edit(principal, case)
        if case.status == Status.CLOSED.value:
            raise ServiceError("案件已办结，不能修改", code="case.closed")
        if data.version != case.version:
            raise ServiceError(
                "案件已被他人修改，请刷新后重试",
                code="case.version_conflict",
                data={"current_version": case.version},
            )
        edited = await self._edited_fields(session, case, data)
        await self._write_edit(session, principal, case, edited, author=f"user:{principal.user_id}")
        return await self._bundle(session, case)

    async def merge_edit_in(
        self,
        session: AsyncSession,
        principal: Principal,
        case_id: uuid.UUID,
        base_version: int,
        data: CaseUpdate,
        *,
        author: str,
    ) -> MergedEdit:
        """Apply an edit made offline on ``base_version``, field by field.

        A field someone else changed after ``base_version`` to a value other than this
        edit's is held back for a reviewer instead of being overwritten; every other field
        applies. An edit on the current version applies whole. ``author`` names the edit's
        source (a device): its own earlier edits of a field are superseded, not collided with.
        """
        case = await self._load_for_change(session, principal, case_id)
        self._check_may_edit(principal, case)
        if case.status == Status.CLOSED.value:
            raise ServiceError("案件已办结，不能修改", code="case.closed")
        edited = await self._edited_fields(session, case, data)
        held: dict[str, EditedField] = {}
        stale = base_version < case.version
        if stale:
            last_changes = case.field_versions
            for name, field in edited.items():
                # Without a record of when fields changed, assume the worst.
                version, by = (last_changes or {}).get(name, (0, None))
                if last_changes is None or (version > base_version and by != author):
                    held[name] = field
        applied = {name: field for name, field in edited.items() if name not in held}
        await self._write_edit(session, principal, case, applied, held=held, author=author)
        return MergedEdit(await self._bundle(session, case), sorted(applied), held, stale)

    async def _edited_fields(self, session: AsyncSession, case: Case, data: CaseUpdate) -> dict[str, EditedField]:
        """The fields of ``data`` whose value differs from the case's, by API field name."""
        wanted: dict[str, dict[str, Any]] = {}
        for name in ("title", "request", "facts", "reasons", "people_involved"):
            value = getattr(data, name)
            if value is not None:
                wanted[name] = {name: value}
        if data.risk is not None:
            wanted["risk"] = {"risk": data.risk.value}
        if data.category is not None and data.category != case.category_code:
            wanted["category"] = {
                "category_code": data.category,
                "category_version": await self._current_category_version(session, data.category),
            }
        if data.location is not None:
            wanted["location"] = {"latitude": data.location.latitude, "longitude": data.location.longitude}
        if data.flags is not None:
            for flag, value in data.flags.model_dump().items():
                wanted[flag] = {flag: value}
        edited = {}
        for name, columns in wanted.items():
            if any(getattr(case, column) != value for column, value in columns.items()):
                edited[name] = EditedField(columns, {column: getattr(case, column) for column in columns})
        return edited

    async def _write_edit(
        self,
        session: AsyncSession,
        principal: Principal,
        case: Case,
        applied: dict[str, EditedField],
        *,
        author: str,
        held: dict[str, EditedField] | None = None,
    ) -> None:
        if not applied and not held:
            return
        now = self.context.clock.now()
        case.version += 1
        field_versions = dict(case.field_versions or {})
        for name, field in applied.items():
            for column, value in field.new.items():
                setattr(case, column, value)
            field_versions[name] = [case.version, author]
        # A new dict: SQLAlchemy does not see changes made inside a JSON value.
        case.field_versions = field_versions
        case.updated_at = now
        session.add(case)
        data: dict[str, Any] = {"fields": sorted(applied)}
        if held:
            data["held"] = sorted(held)
        entry = TimelineEntry(
            kind="edit" if applied else "edit_held",
            at=now,
            actor_id=str(principal.user_id),
            actor_name=principal.display_name,
            reason="与他人的修改冲突，部分字段待审核" if held else None,
            from_status=None,
            to_status=None,
            data=data,
        )
        await self._append_entries(session, case, (entry,))

    async def attach_in(
        self, session: AsyncSession, principal: Principal, case_id: uuid.UUID, data: AttachmentCreate
    ) -> CaseBundle:
        """File an attachment's record with a case; whoever may visit the case may add one."""
        case = await self._load_for_change(session, principal, case_id)
        self._check_may_act(principal, case, Action.RECORD_VISIT)
        if case.status == Status.CLOSED.value:
            raise ServiceError("案件已办结，不能再添加附件", code="case.closed")
        if await session.get(CaseAttachment, data.id) is not None:
            raise ServiceError("附件 ID 已被使用", code="attachment.duplicate_id")
        now = self.context.clock.now()
        session.add(
            CaseAttachment(
                id=data.id,
                case_id=case.id,
                sha256=data.sha256,
                size=data.size,
                media_type=data.type,
                name=data.name,
                note=data.note,
                added_by=principal.user_id,
                added_at=now,
            )
        )
        case.version += 1
        case.updated_at = now
        entry = TimelineEntry(
            kind="attachment",
            at=now,
            actor_id=str(principal.user_id),
            actor_name=principal.display_name,
            reason=data.note,
            from_status=None,
            to_status=None,
            data={"attachment": str(data.id), "sha256": data.sha256, "type": data.type, "name": data.name},
        )
        await self._append_entries(session, case, (entry,))
        return await self._bundle(session, case)

    async def transition(self, principal: Principal, case_id: uuid.UUID, request: TransitionRequest) -> CaseBundle:
        async with self.context.db.write() as session:
            return await self.transition_in(session, principal, case_id, request)

    async def transition_in(
        self, session: AsyncSession, principal: Principal, case_id: uuid.UUID, request: TransitionRequest
    ) -> CaseBundle:
        return await self._bundle(session, await self.apply_transition_in(session, principal, case_id, request))

    async def apply_transition_in(
        self, session: AsyncSession, principal: Principal, case_id: uuid.UUID, request: TransitionRequest
    ) -> Case:
        """The transition without reading the case back (a device needs only the version)."""
        now = self.context.clock.now()
        case = await self._load_for_change(session, principal, case_id)
        if request.expected_version is not None and request.expected_version != case.version:
            raise ServiceError(
                "案件已被他人修改，请刷新后重试",
                code="case.version_conflict",
                data={"current_version": case.version},
            )
        self._check_may_act(principal, case, request.action)
        if request.action is Action.EXTEND:
            # Art. 34: only the organ's head extends; the request flow records who asked,
            # why (told to the petitioner) and who approved (server/services/extensions.py).
            raise ServiceError(
                "延长办理期限须提出延期申请，经本机关负责人批准（《信访工作条例》第三十四条）",
                code="case.extension_needs_approval",
                data={"request_path": f"/api/v1/cases/{case.id}/extension-requests"},
            )
        facts = CaseFacts.from_json(case.lifecycle)
        number = None
        if request.action is Action.ACCEPT and facts.number is None and facts.status in ACCEPTABLE:
            number = await self._next_number(session, case.village_code, now)
        decision: Decision = decide(
            facts,
            Command(
                request.action,
                request.reason,
                request.data,
                assigned_number=number,
                review_holder=await review_holder_for(session, self.context, case, facts, request.action),
            ),
            now=now,
            actor=principal.actor,
            calendar=self.context.calendar,
        )
        await self.record_decision(session, case, facts, decision, now=now)
        return case

    async def record_decision(
        self,
        session: AsyncSession,
        case: Case,
        before: CaseFacts,
        decision: Decision,
        *,
        now: datetime,
        first_seq: int | None = None,
        fired: Iterable[str] | None = None,
        node: Region | None = None,
    ) -> None:
        """Write a lifecycle decision on the locked ``case``: a person's command, or the
        escalation sweeper's, so an automatic escalation moves the case exactly as a manual one.
        The sweeper knows the next timeline seq, the fired trigger keys and the new level's
        node (it looks them up per batch, not per case)."""
        if decision.facts.level is not before.level:
            level = HANDLING_TO_REGION_LEVEL[decision.facts.level]
            node = node or await ancestor_at(session, case.region_path, level)
            case.handling_node_code = node.code
            case.handling_node_path = node.path
        self._apply_facts(case, decision.facts)
        case.version += 1
        case.updated_at = now
        session.add(case)
        await self._append_entries(session, case, decision.entries, first_seq=first_seq, fired=fired)

    async def _next_number(self, session: AsyncSession, village_code: str, now: datetime) -> str:
        """Draw the next serial of the village and year inside the caller's transaction.

        The counter row is updated in the same transaction as the acceptance, so a
        rollback returns the number and the sequence has no gaps.
        """
        year = local_date(now).year
        await session.exec(  # type: ignore[call-overload]
            upsert_statement(session.bind.dialect.name, CaseCounter.__table__, ["village_code", "year"], None).values(
                village_code=village_code, year=year, last_serial=0
            )
        )
        result = await session.exec(  # type: ignore[call-overload]
            update(CaseCounter)
            .where(col(CaseCounter.village_code) == village_code, col(CaseCounter.year) == year)
            .values(last_serial=CaseCounter.last_serial + 1)
            .returning(CaseCounter.last_serial)
        )
        serial = result.scalar_one()
        return official_number(village_code, year, serial)

    def _apply_facts(self, case: Case, facts: CaseFacts) -> None:
        case.lifecycle = facts.to_json()
        case.status = facts.status.value
        case.level = facts.level.value
        case.number = facts.number
        stamp_next_deadline(case, facts, self.context.calendar)

    async def _append_entries(
        self,
        session: AsyncSession,
        case: Case,
        entries,
        *,
        first_seq: int | None = None,
        fired: Iterable[str] | None = None,
    ) -> None:
        await append_timeline(session, case, entries, first_seq=first_seq)
        # Every change of a case comes through here: risk and failure triggers fall due at
        # a person's change, so the sweeper's index must learn of it now. A new case has
        # fired nothing yet.
        context = self.context
        if fired is None and first_seq == 1:
            fired = ()
        await stamp_next_check(session, case, context.calendar, policy_in_force(context.settings), fired=fired)

    # ------------------------------------------------------------ identity

    async def reveal(self, principal: Principal, case_id: uuid.UUID, request: RevealRequest) -> list[dict[str, Any]]:
        """Identity in clear, logged in the same transaction (who, when, which fields, why)."""
        now = self.context.clock.now()
        async with self.context.db.write() as session:
            case = await self._readable(session, principal, case_id)
            await ensure_not_recused(session, case.id, principal)
            if principal.role not in IDENTITY_READERS and case.created_by != principal.user_id:
                raise ServiceError("您的角色无权查看信访人身份信息", code="auth.forbidden")
            parties = (await self._bundle(session, case)).parties
            session.add(
                IdentityAccess(
                    case_id=case.id,
                    user_id=principal.user_id,
                    at=now,
                    fields=list(request.fields),
                    party_ids=[str(party.id) for party in parties],
                    reason=request.reason,
                )
            )
        cipher = self.cipher
        revealed = []
        for party in parties:
            values: dict[str, Any] = {"id": party.id}
            if "id_number" in request.fields and party.id_number_cipher:
                values["id_number"] = cipher.decrypt(party.id_number_cipher, context="party.id_number")
            if "phone" in request.fields and party.phone_cipher:
                values["phone"] = cipher.decrypt(party.phone_cipher, context="party.phone")
            if "address" in request.fields and party.address_cipher:
                values["address"] = cipher.decrypt(party.address_cipher, context="party.address")
            revealed.append(values)
        return revealed

    async def identity_accesses(self, principal: Principal, case_id: uuid.UUID) -> list[IdentityAccess]:
        if principal.role not in (Role.ADMIN, Role.COUNTY_OFFICER):
            raise ServiceError("只有县级干部和管理员可以查看身份信息访问记录", code="auth.forbidden")
        async with self.context.db.read() as session:
            await self._readable(session, principal, case_id)
            result = await session.exec(
                select(IdentityAccess).where(IdentityAccess.case_id == case_id).order_by(col(IdentityAccess.at))
            )
            return list(result.all())


# The last timeline seq read with a case loaded for change, for the one append of that
# change; a later append reads it again (the first one's entries are flushed by then).
LAST_SEQ_READ_WITH_CASE = "fengqiao.last_seq_read_with_case"


async def append_timeline(session: AsyncSession, case: Case, entries, *, first_seq: int | None = None) -> None:
    """Append timeline entries and put the case and them in this transaction's place
    of the change feed (every change of a case comes with an entry). The caller holds the
    case row (locked for change)."""
    case_id = case.id
    change_seq = await transaction_change_seq(session)
    case.change_seq = change_seq
    session.add(case)
    if first_seq is None:
        last = session.info.get(LAST_SEQ_READ_WITH_CASE, {}).pop(case_id, None)
        if last is None:
            last = (await session.exec(select(func.max(CaseEvent.seq)).where(CaseEvent.case_id == case_id))).one()
        first_seq = (last or 0) + 1
    for offset, entry in enumerate(entries):
        session.add(
            CaseEvent(
                id=uuid.uuid4(),
                case_id=case_id,
                seq=first_seq + offset,
                kind=str(entry.kind),
                at=entry.at,
                actor_id=uuid.UUID(entry.actor_id) if entry.actor_id else None,
                actor_name=entry.actor_name,
                reason=entry.reason,
                from_status=entry.from_status.value if entry.from_status else None,
                to_status=entry.to_status.value if entry.to_status else None,
                data=entry.data,
                change_seq=change_seq,
            )
        )
