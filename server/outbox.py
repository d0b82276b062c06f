"""The notification outbox: one row per (message, recipient), written in the transaction
of the change that causes it and delivered later, at least once, by ``deliver_due``.

A row is never deleted by delivery: ``delivered_at`` marks it sent, ``attempts``,
``next_attempt_at`` and ``last_error`` record the retries, ``read_at`` the recipient's
acknowledgement in the app. docs/supervision-and-notifications.md has the contract.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from grid.storage_types import UTCDateTime


class Notification(SQLModel, table=True):
    __tablename__ = "notification"
    __table_args__ = (
        # A repeated enqueue of the same message adds nothing (the dedupe key is also the
        # receiver's idempotency key).
        UniqueConstraint("dedupe_key", "recipient_id", name="uq_notification_dedupe_recipient"),
        # The delivery scan: undelivered rows by when they are next due.
        Index("ix_notification_due", "delivered_at", "next_attempt_at"),
        # "Mine, newest first".
        Index("ix_notification_recipient_created", "recipient_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(primary_key=True)
    dedupe_key: str = Field(max_length=200)
    event: str = Field(max_length=40)
    case_id: uuid.UUID | None = Field(default=None, foreign_key="case_file.id", index=True)
    recipient_id: uuid.UUID = Field(foreign_key="app_user.id")
    title: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    # A delivery run claims rows by writing its token and a lease; another run skips
    # them until the lease ends (a crashed run's rows come back then).
    claim_token: uuid.UUID | None = None
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    read_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
