"""What a statement costs through SQLAlchemy's stock aiosqlite adapter and through ours.

    python -m bench.sqlite_driver_bench [--statements 3000]

Both engines open the same WAL database file; the stock one is the baseline
(``sqlite+aiosqlite`` with aiosqlite's thread), ours runs SQLite on the loop's thread
(server/sqlite_driver.py). Each shape runs the same statements through both, one engine
after the other, and the table prints microseconds per statement and the ratio. Plain
sqlite3 without SQLAlchemy is printed as the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from server.sqlite_driver import inline_dbapi

METADATA = MetaData()
NOTE = Table("note", METADATA, Column("id", Integer, primary_key=True), Column("body", String))
ROWS = 1000


async def select_by_key(connection: AsyncConnection, index: int) -> None:
    (await connection.execute(select(NOTE).where(NOTE.c.id == index % ROWS + 1))).first()


async def insert_row(connection: AsyncConnection, index: int) -> None:
    await connection.execute(insert(NOTE).values(body=f"row {index}"))


async def write_transaction(engine: AsyncEngine, index: int) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("SELECT count(*) FROM note WHERE id = :id"), {"id": index % ROWS + 1})
        await connection.execute(insert(NOTE).values(body=f"txn {index}"))


async def per_statement(
    engine: AsyncEngine, statements: int, work: Callable[[AsyncConnection, int], Awaitable[None]]
) -> float:
    async with engine.begin() as connection:
        started = time.perf_counter()
        for index in range(statements):
            await work(connection, index)
        return (time.perf_counter() - started) / statements


async def per_transaction(engine: AsyncEngine, count: int) -> float:
    started = time.perf_counter()
    for index in range(count):
        await write_transaction(engine, index)
    return (time.perf_counter() - started) / count


def floor(path: Path, statements: int) -> float:
    connection = sqlite3.connect(path)
    try:
        started = time.perf_counter()
        for index in range(statements):
            connection.execute("SELECT id, body FROM note WHERE id = ?", (index % ROWS + 1,)).fetchall()
        return (time.perf_counter() - started) / statements
    finally:
        connection.close()


async def main(statements: int) -> None:
    path = Path(tempfile.mkdtemp()) / "driver.db"
    url = f"sqlite+aiosqlite:///{path}"
    stock = create_async_engine(url)
    ours = create_async_engine(url, module=inline_dbapi())
    for engine in (stock, ours):
        # As the service configures it (server/db.py): no fsync on every commit in WAL.
        event.listen(engine.sync_engine, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA synchronous=NORMAL"))
    async with stock.begin() as connection:
        await connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        await connection.run_sync(METADATA.create_all)
        await connection.execute(insert(NOTE), [{"body": f"seed {n}"} for n in range(ROWS)])
    rows = []
    for label, measure in (
        ("SELECT by primary key", lambda engine: per_statement(engine, statements, select_by_key)),
        ("INSERT", lambda engine: per_statement(engine, statements, insert_row)),
        ("write transaction (BEGIN, SELECT, INSERT, COMMIT)", lambda engine: per_transaction(engine, statements // 4)),
    ):
        baseline = await measure(stock)
        measured = await measure(ours)
        rows.append((label, baseline, measured))
    await stock.dispose()
    await ours.dispose()
    plain = floor(path, statements)
    print(f"SQLAlchemy async SQLite drivers, {statements} statements per shape (µs per statement or transaction)")
    print(f"{'shape':<52} {'stock aiosqlite':>16} {'ours (inline)':>14} {'ratio':>7}")
    for label, baseline, measured in rows:
        print(f"{label:<52} {baseline * 1e6:>16.0f} {measured * 1e6:>14.0f} {baseline / measured:>6.1f}×")
    print(f"{'floor: sqlite3 SELECT by primary key, no SQLAlchemy':<52} {plain * 1e6:>31.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--statements", type=int, default=3000)
    asyncio.run(main(parser.parse_args().statements))
