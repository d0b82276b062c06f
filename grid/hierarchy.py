"""The division hierarchy: province → city → county → township → village → grid.

Every node keeps its official code as given and a materialised path of its ancestors'
codes, so "everything under this node" is one index range scan at province scale.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from grid.errors import DomainError
from grid.storage_types import byte_ordered_string

PATH_SEPARATOR = "/"


class Level(StrEnum):
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"
    GRID = "grid"


LEVEL_ORDER = list(Level)
LEVEL_NAMES_ZH = {
    Level.PROVINCE: "省",
    Level.CITY: "市",
    Level.COUNTY: "县",
    Level.TOWNSHIP: "乡镇（街道）",
    Level.VILLAGE: "村（社区）",
    Level.GRID: "网格",
}


class Region(SQLModel, table=True):
    __tablename__ = "region"

    code: str = Field(sa_column=Column(byte_ordered_string(20), primary_key=True))
    name: str = Field(max_length=100)
    level: str = Field(max_length=16, index=True)
    parent_code: str | None = Field(default=None, max_length=20, index=True)
    path: str = Field(sa_column=Column(byte_ordered_string(200), nullable=False, index=True))
    # Codes are revised yearly and a retired code is never reused: keep its validity.
    valid_from_year: int | None = None
    valid_to_year: int | None = None


def child_path(parent_path: str | None, code: str) -> str:
    return f"{parent_path or PATH_SEPARATOR}{code}{PATH_SEPARATOR}"


def subtree_bounds(path: str) -> tuple[str, str]:
    """Half-open byte range [low, high) holding ``path`` and every path below it."""
    return path, path[:-1] + chr(ord(PATH_SEPARATOR) + 1)


def covers(scope_path: str, target_path: str) -> bool:
    return target_path.startswith(scope_path)


def codes_on_path(path: str) -> list[str]:
    return [code for code in path.split(PATH_SEPARATOR) if code]


@dataclass(frozen=True)
class DivisionRow:
    code: str
    name: str
    level: Level
    parent_code: str | None


def parse_division_csv(text: str) -> list[DivisionRow]:
    """Parse the NBS division CSV (``code,name,level,parent_code,urban_rural_code``)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    required = {"code", "name", "level", "parent_code"}
    if reader.fieldnames is None or not required <= set(reader.fieldnames):
        raise DomainError(
            f"第 1 行：区划文件表头应包含 {', '.join(sorted(required))}",
            code="regions.invalid_file",
        )
    rows: list[DivisionRow] = []
    seen: set[str] = set()
    for raw in reader:
        # The physical line (blank lines are skipped by the reader, so do not count rows).
        line_number = reader.line_num
        code = (raw["code"] or "").strip()
        name = (raw["name"] or "").strip()
        level_text = (raw["level"] or "").strip()
        if not code.isdigit() or not name:
            raise DomainError(f"第 {line_number} 行：代码须为数字且名称不能为空", code="regions.invalid_file")
        try:
            level = Level(level_text)
        except ValueError:
            raise DomainError(f"第 {line_number} 行：未知的层级 {level_text!r}", code="regions.invalid_file") from None
        if level is Level.GRID:
            raise DomainError(f"第 {line_number} 行：网格不在区划文件中定义", code="regions.invalid_file")
        if code in seen:
            raise DomainError(f"第 {line_number} 行：代码 {code} 重复", code="regions.invalid_file")
        seen.add(code)
        rows.append(DivisionRow(code, name, level, (raw["parent_code"] or "").strip() or None))
    return rows


def compute_paths(rows: Iterable[DivisionRow], known_paths: Mapping[str, str] | None = None) -> dict[str, str]:
    """Materialised path of every row; a parent outside the file roots its subtree there.

    ``known_paths`` holds nodes already stored, so a county file can hang under a city
    imported earlier.
    """
    by_code = {row.code: row for row in rows}
    known = dict(known_paths or {})
    paths: dict[str, str] = {}

    def resolve(code: str) -> str:
        chain: list[str] = []
        current: str | None = code
        while current is not None and current not in paths:
            row = by_code.get(current)
            if row is None:
                break
            chain.append(current)
            current = row.parent_code
            if len(chain) > len(LEVEL_ORDER):
                raise DomainError(f"区划 {code} 的上级关系成环", code="regions.invalid_file")
        if current is None:
            base = None
        elif current in paths:
            base = paths[current]
        else:
            base = known.get(current)
        for node in reversed(chain):
            base = child_path(base, node)
            paths[node] = base
        return paths[code]

    for row in by_code.values():
        resolve(row.code)
    return paths


def grid_code(village_code: str, number: int) -> str:
    """Grids are local: the village's 12-digit code plus a 3-digit serial."""
    if not 1 <= number <= 999:
        raise DomainError("网格序号须在 1-999 之间", code="regions.invalid_grid")
    return f"{village_code}{number:03d}"
