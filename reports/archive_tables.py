"""The record of each archive package (docs/archive.md).

One row per closed case, written once when its package is stored and never changed: the
database refuses UPDATE and DELETE (triggers in migration 0010), as the package file on
disk is read-only and never replaced. A closed case without a row is work for the archive
job; the primary key on ``case_id`` is what makes two builders record one package.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from grid.storage_types import UTCDateTime


class ArchivePackage(SQLModel, table=True):
    __tablename__ = "archive_package"

    case_id: uuid.UUID = Field(primary_key=True, foreign_key="case_file.id")
    number: str | None = Field(default=None, max_length=40)
    # Relative to the archive directory (FENGQIAO_ARCHIVE_DIR), so the folder can move.
    path: str = Field(max_length=300, unique=True)
    size: int = Field(sa_column=Column(BigInteger(), nullable=False))
    # Digests of the whole package file: what `fengqiao archive verify --sha256` compares
    # against, since the manifest inside can only vouch for the other members.
    sha256: str = Field(max_length=64)
    sm3: str = Field(max_length=64)
    closed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
