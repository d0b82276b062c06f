"""Importing official divisions, subtree queries and their indexes, grids, and the CLI.

Database tests run on SQLite and PostgreSQL inside the rolled-back fixture, whose world
already holds 商洛市 (imported with its parent 陕西省 outside the file) and four grids.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, text
from sqlmodel import col, select

from grid.cases import Case
from grid.errors import DomainError
from grid.hierarchy import DivisionRow, Level, Region, child_path, compute_paths, parse_division_csv
from grid.people import Role, User
from server.db import query_plan
from server.principal import Principal
from server.schemas.cases import CaseCreate
from server.services.cases import CaseFilters, CaseService
from server.services.context import ServiceContext
from server.services.regions import RegionService, in_subtree, independent_moves
from server.services.users import principal_of
from tests.conftest import DIVISIONS, TEST_KEY, Backend, World
from tests.factories import case_payload

PROVINCE = "610000000000"  # 陕西省
CITY = "611000000000"  # 商洛市
SHAANXI_ROWS = 21_809
SHAANXI_VILLAGES = 20_356
SEEDED_GRIDS = 4


def rows_of(name: str) -> list[DivisionRow]:
    return parse_division_csv((DIVISIONS / f"{name}.csv").read_text(encoding="utf-8"))


SHAANXI = rows_of("shaanxi")
SHANGLUO = rows_of("shangluo")
ZHASHUI = rows_of("zhashui")


async def all_regions(context: ServiceContext) -> dict[str, tuple]:
    async with context.db.read() as session:
        result = await session.exec(select(Region))
        return {
            r.code: (r.name, r.level, r.parent_code, r.path, r.valid_from_year, r.valid_to_year) for r in result.all()
        }


async def user_paths(context: ServiceContext) -> dict[str, str]:
    async with context.db.read() as session:
        return dict((await session.exec(select(User.username, User.node_path))).all())


async def reload_principal(context: ServiceContext, principal: Principal) -> Principal:
    async with context.db.read() as session:
        user = await session.get(User, principal.user_id)
    assert user is not None
    return principal_of(user)


async def path_of(context: ServiceContext, code: str) -> str:
    return (await RegionService(context).get(code)).path


async def import_shaanxi(context: ServiceContext):
    started = time.perf_counter()
    result = await RegionService(context).import_divisions(SHAANXI, valid_from_year=2023)
    return result, time.perf_counter() - started


# --- importing ------------------------------------------------------------------------------


async def test_should_store_every_row_of_the_province_with_its_path(context: ServiceContext) -> None:
    result, elapsed = await import_shaanxi(context)
    # 商洛市 is already stored: its 1,432 rows move under the province, the rest are new.
    assert (result.rows, result.inserted, result.updated) == (SHAANXI_ROWS, SHAANXI_ROWS - 1432, 1432)
    assert elapsed < 30, f"importing the province took {elapsed:.1f}s"
    stored = await all_regions(context)
    expected = compute_paths(SHAANXI)
    assert len(stored) == SHAANXI_ROWS + SEEDED_GRIDS
    for row in SHAANXI:
        name, level, parent_code, path, valid_from, valid_to = stored[row.code]
        assert (name, level, parent_code, path) == (row.name, row.level.value, row.parent_code, expected[row.code])
        assert (valid_from, valid_to) == (2023, None)
    assert stored[PROVINCE][3] == f"/{PROVINCE}/"


async def test_should_keep_codes_exactly_as_given(context: ServiceContext) -> None:
    await import_shaanxi(context)
    stored = await all_regions(context)
    file_codes = {row.code for row in SHAANXI}
    assert file_codes <= set(stored)
    assert {code for code in stored if len(code) == 12} == file_codes
    assert all(isinstance(code, str) and code.isdigit() for code in stored)


async def test_should_change_nothing_when_the_province_is_imported_twice(context: ServiceContext) -> None:
    await import_shaanxi(context)
    before = await all_regions(context)
    result, elapsed = await import_shaanxi(context)
    assert (result.inserted, result.updated, result.unchanged, result.moved) == (0, 0, SHAANXI_ROWS, 0)
    assert await all_regions(context) == before
    assert elapsed < 30


async def test_should_change_nothing_when_zhashui_follows_shangluo(context: ServiceContext) -> None:
    before = await all_regions(context)
    users_before = await user_paths(context)
    result = await RegionService(context).import_divisions(ZHASHUI, valid_from_year=2023)
    assert (result.rows, result.inserted, result.updated, result.unchanged) == (92, 0, 0, 92)
    assert await all_regions(context) == before
    assert await user_paths(context) == users_before
    # Its top row hangs under the stored 商洛市, as in the city file.
    assert await path_of(context, "611026000000") == f"/{CITY}/611026000000/"


async def test_should_update_a_renamed_division_and_count_it(context: ServiceContext) -> None:
    renamed = [
        DivisionRow(row.code, "乾佑镇", row.level, row.parent_code) if row.code == "611026001000" else row
        for row in ZHASHUI
    ]
    result = await RegionService(context).import_divisions(renamed, valid_from_year=2024)
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 91)
    township = await RegionService(context).get("611026001000")
    assert township.name == "乾佑镇"
    assert township.valid_from_year == 2023  # the year it first appeared


async def test_should_report_progress_up_to_the_total(context: ServiceContext) -> None:
    calls: list[tuple[int, int]] = []
    await RegionService(context).import_divisions(SHAANXI, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (SHAANXI_ROWS, SHAANXI_ROWS)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


async def test_should_move_grids_users_and_cases_along_when_a_city_is_rerooted(
    context: ServiceContext, world: World
) -> None:
    cases = CaseService(context)
    created = await cases.create(world.principals["grid_worker"], CaseCreate.model_validate(case_payload(world.grid_a)))
    await import_shaanxi(context)

    village = await path_of(context, world.village_a)
    assert village == f"/{PROVINCE}/{CITY}/611026000000/{world.town_a}/{world.village_a}/"
    for grid, parent in ((world.grid_a, world.village_a), (world.grid_b, world.village_b)):
        assert await path_of(context, grid) == child_path(await path_of(context, parent), grid)
    users = await user_paths(context)
    assert users["leader"] == village
    assert users["county"] == f"/{PROVINCE}/{CITY}/611026000000/"
    async with context.db.read() as session:
        case = await session.get(Case, created.case.id)
    assert case is not None
    assert case.region_path == child_path(village, world.grid_a)
    assert case.handling_node_path == village
    # Scopes still work with the reloaded accounts, and nothing is left on the old root.
    for who in ("grid_worker", "leader", "town", "county"):
        principal = await reload_principal(context, world.principals[who])
        assert principal.covers(case.region_path), who
        listed, _ = await cases.list(principal, CaseFilters(), cursor=None, limit=10)
        assert [row.id for row in listed] == [case.id], who
    other = await reload_principal(context, world.principals["other_county"])
    assert not other.covers(case.region_path)
    assert await RegionService(context).count_subtree(f"/{CITY}/") == 0
    assert await RegionService(context).count_subtree(f"/{PROVINCE}/") == SHAANXI_ROWS + SEEDED_GRIDS


async def test_should_move_a_village_that_changed_township_with_its_grids_and_cases(
    context: ServiceContext, world: World
) -> None:
    created = await CaseService(context).create(
        world.principals["grid_worker"], CaseCreate.model_validate(case_payload(world.grid_a))
    )
    # In one import the city hangs under the province and 仁和社区 moves to 营盘镇.
    revised = [
        DivisionRow(row.code, row.name, row.level, world.town_b) if row.code == world.village_a else row
        for row in SHAANXI
    ]
    result = await RegionService(context).import_divisions(revised)
    assert result.moved == 1432
    town_b = await path_of(context, world.town_b)
    village = await path_of(context, world.village_a)
    assert village == child_path(town_b, world.village_a)
    assert await path_of(context, world.grid_a) == child_path(village, world.grid_a)
    assert await path_of(context, world.grid_a2) == child_path(village, world.grid_a2)
    assert (await user_paths(context))["leader"] == village
    async with context.db.read() as session:
        case = await session.get(Case, created.case.id)
    assert case is not None
    assert (case.region_path, case.handling_node_path) == (child_path(village, world.grid_a), village)
    town_b_officer = await reload_principal(context, world.principals["town_b"])
    assert town_b_officer.covers(case.region_path)
    assert not (await reload_principal(context, world.principals["town"])).covers(case.region_path)


def test_independent_moves_keeps_only_moves_not_implied_by_an_ancestor() -> None:
    moves = {
        "/C/": "/P/C/",
        "/C/T1/": "/P/C/T1/",
        "/C/T1/V1/": "/P/C/T1/V1/",
        "/C/T1/V2/": "/P/C/T2/V2/",
        "/C/T2/": "/P/C/T2/",
    }
    assert independent_moves(moves) == [("/C/T1/V2/", "/P/C/T2/V2/"), ("/C/", "/P/C/")]
    assert independent_moves({}) == []


# --- subtree queries -------------------------------------------------------------------------


async def test_should_find_exactly_the_82_villages_of_zhashui(context: ServiceContext) -> None:
    regions = RegionService(context)
    for province_imported in (False, True):  # before and after the province hangs above the city
        if province_imported:
            await import_shaanxi(context)
        county = await regions.get("611026000000")
        villages = await regions.subtree(county.path, level=Level.VILLAGE)
        assert {village.code for village in villages} == {row.code for row in ZHASHUI if row.level is Level.VILLAGE}
        assert len(villages) == 82
        everything = {region.code for region in await regions.subtree(county.path)}
        zhashui_grids = {"611026001001001", "611026001001002", "611026101001001"}
        assert everything == {row.code for row in ZHASHUI} | zhashui_grids
        assert await regions.count_subtree(county.path) == 92 + 3


async def test_should_find_every_village_of_the_province(context: ServiceContext) -> None:
    await import_shaanxi(context)
    regions = RegionService(context)
    province = await regions.get(PROVINCE)
    villages = await regions.subtree(province.path, level=Level.VILLAGE)
    assert len(villages) == SHAANXI_VILLAGES
    assert {village.code for village in villages} == {row.code for row in SHAANXI if row.level is Level.VILLAGE}
    levels = Counter(region.level for region in await regions.subtree(province.path))
    assert levels == {"province": 1, "city": 10, "county": 107, "township": 1335, "village": 20356, "grid": 4}


async def test_should_not_leak_into_a_sibling_whose_code_shares_the_prefix(context: ServiceContext) -> None:
    regions = RegionService(context)
    township = await regions.get("611026001000")
    lookalike = Region(
        code="6110260010001",
        name="前缀相同",
        level=Level.TOWNSHIP.value,
        parent_code="611026000000",
        path=township.path[: -len("611026001000/")] + "6110260010001/",
    )
    async with context.db.write() as session:
        session.add(lookalike)
    codes = {region.code for region in await regions.subtree(township.path)}
    assert "6110260010001" not in codes
    assert codes == {row.code for row in ZHASHUI if row.code.startswith("611026001")} | {
        "611026001001001",
        "611026001001002",
    }


async def test_should_answer_the_ancestor_at_a_level(context: ServiceContext, world: World) -> None:
    regions = RegionService(context)
    grid = await regions.get(world.grid_a)
    assert (await regions.ancestor_at(grid.path, Level.TOWNSHIP)).code == world.town_a
    assert (await regions.ancestor_at(grid.path, Level.COUNTY)).code == "611026000000"
    with pytest.raises(DomainError) as caught:
        await regions.ancestor_at(grid.path, Level.PROVINCE)
    assert caught.value.code == "region.not_found"


# --- the subtree query uses the path index ---------------------------------------------------


async def plan_of(context: ServiceContext, statement) -> str:
    async with context.db.read() as session:
        if context.db.dialect == "postgresql":
            await session.exec(text("ANALYZE region"))  # type: ignore[call-overload]
        return "\n".join(await query_plan(session, statement))


def subtree_statements(path: str) -> dict[str, object]:
    return {
        "rows": select(Region).where(in_subtree(col(Region.path), path)).order_by(Region.path),
        "count": select(func.count()).select_from(Region).where(in_subtree(col(Region.path), path)),
        "villages": select(Region)
        .where(in_subtree(col(Region.path), path), Region.level == Level.VILLAGE.value)
        .order_by(Region.path),
    }


@pytest.mark.parametrize("query", ["rows", "count", "villages"])
async def test_should_answer_a_subtree_with_an_index_range_scan(
    context: ServiceContext, backend: Backend, query: str
) -> None:
    await import_shaanxi(context)
    county = await path_of(context, "611026000000")
    plan = await plan_of(context, subtree_statements(county)[query])
    if backend.name == "sqlite":
        assert "SEARCH region USING" in plan and "INDEX" in plan, plan
        assert "SCAN region" not in plan, plan
        if query != "villages":  # with a level too, SQLite may pick either index
            assert "ix_region_path" in plan, plan
    else:
        assert "Seq Scan on region" not in plan, plan
        assert "ix_region_path" in plan, plan
        assert any(kind in plan for kind in ("Index Scan", "Index Only Scan", "Bitmap Index Scan")), plan


async def test_should_compare_paths_byte_by_byte(context: ServiceContext, backend: Backend) -> None:
    # PostgreSQL's default linguistic collation ignores '/', which breaks the ranges.
    async with context.db.read() as session:
        connection = await session.connection()
        if backend.name == "sqlite":
            tables = (
                await connection.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE name IN ('region', 'app_user', 'case_file')"
                )
            ).all()
            assert len(tables) == 3
            assert all("COLLATE" not in row[0].upper() for row in tables)  # BINARY, the default
            return
        rows = (
            await connection.exec_driver_sql(
                "SELECT table_name, column_name, collation_name FROM information_schema.columns "
                "WHERE (table_name, column_name) IN "
                "(('region', 'path'), ('region', 'code'), ('app_user', 'node_path'), "
                "('case_file', 'region_path'), ('case_file', 'handling_node_path'))"
            )
        ).all()
    assert len(rows) == 5
    assert {row[2] for row in rows} == {"C"}, rows


# --- grids ----------------------------------------------------------------------------------


async def test_should_number_new_grids_under_a_village(context: ServiceContext, world: World) -> None:
    regions = RegionService(context)
    village_code = "611026110216"  # 金台村委会, no grids yet
    village = await regions.get(village_code)
    admin = world.principals["admin"]
    first = await regions.create_grid(admin, village_code, "第一网格")
    second = await regions.create_grid(admin, village_code, "第二网格")
    assert (first.code, second.code) == (village_code + "001", village_code + "002")
    for grid in (first, second):
        stored = await regions.get(grid.code)
        assert (stored.level, stored.parent_code, stored.path) == (
            "grid",
            village_code,
            child_path(village.path, grid.code),
        )
    assert [g.code for g in await regions.children(admin, village_code)] == [first.code, second.code]
    # A re-import of the divisions leaves the grids alone.
    await regions.import_divisions(ZHASHUI)
    assert (await regions.get(first.code)).path == first.path


async def test_should_continue_the_serials_of_a_village_that_has_grids(context: ServiceContext, world: World) -> None:
    grid = await RegionService(context).create_grid(world.principals["leader"], world.village_a, "第三网格")
    assert grid.code == world.village_a + "003"


@pytest.mark.parametrize("place", ["town_a", "county", "grid_a"])
async def test_should_refuse_a_grid_anywhere_but_under_a_village(
    context: ServiceContext, world: World, place: str
) -> None:
    with pytest.raises(DomainError) as caught:
        await RegionService(context).create_grid(world.principals["admin"], getattr(world, place), "网格")
    assert caught.value.code == "regions.invalid_grid"


async def test_should_refuse_a_grid_outside_the_callers_scope(context: ServiceContext, world: World) -> None:
    with pytest.raises(DomainError) as caught:
        await RegionService(context).create_grid(world.principals["town"], world.village_b, "网格")
    assert caught.value.code == "auth.out_of_scope"


async def test_should_refuse_a_grid_to_a_grid_worker(context: ServiceContext, world: World) -> None:
    assert world.principals["grid_worker"].role is Role.GRID_WORKER
    with pytest.raises(DomainError) as caught:
        await RegionService(context).create_grid(world.principals["grid_worker"], world.village_a, "网格")
    assert caught.value.code == "auth.forbidden"


async def test_should_refuse_a_grid_under_an_unknown_place(context: ServiceContext, world: World) -> None:
    with pytest.raises(DomainError) as caught:
        await RegionService(context).create_grid(world.principals["admin"], "611026999999", "网格")
    assert caught.value.code == "region.not_found"


# --- the command line -------------------------------------------------------------------------


def fengqiao(tmp_path: Path, database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("fengqiao")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "server.cli"]
    env = {
        **os.environ,
        "FENGQIAO_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "FENGQIAO_DATA_KEY": TEST_KEY,
        "FENGQIAO_DATA_KEY_FILE": str(tmp_path / "unused.key"),
    }
    # cwd is the temp dir so no .env of the working tree is read.
    return subprocess.run(
        [*command, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def stored_paths(database: Path) -> dict[str, str]:
    with sqlite3.connect(database) as connection:
        return dict(connection.execute("SELECT code, path FROM region"))


def test_cli_imports_a_division_file_into_a_fresh_database(tmp_path: Path) -> None:
    database = tmp_path / "cli.db"
    migrated = fengqiao(tmp_path, database, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "数据库已迁移到最新版本" in migrated.stdout

    first = fengqiao(tmp_path, database, "regions", "import", str(DIVISIONS / "zhashui.csv"))
    assert first.returncode == 0, first.stderr
    assert "已导入 92 条区划（新增 92，更新 0）" in first.stdout, first.stdout
    assert "区划: 92/92" in first.stderr
    paths = stored_paths(database)
    assert len(paths) == 92
    assert paths["611026000000"] == "/611026000000/"
    assert paths["611026110221"] == "/611026000000/611026110000/611026110221/"

    second = fengqiao(tmp_path, database, "regions", "import", str(DIVISIONS / "zhashui.csv"))
    assert second.returncode == 0, second.stderr
    assert "已导入 92 条区划（新增 0，更新 0）" in second.stdout, second.stdout
    assert stored_paths(database) == paths

    # The city file arrives later: the county and everything in it move under the city.
    city = fengqiao(tmp_path, database, "regions", "import", str(DIVISIONS / "shangluo.csv"))
    assert city.returncode == 0, city.stderr
    assert "已导入 1432 条区划（新增 1340，更新 92）" in city.stdout, city.stdout
    assert stored_paths(database)["611026110221"] == f"/{CITY}/611026000000/611026110000/611026110221/"


def test_cli_refuses_a_bad_file_with_its_code_and_line(tmp_path: Path) -> None:
    database = tmp_path / "cli.db"
    assert fengqiao(tmp_path, database, "migrate").returncode == 0
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "code,name,level,parent_code,urban_rural_code\n611026000000,柞水县,county,,\n611026001000,乾佑,town,611026000000,\n",
        encoding="utf-8",
    )
    result = fengqiao(tmp_path, database, "regions", "import", str(bad))
    assert result.returncode == 2
    assert "regions.invalid_file" in result.stderr
    assert "第 3 行" in result.stderr
    assert stored_paths(database) == {}


def test_cli_reports_a_missing_file(tmp_path: Path) -> None:
    result = fengqiao(tmp_path, tmp_path / "cli.db", "regions", "import", str(tmp_path / "nowhere.csv"))
    assert result.returncode == 2
    assert "nowhere.csv" in result.stderr
