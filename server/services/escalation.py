"""The escalation policy in force and each case's ``next_check_at``.

The sweeper (server/services/escalation_sweep.py) reads only cases whose stored
``next_check_at`` has come; this module keeps that column right. The case service calls
:func:`stamp_next_check` after every change a person makes (risk and failure triggers fall
due at the change), the sweeper after acting on a case.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path

from sqlalchemy import func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid.calendar import StatutoryCalendar
from grid.cases import Case
from grid.escalation import CaseView, case_view, next_check_at
from grid.lifecycle import CaseFacts, Status
from grid.policy import Policy, parse_policy
from server.escalation_tables import EscalationTrigger
from server.services.context import ServiceContext
from server.settings import Settings

DEFAULT_POLICY = "policies/zhashui.toml"


@cache
def _policy_at(path: Path | None) -> Policy:
    if path is None:
        text = resources.files("grid").joinpath(DEFAULT_POLICY).read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return parse_policy(text)


def policy_in_force(settings: Settings) -> Policy:
    """The policy of ``escalation_policy_file`` (the packaged default when unset).

    Parsed once per process: a changed file takes effect on restart, which is also when
    ``parse_policy`` refuses a broken one (``policy.invalid``, naming every line).
    """
    return _policy_at(settings.escalation_policy_file)


# Fired keys read together with a case loaded for change (CaseService._load_for_change),
# kept on the session for the one stamp of that change: the next read asks the database.
FIRED_READ_WITH_CASE = "fengqiao.fired_read_with_case"
FIRED_SEPARATOR = "\x1f"


def fired_keys_subquery():
    """The case's fired keys as one string (``FIRED_SEPARATOR`` between them), correlated
    to the ``case_file`` row of the enclosing query."""
    return (
        select(func.aggregate_strings(EscalationTrigger.trigger_key, FIRED_SEPARATOR))
        .where(col(EscalationTrigger.case_id) == col(Case.id))
        .correlate(Case)
        .scalar_subquery()
    )


def remember_fired(session: AsyncSession, case_id: uuid.UUID, joined: str | None) -> None:
    keys = frozenset(joined.split(FIRED_SEPARATOR)) if joined else frozenset()
    session.info.setdefault(FIRED_READ_WITH_CASE, {})[case_id] = keys


async def fired_keys(session: AsyncSession, case_id: uuid.UUID) -> frozenset[str]:
    """The trigger keys already acted on for this case (the engine's ``CaseView.fired``)."""
    known = session.info.get(FIRED_READ_WITH_CASE, {}).pop(case_id, None)
    if known is not None:
        return known
    rows = await session.exec(select(EscalationTrigger.trigger_key).where(col(EscalationTrigger.case_id) == case_id))
    return frozenset(rows.all())


async def fired_keys_of(session: AsyncSession, case_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, frozenset[str]]:
    """The fired keys of several cases in one query (a sweep batch)."""
    statement = select(EscalationTrigger.case_id, EscalationTrigger.trigger_key).where(
        col(EscalationTrigger.case_id).in_(list(case_ids))
    )
    keys: dict[uuid.UUID, set[str]] = {}
    for case_id, key in (await session.exec(statement)).all():
        keys.setdefault(case_id, set()).add(key)
    return {case_id: frozenset(found) for case_id, found in keys.items()}


def view_of(case: Case, calendar: StatutoryCalendar, fired: Iterable[str], facts: CaseFacts | None = None) -> CaseView:
    return case_view(case, facts or CaseFacts.from_json(case.lifecycle), calendar, fired=fired)


async def stamp_next_check(
    session: AsyncSession,
    case: Case,
    calendar: StatutoryCalendar,
    policy: Policy,
    *,
    fired: Iterable[str] | None = None,
    facts: CaseFacts | None = None,
) -> None:
    """Store when the engine next has something to do for ``case`` (its row as it now is).

    ``fired`` saves a query when the caller knows the keys (a new case has none), ``facts``
    a parse of ``case.lifecycle`` when the caller has them.
    """
    if fired is None:
        fired = await fired_keys(session, case.id)
    case.next_check_at = next_check_at(view_of(case, calendar, fired, facts), policy, calendar)
    session.add(case)


async def recheck_open_cases(context: ServiceContext) -> int:
    """Make every open case due now, so the next sweep evaluates it and stores its real next
    check: after a new policy or a year's holiday notice, any stored one may be wrong.
    Returns how many cases were marked."""
    now = context.clock.now()
    async with context.db.write() as session:
        result = await session.exec(  # type: ignore[call-overload]
            update(Case)
            .where(
                col(Case.status) != Status.CLOSED.value,
                or_(col(Case.next_check_at).is_(None), col(Case.next_check_at) > now),
            )
            .values(next_check_at=now)
        )
        return int(result.rowcount)
