"""Scheduled jobs of ``fengqiao serve``: APScheduler's AsyncIOScheduler in the app's lifespan.

Every process that serves the API starts a scheduler, but only one process runs the jobs:
the leader. On PostgreSQL the leader holds a session-level advisory lock on a connection
of its own (the server frees it if the process dies); the others try again on every tick.
On SQLite the leader holds a lease row that it renews on every tick and that another
process takes over once it has expired. Leadership saves work; it is not what makes jobs
safe: each job claims its work in the database (the sweeper's trigger keys, the outbox's
claims), so two processes that both believe they lead still act once.

A job never overlaps itself (``max_instances=1``), and runs missed while one was going
are folded into one (``coalesce``). Adding a job is one line in :data:`JOBS`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import or_, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from server.escalation_tables import SchedulerLease
from server.services.archives import archive_interval, archive_job
from server.services.context import ServiceContext
from server.services.escalation_sweep import EscalationSweeper
from server.services.notifications import delivery_interval, delivery_job
from server.services.screening import screening_reminder_job
from server.services.statistics import MONTHLY_REPORT_INTERVAL_SECONDS, STARTUP_GRACE_SECONDS, monthly_report_job
from server.services.upsert import upsert_statement
from server.settings import Settings

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
# One 64-bit key for pg_try_advisory_lock, derived from a name so it cannot collide by accident.
ADVISORY_LOCK_KEY = int.from_bytes(hashlib.sha256(b"fengqiao.scheduler").digest()[:8], "big", signed=True)
# A lease outlives a few missed ticks, so a busy leader is not deposed between two renewals.
MIN_LEASE = timedelta(seconds=60)
LEASE_TICKS = 3


@dataclass(frozen=True)
class Job:
    name: str
    # Seconds between runs, from the settings; 0 leaves the job out.
    interval: Callable[[Settings], float]
    run: Callable[[ServiceContext], Awaitable[object]]
    # Seconds after the start before the first run (0: at once).
    first_delay: float = 0.0


async def sweep_escalations(context: ServiceContext) -> object:
    return await EscalationSweeper(context).sweep(context.clock.now())


# Every job the server runs.
JOBS: tuple[Job, ...] = (
    Job("escalation_sweep", lambda settings: settings.sweep_interval_seconds, sweep_escalations),
    Job("notification_delivery", delivery_interval, delivery_job),
    Job("screening_reminders", lambda settings: settings.screening_reminder_interval_seconds, screening_reminder_job),
    # Builds the archive package of every closed case that has none (docs/archive.md).
    Job("archive_packages", archive_interval, archive_job),
    # Makes last month's statistics report once it is missing, so on the 1st (docs/statistics.md).
    Job(
        "monthly_statistics",
        lambda settings: MONTHLY_REPORT_INTERVAL_SECONDS,
        monthly_report_job,
        first_delay=STARTUP_GRACE_SECONDS,
    ),
)


# ---------------------------------------------------------------- leader election


class Leadership(Protocol):
    async def hold(self) -> bool:
        """Whether this process leads now (acquiring or renewing leadership)."""
        ...

    async def release(self) -> None: ...


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class AdvisoryLockLeadership:
    """PostgreSQL: a session-level advisory lock held on a dedicated connection."""

    def __init__(self, context: ServiceContext, key: int = ADVISORY_LOCK_KEY):
        self.engine = context.db.engine
        self.key = key
        self._connection: AsyncConnection | None = None
        self._lock = asyncio.Lock()

    async def hold(self) -> bool:
        async with self._lock:
            if self._connection is not None:
                try:
                    await self._connection.execute(text("SELECT 1"))
                    return True
                except DBAPIError:
                    # The connection is gone and the lock with it: compete again.
                    log.warning("scheduler leader lost its database connection")
                    await self._drop()
            connection = await self.engine.connect()
            try:
                # Autocommit: the lock belongs to the session, and an idle connection must
                # not sit inside an open transaction for hours.
                connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
                result = await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})
                acquired = bool(result.scalar())
            except BaseException:
                await connection.close()
                raise
            if not acquired:
                await connection.close()
                return False
            log.info("this process now runs the scheduled jobs (advisory lock %s)", self.key)
            self._connection = connection
            return True

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.invalidate()
                await connection.close()
            except DBAPIError:
                pass

    async def release(self) -> None:
        async with self._lock:
            connection, self._connection = self._connection, None
            if connection is None:
                return
            try:
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            except DBAPIError:
                pass  # a closed connection has released it already
            finally:
                await connection.close()


class LeaseLeadership:
    """SQLite (or any database): a lease row, renewed by its holder on every tick."""

    def __init__(self, context: ServiceContext, ttl: timedelta, holder: str | None = None):
        self.context = context
        self.ttl = ttl
        self.holder = holder or holder_name()

    async def hold(self) -> bool:
        now = self.context.clock.now()
        table = SchedulerLease.__table__
        async with self.context.db.write() as session:
            create = upsert_statement(session.bind.dialect.name, table, ["name"], None)
            await session.exec(create.values(name=LEASE_NAME, holder=self.holder, expires_at=now + self.ttl))  # type: ignore[call-overload]
            renew = (
                update(SchedulerLease)
                .where(
                    col(SchedulerLease.name) == LEASE_NAME,
                    or_(col(SchedulerLease.holder) == self.holder, col(SchedulerLease.expires_at) <= now),
                )
                .values(holder=self.holder, expires_at=now + self.ttl)
            )
            result = await session.exec(renew)  # type: ignore[call-overload]
            return result.rowcount == 1

    async def release(self) -> None:
        async with self.context.db.write() as session:
            await session.exec(  # type: ignore[call-overload]
                update(SchedulerLease)
                .where(col(SchedulerLease.name) == LEASE_NAME, col(SchedulerLease.holder) == self.holder)
                .values(expires_at=self.context.clock.now())
            )


def leadership_for(context: ServiceContext, ttl: timedelta) -> Leadership:
    if context.db.dialect == "postgresql":
        return AdvisoryLockLeadership(context)
    return LeaseLeadership(context, ttl)


# ---------------------------------------------------------------- the scheduler


class Scheduler:
    def __init__(self, context: ServiceContext, jobs: Sequence[Job] = JOBS, leadership: Leadership | None = None):
        self.context = context
        settings = context.settings
        self.jobs = [(job, job.interval(settings)) for job in jobs if job.interval(settings) > 0]
        shortest = min((interval for _, interval in self.jobs), default=0.0)
        ttl = max(MIN_LEASE, timedelta(seconds=shortest * LEASE_TICKS))
        self.leadership = leadership or leadership_for(context, ttl)
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._running: set[asyncio.Task] = set()

    def start(self) -> None:
        """Start the jobs (inside the running event loop: the app's lifespan)."""
        for job, interval in self.jobs:
            self._scheduler.add_job(
                self._tick,
                "interval",
                seconds=interval,
                args=(job,),
                id=job.name,
                name=job.name,
                max_instances=1,
                coalesce=True,
                # A run delayed by a long previous one still runs (once), however late.
                misfire_grace_time=None,
                next_run_time=datetime.now(UTC) + timedelta(seconds=job.first_delay),
            )
        if self.jobs:
            self._scheduler.start()

    async def _tick(self, job: Job) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            if await self.leadership.hold():
                await job.run(self.context)
        except Exception:
            # The next tick tries again; a failing job must not stop the scheduler.
            log.exception("scheduled job %s failed", job.name)
        finally:
            if task is not None:
                self._running.discard(task)

    async def shutdown(self) -> None:
        """Stop the jobs (a running one is cancelled and rolls back) and give up leadership."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        try:
            await self.leadership.release()
        except Exception:
            log.exception("could not release the scheduler's leadership")
