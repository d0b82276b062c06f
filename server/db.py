"""Engines and transactions for SQLite and PostgreSQL.

SQLite: WAL, a busy timeout, foreign keys, and writes in ``BEGIN IMMEDIATE`` transactions.
A deferred transaction that reads first and writes later must upgrade its lock, and that
upgrade fails at once with "database is locked" instead of waiting for the busy timeout;
taking the write lock up front makes concurrent writers queue instead of fail.

Writers of one process also queue on an in-process lock (the write gate) before they ask
SQLite: SQLite's busy handler polls with sleeps of up to 100 ms, so a crowd of waiting
connections leaves the database idle between commits and serves them in no particular
order. The gate hands the database to the next writer the moment the last one commits,
first come first served. SQLite runs on the event loop's thread (server/sqlite_driver.py),
which relies on the gate: a busy wait left for SQLite could only come from another
process, and the driver waits for that one with asyncio sleeps up to the busy timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel.ext.asyncio.session import AsyncSession

from server.sqlite_driver import inline_dbapi

WRITE_OPTION = "fengqiao_write"


def create_engine(url: str, *, busy_timeout_ms: int = 30_000, pool_size: int = 10) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            module=inline_dbapi(),
            connect_args={"timeout": busy_timeout_ms / 1000},
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=max(30.0, busy_timeout_ms / 1000),
        )
        _configure_sqlite(engine)
        return engine
    # asyncpg caches prepared statements, and PostgreSQL switches a cached statement to a
    # generic plan after five runs; case lists vary too much in selectivity for that.
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"server_settings": {"plan_cache_mode": "force_custom_plan"}},
    )


def create_null_pool_engine(url: str) -> AsyncEngine:
    """For one-off commands (migrations) that must not keep connections open."""
    sqlite = make_url(url).get_backend_name() == "sqlite"
    engine = create_async_engine(url, poolclass=NullPool, **({"module": inline_dbapi()} if sqlite else {}))
    if sqlite:
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours (see module doc).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Database:
    """Hands out sessions for reading and for writing.

    Tests bind it to one connection inside an outer transaction (``bound_to``) so every
    test is rolled back; the code under test cannot tell the difference.
    """

    def __init__(self, engine: AsyncEngine, *, connection: AsyncConnection | None = None):
        self.engine = engine
        self._connection = connection
        self._write_gate: AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )

    @classmethod
    def bound_to(cls, connection: AsyncConnection) -> Database:
        return cls(connection.engine, connection=connection)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in a write transaction, committed on success, rolled back on error."""
        if self._connection is not None:
            async with self._bound_session() as session:
                yield session
            return
        bind = self.engine.execution_options(**{WRITE_OPTION: True})
        async with (
            self._write_gate,
            AsyncSession(bind=bind, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        if self._connection is not None:
            async with self._bound_session() as session:
                yield session
            return
        async with AsyncSession(bind=self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @asynccontextmanager
    async def _bound_session(self) -> AsyncIterator[AsyncSession]:
        assert self._connection is not None
        async with (
            AsyncSession(
                bind=self._connection,
                expire_on_commit=False,
                join_transaction_mode="create_savepoint",
            ) as session,
            session.begin(),
        ):
            yield session

    async def dispose(self) -> None:
        if self._connection is None:
            await self.engine.dispose()


async def query_plan(session: AsyncSession, statement: Any) -> list[str]:
    """The database's plan for a statement, one line a step (for tests and benchmarks)."""
    connection = await session.connection()
    sql = str(statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    if connection.dialect.name == "sqlite":
        rows = (await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")).all()
        return [str(row[-1]) for row in rows]
    rows = (await connection.exec_driver_sql(f"EXPLAIN {sql}")).all()
    return [str(row[0]) for row in rows]
