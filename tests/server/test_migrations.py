import asyncio
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from server.db import create_engine
from server.migrate import downgrade, upgrade
from server.tables import metadata
from tests.factories import case_payload


async def test_the_migrated_schema_matches_the_table_declarations(backend):
    async with backend.database.engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata)
        )
    assert differences == []


async def test_migrations_go_down_to_nothing_and_up_again(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}"
    await asyncio.to_thread(upgrade, url)
    await asyncio.to_thread(downgrade, url, "base")
    engine = create_engine(url)
    async with engine.connect() as connection:
        tables = (await connection.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))).scalars().all()
    await engine.dispose()
    assert set(tables) <= {"alembic_version"}
    await asyncio.to_thread(upgrade, url)


@pytest.mark.parametrize("statement", ["UPDATE case_event SET reason = 'rewritten'", "DELETE FROM case_event"])
async def test_the_database_refuses_to_rewrite_or_delete_the_timeline(client, world, db, statement):
    created = await client.post("/cases", json=case_payload(world.grid_a), headers=world.auth("grid_worker"))
    assert created.status_code == 201
    with pytest.raises((IntegrityError, DBAPIError), match="append-only"):
        async with db.write() as session:
            await session.exec(text(statement))  # type: ignore[call-overload]
    timeline = await client.get(f"/cases/{created.json()['id']}/timeline", headers=world.auth("grid_worker"))
    assert [entry["kind"] for entry in timeline.json()] == ["register"]


async def test_the_identity_access_log_cannot_be_erased(client, world, db):
    created = await client.post("/cases", json=case_payload(world.grid_a), headers=world.auth("grid_worker"))
    case_id = created.json()["id"]
    revealed = await client.post(
        f"/cases/{case_id}/identity", json={"reason": "核实当事人身份以便回访"}, headers=world.auth("leader")
    )
    assert revealed.status_code == 200
    with pytest.raises((IntegrityError, DBAPIError), match="append-only"):
        async with db.write() as session:
            await session.exec(  # type: ignore[call-overload]
                text("DELETE FROM identity_access WHERE case_id = :id"),
                params={"id": uuid.UUID(case_id).hex if backend_is_sqlite(db) else case_id},
            )


def backend_is_sqlite(db) -> bool:
    return db.dialect == "sqlite"
