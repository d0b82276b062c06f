"""Stored statistics reports: the monthly report as issued (a declaration only).

The scheduler makes each month's report of a county and of each of its townships on the
1st of the next month (server/services/statistics.py). One row per region and period —
the unique key is the claim that makes the job safe to run twice and in two processes —
holding the figures exactly as computed and the PDF rendered from them, so the report a
leader received can be fetched again unchanged while the live figures move on.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from grid.storage_types import UTCDateTime


class StatisticsReport(SQLModel, table=True):
    __tablename__ = "statistics_report"
    __table_args__ = (UniqueConstraint("region_code", "period", name="uq_statistics_report_region_period"),)

    id: uuid.UUID = Field(primary_key=True)
    region_code: str = Field(max_length=20, foreign_key="region.code")
    # The period's key (2026-11, 2026-Q4, 2026) and its kind and days.
    period: str = Field(max_length=10)
    period_kind: str = Field(max_length=10)
    period_start: date
    period_end: date
    # When the figures were read; the PDF's creation date.
    as_of: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    generated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # "schedule" (the monthly job) or "manual".
    source: str = Field(max_length=16)
    figures: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    pdf: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    pdf_sha256: str = Field(max_length=64)
