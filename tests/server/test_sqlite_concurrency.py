"""Concurrent writers on one database: nothing fails, nothing is lost, numbers have no gaps.

Twenty OS processes write to one fresh, migrated database at once (not the rolled-back
fixture: each writer needs its own connection and commits for real). Each registers cases
through ``CaseService.create`` and accepts them through ``CaseService.transition``, which
draws the village's next official number from a counter row in the same transaction.

Processes come from a ``forkserver`` that has already imported the application, so
twenty of them start in about a second instead of the ~14 s twenty fresh ``spawn``
interpreters take on two cores; like ``spawn`` they inherit no engine, thread or loop.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import time
import traceback
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc, text
from sqlmodel import func, select

from grid.cases import Case, CaseCounter
from grid.hierarchy import parse_division_csv
from grid.lifecycle import Action
from grid.people import Role
from server.clock import FixedClock
from server.crypto import FieldCipher
from server.db import Database, create_engine
from server.migrate import upgrade
from server.principal import Principal
from server.schemas.cases import CaseCreate, TransitionRequest
from server.services.cases import CaseService
from server.services.categories import CategoryService
from server.services.context import ServiceContext
from server.services.devices import DeviceService
from server.services.regions import RegionService
from server.services.sync import SyncService
from server.services.users import UserService, principal_of
from sync.protocol import SyncRequest
from tests.conftest import (
    BACKENDS,
    DIVISIONS,
    T0,
    TEST_KEY,
    _create_postgres_database,
    _drop_postgres_database,
    make_settings,
)
from tests.factories import case_payload

WRITERS = 20
CASES_PER_WRITER = 10
VILLAGES = ("611026001001", "611026001002", "611026101001")
BARRIER_TIMEOUT_S = 120
RESULT_TIMEOUT_S = 300
PRELOAD = [
    "server.services.cases",
    "server.services.regions",
    "server.services.users",
    "server.db",
    __name__,
]


@dataclass(frozen=True)
class WriterResult:
    index: int
    numbers: list[str]
    errors: list[str]
    seconds: float


# ----------------------------------------------------------------- the writer process


def make_context(url: str, key: str, *, pool_size: int = 2) -> ServiceContext:
    return ServiceContext(
        settings=make_settings(url).model_copy(update={"data_key": key}),
        db=Database(create_engine(url, pool_size=pool_size)),
        clock=FixedClock(T0),
        cipher=FieldCipher.from_setting(key),
    )


async def write_cases(url: str, key: str, leaders: dict[str, Principal], index: int, count: int, barrier) -> Any:
    context = make_context(url, key)
    numbers: list[str] = []
    errors: list[str] = []
    try:
        await context.reload_calendar()
        cases = CaseService(context)
        # Everyone starts together once their engine is ready.
        await asyncio.to_thread(barrier.wait, BARRIER_TIMEOUT_S)
        started = time.perf_counter()
        for serial in range(count):
            # Spread each writer over every village so the counters are contended.
            village = VILLAGES[(index + serial) % len(VILLAGES)]
            leader = leaders[village]
            try:
                payload = case_payload(village_code=village, title=f"并发登记 {index}-{serial}")
                bundle = await cases.create(leader, CaseCreate.model_validate(payload))
                accepted = await cases.transition(leader, bundle.case.id, TransitionRequest(action=Action.ACCEPT))
                numbers.append(str(accepted.case.number))
            except Exception as error:  # every failure is reported, none may happen
                errors.append(f"{type(error).__name__}: {error}")
        return numbers, errors, time.perf_counter() - started
    finally:
        await context.db.dispose()


def writer_process(url: str, key: str, leaders: dict[str, Principal], index: int, count: int, barrier, results):
    try:
        numbers, errors, seconds = asyncio.run(write_cases(url, key, leaders, index, count, barrier))
        results.put(WriterResult(index, numbers, errors, seconds))
    except BaseException:
        results.put(WriterResult(index, [], [traceback.format_exc()], 0.0))


def run_writers(url: str, leaders: dict[str, Principal], count: int = CASES_PER_WRITER) -> list[WriterResult]:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    barrier = context.Barrier(WRITERS)
    results = context.Queue()
    processes = [
        context.Process(target=writer_process, args=(url, TEST_KEY, leaders, index, count, barrier, results))
        for index in range(WRITERS)
    ]
    for process in processes:
        process.start()
    collected: list[WriterResult] = []
    try:
        for _ in processes:
            collected.append(results.get(timeout=RESULT_TIMEOUT_S))
    except queue.Empty:
        pytest.fail(f"only {len(collected)} of {WRITERS} writers reported within {RESULT_TIMEOUT_S}s")
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
    return sorted(collected, key=lambda result: result.index)


# ----------------------------------------------------------------- the database


async def seed(url: str) -> tuple[ServiceContext, dict[str, Principal]]:
    await asyncio.to_thread(upgrade, url)
    context = make_context(url, TEST_KEY)
    await context.reload_calendar()
    rows = parse_division_csv((DIVISIONS / "zhashui.csv").read_text(encoding="utf-8"))
    await RegionService(context).import_divisions(rows, valid_from_year=2023)
    await CategoryService(context).ensure_default()
    users = UserService(context)
    leaders = {}
    for village in VILLAGES:
        user = await users.create(
            username=f"leader_{village}",
            display_name=f"村支书{village[-3:]}",
            role=Role.VILLAGE_LEADER,
            node_code=village,
            password_hash="unused",
        )
        leaders[village] = principal_of(user)
    return context, leaders


async def check_numbers(context: ServiceContext, results: list[WriterResult], expected_total: int) -> None:
    errors = [error for result in results for error in result.errors]
    assert not [error for error in errors if "locked" in error], errors
    assert errors == []
    assert len(results) == WRITERS
    assert all(len(result.numbers) == CASES_PER_WRITER for result in results)

    async with context.db.read() as session:
        rows = (await session.exec(select(Case.village_code, Case.number, Case.status))).all()
        counters = dict(
            (await session.exec(select(CaseCounter.village_code, CaseCounter.last_serial))).all()  # type: ignore[arg-type]
        )
        total = (await session.exec(select(func.count()).select_from(Case))).one()
    assert total == expected_total == len(rows)
    assert {status for _, _, status in rows} == {"accepted"}
    reported = sorted(number for result in results for number in result.numbers)
    assert reported == sorted(str(number) for _, number, _ in rows)

    serials: dict[str, list[int]] = defaultdict(list)
    for village, number, _ in rows:
        prefix, year, serial = str(number).rsplit("-", 2)
        assert (prefix, year) == (village, "2026")
        serials[village].append(int(serial))
    assert set(serials) == set(VILLAGES)
    for village, drawn in serials.items():
        # Exactly 1..n: no gap, no duplicate, and the counter stops at n.
        assert sorted(drawn) == list(range(1, len(drawn) + 1)), village
        assert counters[village] == len(drawn)


# ----------------------------------------------------------------- the tests


async def test_twenty_processes_write_to_one_sqlite_file_without_locks_or_gaps(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'concurrent.db'}"
    context, leaders = await seed(url)
    try:
        results = run_writers(url, leaders)
        await check_numbers(context, results, WRITERS * CASES_PER_WRITER)
    finally:
        await context.db.dispose()


@pytest.mark.postgres
async def test_twenty_processes_draw_gap_free_numbers_on_postgresql() -> None:
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL is not among FENGQIAO_TEST_BACKENDS")
    url = await _create_postgres_database()
    context = None
    try:
        context, leaders = await seed(url)
        results = run_writers(url, leaders)
        await check_numbers(context, results, WRITERS * CASES_PER_WRITER)
    finally:
        if context is not None:
            await context.db.dispose()
        await _drop_postgres_database(url)


# ----------------------------------------------------------------- why BEGIN IMMEDIATE


async def scratch_databases(tmp_path: Path, busy_timeout_ms: int) -> tuple[Database, Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'locks.db'}"
    first = Database(create_engine(url, busy_timeout_ms=busy_timeout_ms, pool_size=1))
    second = Database(create_engine(url, busy_timeout_ms=busy_timeout_ms, pool_size=1))
    async with first.write() as session:
        await session.exec(text("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)"))
        await session.exec(text("INSERT INTO note (body) VALUES ('first')"))
    return first, second


async def test_a_deferred_transaction_that_reads_then_writes_fails_at_once(tmp_path: Path) -> None:
    """What BEGIN IMMEDIATE prevents: the busy timeout does not help a lock upgrade."""
    busy_timeout_ms = 10_000
    first, second = await scratch_databases(tmp_path, busy_timeout_ms)
    try:
        async with second.write() as holder:  # a writer holds the write lock
            await holder.exec(text("INSERT INTO note (body) VALUES ('holder')"))
            with pytest.raises(exc.OperationalError, match="database is locked"):
                async with first.read() as session:  # plain BEGIN: a read transaction
                    await session.exec(text("SELECT count(*) FROM note"))
                    started = time.perf_counter()
                    try:
                        await session.exec(text("INSERT INTO note (body) VALUES ('upgrade')"))
                    finally:
                        waited = time.perf_counter() - started
        assert waited < busy_timeout_ms / 1000 / 2, f"failed after {waited:.2f}s, not at once"
        # The holder committed; the deferred writer's row is not there.
        async with first.read() as session:
            bodies = (await session.exec(text("SELECT body FROM note ORDER BY id"))).scalars().all()
        assert bodies == ["first", "holder"]
    finally:
        await first.dispose()
        await second.dispose()


async def test_a_write_transaction_queues_behind_the_writer_and_succeeds(tmp_path: Path) -> None:
    first, second = await scratch_databases(tmp_path, busy_timeout_ms=10_000)
    hold_s = 0.5
    try:
        holding = asyncio.Event()

        async def holder() -> None:
            async with second.write() as session:
                await session.exec(text("INSERT INTO note (body) VALUES ('holder')"))
                holding.set()
                await asyncio.sleep(hold_s)

        async def queued() -> float:
            await holding.wait()
            started = time.perf_counter()
            async with first.write() as session:  # BEGIN IMMEDIATE waits for the lock
                count = (await session.exec(text("SELECT count(*) FROM note"))).scalar_one()
                await session.exec(text("INSERT INTO note (body) VALUES (:body)"), params={"body": f"after {count}"})
            return time.perf_counter() - started

        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            await holding.wait()
            for _ in range(int(hold_s / 0.01)):
                await asyncio.sleep(0.01)
                ticks += 1

        _, waited, _ = await asyncio.gather(holder(), queued(), ticker())
        assert waited >= hold_s * 0.8, f"the second writer did not wait ({waited:.2f}s)"
        # SQLite runs on the loop's thread, but the wait is an asyncio sleep: the loop went on.
        assert ticks >= int(hold_s / 0.01) * 0.5, f"the event loop stalled while a writer waited ({ticks} ticks)"
        async with first.read() as session:
            bodies = (await session.exec(text("SELECT body FROM note ORDER BY id"))).scalars().all()
        # It read after the holder committed, so it saw both rows: no lost update.
        assert bodies == ["first", "holder", "after 2"]
    finally:
        await first.dispose()
        await second.dispose()


async def test_a_writer_gives_up_with_database_is_locked_after_the_busy_timeout(tmp_path: Path) -> None:
    first, second = await scratch_databases(tmp_path, busy_timeout_ms=300)
    try:
        async with second.write() as session:
            await session.exec(text("INSERT INTO note (body) VALUES ('holder')"))
            started = time.perf_counter()
            with pytest.raises(exc.OperationalError, match="database is locked"):
                async with first.write() as waiting:
                    await waiting.exec(text("INSERT INTO note (body) VALUES ('too late')"))
            waited = time.perf_counter() - started
        assert 0.25 <= waited < 2, f"gave up after {waited:.2f}s with a 0.3 s busy timeout"
    finally:
        await first.dispose()
        await second.dispose()


async def test_writers_of_one_process_take_turns_in_arrival_order(tmp_path: Path) -> None:
    """The write gate: in-process writers never meet SQLite's busy handler, and are served
    first come, first served."""
    database, other = await scratch_databases(tmp_path, busy_timeout_ms=0)
    await other.dispose()
    order: list[int] = []

    async def writer(index: int) -> None:
        await asyncio.sleep(index * 0.005)  # arrive in index order
        async with database.write() as session:
            await asyncio.sleep(0.02)  # hold the lock across awaits, as a service does
            await session.exec(text("INSERT INTO note (body) VALUES (:body)"), params={"body": str(index)})
            order.append(index)

    try:
        # With a busy timeout of 0, any writer that reached SQLite's lock would fail at once.
        await asyncio.gather(*(writer(index) for index in range(8)))
        assert order == list(range(8))
    finally:
        await database.dispose()


async def test_a_sync_with_nothing_to_push_does_not_wait_for_the_write_lock(tmp_path: Path) -> None:
    """An idle phone's sync only reads (its "last seen" is kept to the minute), so a long
    write by another process does not hold it up."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'idle.db'}"
    context, leaders = await seed(url)
    other_process = Database(create_engine(url, busy_timeout_ms=0))
    try:
        devices = DeviceService(context)
        enrolled = await devices.enroll(leaders[VILLAGES[0]], uuid.uuid4(), "村支书的手机")
        request = SyncRequest(protocol=1, app_version="1.0", device_id=enrolled.device.id)
        await SyncService(context).sync(await devices.authenticate(enrolled.token), request)
        context.clock.advance(seconds=30)
        async with other_process.write() as session:
            await session.exec(text("UPDATE sync_device SET name = name"))  # holds the write lock
            answer = await asyncio.wait_for(
                SyncService(context).sync(await devices.authenticate(enrolled.token), request), 5
            )
        assert answer.last_seq == 0 and answer.scope is not None
        # A minute on, the sync records that the phone was seen.
        context.clock.advance(minutes=1)
        await SyncService(context).sync(await devices.authenticate(enrolled.token), request)
        seen = (await devices.authenticate(enrolled.token)).device.last_seen_at
        assert seen == context.clock.now()
    finally:
        await other_process.dispose()
        await context.db.dispose()


def test_a_stale_snapshot_cannot_write_even_after_the_writer_commits(tmp_path: Path) -> None:
    """The same trap with the driver alone: in WAL a read snapshot older than the last
    commit can never be upgraded (SQLITE_BUSY_SNAPSHOT), so waiting is pointless."""
    import sqlite3

    path = tmp_path / "snapshot.db"
    reader = sqlite3.connect(path, isolation_level=None, timeout=10)
    writer = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        reader.execute("PRAGMA journal_mode=WAL")
        reader.execute("CREATE TABLE note (body TEXT)")
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM note").fetchone()
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO note VALUES ('writer')")
        writer.execute("COMMIT")
        started = time.perf_counter()
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            reader.execute("INSERT INTO note VALUES ('reader')")
        assert time.perf_counter() - started < 5
        reader.execute("ROLLBACK")
        # A fresh transaction taken for writing succeeds.
        reader.execute("BEGIN IMMEDIATE")
        reader.execute("INSERT INTO note VALUES ('reader')")
        reader.execute("COMMIT")
        assert [row[0] for row in writer.execute("SELECT body FROM note")] == ["writer", "reader"]
    finally:
        reader.close()
        writer.close()
