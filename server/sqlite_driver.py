"""SQLAlchemy's async SQLite adapter without aiosqlite's thread.

aiosqlite runs every call on a thread of its own and wakes the event loop with the
result; SQLAlchemy's adapter makes about four such calls per statement (open a cursor,
execute, fetch, close) and one for each BEGIN, COMMIT and connection reset. A thread
switch and a loop wake-up cost far more than the point queries and inserts of this
service take in SQLite itself, so the hand-offs, not the database, bounded how many
mutations a server could apply (``python -m bench.sqlite_driver_bench`` measures both).

Here SQLAlchemy's adapter drives a plain ``sqlite3`` connection on the event loop's own
thread. That is safe for this service because nothing in it waits inside SQLite:

- writers of one process queue on the database's write gate (server/db.py), in asyncio,
  before they begin, so in-process lock waits never reach SQLite;
- readers in WAL mode never wait for a writer;
- the only wait left is another process holding the write lock (a CLI command, a second
  server). SQLite's own busy handler would sleep on the loop, so it is off
  (``busy_timeout`` 0) and a statement refused as busy is retried after an asyncio sleep,
  with back-off, until the configured timeout.

The price: a long statement (a large report query) holds the loop while SQLite runs it.
The service's statements are indexed and bounded (pages), and reports run in a process
pool. It plugs in as the DB-API module of the stock ``sqlite+aiosqlite`` dialect
(``create_async_engine(..., module=inline_dbapi())``), so pooling, transactions and SQL are
SQLAlchemy's own; it leans on SQLAlchemy's ``AsyncAdapt_*`` adapter classes (pinned
versions in pyproject.toml) and the whole test suite runs through it.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

SQLITE_BUSY = 5
FIRST_PAUSE_S = 0.001
LONGEST_PAUSE_S = 0.05

_Outcome = tuple[list[Any], Any, int, int | None]


class InlineConnection:
    """A ``sqlite3`` connection with the awaitable surface SQLAlchemy's adapter expects
    of an aiosqlite connection."""

    def __init__(self, connection: sqlite3.Connection, busy_timeout_s: float):
        self._conn = connection
        # The adapter asks this before a commit or rollback: None once closed.
        self._connection: sqlite3.Connection | None = connection
        self.busy_timeout_s = busy_timeout_s

    async def commit(self) -> None:
        await self.retry_busy(lambda: self._conn.commit())

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        self._connection = None
        self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    async def retry_busy(self, attempt: Callable[[], Any]) -> Any:
        """``attempt()``; while SQLite answers busy (another process writes), again after
        a pause that doubles up to 50 ms, for at most the busy timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.busy_timeout_s
        pause = FIRST_PAUSE_S
        while True:
            try:
                return attempt()
            except sqlite3.OperationalError as error:
                if not _worth_waiting(error, self._conn):
                    raise
                if loop.time() + pause > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE_S)


def _worth_waiting(error: sqlite3.OperationalError, connection: sqlite3.Connection) -> bool:
    """Whether SQLite would have called its busy handler: the statement that begins a
    transaction (BEGIN IMMEDIATE) found another process writing. Inside a transaction a
    busy answer is a read transaction asking to become a writer, which waiting cannot fix
    (the writer's commit makes its snapshot stale), so SQLite fails it at once, and so do we.
    """
    return getattr(error, "sqlite_errorcode", 0) & 0xFF == SQLITE_BUSY and not connection.in_transaction


def _execute(connection: sqlite3.Connection, operation: str, parameters: Any) -> _Outcome:
    cursor = connection.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return rows, cursor.description, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _executemany(connection: sqlite3.Connection, operation: str, parameters: Any) -> _Outcome:
    cursor = connection.cursor()
    try:
        cursor.executemany(operation, parameters)
        return [], cursor.description, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class InlineCursor(AsyncAdapt_aiosqlite_cursor):
    """Runs the statement and reads everything from it at once; keeps no driver cursor."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: InlineAdaptedConnection):
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            return await_(self._run(_execute, operation, parameters))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            return await_(self._run(_executemany, operation, seq_of_parameters))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _run(self, function: Callable[..., _Outcome], operation: Any, parameters: Any) -> None:
        connection: InlineConnection = self._connection  # type: ignore[assignment]
        outcome = await connection.retry_busy(lambda: function(connection._conn, operation, parameters))
        rows, self._description, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)

    async def _async_soft_close(self) -> None:
        return None


class InlineAdaptedConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    _cursor_cls = InlineCursor

    @property
    def isolation_level(self) -> str | None:
        return self._connection._conn.isolation_level  # type: ignore[attr-defined]

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._connection._conn.isolation_level = value  # type: ignore[attr-defined]


class InlineDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, database: str, *, timeout: float = 5.0, **kwargs: Any) -> InlineAdaptedConnection:
        # SQLite must never sleep on the loop: busy waits are ours (InlineConnection).
        # check_same_thread off: a pool may close a connection from a collector thread.
        kwargs["check_same_thread"] = False
        connection = sqlite3.connect(database, timeout=0, **kwargs)
        connection.execute("PRAGMA busy_timeout=0")
        return InlineAdaptedConnection(self, InlineConnection(connection, timeout))


def inline_dbapi() -> InlineDBAPI:
    return InlineDBAPI(aiosqlite, sqlite3)
