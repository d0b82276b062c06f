"""复查/复核 routing for the case service: the facts a pure rule needs, read in the
caller's transaction (grid/review_chain.py decides)."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid.cases import Case, CaseEvent, HandlingLevel
from grid.hierarchy import Level, Region, codes_on_path
from grid.lifecycle import Action, CaseFacts, ReviewHolder, Status
from grid.people import User
from grid.policy import Policy
from grid.review_chain import Place, contested_level_of_reply, route
from server.services.context import ServiceContext
from server.services.escalation import policy_in_force

# The level of the organ a user acts for, by the level of their node.
_ORGAN_OF_NODE = {
    Level.GRID.value: HandlingLevel.VILLAGE,
    Level.VILLAGE.value: HandlingLevel.VILLAGE,
    Level.TOWNSHIP.value: HandlingLevel.TOWNSHIP,
    Level.COUNTY.value: HandlingLevel.COUNTY,
    Level.CITY.value: HandlingLevel.COUNTY,
    Level.PROVINCE.value: HandlingLevel.COUNTY,
}
_PLACE_LEVELS = (Level.TOWNSHIP.value, Level.COUNTY.value, Level.CITY.value, Level.PROVINCE.value)


def county_code_of(case: Case) -> str:
    """The 6-digit county code of a case's place (GB/T 2260: the first six digits)."""
    return case.village_code[:6]


def policy_for(context: ServiceContext, case: Case) -> Policy | None:
    """The county policy in force, when it is this case's county's; otherwise the law's defaults apply."""
    policy = policy_in_force(context.settings)
    return policy if policy.county == county_code_of(case) else None


async def places_of(session: AsyncSession, path: str) -> dict[str, Place]:
    """The township, county, city and province on a region path, by level."""
    rows = await session.exec(
        select(Region.code, Region.name, Region.level).where(
            col(Region.code).in_(codes_on_path(path)), col(Region.level).in_(_PLACE_LEVELS)
        )
    )
    return {level: Place(code, name) for code, name, level in rows.all()}


async def _replier_level(session: AsyncSession, case: Case) -> HandlingLevel | None:
    """The organ level of whoever recorded the case's last written reply."""
    statement = (
        select(Region.level)
        .join(User, col(User.node_code) == col(Region.code))
        .join(CaseEvent, col(CaseEvent.actor_id) == col(User.id))
        .where(col(CaseEvent.case_id) == case.id, col(CaseEvent.kind) == Action.REPLY.value)
        .order_by(col(CaseEvent.seq).desc())
        .limit(1)
    )
    level = (await session.exec(statement)).first()
    return _ORGAN_OF_NODE.get(level) if level else None


async def review_holder_for(
    session: AsyncSession, context: ServiceContext, case: Case, facts: CaseFacts, action: Action
) -> ReviewHolder | None:
    """The organ a 复查 or 复核 request goes to; None for every other command, or when the
    status does not allow the request (the lifecycle then refuses it with its own code)."""
    if action is Action.REQUEST_REVIEW and facts.status is Status.REPLIED:
        stage = "review"
        contested = contested_level_of_reply(facts.level, await _replier_level(session, case))
    elif action is Action.REQUEST_REREVIEW and facts.status is Status.REVIEWED:
        stage = "rereview"
        # The reviewer is the organ that held the review; facts from before holders were
        # kept only know the level that held it.
        contested = facts.review_holder.organ_level if facts.review_holder else facts.level.value
    else:
        return None
    policy = policy_for(context, case)
    places = await places_of(session, case.region_path)
    return route(stage, contested, places, policy.dissatisfaction if policy else None)
