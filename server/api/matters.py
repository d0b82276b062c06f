"""A case's matter: where its 复查/复核 went, its duplicates, and repeat/越级 counts."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from litestar import Controller, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, Parameter

from grid import deadlines
from grid.calendar import StatutoryCalendar
from grid.lifecycle import CLOCK_NAMES_ZH, CaseFacts, ClockKind, ReviewHolder, Status
from grid.repeats import final_on
from server.api.deps import context_of
from server.api.presenters import case_summary
from server.principal import Principal
from server.schemas.matters import (
    DuplicateLinkRead,
    DuplicateRead,
    MatterDuplicatesRead,
    PetitionerWindowRead,
    RepeatCountsRead,
    ReviewChainRead,
    ReviewHolderRead,
    SkipLevelRead,
)
from server.services.matters import MatterService


def provide_matters(state: State) -> MatterService:
    return MatterService(context_of(state))


def _holder(holder: ReviewHolder | None) -> ReviewHolderRead | None:
    if holder is None:
        return None
    return ReviewHolderRead(
        stage=holder.stage,
        organ=holder.organ,
        organ_level=holder.organ_level,
        level=holder.level.value,
        node_code=holder.node_code,
        node_name=holder.node_name,
        contested_level=holder.contested_level,
        rule=holder.rule,
        summary_zh=holder.summary_zh,
    )


def _window(facts: CaseFacts, calendar: StatutoryCalendar, now: datetime) -> PetitionerWindowRead | None:
    if facts.status is Status.REPLIED and facts.reply_delivered_at is not None:
        kind, delivered = ClockKind.REVIEW_REQUEST, facts.reply_delivered_at
        due = deadlines.review_request_window(calendar, delivered)
    elif facts.status is Status.REVIEWED and facts.review_delivered_at is not None:
        kind, delivered = ClockKind.REREVIEW_REQUEST, facts.review_delivered_at
        due = deadlines.rereview_request_window(calendar, delivered)
    else:
        return None
    return PetitionerWindowRead(
        kind=kind.value,
        name=CLOCK_NAMES_ZH[kind],
        delivered_at=delivered,
        last_day=due.last_day,
        ends_at=due.ends_at,
        open=not due.is_overdue(now),
        provisional=due.provisional,
    )


class MatterController(Controller):
    path = "/cases"
    tags = ["cases"]
    dependencies = {"matters": Provide(provide_matters, sync_to_thread=False)}

    @get("/{case_id:uuid}/review-chain", summary="复查复核去向、复核终结、重复信访与越级标记")
    async def review_chain(
        self,
        case_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        matters: NamedDependency[MatterService],
        state: State,
    ) -> ReviewChainRead:
        chain = await matters.review_chain(principal, case_id)
        context = context_of(state)
        case, facts = chain.case, chain.facts
        duplicate, skip = chain.duplicate, chain.skip_level
        return ReviewChainRead(
            case_id=case.id,
            status=case.status,
            level=case.level,
            handling_node_code=case.handling_node_code,
            review=_holder(facts.review_holder),
            rereview=_holder(facts.rereview_holder),
            window=_window(facts, context.calendar, context.clock.now()),
            final=final_on(facts) is not None,
            final_on=final_on(facts),
            duplicate_of=None
            if duplicate is None
            else DuplicateLinkRead(
                original_id=duplicate.original_id,
                matched_id=duplicate.matched_id,
                basis=duplicate.basis,
                similarity=duplicate.similarity,
                original_status=duplicate.original_status,
                original_open=duplicate.original_open,
                detected_at=duplicate.detected_at,
            ),
            skip_level=None
            if skip is None
            else SkipLevelRead(
                registered_level=skip.registered_level,
                expected_level=skip.expected_level,
                rule=skip.rule,
                channel=skip.channel,
                detected_at=skip.detected_at,
            ),
        )

    @get("/{case_id:uuid}/duplicates", summary="同一事项的原案与重复信访（管辖范围内）")
    async def duplicates(
        self,
        case_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        matters: NamedDependency[MatterService],
        state: State,
    ) -> MatterDuplicatesRead:
        group = await matters.duplicates(principal, case_id)
        context = context_of(state)
        now = context.clock.now()
        return MatterDuplicatesRead(
            case_id=group.case_id,
            original=case_summary(group.original, context.calendar, now) if group.original else None,
            duplicates=[
                DuplicateRead(
                    case=case_summary(row, context.calendar, now),
                    matched_id=link.matched_id,
                    basis=link.basis,
                    similarity=link.similarity,
                    original_open=link.original_open,
                    detected_at=link.detected_at,
                )
                for row, link in group.duplicates
            ],
            hidden=group.hidden,
        )


class RepeatStatsController(Controller):
    path = "/stats"
    tags = ["statistics"]
    dependencies = {"matters": Provide(provide_matters, sync_to_thread=False)}

    @get("/repeats", summary="重复访率与越级访统计（按登记日期，含首尾两日）")
    async def repeats(
        self,
        principal: NamedDependency[Principal],
        matters: NamedDependency[MatterService],
        since: date = Parameter(description="开始日期（含）"),
        until: date = Parameter(description="结束日期（含）"),
        region: str | None = Parameter(default=None, max_length=20, description="区划代码，默认为本人所在区划"),
    ) -> RepeatCountsRead:
        return RepeatCountsRead(**await matters.counts(principal, region, since, until))
