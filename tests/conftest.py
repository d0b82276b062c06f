"""Test fixtures: every database test runs on SQLite and on PostgreSQL, each in a
transaction that is rolled back afterwards.

A session builds one migrated database per backend and seeds a small world (two counties of
商洛市, grids, a user of every role with a token); each test then works inside an outer
transaction on one connection, which the app under test uses too, and is rolled back.

PostgreSQL: ``FENGQIAO_TEST_POSTGRES_URL`` (default the local server's ``test`` database)
names a server where a throwaway database is created. When it is unreachable the
PostgreSQL half is skipped, unless ``FENGQIAO_REQUIRE_POSTGRES=1`` (CI), where it fails.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from httpx import ASGITransport, AsyncClient

from grid.calendar import CHINA_TZ
from grid.hierarchy import Region, parse_division_csv
from grid.people import Role
from server.app import create_app
from server.clock import FixedClock
from server.crypto import FieldCipher, generate_key_text
from server.db import Database, create_engine
from server.migrate import upgrade
from server.principal import Principal
from server.security import hash_password
from server.services.categories import CategoryService
from server.services.context import ServiceContext
from server.services.organs import OrganService
from server.services.regions import RegionService
from server.services.users import UserService, principal_of
from server.settings import Settings
from tests.pg import POSTGRES_URL, create_database, drop_database

SHARED = Path(__file__).resolve().parents[2] / "shared"
DIVISIONS = SHARED / "data" / "divisions"
TEST_KEY = generate_key_text()
TEST_PASSWORD = "correct horse battery"
# Monday 2 March 2026, 10:00 in China: an ordinary working day.
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=CHINA_TZ)

REQUIRE_POSTGRES = os.environ.get("FENGQIAO_REQUIRE_POSTGRES") == "1"
BACKENDS = [b for b in os.environ.get("FENGQIAO_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


async def _create_postgres_database() -> str:
    try:
        return await create_database("fq_test")
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        message = f"PostgreSQL unreachable at {POSTGRES_URL}: {error}"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " (FENGQIAO_REQUIRE_POSTGRES=1)")
        pytest.skip(message)


_drop_postgres_database = drop_database


@dataclass
class World:
    """The seeded places and people every database test can use."""

    regions: dict[str, Region]
    principals: dict[str, Principal]
    tokens: dict[str, str]
    # Handy names for the places used most.
    county: str = "611026000000"  # 柞水县
    town_a: str = "611026001000"  # 乾佑街道
    village_a: str = "611026001001"  # 仁和社区
    village_a2: str = "611026001002"  # 迎春社区
    grid_a: str = "611026001001001"
    grid_a2: str = "611026001001002"
    town_b: str = "611026101000"  # 营盘镇
    village_b: str = "611026101001"  # 营镇社区
    grid_b: str = "611026101001001"
    other_county: str = "611025000000"  # 镇安县
    other_village: str = "611025001001"
    other_grid: str = "611025001001001"
    extra: dict[str, object] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


# name → (role, node attribute of World)
PEOPLE = {
    "grid_worker": (Role.GRID_WORKER, "grid_a"),
    "grid_worker_b": (Role.GRID_WORKER, "grid_b"),
    "mediator": (Role.VILLAGE_MEDIATOR, "village_a"),
    "leader": (Role.VILLAGE_LEADER, "village_a"),
    "leader_b": (Role.VILLAGE_LEADER, "village_b"),
    "town": (Role.TOWN_OFFICER, "town_a"),
    "town_b": (Role.TOWN_OFFICER, "town_b"),
    "county": (Role.COUNTY_OFFICER, "county"),
    "admin": (Role.ADMIN, "county"),
    "other_county": (Role.COUNTY_OFFICER, "other_county"),
    "other_grid_worker": (Role.GRID_WORKER, "other_grid"),
}


# The people who head their organ in the seeded world.
HEADS = ("town", "town_b", "county", "other_county")


def make_settings(url: str, files_dir: Path | None = None) -> Settings:
    # Attachments land beside the test database, never in the checkout's var/.
    files_dir = files_dir or Path(tempfile.mkdtemp(prefix="fengqiao-files-"))
    return Settings(database_url=url, data_key=TEST_KEY, token_ttl_hours=720, files_dir=files_dir)


async def seed_world(context: ServiceContext) -> World:
    regions = RegionService(context)
    rows = parse_division_csv((DIVISIONS / "shangluo.csv").read_text(encoding="utf-8"))
    await regions.import_divisions(rows, valid_from_year=2023)
    await CategoryService(context).ensure_default()
    world = World(regions={}, principals={}, tokens={})
    seeder = Principal(uuid.uuid4(), "seed", "seed", Role.ADMIN, "611000000000", "/611000000000/")
    for village, count in ((world.village_a, 2), (world.village_b, 1), (world.other_village, 1)):
        for number in range(count):
            await regions.create_grid(seeder, village, f"第{number + 1}网格")
    password_hash = hash_password(TEST_PASSWORD)
    users = UserService(context)
    for name, (role, node_attribute) in PEOPLE.items():
        user = await users.create(
            username=name,
            display_name=f"测试{name}",
            role=role,
            node_code=getattr(world, node_attribute),
            password_hash=password_hash,
        )
        world.principals[name] = principal_of(user)
        world.tokens[name] = (await users.login(name, TEST_PASSWORD)).token
    # The one officer of each organ heads it (本行政机关负责人, grid/organs.py).
    for name in HEADS:
        principal = world.principals[name]
        await OrganService(context).designate(None, principal.node_code, principal.user_id)
    for code in {
        getattr(world, attr)
        for attr in World.__dataclass_fields__
        if attr not in ("regions", "principals", "tokens", "extra")
    }:
        world.regions[code] = await regions.get(code)
    return world


@dataclass
class Backend:
    name: str
    url: str
    database: Database
    world: World


@pytest.fixture(scope="session", params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def backend(backend_name: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Backend]:
    if backend_name == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    else:
        url = await _create_postgres_database()
    await asyncio.to_thread(upgrade, url)
    database = Database(create_engine(url, pool_size=5))
    context = ServiceContext(
        settings=make_settings(url, tmp_path_factory.mktemp("files")),
        db=database,
        clock=FixedClock(T0),
        cipher=FieldCipher.from_setting(TEST_KEY),
    )
    world = await seed_world(context)
    try:
        yield Backend(backend_name, url, database, world)
    finally:
        await database.dispose()
        if backend_name == "postgresql":
            await _drop_postgres_database(url)


@pytest_asyncio.fixture(loop_scope="session")
async def db(backend: Backend) -> AsyncIterator[Database]:
    """A database whose every change is rolled back when the test ends."""
    async with backend.database.engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield Database.bound_to(connection)
        finally:
            await transaction.rollback()


@pytest.fixture
def world(backend: Backend) -> World:
    return backend.world


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return make_settings(backend.url, tmp_path / "files")


@pytest_asyncio.fixture(loop_scope="session")
async def context(settings: Settings, db: Database, clock: FixedClock) -> ServiceContext:
    context = ServiceContext(settings=settings, db=db, clock=clock, cipher=FieldCipher.from_setting(TEST_KEY))
    await context.reload_calendar()
    return context


@pytest_asyncio.fixture(loop_scope="session")
async def client(settings: Settings, context: ServiceContext) -> AsyncIterator[AsyncClient]:
    # httpx over the ASGI interface in this very event loop: asyncpg connections belong
    # to the loop that opened them, and Litestar's own test client runs another one.
    app = create_app(settings, context=context)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver.local/api/v1") as test_client:
        yield test_client
