"""The hierarchy: import of official divisions, grids, and subtree queries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, func, literal, update
from sqlmodel import col, select

from grid.cases import Case
from grid.hierarchy import (
    PATH_SEPARATOR,
    DivisionRow,
    Level,
    Region,
    child_path,
    codes_on_path,
    compute_paths,
    grid_code,
    subtree_bounds,
)
from grid.people import Role, User
from server.errors import ServiceError
from server.principal import Principal
from server.services.context import ServiceContext
from server.services.upsert import upsert_rows


@dataclass(frozen=True)
class ImportResult:
    rows: int
    inserted: int
    # Rows whose name, level, parent or path changed; an unchanged row is not rewritten.
    updated: int
    unchanged: int = 0
    # Stored nodes (with their grids, users and cases) moved to a new place in the tree.
    moved: int = 0


GRID_MANAGERS = frozenset({Role.ADMIN, Role.VILLAGE_LEADER, Role.TOWN_OFFICER, Role.COUNTY_OFFICER})
# Every denormalised copy of a region path: moving a subtree rewrites them all.
PATH_COLUMNS = (
    (Region, "path"),
    (User, "node_path"),
    (Case, "region_path"),
    (Case, "handling_node_path"),
)
UPDATED_FIELDS = ("name", "level", "parent_code", "path", "valid_to_year")


def in_subtree(column, path: str):
    low, high = subtree_bounds(path)
    return and_(column >= low, column < high)


def independent_moves(moves: dict[str, str]) -> list[tuple[str, str]]:
    """The moves (old path → new path) not implied by a move of an ancestor, deepest first.

    A re-rooted county moves every node below it, but one prefix rewrite of the county
    carries them all; a village that also changed township needs its own rewrite, done
    before its ancestors' so theirs no longer matches it.
    """
    independent = []
    for old, new in moves.items():
        codes = codes_on_path(old)
        for depth in range(len(codes) - 1, 0, -1):
            ancestor = PATH_SEPARATOR + PATH_SEPARATOR.join(codes[:depth]) + PATH_SEPARATOR
            if ancestor in moves:
                if moves[ancestor] + old[len(ancestor) :] != new:
                    independent.append((old, new))
                break
        else:
            independent.append((old, new))
    return sorted(independent, key=lambda move: (-len(codes_on_path(move[0])), move[0]))


async def ancestor_at(session, path: str, level: Level) -> Region:
    """The node at ``level`` on ``path`` (the path itself included), inside the caller's transaction."""
    result = await session.exec(
        select(Region).where(col(Region.code).in_(codes_on_path(path)), Region.level == level.value)
    )
    region = result.first()
    if region is None:
        raise ServiceError(f"区划树中缺少{level.value}层级", code="region.not_found")
    return region


class RegionService:
    def __init__(self, context: ServiceContext):
        self.context = context

    async def import_divisions(
        self,
        rows: list[DivisionRow],
        *,
        valid_from_year: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> ImportResult:
        """Insert or update official divisions; running it twice changes nothing.

        A node that lands elsewhere in the tree (a county file imported before its city's)
        takes its whole stored subtree along: grids, and the paths copied into users and
        cases, so scopes stay right.
        """
        async with self.context.db.write() as session:
            # Only parents outside the file need their stored paths.
            codes = {row.code for row in rows}
            outside = sorted({row.parent_code for row in rows if row.parent_code} - codes)
            known = dict(await self._paths_of(session, outside))
            paths = compute_paths(rows, known)
            stored = await self._stored(session, sorted(codes))
            records = []
            inserted = 0
            moves: dict[str, str] = {}
            for row in rows:
                record = {
                    "code": row.code,
                    "name": row.name,
                    "level": row.level.value,
                    "parent_code": row.parent_code,
                    "path": paths[row.code],
                    "valid_from_year": valid_from_year,
                    "valid_to_year": None,
                }
                old = stored.get(row.code)
                if old is None:
                    inserted += 1
                elif old == tuple(record[name] for name in UPDATED_FIELDS):
                    continue
                elif old[UPDATED_FIELDS.index("path")] != record["path"]:
                    moves[old[UPDATED_FIELDS.index("path")]] = record["path"]
                records.append(record)
            unchanged = len(rows) - len(records)
            batch = 5000
            for start in range(0, len(records), batch):
                await upsert_rows(
                    session,
                    Region.__table__,
                    records[start : start + batch],
                    keys=["code"],
                    update=list(UPDATED_FIELDS),
                    batch=batch,
                )
                if progress:
                    progress(unchanged + min(start + batch, len(records)), len(rows))
            if progress and not records:
                progress(len(rows), len(rows))
            # Rows of the file already carry their new paths, and no new path lies in an
            # old range (a node whose new path starts with its old prefix did not move),
            # so these rewrites touch only what the file does not list.
            for old, new in independent_moves(moves):
                for model, name in PATH_COLUMNS:
                    column = getattr(model, name)
                    await session.exec(  # type: ignore[call-overload]
                        update(model)
                        .where(in_subtree(column, old))
                        .values({name: literal(new) + func.substr(column, len(old) + 1)})
                        .execution_options(synchronize_session=False)
                    )
        return ImportResult(
            rows=len(rows),
            inserted=inserted,
            updated=len(records) - inserted,
            unchanged=unchanged,
            moved=len(moves),
        )

    async def _stored(self, session, codes: list[str]) -> dict[str, tuple]:
        """The stored rows of ``codes``, in one range scan of the primary key.

        A file's codes share its top node's prefix, so the range holds little else; long
        ``IN`` lists were 22 queries for a province, and PostgreSQL checked each list
        linearly when it chose a sequential scan (seconds per query).
        """
        if not codes:
            return {}
        fields = [getattr(Region, name) for name in UPDATED_FIELDS]
        result = await session.exec(
            select(Region.code, *fields).where(col(Region.code) >= min(codes), col(Region.code) <= max(codes))
        )
        wanted = set(codes)
        return {code: tuple(values) for code, *values in result.all() if code in wanted}

    async def _paths_of(self, session, codes: list[str]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for start in range(0, len(codes), 1000):
            chunk = codes[start : start + 1000]
            result = await session.exec(select(Region.code, Region.path).where(col(Region.code).in_(chunk)))
            found.extend(result.all())
        return found

    async def get(self, code: str) -> Region:
        async with self.context.db.read() as session:
            region = await session.get(Region, code)
        if region is None:
            raise ServiceError("区划不存在", code="region.not_found", data={"region": code})
        return region

    async def get_in_scope(self, principal: Principal, code: str) -> Region:
        region = await self.get(code)
        if not principal.covers(region.path):
            raise ServiceError("区划不在您的管辖范围内", code="auth.out_of_scope")
        return region

    async def children(self, principal: Principal, code: str | None) -> list[Region]:
        parent_code = code or principal.node_code
        await self.get_in_scope(principal, parent_code)
        async with self.context.db.read() as session:
            result = await session.exec(select(Region).where(Region.parent_code == parent_code).order_by(Region.code))
            return list(result.all())

    async def subtree(self, path: str, *, level: Level | None = None) -> list[Region]:
        async with self.context.db.read() as session:
            statement = select(Region).where(in_subtree(col(Region.path), path))
            if level is not None:
                statement = statement.where(Region.level == level.value)
            return list((await session.exec(statement.order_by(Region.path))).all())

    async def count_subtree(self, path: str) -> int:
        async with self.context.db.read() as session:
            result = await session.exec(select(func.count()).where(in_subtree(col(Region.path), path)))
            return int(result.one())

    async def ancestor_at(self, path: str, level: Level) -> Region:
        async with self.context.db.read() as session:
            return await ancestor_at(session, path, level)

    async def create_grid(self, principal: Principal, village_code: str, name: str) -> Region:
        if principal.role not in GRID_MANAGERS:
            raise ServiceError("您的角色无权设立网格", code="auth.forbidden")
        village = await self.get_in_scope(principal, village_code)
        if village.level != Level.VILLAGE:
            raise ServiceError("网格只能设在村（社区）之下", code="regions.invalid_grid")
        async with self.context.db.write() as session:
            taken = set((await session.exec(select(Region.code).where(Region.parent_code == village_code))).all())
            number = next(n for n in range(1, 1000) if grid_code(village_code, n) not in taken)
            code = grid_code(village_code, number)
            grid = Region(
                code=code,
                name=name,
                level=Level.GRID.value,
                parent_code=village_code,
                path=child_path(village.path, code),
            )
            session.add(grid)
        return grid
