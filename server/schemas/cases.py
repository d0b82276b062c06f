"""Request and response bodies for cases (never table models)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from grid.cases import Channel, Kind, PartyKind, PartyRole, Risk
from grid.lifecycle import Action
from server.schemas.oversight import ExtensionGrantRead

TEXT = 5000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Location(_In):
    """WGS-84 as the phone's GPS reports it; converted only for display."""

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0)


class PartyCreate(_In):
    id: uuid.UUID | None = None
    kind: PartyKind = PartyKind.PERSON
    role: PartyRole = PartyRole.APPLICANT
    name: str = Field(min_length=1, max_length=100)
    id_number: str | None = Field(default=None, max_length=30)
    id_unknown_reason: str | None = Field(default=None, max_length=200, description="无法提供身份证号的原因")
    org_code: str | None = Field(default=None, max_length=18)
    phone: str | None = Field(default=None, max_length=30)
    address: str | None = Field(default=None, max_length=200)
    is_representative: bool = False
    is_signer: bool = False


class CaseFlags(_In):
    involves_litigation: bool = False
    administrative_dispute: bool = False
    violence_risk: bool = False
    cadres_involved: bool = False
    multi_village: bool = False


class CaseCreate(_In):
    id: uuid.UUID | None = Field(default=None, description="由设备生成的 UUIDv7；重复提交同一内容视为重复")
    kind: Kind
    category: str = Field(min_length=1, max_length=40)
    channel: Channel
    title: str = Field(min_length=1, max_length=200)
    request: str = Field(min_length=1, max_length=TEXT)
    facts: str = Field(default="", max_length=TEXT)
    reasons: str = Field(default="", max_length=TEXT)
    risk: Risk = Risk.LOW
    location: Location | None = None
    people_involved: int = Field(default=1, ge=1, le=100_000)
    is_collective: bool = False
    flags: CaseFlags = Field(default_factory=CaseFlags)
    village_code: str | None = Field(default=None, max_length=20)
    grid_code: str | None = Field(default=None, max_length=20)
    captured_at: datetime | None = Field(default=None, description="设备时钟记录的采集时间（仅作记录）")
    parties: list[PartyCreate] = Field(min_length=1, max_length=500)


class CaseUpdate(_In):
    """Edits of descriptive fields; ``version`` is the version the edit was based on."""

    version: int = Field(ge=1)
    title: str | None = Field(default=None, min_length=1, max_length=200)
    request: str | None = Field(default=None, min_length=1, max_length=TEXT)
    facts: str | None = Field(default=None, max_length=TEXT)
    reasons: str | None = Field(default=None, max_length=TEXT)
    risk: Risk | None = None
    category: str | None = Field(default=None, min_length=1, max_length=40)
    location: Location | None = None
    people_involved: int | None = Field(default=None, ge=1, le=100_000)
    flags: CaseFlags | None = None


class TransitionRequest(_In):
    action: Action
    reason: str | None = Field(default=None, max_length=2000)
    data: dict[str, Any] = Field(default_factory=dict)
    expected_version: int | None = Field(default=None, ge=1, description="基于的版本；不符时拒绝")


class AttachmentCreate(_In):
    """The record of a file filed with a case; its bytes travel separately (tus)."""

    id: uuid.UUID = Field(description="由设备生成的附件 ID")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="文件内容的 SHA-256（小写十六进制）")
    size: int = Field(ge=1, description="字节数")
    type: str = Field(min_length=3, max_length=100, description="媒体类型，如 image/jpeg")
    name: str = Field(default="", max_length=200)
    note: str | None = Field(default=None, max_length=500)


class RevealRequest(_In):
    reason: str = Field(min_length=4, max_length=500, description="查看身份信息的理由（记入日志）")
    fields: list[Literal["id_number", "phone", "address"]] = Field(
        default_factory=lambda: ["id_number", "phone", "address"], min_length=1
    )


class PartyRead(BaseModel):
    id: uuid.UUID
    kind: PartyKind
    role: PartyRole
    name: str
    is_representative: bool
    is_signer: bool
    id_number: str | None = Field(description="默认脱敏")
    id_number_status: str | None
    id_unknown_reason: str | None
    org_code: str | None
    phone: str | None
    phone_kind: str | None
    address: str | None
    masked: bool = True


class DeadlineRead(BaseModel):
    kind: str
    name: str
    started_at: datetime
    last_day: date
    ends_at: datetime
    provisional: bool
    light: Literal["green", "yellow", "red"]


class CaseSummary(BaseModel):
    id: uuid.UUID
    number: str | None
    title: str
    kind: Kind
    category: str
    channel: Channel
    status: str
    status_name: str
    level: str
    risk: Risk
    is_collective: bool
    village_code: str
    grid_code: str | None
    registered_at: datetime
    updated_at: datetime
    version: int
    deadline: DeadlineRead | None


class EscalationRead(BaseModel):
    from_level: str
    to_level: str
    at: datetime
    rule: str | None


class CaseRead(CaseSummary):
    request: str
    facts: str
    reasons: str
    category_version: int
    location: Location | None
    people_involved: int
    flags: CaseFlags
    handling_node_code: str
    created_by: uuid.UUID
    assigned_to: uuid.UUID | None
    captured_at: datetime | None
    parties: list[PartyRead]
    accepted_at: datetime | None
    route: str | None
    extension_days: int | None
    extension: ExtensionGrantRead | None = Field(default=None, description="已批准的延期（延期告知书所需）")
    reply_outcome: str | None
    evaluation: str | None
    escalations: list[EscalationRead]
    allowed_actions: list[str]


class CasePage(BaseModel):
    items: list[CaseSummary]
    next_cursor: str | None


class TimelineEntryRead(BaseModel):
    id: uuid.UUID
    seq: int
    kind: str
    kind_name: str
    at: datetime
    actor_id: uuid.UUID | None
    actor_name: str | None
    reason: str | None
    from_status: str | None
    to_status: str | None
    data: dict[str, Any]


class IdentityAccessRead(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    at: datetime
    fields: list[str]
    party_ids: list[str]
    reason: str
