"""Notifications: the outbox (enqueue in the caller's transaction), delivery with retries,
and the recipient's inbox.

``enqueue`` resolves the policy's recipient roles (grid.policy.Recipient) to users of the
case's jurisdiction and writes one outbox row per (dedupe key, user); the unique key makes
a repeated enqueue add nothing, so a job that runs twice notifies once. ``deliver_due``
hands due rows to a :class:`~server.notifier.Notifier`, at least once, and backs off
exponentially on failure without ever dropping a row.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid.cases import Case, HandlingLevel
from grid.errors import InvalidInput, Issue
from grid.hierarchy import Level
from grid.people import Role, User
from grid.policy import Recipient
from grid.supervision import CaseLead, current_lead
from server.errors import ServiceError
from server.notifier import Notifier, OutgoingNotification
from server.outbox import Notification
from server.principal import Principal
from server.services.context import ServiceContext
from server.services.regions import ancestor_at
from server.services.upsert import upsert_statement
from server.settings import Settings

log = logging.getLogger(__name__)

# The officers of the organ at each handling level, and its leaders (see
# docs/supervision-and-notifications.md: accounts carry no "leader" flag yet, so the
# leaders of a town or the county are its officers).
ORGAN_OFFICERS = {
    HandlingLevel.VILLAGE: frozenset({Role.VILLAGE_LEADER, Role.VILLAGE_MEDIATOR}),
    HandlingLevel.TOWNSHIP: frozenset({Role.TOWN_OFFICER}),
    HandlingLevel.COUNTY: frozenset({Role.COUNTY_OFFICER}),
}
ORGAN_LEADERS = {
    HandlingLevel.VILLAGE: frozenset({Role.VILLAGE_LEADER}),
    HandlingLevel.TOWNSHIP: frozenset({Role.TOWN_OFFICER}),
    HandlingLevel.COUNTY: frozenset({Role.COUNTY_OFFICER}),
}
_LEVEL_OF_NODE = {Level.VILLAGE: HandlingLevel.VILLAGE, Level.TOWNSHIP: HandlingLevel.TOWNSHIP}

# Retry schedule: 30 s, 1 min, 2 min, … doubling, at most 6 h between attempts.
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 6 * 3600
# How long a delivery run owns the rows it claimed (at least this, and long enough for
# every claimed row to time out once); a run that dies gives them back when it ends.
CLAIM_LEASE = timedelta(minutes=5)
MAX_ERROR_LENGTH = 2000


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt (1, 2, …)."""
    exponent = min(max(attempts - 1, 0), 30)
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2**exponent, BACKOFF_CAP_SECONDS))


# ---------------------------------------------------------------- enqueue


async def _users_at(session: AsyncSession, node_code: str, roles: Iterable[Role]) -> list[uuid.UUID]:
    names = sorted(role.value for role in roles)
    key = ("notifications.users_at", node_code, *names)
    if key not in session.info:
        # Remembered for the transaction: a sweep notifies the officers of one town for
        # many cases in one batch.
        statement = select(User.id).where(
            User.node_code == node_code, col(User.role).in_(names), col(User.active).is_(True)
        )
        session.info[key] = list((await session.exec(statement)).all())
    return list(session.info[key])


async def _organ_node(session: AsyncSession, case: Case, level: Level) -> str:
    key = ("notifications.organ_node", case.region_path, level.value)
    if key not in session.info:
        session.info[key] = (await ancestor_at(session, case.region_path, level)).code
    return str(session.info[key])


async def resolve_role(session: AsyncSession, case: Case, role: Recipient) -> list[uuid.UUID]:
    """The users a recipient role names for this case (active accounts only)."""
    level = HandlingLevel(case.level)
    if role is Recipient.HANDLER:
        ids = [case.assigned_to] if case.assigned_to else []
    elif role is Recipient.CREATOR:
        ids = [case.created_by]
    elif role is Recipient.BAOAN_LEADER:
        history = (await session.exec(select(CaseLead).where(CaseLead.case_id == case.id))).all()
        lead = current_lead(history)
        ids = [lead.leader_id] if lead and lead.leader_id else []
    elif role is Recipient.HANDLING_OFFICERS:
        return await _users_at(session, case.handling_node_code, ORGAN_OFFICERS[level])
    elif role is Recipient.HANDLER_LEADER:
        return await _users_at(session, case.handling_node_code, ORGAN_LEADERS[level])
    elif role is Recipient.VILLAGE_LEADER:
        return await _users_at(session, case.village_code, {Role.VILLAGE_LEADER})
    elif role is Recipient.TOWN_OFFICER:
        return await _users_at(session, await _organ_node(session, case, Level.TOWNSHIP), {Role.TOWN_OFFICER})
    elif role is Recipient.COUNTY_OFFICER:
        return await _users_at(session, await _organ_node(session, case, Level.COUNTY), {Role.COUNTY_OFFICER})
    else:  # pragma: no cover - every Recipient is handled above
        raise ValueError(f"unknown recipient role {role!r}")
    if not ids:
        return []
    active = select(User.id).where(col(User.id).in_(ids), col(User.active).is_(True))
    return list((await session.exec(active)).all())


def _parse_recipient(recipient: str | uuid.UUID) -> Recipient | uuid.UUID:
    if isinstance(recipient, uuid.UUID):
        return recipient
    try:
        return Recipient(recipient)
    except ValueError:
        pass
    try:
        return uuid.UUID(recipient)
    except ValueError:
        raise ValueError(f"recipient {recipient!r} is neither a Recipient role nor a user id") from None


async def resolve_recipients(
    session: AsyncSession, case: Case | None, recipients: Iterable[str | uuid.UUID]
) -> list[uuid.UUID]:
    """Users named by roles (relative to ``case``) and by id, each once, in the order named."""
    users: dict[uuid.UUID, None] = {}
    explicit: list[uuid.UUID] = []
    for recipient in recipients:
        parsed = _parse_recipient(recipient)
        if isinstance(parsed, uuid.UUID):
            explicit.append(parsed)
            users.setdefault(parsed)
            continue
        if case is None:
            raise ValueError(f"recipient role {parsed.value!r} needs a case")
        for user_id in await resolve_role(session, case, parsed):
            users.setdefault(user_id)
    if explicit:
        found = set((await session.exec(select(User.id).where(col(User.id).in_(explicit)))).all())
        missing = [str(user_id) for user_id in explicit if user_id not in found]
        if missing:
            raise ValueError(f"unknown recipient user ids: {', '.join(missing)}")
    return list(users)


async def enqueue(
    session: AsyncSession,
    *,
    dedupe_key: str,
    event: str,
    case_id: uuid.UUID | None,
    recipients: Iterable[str | uuid.UUID],
    title: str,
    body: str,
    payload: dict,
    created_at: datetime,
) -> int:
    """Write one outbox row per (dedupe_key, resolved user) in the caller's transaction.

    ``recipients`` are Recipient role names, resolved to users of the case's jurisdiction,
    or user ids. A row that exists already is left alone, so enqueuing the same message
    twice adds nothing. Returns the number of rows added.
    """
    if created_at.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    case = None
    if case_id is not None:
        case = await session.get(Case, case_id)
        if case is None:
            raise ValueError(f"no case {case_id}")
    users = await resolve_recipients(session, case, recipients)
    if not users:
        return 0
    dialect = session.bind.dialect.name
    statement = upsert_statement(dialect, Notification.__table__, ["dedupe_key", "recipient_id"], None)
    rows = [
        {
            "id": uuid.uuid4(),
            "dedupe_key": dedupe_key,
            "event": event,
            "case_id": case_id,
            "recipient_id": user_id,
            "title": title,
            "body": body,
            "payload": payload,
            "created_at": created_at,
            "attempts": 0,
            "next_attempt_at": created_at,
        }
        for user_id in users
    ]
    # One statement for every recipient; RETURNING names the rows that were new.
    result = await session.exec(statement.values(rows).returning(Notification.__table__.c.id))  # type: ignore[call-overload]
    return len(result.all())


# ---------------------------------------------------------------- delivery


def outgoing(row: Notification, recipient: User | None = None) -> OutgoingNotification:
    return OutgoingNotification(
        id=row.id,
        dedupe_key=row.dedupe_key,
        event=row.event,
        case_id=row.case_id,
        recipient_id=row.recipient_id,
        title=row.title,
        body=row.body,
        payload=row.payload,
        created_at=row.created_at,
        attempt=row.attempts + 1,
        recipient_username=recipient.username if recipient else None,
        recipient_name=recipient.display_name if recipient else None,
    )


@dataclass(frozen=True)
class DeliveryReport:
    claimed: int
    delivered: int
    failed: int


def _lease(context: ServiceContext, rows: int) -> timedelta:
    return max(CLAIM_LEASE, timedelta(seconds=2 * rows * context.settings.notification_webhook_timeout_seconds))


async def _claim(
    context: ServiceContext, now: datetime, limit: int
) -> tuple[uuid.UUID, list[Notification], dict[uuid.UUID, User]]:
    """Take up to ``limit`` due rows for this run: a token and a lease written in one short
    transaction, so two processes never deliver the same row at the same time."""
    token = uuid.uuid4()
    due = and_(
        col(Notification.delivered_at).is_(None),
        col(Notification.next_attempt_at) <= now,
        or_(col(Notification.claimed_until).is_(None), col(Notification.claimed_until) <= now),
    )
    async with context.db.write() as session:
        candidates = select(Notification.id).where(due).order_by(col(Notification.next_attempt_at)).limit(limit)
        if context.db.dialect == "postgresql":
            # Two runs skip each other's rows instead of queueing on them.
            candidates = candidates.with_for_update(skip_locked=True)
        ids = list((await session.exec(candidates)).all())
        if not ids:
            return token, [], {}
        # The WHERE repeats the due test: on SQLite the write lock is already held, on
        # PostgreSQL the rows are locked; either way a row claimed meanwhile is not taken.
        await session.exec(  # type: ignore[call-overload]
            update(Notification)
            .where(col(Notification.id).in_(ids), due)
            .values(claim_token=token, claimed_until=now + _lease(context, len(ids)))
            .execution_options(synchronize_session=False)
        )
        rows = (await session.exec(select(Notification).where(Notification.claim_token == token))).all()
        recipients = {row.recipient_id for row in rows}
        users = (await session.exec(select(User).where(col(User.id).in_(recipients)))).all() if recipients else []
        return token, sorted(rows, key=lambda row: (row.next_attempt_at, str(row.id))), {u.id: u for u in users}


async def _settle(
    context: ServiceContext, row: Notification, token: uuid.UUID, now: datetime, error: str | None
) -> None:
    owned = and_(col(Notification.id) == row.id, col(Notification.claim_token) == token)
    if error is None:
        values: dict[str, Any] = {"delivered_at": now, "attempts": row.attempts + 1, "last_error": None}
    else:
        attempts = row.attempts + 1
        values = {
            "attempts": attempts,
            "next_attempt_at": now + backoff(attempts),
            "last_error": error[:MAX_ERROR_LENGTH],
        }
    async with context.db.write() as session:
        await session.exec(  # type: ignore[call-overload]
            update(Notification)
            .where(owned)
            .values(**values, claim_token=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )


async def deliver_due(context: ServiceContext, now: datetime, notifier: Notifier, limit: int = 100) -> DeliveryReport:
    """Deliver every due row (up to ``limit``) once; failures are rescheduled, never dropped.

    A row is marked delivered only after the notifier returned: a crash in between sends it
    again later (at least once); receivers deduplicate on ``dedupe_key``.
    """
    token, rows, users = await _claim(context, now, limit)
    delivered = failed = 0
    for row in rows:
        try:
            await notifier.deliver(outgoing(row, users.get(row.recipient_id)))
        except Exception as error:  # any failure of the channel is retried, whatever it is
            failed += 1
            message = f"{type(error).__name__}: {error}"
            log.warning("notification %s attempt %d failed: %s", row.id, row.attempts + 1, message)
            await _settle(context, row, token, now, message)
        else:
            delivered += 1
            await _settle(context, row, token, now, None)
    return DeliveryReport(claimed=len(rows), delivered=delivered, failed=failed)


def delivery_interval(settings: Settings) -> float:
    """Seconds between delivery runs for the scheduler; 0 (no job) without a webhook URL,
    when notifications stay in the outbox for the app to read."""
    return settings.notification_interval_seconds if settings.notification_webhook_url else 0.0


async def delivery_job(context: ServiceContext) -> DeliveryReport | None:
    """The scheduler's job: deliver what is due with the configured webhook.

    Without a webhook URL notifications stay in the outbox (readable in the app) and this
    does nothing. Safe to run twice at once and in several processes (rows are claimed).
    """
    from server.notifier import webhook_from_settings

    notifier = webhook_from_settings(context.settings, clock=context.clock)
    if notifier is None:
        return None
    async with notifier:
        total = DeliveryReport(0, 0, 0)
        while True:
            report = await deliver_due(
                context, context.clock.now(), notifier, limit=context.settings.notification_batch_size
            )
            total = DeliveryReport(
                total.claimed + report.claimed, total.delivered + report.delivered, total.failed + report.failed
            )
            # A full batch that all went through may have more behind it; a failure means
            # the receiver is struggling: wait for the next run.
            if report.claimed < context.settings.notification_batch_size or report.failed:
                return total


# ---------------------------------------------------------------- the inbox


def _encode_cursor(row: Notification) -> str:
    raw = json.dumps([row.created_at.isoformat(), str(row.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, row_id = json.loads(base64.urlsafe_b64decode(padded))
        created_at = datetime.fromisoformat(at)
        if created_at.tzinfo is None:
            raise ValueError("naive cursor time")
        return created_at, uuid.UUID(row_id)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise InvalidInput([Issue("cursor", "cursor.invalid", "分页游标无效")]) from None


class NotificationService:
    def __init__(self, context: ServiceContext):
        self.context = context

    async def mine(
        self, principal: Principal, *, cursor: str | None, limit: int, unread: bool = False
    ) -> tuple[list[Notification], str | None]:
        """The caller's notifications, newest first, paged by cursor."""
        statement = select(Notification).where(Notification.recipient_id == principal.user_id)
        if unread:
            statement = statement.where(col(Notification.read_at).is_(None))
        if cursor:
            created_at, row_id = _decode_cursor(cursor)
            statement = statement.where(
                or_(
                    col(Notification.created_at) < created_at,
                    and_(col(Notification.created_at) == created_at, col(Notification.id) < row_id),
                )
            )
        statement = statement.order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        async with self.context.db.read() as session:
            rows = list((await session.exec(statement.limit(limit + 1))).all())
        next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
        return rows[:limit], next_cursor

    async def mark_read(self, principal: Principal, notification_id: uuid.UUID) -> Notification:
        async with self.context.db.write() as session:
            row = await session.get(Notification, notification_id)
            # Someone else's notification is as invisible as a missing one.
            if row is None or row.recipient_id != principal.user_id:
                raise ServiceError("通知不存在", code="notification.not_found")
            if row.read_at is None:
                row.read_at = self.context.clock.now()
                session.add(row)
            return row
