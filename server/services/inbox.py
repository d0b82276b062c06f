"""Each person's inbox: what waits on them now, computed at the injected clock's ``now``.

Sections (docs/api.md, "Inbox"):

- ``overdue`` / ``due_soon``: open cases the caller answers for (:func:`answers_for`)
  whose light is red / yellow. The light is ``grid.escalation.case_lights`` under the
  policy in force: every statutory duty clock running in the case's status and the
  level's local stage target, each lit on its own, the case taking the most severe (the
  same lights the sweeper records).
- ``escalated_to_me``: cases escalated to the caller's own node and not yet accepted.
- ``extension_approvals``: for a head of an organ, pending extension requests of that
  organ made by someone else, on cases the head has not withdrawn from.
- ``supervision_replies``: 督办 items without a written reply that the caller's organ owes
  (the supervised organ, or the organ now holding the case; ``grid.supervision``).
- ``unread_notifications``: the caller's notifications not yet marked read.

Each section has its full count and at most ``limit`` items, the most urgent first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, exists, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid.cases import Case, HandlingLevel
from grid.deadlines import Light
from grid.escalation import STAGE_STATUSES, ClockLight, case_lights
from grid.extensions import ExtensionRequest, ExtensionStatus
from grid.hierarchy import Level, Region
from grid.lifecycle import CaseFacts, Status, next_duty_clock
from grid.recusals import CaseRecusal
from grid.supervision import REPLIERS, Supervision, supervision_status
from server.outbox import Notification
from server.principal import Principal
from server.services.context import ServiceContext
from server.services.escalation import policy_in_force, view_of
from server.services.extensions import ExtensionView, extension_view
from server.services.organs import is_head
from server.services.regions import in_subtree

# Statuses in which some clock can run (a stage target, or a statutory duty): the only
# ones that can light yellow or red. Petitioner windows never light a case.
LIT_STATUSES = STAGE_STATUSES | {Status.REVIEW_REQUESTED, Status.REREVIEW_REQUESTED}
MAX_LIMIT = 100
# What grid.escalation.case_view reads of a case, and what an inbox line shows.
LIT_COLUMNS = tuple(
    getattr(Case, name)
    for name in (
        "id",
        "number",
        "title",
        "status",
        "level",
        "handling_node_code",
        "category_code",
        "risk",
        "is_collective",
        "violence_risk",
        "cadres_involved",
        "multi_village",
        "assigned_to",
        "updated_at",
        "lifecycle",
    )
)


@dataclass(frozen=True)
class CaseLine:
    case: Any  # a Case, or a row of LIT_COLUMNS (the same attribute names)
    light: Light
    clock: ClockLight | None
    assigned_to_me: bool


@dataclass(frozen=True)
class ExtensionLine:
    view: ExtensionView
    case: Case
    current: CaseFacts


T = TypeVar("T")


@dataclass(frozen=True)
class Section(Generic[T]):
    count: int
    items: list[T]


@dataclass(frozen=True)
class Inbox:
    generated_at: datetime
    limit: int
    overdue: Section[CaseLine]
    due_soon: Section[CaseLine]
    escalated_to_me: Section[CaseLine]
    is_head: bool
    extension_approvals: Section[ExtensionLine]
    supervision_replies: Section[tuple[Supervision, Case]]
    unread_notifications: Section[Notification]


def answers_for(principal: Principal, node_level: str):
    """The cases whose deadlines are the caller's to keep (``node_level``: of their node).

    Responsibility follows the organ, not the whole jurisdiction: a township answers for
    what it holds and for the cases of its villages (a village committee is not an
    administrative organ: the township is their organ, ``grid.organs``); a village, a
    county (or an administrator's node) for what it holds itself; a grid worker for the
    village-held cases of their grid. What a lower level holds reaches a county when it is
    escalated (a stage overrun goes up by itself) or supervised (督办), not as a county-wide
    list of every late case — which would also cost a light computation per open case of
    the county on every request (bench/inbox_bench.py). Plus: cases assigned to the caller.
    """
    if node_level == Level.TOWNSHIP.value:
        held = in_subtree(col(Case.handling_node_path), principal.node_path)
    elif node_level == Level.GRID.value:
        held = and_(
            in_subtree(col(Case.region_path), principal.node_path), col(Case.level) == HandlingLevel.VILLAGE.value
        )
    else:
        held = col(Case.handling_node_code) == principal.node_code
    return or_(held, col(Case.assigned_to) == principal.user_id)


class InboxService:
    def __init__(self, context: ServiceContext):
        self.context = context

    def _line(self, case: Any, principal: Principal, now: datetime) -> CaseLine:
        calendar = self.context.calendar
        lights = case_lights(view_of(case, calendar, ()), now, policy_in_force(self.context.settings), calendar)
        deciding = [item for item in lights.clocks if item.light is lights.overall]
        clock = min(deciding, key=lambda item: item.due.ends_at, default=None)
        return CaseLine(case, lights.overall, clock, case.assigned_to == principal.user_id)

    async def inbox(self, principal: Principal, *, limit: int) -> Inbox:
        limit = max(1, min(limit, MAX_LIMIT))
        now = self.context.clock.now()
        async with self.context.db.read() as session:
            overdue, due_soon = await self._lit(session, principal, now, limit)
            escalated = await self._escalated(session, principal, now, limit)
            head = await is_head(session, principal.user_id, principal.node_code)
            extensions = await self._extensions(session, principal, limit) if head else Section(0, [])
            supervision = await self._supervision(session, principal, limit)
            notifications = await self._notifications(session, principal, limit)
        return Inbox(now, limit, overdue, due_soon, escalated, head, extensions, supervision, notifications)

    async def _lit(
        self, session: AsyncSession, principal: Principal, now: datetime, limit: int
    ) -> tuple[Section[CaseLine], Section[CaseLine]]:
        # Only the columns the lights and the list need: no ORM entities to build for the
        # hundreds of open cases a township answers for (bench/inbox_bench.py).
        node = await session.get(Region, principal.node_code)
        statement = select(*LIT_COLUMNS).where(
            answers_for(principal, node.level if node else ""),
            col(Case.status).in_([status.value for status in LIT_STATUSES]),
        )
        red: list[CaseLine] = []
        yellow: list[CaseLine] = []
        for case in (await session.exec(statement)).all():
            line = self._line(case, principal, now)
            if line.light is Light.RED:
                red.append(line)
            elif line.light is Light.YELLOW:
                yellow.append(line)

        def urgent_first(line: CaseLine):
            assert line.clock is not None
            return (line.clock.due.ends_at, str(line.case.id))

        red.sort(key=urgent_first)
        yellow.sort(key=urgent_first)
        return Section(len(red), red[:limit]), Section(len(yellow), yellow[:limit])

    async def _escalated(
        self, session: AsyncSession, principal: Principal, now: datetime, limit: int
    ) -> Section[CaseLine]:
        where = (Case.status == Status.ESCALATED.value, Case.handling_node_code == principal.node_code)
        count = (await session.exec(select(func.count()).select_from(Case).where(*where))).one()
        rows = await session.exec(
            select(Case).where(*where).order_by(col(Case.updated_at).desc(), col(Case.id)).limit(limit)
        )
        return Section(int(count), [self._line(case, principal, now) for case in rows.all()])

    async def _extensions(self, session: AsyncSession, principal: Principal, limit: int) -> Section[ExtensionLine]:
        withdrawn = exists().where(
            col(CaseRecusal.case_id) == col(ExtensionRequest.case_id),
            col(CaseRecusal.user_id) == principal.user_id,
            col(CaseRecusal.lifted_at).is_(None),
        )
        statement = (
            select(ExtensionRequest, Case)
            .join(Case, col(Case.id) == col(ExtensionRequest.case_id))
            .where(
                ExtensionRequest.organ_node_code == principal.node_code,
                ExtensionRequest.status == ExtensionStatus.PENDING.value,
                ExtensionRequest.requested_by != principal.user_id,
                ~withdrawn,
            )
        )
        calendar = self.context.calendar
        lines = []
        for request, case in (await session.exec(statement)).all():
            facts = CaseFacts.from_json(case.lifecycle)
            lines.append(ExtensionLine(extension_view(request, facts, calendar), case, facts))

        # The approval must come before the current period ends: the nearest end first;
        # a case no longer in handling (nothing left to extend) last.
        def urgency(line: ExtensionLine):
            clock = next_duty_clock(line.current, calendar)
            request = line.view.request
            return (clock is None, clock.due.ends_at if clock else request.requested_at, request.requested_at)

        lines.sort(key=urgency)
        return Section(len(lines), lines[:limit])

    async def _supervision(
        self, session: AsyncSession, principal: Principal, limit: int
    ) -> Section[tuple[Supervision, Case]]:
        if principal.role not in REPLIERS:
            return Section(0, [])
        where = (
            col(Supervision.replied_at).is_(None),
            or_(
                Supervision.supervised_node_code == principal.node_code,
                Case.handling_node_code == principal.node_code,
            ),
        )
        joined = select(func.count()).select_from(Supervision).join(Case, col(Case.id) == col(Supervision.case_id))
        count = (await session.exec(joined.where(*where))).one()
        rows = await session.exec(
            select(Supervision, Case)
            .join(Case, col(Case.id) == col(Supervision.case_id))
            .where(*where)
            .order_by(col(Supervision.reply_due_at), col(Supervision.id))
            .limit(limit)
        )
        return Section(int(count), [(item, case) for item, case in rows.all()])

    async def _notifications(self, session: AsyncSession, principal: Principal, limit: int) -> Section[Notification]:
        where = (Notification.recipient_id == principal.user_id, col(Notification.read_at).is_(None))
        count = (await session.exec(select(func.count()).select_from(Notification).where(*where))).one()
        rows = await session.exec(
            select(Notification)
            .where(*where)
            .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
            .limit(limit)
        )
        return Section(int(count), list(rows.all()))


def supervision_state(item: Supervision, now: datetime) -> str:
    return supervision_status(item.replied_at, item.reply_due_at, now).value
