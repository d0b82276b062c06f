import asyncio
from collections import Counter

from sqlmodel import select

from grid.cases import Case
from grid.deadlines import light
from grid.hierarchy import Level, Region
from grid.lifecycle import CaseFacts, Status, next_duty_clock
from grid.organs import OrganHead
from grid.people import Role, User
from server.clock import FixedClock
from server.crypto import FieldCipher
from server.db import Database, create_engine
from server.demo import COUNTY_CODE, database_is_empty, seed_demo
from server.migrate import upgrade
from server.services.context import ServiceContext
from server.services.regions import in_subtree
from tests.conftest import T0, TEST_KEY, make_settings


async def test_the_demo_county_has_every_place_role_status_and_light(tmp_path):
    # `make run` seeds an empty SQLite file, so this does too (not the shared test world).
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await asyncio.to_thread(upgrade, url)
    clock = FixedClock(T0)
    context = ServiceContext(
        settings=make_settings(url),
        db=Database(create_engine(url)),
        clock=clock,
        cipher=FieldCipher.from_setting(TEST_KEY),
    )
    try:
        await check_demo(context, clock)
    finally:
        await context.db.dispose()


async def check_demo(context, clock):
    assert await database_is_empty(context)
    logins = await seed_demo(context, case_count=66)
    assert not await database_is_empty(context)
    async with context.db.read() as session:
        county = await session.get(Region, COUNTY_CODE)
        regions = (await session.exec(select(Region).where(in_subtree(Region.path, county.path)))).all()
        users = (await session.exec(select(User).where(in_subtree(User.node_path, county.path)))).all()
        cases = (await session.exec(select(Case))).all()
    levels = Counter(region.level for region in regions)
    assert (levels[Level.TOWNSHIP.value], levels[Level.VILLAGE.value]) == (9, 82)
    villages = [region.code for region in regions if region.level == Level.VILLAGE.value]
    grids_per_village = Counter(region.parent_code for region in regions if region.level == Level.GRID.value)
    assert all(2 <= grids_per_village[code] <= 3 for code in villages)
    assert {Role(user.role) for user in users} == set(Role)
    assert {login.username for login in logins} <= {user.username for user in users}

    assert {Status(case.status) for case in cases} == set(Status)
    now = clock.now()
    lights = set()
    for case in cases:
        duty = next_duty_clock(CaseFacts.from_json(case.lifecycle), context.calendar)
        if duty is not None:
            lights.add(light(now, duty.started_at, duty.due).value)
    assert lights == {"green", "yellow", "red"}

    # Every organ has a head, and extensions went through the request flow (Art. 34).
    async with context.db.read() as session:
        heads = (await session.exec(select(OrganHead))).all()
    organs = {region.code for region in regions if region.level in (Level.COUNTY.value, Level.TOWNSHIP.value)}
    assert {head.node_code for head in heads} == organs
    extended = [facts for case in cases if (facts := CaseFacts.from_json(case.lifecycle)).extension_days]
    assert extended and all(facts.extension_reason and facts.extension_approved_at for facts in extended)
    assert all(case.registered_at <= now for case in cases)
