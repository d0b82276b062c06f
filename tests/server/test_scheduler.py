"""The job scheduler: one leader among processes, jobs that never overlap themselves."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import timedelta

import pytest

from server.scheduler import JOBS, AdvisoryLockLeadership, Job, LeaseLeadership, Scheduler
from server.services.context import ServiceContext


async def test_only_one_holder_has_the_lease_until_it_expires_or_is_given_up(context, clock):
    first = LeaseLeadership(context, timedelta(seconds=60), holder="first")
    second = LeaseLeadership(context, timedelta(seconds=60), holder="second")
    assert await first.hold()
    assert not await second.hold()
    clock.advance(seconds=30)
    assert await first.hold()  # renewed: good for another 60 s from now
    clock.advance(seconds=45)
    assert not await second.hold()
    clock.advance(seconds=16)
    assert await second.hold()  # the first stopped renewing: its lease ran out
    assert not await first.hold()
    await second.release()
    assert await first.hold()


async def test_only_one_connection_holds_the_postgresql_advisory_lock_until_it_lets_go(backend, context):
    if backend.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    # A key of its own: a scheduler of another test database on this server must not interfere.
    key = 7_421_001
    first, second = AdvisoryLockLeadership(context, key), AdvisoryLockLeadership(context, key)
    try:
        assert await first.hold()
        assert not await second.hold()
        assert await first.hold()  # still held, on the same connection
        await first.release()
        assert await second.hold()
        assert not await first.hold()
    finally:
        await first.release()
        await second.release()


async def test_a_job_runs_on_its_interval_never_overlapping_itself(context: ServiceContext):
    running, overlaps, runs = 0, 0, []

    async def slow(_context: ServiceContext) -> None:
        nonlocal running, overlaps
        running += 1
        overlaps += running > 1
        runs.append(time.monotonic())
        await asyncio.sleep(0.15)  # three intervals long
        running -= 1

    leadership = LeaseLeadership(context, timedelta(seconds=60), holder="this process")
    scheduler = Scheduler(context, [Job("slow", lambda _settings: 0.05, slow)], leadership)
    scheduler.start()
    await asyncio.sleep(0.7)
    await scheduler.shutdown()
    assert overlaps == 0
    assert 2 <= len(runs) <= 6
    assert all(later - earlier >= 0.14 for earlier, later in itertools.pairwise(runs))


async def test_a_process_that_does_not_lead_runs_no_job(context: ServiceContext):
    leader = LeaseLeadership(context, timedelta(seconds=60), holder="the other process")
    assert await leader.hold()
    runs = []

    async def job(_context: ServiceContext) -> None:
        runs.append(1)

    follower = LeaseLeadership(context, timedelta(seconds=60), holder="this process")
    scheduler = Scheduler(context, [Job("job", lambda _settings: 0.05, job)], follower)
    scheduler.start()
    await asyncio.sleep(0.3)
    await scheduler.shutdown()
    assert runs == []


async def test_a_job_with_interval_zero_is_left_out(context: ServiceContext):
    context.settings.sweep_interval_seconds = 0
    assert "escalation_sweep" not in [job.name for job, _ in Scheduler(context, JOBS).jobs]
    context.settings.sweep_interval_seconds = 30
    assert ("escalation_sweep", 30) in [(job.name, interval) for job, interval in Scheduler(context, JOBS).jobs]


async def test_a_job_with_a_first_delay_waits_for_it_after_the_start(context: ServiceContext):
    runs = []

    async def job(_context: ServiceContext) -> None:
        runs.append(time.monotonic())

    leadership = LeaseLeadership(context, timedelta(seconds=60), holder="this process")
    scheduler = Scheduler(context, [Job("later", lambda _settings: 0.05, job, first_delay=0.5)], leadership)
    started = time.monotonic()
    scheduler.start()
    await asyncio.sleep(0.3)
    assert runs == []  # an interval job without the delay would have run at once
    await asyncio.sleep(0.5)
    await scheduler.shutdown()
    assert runs and runs[0] - started >= 0.45


def test_the_monthly_statistics_job_waits_for_a_short_lived_server_to_settle():
    monthly = next(job for job in JOBS if job.name == "monthly_statistics")
    assert monthly.first_delay >= 60
