"""INSERT … ON CONFLICT for both backends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession


def upsert_statement(dialect: str, table: Any, keys: Sequence[str], update: Sequence[str] | None):
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    if not update:
        return statement.on_conflict_do_nothing(index_elements=list(keys))
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: getattr(statement.excluded, name) for name in update},
    )


async def upsert_rows(
    session: AsyncSession,
    table: Any,
    rows: list[dict[str, Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str] | None,
    batch: int = 2000,
) -> None:
    if not rows:
        return
    statement = upsert_statement(session.bind.dialect.name, table, keys, update)
    for start in range(0, len(rows), batch):
        await session.exec(statement, params=rows[start : start + batch])  # type: ignore[call-overload]
