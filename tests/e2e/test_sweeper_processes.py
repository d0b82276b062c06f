"""The escalation sweeper in real processes: two `fengqiao serve` on one PostgreSQL database
sweep due cases, and two `fengqiao escalate --apply` race each other; each due case is
escalated exactly once. And the CLI previews without changing anything."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, or_, text
from sqlmodel import col, select

from grid.cases import Case
from grid.people import User
from server.clock import FixedClock
from server.crypto import FieldCipher
from server.db import Database, create_engine
from server.schemas.cases import CaseCreate
from server.services.cases import CaseService
from server.services.context import ServiceContext
from server.services.users import principal_of
from server.settings import Settings
from tests.conftest import BACKENDS, TEST_KEY, _create_postgres_database, _drop_postgres_database
from tests.e2e.processes import FENGQIAO, run, serving
from tests.factories import case_payload
from tests.server.test_escalation_sweep import petitioners

pytestmark = pytest.mark.e2e
GRID = "611026001001001"  # the first grid of the demo county
WORKER = "grid-001001001"


def env_for(url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "FENGQIAO_DATABASE_URL": url, "FENGQIAO_DATA_KEY": TEST_KEY, **extra}


def prepared(url: str) -> dict[str, str]:
    env = env_for(url)
    run(["migrate"], env)
    run(["demo", "--cases", "0"], env)
    return env


async def seed_due_cases(url: str, count: int, registered_at: datetime) -> list[uuid.UUID]:
    """Ordinary disputes registered in a village at ``registered_at`` through the real service
    (so their next check is stored as in real use); a week later each is due to go up."""
    context = ServiceContext(
        settings=Settings(database_url=url, data_key=TEST_KEY),
        db=Database(create_engine(url)),
        clock=FixedClock(registered_at),
        cipher=FieldCipher.from_setting(TEST_KEY),
    )
    try:
        await context.reload_calendar()
        async with context.db.read() as session:
            worker = (await session.exec(select(User).where(User.username == WORKER))).one()
        service = CaseService(context)
        ids = []
        for n in range(count):
            payload = case_payload(GRID, category="contract", parties=petitioners(n), title=f"合同纠纷{n}")
            body = CaseCreate.model_validate(payload)
            ids.append((await service.create(principal_of(worker), body)).case.id)
        return ids
    finally:
        await context.db.dispose()


async def query(url: str, sql: str) -> list[tuple]:
    database = Database(create_engine(url))
    try:
        async with database.read() as session:
            return [tuple(row) for row in (await session.exec(text(sql))).all()]  # type: ignore[call-overload]
    finally:
        await database.dispose()


async def escalations_per_case(url: str) -> tuple[dict[str, int], dict[str, int]]:
    """Escalate entries on each case's timeline, and Escalate trigger rows of each case."""
    entries = await query(url, "SELECT case_id, count(*) FROM case_event WHERE kind = 'escalate' GROUP BY case_id")
    claims = await query(
        url, "SELECT case_id, count(*) FROM escalation_trigger WHERE decision = 'Escalate' GROUP BY case_id"
    )
    return {str(uuid.UUID(str(c))): n for c, n in entries}, {str(uuid.UUID(str(c))): n for c, n in claims}


async def not_due_by(url: str, now: datetime) -> int:
    """Open cases whose next check is not due by ``now`` (typed comparison, both backends)."""
    database = Database(create_engine(url))
    try:
        async with database.read() as session:
            waiting = or_(col(Case.next_check_at).is_(None), col(Case.next_check_at) > now)
            statement = select(func.count()).select_from(Case).where(col(Case.status) != "closed", waiting)
            return int((await session.exec(statement)).one())
    finally:
        await database.dispose()


async def escalated_count(url: str) -> int:
    [(count,)] = await query(url, "SELECT count(*) FROM case_file WHERE status = 'escalated'")
    return int(count)


@pytest.fixture
async def postgres_url():
    url = await _create_postgres_database()
    try:
        yield url
    finally:
        await _drop_postgres_database(url)


async def test_two_servers_on_one_postgresql_database_escalate_each_due_case_once(postgres_url, tmp_path):
    env = prepared(postgres_url)
    ids = await seed_due_cases(postgres_url, 60, datetime.now(UTC) - timedelta(days=20))
    serve_env = {**env, "FENGQIAO_SWEEP_INTERVAL_SECONDS": "0.5"}
    with ExitStack() as servers:
        for name in ("a", "b"):
            servers.enter_context(serving(serve_env, log=tmp_path / f"server-{name}.log"))
        deadline = time.monotonic() + 90
        while await escalated_count(postgres_url) < len(ids):
            assert time.monotonic() < deadline, "the servers did not sweep the due cases in 90 s"
            time.sleep(0.5)
        time.sleep(2)  # a few more ticks of both schedulers: nothing may happen twice
    entries, claims = await escalations_per_case(postgres_url)
    assert entries == claims == {str(case_id): 1 for case_id in ids}


def spawn_sweep(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [FENGQIAO, "escalate", "--apply"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


async def test_two_sweeps_racing_without_a_leader_still_escalate_each_case_once(postgres_url):
    env = prepared(postgres_url)
    ids = await seed_due_cases(postgres_url, 150, datetime.now(UTC) - timedelta(days=20))
    sweeps = [spawn_sweep(env) for _ in range(2)]
    outputs = [sweep.communicate(timeout=300) for sweep in sweeps]
    assert [sweep.returncode for sweep in sweeps] == [0, 0], outputs
    entries, claims = await escalations_per_case(postgres_url)
    assert entries == claims == {str(case_id): 1 for case_id in ids}
    assert await escalated_count(postgres_url) == len(ids)


@pytest.fixture(params=BACKENDS)
async def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'sweeps.db'}"
        return
    url = await _create_postgres_database()
    try:
        yield url
    finally:
        await _drop_postgres_database(url)


async def test_the_escalate_command_previews_without_changing_and_applies_with_apply(database_url):
    env = prepared(database_url)
    registered = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    ids = await seed_due_cases(database_url, 3, registered)
    when = (registered + timedelta(days=10)).isoformat()
    before = await query(database_url, "SELECT id, status, version, next_check_at FROM case_file ORDER BY id")

    preview = run(["escalate", "--at", when], env)
    assert "预览（不作任何更改）" in preview
    assert preview.count("上报 time.village.ordinary：") == 3
    assert "共 3 件案件有到期事项" in preview
    assert await query(database_url, "SELECT id, status, version, next_check_at FROM case_file ORDER BY id") == before
    assert await query(database_url, "SELECT count(*) FROM escalation_trigger") == [(0,)]

    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    refused = subprocess.run(
        [FENGQIAO, "escalate", "--at", future, "--apply"], env=env, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 2 and "不能按未来的时间执行" in refused.stderr
    assert await escalated_count(database_url) == 0

    applied = run(["escalate", "--at", when, "--apply"], env)
    assert "处理 3 件" in applied and "上报 3" in applied, applied
    entries, claims = await escalations_per_case(database_url)
    assert entries == claims == {str(case_id): 1 for case_id in ids}
    assert "共 0 件案件有到期事项" in run(["escalate", "--at", when], env)
    # Swept as of a month ago, those have been due again since; a case registered now is
    # not due for days. --recheck marks it, so every open case is evaluated at the next sweep.
    await seed_due_cases(database_url, 1, datetime.now(UTC))
    assert "已将 1 件未办结案件标记为待重新检查" in run(["escalate", "--recheck"], env)
    assert await not_due_by(database_url, datetime.now(UTC)) == 0
