"""Bodies for extensions, recusals, handler assignment, organ heads and the inbox."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from grid.deadlines import MAX_EXTENSION_DAYS
from grid.recusals import RecusalSource

REASON = 2000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# ---------------------------------------------------------------- extensions


class ExtensionRequestCreate(_In):
    days: int = Field(ge=1, le=MAX_EXTENSION_DAYS, description="延长的天数（不超过30日）")
    reason: str = Field(min_length=1, max_length=REASON, description="延期理由（中文，将书面告知信访人）")


class ExtensionDecision(_In):
    decision: Literal["approve", "refuse"]
    note: str | None = Field(
        default=None, max_length=REASON, validate_default=True, description="审批意见；不批准时必填"
    )

    # A field validator, so the error names "note" (a model validator would name the body).
    @field_validator("note")
    @classmethod
    def refusal_needs_note(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("decision") == "refuse" and not (value or "").strip():
            raise ValueError("不批准延期须说明理由")
        return value


class ExtensionRequestRead(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    organ_node_code: str
    days: int
    reason: str
    status: str
    status_name: str
    requested_by: uuid.UUID
    requested_by_name: str
    requested_at: datetime
    decided_by: uuid.UUID | None
    decided_by_name: str | None
    decided_at: datetime | None
    decision_note: str | None
    extended_last_day: date | None = Field(description="批准后的办理期限最后一日")
    extended_provisional: bool


class ExtensionGrantRead(BaseModel):
    """The approved extension, as the 延期告知书 states it."""

    days: int
    approved_by: str | None
    approved_at: datetime | None
    reason: str | None
    last_day: date | None
    provisional: bool


# ---------------------------------------------------------------- recusals and assignment


class RecusalCreate(_In):
    user_id: uuid.UUID | None = Field(default=None, description="回避的人；不填为本人")
    source: RecusalSource = RecusalSource.DECLARED
    party_id: uuid.UUID | None = Field(default=None, description="提出回避申请的当事人")
    reason: str = Field(min_length=1, max_length=REASON)


class RecusalLift(_In):
    reason: str = Field(min_length=1, max_length=REASON)


class RecusalRead(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    user_id: uuid.UUID
    user_name: str
    source: str
    source_name: str
    party_id: uuid.UUID | None
    reason: str
    recorded_by: uuid.UUID
    recorded_by_name: str
    recorded_at: datetime
    active: bool
    lifted_at: datetime | None
    lifted_by: uuid.UUID | None
    lifted_by_name: str | None
    lift_reason: str | None


class AssignmentRequest(_In):
    user_id: uuid.UUID | None = Field(description="承办人；null 为取消指定")
    reason: str | None = Field(default=None, max_length=REASON)


# ---------------------------------------------------------------- organ heads


class OrganHeadCreate(_In):
    user_id: uuid.UUID


class OrganHeadRead(BaseModel):
    id: uuid.UUID
    node_code: str
    user_id: uuid.UUID
    username: str
    display_name: str
    designated_at: datetime
    designated_by: uuid.UUID | None


# ---------------------------------------------------------------- inbox


class InboxCase(BaseModel):
    id: uuid.UUID
    number: str | None
    title: str
    status: str
    status_name: str
    level: str
    handling_node_code: str
    assigned_to_me: bool
    light: Literal["green", "yellow", "red"]
    # The clock that decides the light (the most severe; of those, the one ending first).
    clock: str | None
    clock_name: str | None
    statutory: bool | None
    started_at: datetime | None
    last_day: date | None
    ends_at: datetime | None
    provisional: bool | None
    updated_at: datetime


class InboxCases(BaseModel):
    count: int
    items: list[InboxCase]


class InboxExtension(BaseModel):
    request: ExtensionRequestRead
    case_number: str | None
    case_title: str
    # The current handling period's end: the approval must come before it (Art. 34).
    current_last_day: date | None
    current_ends_at: datetime | None


class InboxExtensions(BaseModel):
    is_head: bool
    count: int
    items: list[InboxExtension]


class InboxSupervision(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    case_number: str | None
    case_title: str
    reason: str
    opened_at: datetime
    reply_due_at: datetime
    reply_last_day: date
    status: str


class InboxSupervisions(BaseModel):
    count: int
    items: list[InboxSupervision]


class InboxNotification(BaseModel):
    id: uuid.UUID
    event: str
    case_id: uuid.UUID | None
    title: str
    body: str
    created_at: datetime


class InboxNotifications(BaseModel):
    count: int
    items: list[InboxNotification]


class InboxRead(BaseModel):
    generated_at: datetime
    limit: int
    overdue: InboxCases
    due_soon: InboxCases
    escalated_to_me: InboxCases
    extension_approvals: InboxExtensions
    supervision_replies: InboxSupervisions
    unread_notifications: InboxNotifications
