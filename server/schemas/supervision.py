"""Request and response bodies for 督办, 包案 and notifications (never table models)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TEXT = 5000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# ---------------------------------------------------------------- 督办


class SupervisionOpen(_In):
    reason: str = Field(min_length=1, max_length=TEXT, description="督办事由")


class SupervisionReplyCreate(_In):
    text: str = Field(min_length=1, max_length=20000, description="书面回复（办理情况）")


class SupervisionRead(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    source: str
    trigger_key: str | None
    supervising_level: str
    supervised_level: str
    supervised_node_code: str
    reason: str
    opened_at: datetime
    opened_by: uuid.UUID | None
    reply_due_at: datetime
    reply_last_day: date
    status: str
    status_name: str
    reply_text: str | None
    replied_at: datetime | None
    replied_by: uuid.UUID | None
    replied_late: bool | None


# ---------------------------------------------------------------- 包案


class LeadAssign(_In):
    """定领导、定措施、定时间、定责任 (Art. 18 ¶2)."""

    leader_id: uuid.UUID
    measures: str = Field(min_length=1, max_length=TEXT, description="包案措施")
    target_date: date = Field(description="办结时限")
    responsibility: str = Field(min_length=1, max_length=TEXT, description="责任分工")
    reason: str | None = Field(default=None, max_length=TEXT, description="更换原因等说明")


class LeadEnd(_In):
    reason: str = Field(min_length=1, max_length=TEXT, description="结束包案的原因")


class LeadRead(BaseModel):
    id: uuid.UUID
    seq: int
    action: str
    leader_id: uuid.UUID | None
    leader_name: str | None
    measures: str | None
    target_date: date | None
    responsibility: str | None
    reason: str | None
    at: datetime
    by_id: uuid.UUID
    by_name: str


class CaseLeadRead(BaseModel):
    current: LeadRead | None
    history: list[LeadRead]


# ---------------------------------------------------------------- notifications


class NotificationRead(BaseModel):
    id: uuid.UUID
    event: str
    case_id: uuid.UUID | None
    title: str
    body: str
    payload: dict[str, Any]
    created_at: datetime
    delivered_at: datetime | None
    read_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationRead]
    next_cursor: str | None
