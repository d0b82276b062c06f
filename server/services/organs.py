"""Organs and their heads (本行政机关负责人): who they are, and the case's handling organ.

The rules are in ``grid.organs``; this module loads and writes designations. Other
services ask :func:`is_head`, :func:`current_heads` and :func:`organ_of` inside their own
transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid.cases import Case, HandlingLevel
from grid.errors import InvalidInput, Issue
from grid.hierarchy import Region, covers
from grid.organs import HeadCandidate, OrganHead, check_head_candidate, is_current_head, organ_level_for
from grid.people import Role, User
from server.errors import ServiceError
from server.principal import Principal
from server.services.context import ServiceContext
from server.services.regions import ancestor_at


@dataclass(frozen=True)
class HeadView:
    designation: OrganHead
    user: User


async def organ_of(session: AsyncSession, case: Case) -> Region:
    """The organ that handles ``case`` now: the node holding it, or for a case still at
    the village, its township (a village committee is not an administrative organ)."""
    level = organ_level_for(HandlingLevel(case.level))
    if case.level == level.value:
        node = await session.get(Region, case.handling_node_code)
        if node is not None:
            return node
    return await ancestor_at(session, case.region_path, level)


async def _designations(session: AsyncSession, node_code: str) -> list[tuple[OrganHead, User]]:
    statement = (
        select(OrganHead, User)
        .join(User, col(User.id) == col(OrganHead.user_id))
        .where(OrganHead.node_code == node_code, col(OrganHead.revoked_at).is_(None))
        .order_by(col(OrganHead.designated_at), col(OrganHead.id))
    )
    return list((await session.exec(statement)).all())


async def current_heads(session: AsyncSession, node_code: str) -> list[HeadView]:
    """The heads of an organ now (active users still bound to it)."""
    return [
        HeadView(designation, user)
        for designation, user in await _designations(session, node_code)
        if is_current_head(designation, user_node_code=user.node_code, user_active=user.active)
    ]


async def is_head(session: AsyncSession, user_id: uuid.UUID, node_code: str) -> bool:
    return any(view.user.id == user_id for view in await current_heads(session, node_code))


class OrganService:
    def __init__(self, context: ServiceContext):
        self.context = context

    async def _organ(self, session: AsyncSession, code: str) -> Region:
        region = await session.get(Region, code)
        if region is None:
            raise ServiceError("区划不存在或不在您的管辖范围内", code="auth.out_of_scope")
        return region

    async def heads(self, principal: Principal, code: str) -> list[HeadView]:
        """Anyone may see the heads of the organs over them and below them."""
        async with self.context.db.read() as session:
            region = await self._organ(session, code)
            if not (principal.covers(region.path) or covers(region.path, principal.node_path)):
                raise ServiceError("区划不存在或不在您的管辖范围内", code="auth.out_of_scope")
            return await current_heads(session, code)

    async def designate(self, by: Principal | None, code: str, user_id: uuid.UUID) -> HeadView:
        """Make ``user_id`` a head of the organ at ``code``; ``by`` is None for the demo seed."""
        if by is not None and not by.is_admin:
            raise ServiceError("只有管理员可以指定机关负责人", code="auth.forbidden")
        now = self.context.clock.now()
        async with self.context.db.write() as session:
            region = await self._organ(session, code)
            if by is not None and not by.covers(region.path):
                raise ServiceError("区划不存在或不在您的管辖范围内", code="auth.out_of_scope")
            user = await session.get(User, user_id)
            if user is None or (by is not None and not by.covers(user.node_path)):
                raise InvalidInput([Issue("user_id", "user.unknown", "用户不存在或不在您的管辖范围内")])
            check_head_candidate(HeadCandidate(Role(user.role), user.node_code, user.active), region.code, region.level)
            if any(view.user.id == user.id for view in await current_heads(session, code)):
                raise ServiceError("该用户已是本机关负责人", code="organ.already_head")
            designation = OrganHead(
                node_code=region.code,
                user_id=user.id,
                designated_at=now,
                designated_by=by.user_id if by else None,
            )
            session.add(designation)
            await session.flush()
            await session.refresh(designation)
            return HeadView(designation, user)

    async def revoke(self, by: Principal, code: str, user_id: uuid.UUID) -> None:
        if not by.is_admin:
            raise ServiceError("只有管理员可以撤销机关负责人", code="auth.forbidden")
        now = self.context.clock.now()
        async with self.context.db.write() as session:
            region = await self._organ(session, code)
            if not by.covers(region.path):
                raise ServiceError("区划不存在或不在您的管辖范围内", code="auth.out_of_scope")
            found = [row for row, _ in await _designations(session, code) if row.user_id == user_id]
            if not found:
                raise ServiceError("该用户不是本机关负责人", code="organ.head_not_found")
            for row in found:
                row.revoked_at = now
                row.revoked_by = by.user_id
                session.add(row)
