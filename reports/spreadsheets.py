"""The statistics as CSV and XLSX: the same figures as the JSON, one row per figure.

- CSV is UTF-8 with a byte-order mark: without it Excel (still the tool of most county
  offices) reads the file as GBK and shows the Chinese as mojibake.
- XLSX is written with openpyxl, deterministically: the workbook's created and modified
  dates are the statistics' ``as_of`` (openpyxl's own ``save`` stamps the clock), and
  every zip entry carries that date too, so the same figures give the same bytes.

Both take the figures as :meth:`reports.statistics.Statistics.to_json` gives them (or as
stored), through :func:`reports.statistics.rows_of`.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.writer.excel import ExcelWriter

from reports.statistics import Row, rows_of

BOM = "\ufeff"
HEADER = ("分组", "指标代码", "指标", "数值", "分子", "分母", "未到期（不计入分母）")
SHEET_TITLE = "统计指标"


def meta_rows(figures: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """Which region, which period, read when: the first rows of both files."""
    region, period = figures["region"], figures["period"]
    return [
        ("报表信息", "meta.region", "统计区域", f"{region['name']}（{region['code']}）"),
        ("报表信息", "meta.period", "统计期", f"{period['label']}（{period['start']}至{period['end']}）"),
        ("报表信息", "meta.as_of", "数据截至", figures["as_of"]),
    ]


def _cells(row: Row) -> tuple[Any, ...]:
    return (row.section, row.key, row.name, row.value, row.numerator, row.denominator, row.pending)


def to_csv(figures: Mapping[str, Any]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    for meta in meta_rows(figures):
        writer.writerow([*meta, "", "", ""])
    for row in rows_of(figures):
        writer.writerow(["" if cell is None else cell for cell in _cells(row)])
    return (BOM + buffer.getvalue()).encode("utf-8")


class _FixedDateZip(zipfile.ZipFile):
    """A zip whose entries all carry one date (``writestr`` with a name uses the clock,
    ``write`` the file's mtime)."""

    def __init__(self, file: io.BytesIO, date_time: tuple[int, int, int, int, int, int]):
        super().__init__(file, "w", zipfile.ZIP_DEFLATED)
        self.fixed_date_time = date_time

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):  # type: ignore[override]
        if not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            zinfo_or_arcname = zipfile.ZipInfo(zinfo_or_arcname, date_time=self.fixed_date_time)
            zinfo_or_arcname.compress_type = self.compression
            zinfo_or_arcname.external_attr = 0o600 << 16
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):  # type: ignore[override]
        # openpyxl writes each worksheet from a temporary file, whose date is its mtime.
        with open(filename, "rb") as source:
            self.writestr(arcname or str(filename), source.read(), compress_type, compresslevel)


def to_xlsx(figures: Mapping[str, Any]) -> bytes:
    as_of = datetime.fromisoformat(figures["as_of"])
    # OOXML core properties are UTC without a zone.
    stamp = as_of.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET_TITLE
    bold = Font(bold=True, name="Noto Sans CJK SC")
    sheet.append(list(HEADER))
    for cell in sheet[1]:
        cell.font = bold
    for meta in meta_rows(figures):
        sheet.append([*meta, None, None, None])
    for row in rows_of(figures):
        sheet.append(list(_cells(row)))
        if row.key.startswith(("rates.", "units.")) and isinstance(row.value, float):
            sheet.cell(row=sheet.max_row, column=4).number_format = "0.0%"
    for column, width in zip("ABCDEFG", (16, 40, 30, 14, 8, 8, 12), strict=True):
        sheet.column_dimensions[column].width = width
    for cell in sheet["C"]:
        cell.alignment = Alignment(wrap_text=False)
    sheet.freeze_panes = "A2"
    properties = workbook.properties
    properties.creator = "fengqiao"
    properties.lastModifiedBy = "fengqiao"
    properties.title = f"{figures['region']['name']}{figures['period']['label']}矛盾纠纷统计"
    properties.created = stamp
    properties.modified = stamp
    buffer = io.BytesIO()
    archive = _FixedDateZip(buffer, (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second))
    # ExcelWriter directly: openpyxl's save_workbook would stamp ``modified`` with the clock.
    ExcelWriter(workbook, archive).save()
    return buffer.getvalue()
