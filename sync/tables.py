"""What the server remembers about devices and the mutations they sent."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKeyConstraint, Index, Text
from sqlmodel import Field, SQLModel

from grid.storage_types import UTCDateTime


class Device(SQLModel, table=True):
    """An enrolled phone. Its token (stored as SHA-256) outlives user logins: a device
    syncs after days offline, and only revocation stops it."""

    __tablename__ = "sync_device"

    id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    name: str = Field(default="", max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    enrolled_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    revoked_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    # The highest mutation sequence number received; the next must be exactly one more.
    last_seq: int = 0
    last_seen_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    app_version: str | None = Field(default=None, max_length=40)
    # A short random name for the idle check (GET /b/{beacon}/{after}); it only tells
    # whether the device's scope changed, so it is not a credential. New at each enrollment.
    beacon: str | None = Field(default=None, max_length=32, unique=True, index=True)


class SyncMutation(SQLModel, table=True):
    """Every mutation a device sent, with its outcome. Rejected ones stay here for review
    (nothing is dropped); a replay is answered from this row, never applied again."""

    __tablename__ = "sync_mutation"
    # Not unique: a mutation id replayed by another device is refused and kept as well.
    __table_args__ = (Index("ix_sync_mutation_mutation_id", "mutation_id"),)

    device_id: uuid.UUID = Field(foreign_key="sync_device.id", primary_key=True)
    seq: int = Field(primary_key=True)
    mutation_id: uuid.UUID
    digest: str = Field(max_length=64)
    type: str = Field(max_length=32)
    case_id: uuid.UUID = Field(index=True)
    status: str = Field(max_length=16, index=True)
    code: str | None = Field(default=None, max_length=64)
    message: str | None = Field(default=None, sa_column=Column(Text))
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # For a conflict: the fields held back, each with the device's and the server's value.
    conflict: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    device_time: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SyncReview(SQLModel, table=True):
    """A reviewer's decision on a conflicted or rejected mutation. Kept apart from the
    mutation row, which stays as the device sent it and as the server first answered."""

    __tablename__ = "sync_review"
    __table_args__ = (ForeignKeyConstraint(["device_id", "seq"], ["sync_mutation.device_id", "sync_mutation.seq"]),)

    device_id: uuid.UUID = Field(primary_key=True)
    seq: int = Field(primary_key=True)
    decision: str = Field(max_length=16)
    note: str = Field(sa_column=Column(Text, nullable=False))
    reviewed_by: uuid.UUID = Field(foreign_key="app_user.id")
    reviewed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # The case version the reviewer's decision produced (apply_device), else None.
    case_version: int | None = None


class ChangeClock(SQLModel, table=True):
    """One counter whose row lock orders the change feed: every transaction that changes
    cases takes the next value, and holds the row until it commits, so a higher value
    never becomes visible before a lower one."""

    __tablename__ = "sync_change_clock"

    name: str = Field(primary_key=True, max_length=32)
    value: int = 0
