"""Cases: intake, lists, details, edits, transitions, timeline and identity reveals."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter

from server.api.deps import context_of
from server.api.presenters import case_read, case_summary, timeline_entry
from server.principal import Principal
from server.schemas.cases import (
    CaseCreate,
    CasePage,
    CaseRead,
    CaseUpdate,
    IdentityAccessRead,
    RevealRequest,
    TimelineEntryRead,
    TransitionRequest,
)
from server.services.cases import CaseBundle, CaseFilters, CaseService


def _read(bundle: CaseBundle, principal: Principal, state: State) -> CaseRead:
    context = context_of(state)
    return case_read(bundle.case, bundle.parties, bundle.facts, principal, context.calendar, context.clock.now())


class CaseController(Controller):
    path = "/cases"
    tags = ["cases"]

    @post("/", summary="登记案件")
    async def create_case(
        self,
        data: JSONBody[CaseCreate],
        principal: NamedDependency[Principal],
        cases: NamedDependency[CaseService],
        state: State,
    ) -> CaseRead:
        return _read(await cases.create(principal, data), principal, state)

    @get("/", summary="案件列表（管辖范围内；按登记时间倒序，游标分页）")
    async def list_cases(
        self,
        principal: NamedDependency[Principal],
        cases: NamedDependency[CaseService],
        state: State,
        status: list[str] | None = Parameter(default=None),
        kind: list[str] | None = Parameter(default=None),
        category: list[str] | None = Parameter(default=None),
        level: list[str] | None = Parameter(default=None),
        region: str | None = Parameter(default=None, max_length=20),
        q: str | None = Parameter(default=None, max_length=100),
        mine: bool = Parameter(default=False, description="只看我登记的"),
        assigned: bool = Parameter(default=False, description="只看分派给我的"),
        cursor: str | None = Parameter(default=None, max_length=200),
        limit: int = Parameter(default=50, ge=1, le=500),
    ) -> CasePage:
        filters = CaseFilters(
            status=status,
            kind=kind,
            category=category,
            level=level,
            region=region,
            q=q,
            created_by_me=mine,
            assigned_to_me=assigned,
        )
        rows, next_cursor = await cases.list(principal, filters, cursor=cursor, limit=limit)
        context = context_of(state)
        now = context.clock.now()
        return CasePage(items=[case_summary(row, context.calendar, now) for row in rows], next_cursor=next_cursor)

    @get("/{case_id:uuid}", summary="案件详情（身份信息脱敏）")
    async def get_case(
        self,
        case_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        cases: NamedDependency[CaseService],
        state: State,
    ) -> CaseRead:
        return _read(await cases.get(principal, case_id), principal, state)

    @patch("/{case_id:uuid}", summary="修改案件信息（须带所依据的版本号）")
    async def update_case(
        self,
        case_id: FromPath[uuid.UUID],
        data: JSONBody[CaseUpdate],
        principal: NamedDependency[Principal],
        cases: NamedDependency[CaseService],
        state: State,
    ) -> CaseRead:
        return _read(await cases.update(principal, case_id, data), principal, state)

    @post("/{case_id:uuid}/transitions", status_code=200, summary="办理操作（状态流转或办理记录）")
    async def transition(
        self,
        case_id: FromPath[uuid.UUID],
        data: JSONBody[TransitionRequest],
        principal: NamedDependency[Principal],
        cases: NamedDependency[CaseService],
        state: State,
    ) -> CaseRead:
        return _read(await cases.transition(principal, case_id, data), principal, state)

    @get("/{case_id:uuid}/timeline", summary="案件时间线")
    async def timeline(
        self, case_id: FromPath[uuid.UUID], principal: NamedDependency[Principal], cases: NamedDependency[CaseService]
    ) -> list[TimelineEntryRead]:
        return [timeline_entry(event) for event in await cases.timeline(principal, case_id)]

    @post("/{case_id:uuid}/identity", status_code=200, summary="查看当事人身份信息（须说明理由，记入日志）")
    async def reveal_identity(
        self,
        case_id: FromPath[uuid.UUID],
        data: JSONBody[RevealRequest],
        principal: NamedDependency[Principal],
        cases: NamedDependency[CaseService],
    ) -> list[dict[str, Any]]:
        return await cases.reveal(principal, case_id, data)

    @get("/{case_id:uuid}/identity-accesses", summary="身份信息访问记录")
    async def identity_accesses(
        self, case_id: FromPath[uuid.UUID], principal: NamedDependency[Principal], cases: NamedDependency[CaseService]
    ) -> list[IdentityAccessRead]:
        rows = await cases.identity_accesses(principal, case_id)
        return [
            IdentityAccessRead(
                id=row.id, user_id=row.user_id, at=row.at, fields=row.fields, party_ids=row.party_ids, reason=row.reason
            )
            for row in rows
        ]
