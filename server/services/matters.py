"""Reads about a case's matter: its duplicates, its review chain, and the counts of repeat
and 越级 petitions that statistics report (重复访率, 越级访)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid.calendar import CHINA_TZ
from grid.cases import Case, Channel
from grid.errors import InvalidInput, Issue
from grid.hierarchy import Region
from grid.lifecycle import CaseFacts
from grid.repeats import CaseDuplicate, CaseSkipLevel
from server.errors import ServiceError
from server.principal import Principal
from server.services.cases import CaseService
from server.services.context import ServiceContext
from server.services.regions import in_subtree


@dataclass(frozen=True)
class MatterGroup:
    """A matter's first case and the duplicates linked to it, as far as the caller may see."""

    case_id: uuid.UUID
    original: Case | None
    duplicates: list[tuple[Case, CaseDuplicate]]
    hidden: int  # cases of the matter outside the caller's jurisdiction


@dataclass(frozen=True)
class ReviewChain:
    case: Case
    facts: CaseFacts
    duplicate: CaseDuplicate | None
    skip_level: CaseSkipLevel | None


class MatterService:
    def __init__(self, context: ServiceContext):
        self.context = context
        self.cases = CaseService(context)

    async def _readable(self, session: AsyncSession, principal: Principal, case_id: uuid.UUID) -> Case:
        return await self.cases._readable(session, principal, case_id)

    async def duplicates(self, principal: Principal, case_id: uuid.UUID) -> MatterGroup:
        """The case's matter: its first case and every duplicate linked to it."""
        async with self.context.db.read() as session:
            case = await self._readable(session, principal, case_id)
            link = await session.get(CaseDuplicate, case.id)
            root_id = link.original_id if link else case.id
            root = case if link is None else await session.get(Case, root_id)
            rows = (
                await session.exec(
                    select(Case, CaseDuplicate)
                    .join(CaseDuplicate, col(CaseDuplicate.case_id) == col(Case.id))
                    .where(col(CaseDuplicate.original_id) == root_id)
                    .order_by(col(Case.registered_at), col(Case.id))
                )
            ).all()
        readable = self.cases._can_read
        visible = [(row, link) for row, link in rows if readable(principal, row)]
        root_visible = root is not None and readable(principal, root)
        hidden = len(rows) - len(visible) + (0 if root_visible else 1)
        return MatterGroup(case.id, root if root_visible else None, visible, hidden)

    async def review_chain(self, principal: Principal, case_id: uuid.UUID) -> ReviewChain:
        async with self.context.db.read() as session:
            case = await self._readable(session, principal, case_id)
            return ReviewChain(
                case,
                CaseFacts.from_json(case.lifecycle),
                await session.get(CaseDuplicate, case.id),
                await session.get(CaseSkipLevel, case.id),
            )

    async def counts(self, principal: Principal, region: str | None, since: date, until: date) -> dict[str, Any]:
        """Cases registered in a region over ``since..until`` (China dates, inclusive), and
        how many of them were repeats of an earlier matter or 越级."""
        if until < since:
            raise InvalidInput([Issue("until", "range.order", "结束日期不能早于开始日期")])
        start = datetime.combine(since, time(0), tzinfo=CHINA_TZ)
        end = datetime.combine(until + timedelta(days=1), time(0), tzinfo=CHINA_TZ)
        async with self.context.db.read() as session:
            place = await session.get(Region, region or principal.node_code)
            if place is None or not principal.covers(place.path):
                raise ServiceError("区划不在您的管辖范围内", code="auth.out_of_scope")
            in_period = and_(
                in_subtree(col(Case.region_path), place.path),
                col(Case.registered_at) >= start,
                col(Case.registered_at) < end,
            )
            registered = (await session.exec(select(func.count()).select_from(Case).where(in_period))).one()
            duplicates, of_open = (
                await session.exec(
                    select(func.count(), func.count().filter(col(CaseDuplicate.original_open)))
                    .select_from(CaseDuplicate)
                    .join(Case, col(Case.id) == col(CaseDuplicate.case_id))
                    .where(in_period)
                )
            ).one()
            skips = (
                await session.exec(
                    select(col(CaseSkipLevel.channel), func.count())
                    .select_from(CaseSkipLevel)
                    .join(Case, col(Case.id) == col(CaseSkipLevel.case_id))
                    .where(in_period)
                    .group_by(col(CaseSkipLevel.channel))
                )
            ).all()
        by_channel = dict(skips)
        return {
            "region": place.code,
            "since": since,
            "until": until,
            "registered": registered,
            "duplicates": duplicates,
            "duplicates_of_open": of_open,
            "repeat_rate": round(duplicates / registered, 4) if registered else None,
            "skip_level": sum(by_channel.values()),
            "skip_level_visits": by_channel.get(Channel.VISIT.value, 0),
        }
