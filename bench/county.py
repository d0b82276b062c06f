"""The demo county (柞水县) on a fresh database, as the benchmarks that seed cases start."""

from __future__ import annotations

import asyncio
from datetime import datetime

from grid.hierarchy import Region, parse_division_csv
from server.clock import FixedClock
from server.crypto import FieldCipher
from server.db import Database, create_engine
from server.demo import DEMO_DIVISIONS
from server.migrate import upgrade
from server.services.categories import CategoryService
from server.services.context import ServiceContext
from server.services.regions import RegionService
from server.settings import Settings

COUNTY = "611026000000"  # 柞水县


async def migrated_county(url: str, key: str, now: datetime) -> tuple[ServiceContext, RegionService, Region]:
    """A migrated database holding the county's divisions and the default categories, and a
    service context whose clock stands at ``now``."""
    await asyncio.to_thread(upgrade, url)
    context = ServiceContext(
        settings=Settings(database_url=url, data_key=key),
        db=Database(create_engine(url, pool_size=5)),
        clock=FixedClock(now),
        cipher=FieldCipher.from_setting(key),
    )
    await context.reload_calendar()
    regions = RegionService(context)
    await regions.import_divisions(parse_division_csv(DEMO_DIVISIONS.read_text(encoding="utf-8")), valid_from_year=2023)
    await CategoryService(context).ensure_default()
    return context, regions, await regions.get(COUNTY)
