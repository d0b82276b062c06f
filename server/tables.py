"""Tables the running service owns (the domain's own tables sit in ``grid``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

# Importing the domain modules registers their tables on the shared metadata.
from grid import cases, categories, hierarchy, people, repeats, supervision  # noqa: F401
from grid import extensions as grid_extensions  # noqa: F401
from grid import organs as grid_organs  # noqa: F401
from grid import recusals as grid_recusals  # noqa: F401
from grid import screening as grid_screening  # noqa: F401
from grid.storage_types import UTCDateTime
from reports import archive_tables, statistics_tables  # noqa: F401
from server import escalation_tables, outbox  # noqa: F401
from sync import attachments as sync_attachments  # noqa: F401
from sync import tables as sync_tables  # noqa: F401


class AuthToken(SQLModel, table=True):
    """A bearer token: only its SHA-256 is stored, so a leaked table logs nobody in."""

    __tablename__ = "auth_token"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    issued_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class HolidayNotice(SQLModel, table=True):
    """A year's State Council holiday notice as loaded by an admin (TOML text)."""

    __tablename__ = "holiday_notice"

    year: int = Field(primary_key=True)
    source: str = Field(max_length=300)
    text: str = Field(sa_column=Column(Text, nullable=False))
    loaded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    loaded_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")


metadata = SQLModel.metadata
