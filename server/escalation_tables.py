"""What the escalation sweeper and the job scheduler keep in the database.

``escalation_trigger`` is the sweeper's memory and its guard: a decision of the engine
(grid/escalation.py) is acted on only by the transaction that inserts its row, so a sweep
run twice, or by two processes at once, acts once. ``scheduler_lease`` elects the process
that runs the scheduled jobs on SQLite (PostgreSQL uses an advisory lock instead).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from grid.storage_types import UTCDateTime


class EscalationTrigger(SQLModel, table=True):
    """One engine decision acted on: the trigger key is unique per case (docs/escalation-policy.md)."""

    __tablename__ = "escalation_trigger"

    case_id: uuid.UUID = Field(foreign_key="case_file.id", primary_key=True)
    trigger_key: str = Field(max_length=200, primary_key=True)
    rule_id: str = Field(max_length=100)
    policy_id: str = Field(max_length=40)
    policy_version: int
    # The decision's type: Escalate, Relight, OpenSupervision, Notify, Remind.
    decision: str = Field(max_length=20)
    # When the trigger fell due, and when a sweep acted on it (later when the sweeper was late).
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    applied_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # What the engine saw (status, level, complexity and its source, …), for audits.
    facts: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class SchedulerLease(SQLModel, table=True):
    """Who runs the scheduled jobs until ``expires_at``; the holder renews it on every tick."""

    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True, max_length=40)
    holder: str = Field(max_length=120)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
