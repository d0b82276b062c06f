"""Cases (一事一档): their vocabulary and their tables.

The lifecycle facts of a case live in one JSON column owned by ``grid.lifecycle``; the
columns beside it are the ones lists filter and sort on.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from grid.storage_types import UTCDateTime, byte_ordered_string


class Kind(StrEnum):
    SUGGESTION = "suggestion"
    ACCUSATION = "accusation"
    CLAIM = "claim"
    CIVIL_DISPUTE = "civil_dispute"


KIND_NAMES_ZH = {
    Kind.SUGGESTION: "建议意见类",
    Kind.ACCUSATION: "检举控告类",
    Kind.CLAIM: "申诉求决类",
    Kind.CIVIL_DISPUTE: "民间纠纷",
}


class Channel(StrEnum):
    VISIT = "visit"
    LETTER = "letter"
    PHONE = "phone"
    ONLINE = "online"
    DOOR_TO_DOOR = "door_to_door"


CHANNEL_NAMES_ZH = {
    Channel.VISIT: "来访",
    Channel.LETTER: "来信",
    Channel.PHONE: "电话",
    Channel.ONLINE: "网上信访",
    Channel.DOOR_TO_DOOR: "入户走访",
}


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


RISK_NAMES_ZH = {Risk.LOW: "低", Risk.MEDIUM: "中", Risk.HIGH: "高"}


class HandlingLevel(StrEnum):
    """The tier that currently owns a case: 小事不出村、大事不出镇、矛盾不上交."""

    VILLAGE = "village"
    TOWNSHIP = "township"
    COUNTY = "county"

    def above(self) -> HandlingLevel | None:
        order = list(HandlingLevel)
        index = order.index(self)
        return order[index + 1] if index + 1 < len(order) else None


HANDLING_LEVEL_NAMES_ZH = {
    HandlingLevel.VILLAGE: "村级",
    HandlingLevel.TOWNSHIP: "镇级",
    HandlingLevel.COUNTY: "县级",
}


class PartyKind(StrEnum):
    PERSON = "person"
    ORGANISATION = "organisation"


class PartyRole(StrEnum):
    APPLICANT = "applicant"  # 信访人 / 申请人
    RESPONDENT = "respondent"  # 被申请人 / 对方当事人
    THIRD_PARTY = "third_party"


class Case(SQLModel, table=True):
    __tablename__ = "case_file"
    __table_args__ = (
        Index("ix_case_file_region_path_registered", "region_path", "registered_at", "id"),
        Index("ix_case_file_status_registered", "status", "registered_at", "id"),
        Index("ix_case_file_next_deadline", "next_deadline_at"),
        Index("ix_case_file_next_check", "next_check_at", "id"),
        Index("ix_case_file_registered", "registered_at", "id"),
    )

    id: uuid.UUID = Field(primary_key=True)
    number: str | None = Field(default=None, max_length=40, unique=True)
    kind: str = Field(max_length=20, index=True)
    category_code: str = Field(max_length=40, index=True)
    category_version: int
    channel: str = Field(max_length=20)
    title: str = Field(max_length=200)
    request: str = Field(sa_column=Column(Text, nullable=False))
    facts: str = Field(sa_column=Column(Text, nullable=False, default=""))
    reasons: str = Field(sa_column=Column(Text, nullable=False, default=""))
    risk: str = Field(max_length=10)
    latitude: float | None = None
    longitude: float | None = None
    people_involved: int = 1
    is_collective: bool = False
    involves_litigation: bool = False
    administrative_dispute: bool = False
    violence_risk: bool = False
    cadres_involved: bool = False
    multi_village: bool = False

    village_code: str = Field(max_length=20, foreign_key="region.code", index=True)
    grid_code: str | None = Field(default=None, max_length=20, foreign_key="region.code")
    region_path: str = Field(sa_column=Column(byte_ordered_string(200), nullable=False))
    level: str = Field(max_length=16, index=True)
    handling_node_code: str = Field(max_length=20, foreign_key="region.code")
    handling_node_path: str = Field(sa_column=Column(byte_ordered_string(200), nullable=False))

    status: str = Field(max_length=32)
    lifecycle: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    next_deadline_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    next_deadline_kind: str | None = Field(default=None, max_length=40)
    next_deadline_started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    deadline_provisional: bool = False
    # When the escalation engine next has something to do for this case
    # (grid.escalation.next_check_at); the sweeper reads only rows with next_check_at <= now.
    # None: nothing can happen until a person changes the case.
    next_check_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))

    created_by: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    assigned_to: uuid.UUID | None = Field(default=None, foreign_key="app_user.id", index=True)
    captured_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    registered_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    version: int = 1
    # Position in the change feed devices pull from (commit order; see server/services/changes.py).
    change_seq: int = Field(default=0, index=True)
    # For each editable field, [case version at which it last changed, who changed it
    # ("device:<id>" or "user:<id>")], so a stale edit from a device collides only on the
    # fields someone else changed since (docs/sync-protocol.md). None for cases from
    # before it was kept: every stale edit of those is held for review.
    field_versions: dict[str, list[Any]] | None = Field(default=None, sa_column=Column(JSON))
    # SHA-256 of the intake as first submitted: the same id with the same content is a
    # harmless retry, the same id with other content is a conflict.
    intake_digest: str = Field(max_length=64)


class Party(SQLModel, table=True):
    """A person or organisation in a case. Identity fields are stored encrypted."""

    __tablename__ = "case_party"

    id: uuid.UUID = Field(primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case_file.id", index=True)
    ordinal: int
    kind: str = Field(max_length=16)
    role: str = Field(max_length=16)
    name: str = Field(max_length=100)
    is_representative: bool = False
    is_signer: bool = False
    id_number_status: str | None = Field(default=None, max_length=16)
    id_unknown_reason: str | None = Field(default=None, max_length=200)
    id_number_masked: str | None = Field(default=None, max_length=24)
    id_number_cipher: str | None = Field(default=None, sa_column=Column(Text))
    # Keyed hash so "same person" is found across cases and levels without decrypting.
    id_number_index: str | None = Field(default=None, max_length=64, index=True)
    org_code: str | None = Field(default=None, max_length=18)
    phone_kind: str | None = Field(default=None, max_length=10)
    phone_masked: str | None = Field(default=None, max_length=24)
    phone_cipher: str | None = Field(default=None, sa_column=Column(Text))
    # Keyed hash of the normalised number: with the name, "same person" for the many
    # villagers without an ID number at hand (grid/repeats.py).
    phone_index: str | None = Field(default=None, max_length=64, index=True)
    address_masked: str | None = Field(default=None, max_length=200)
    address_cipher: str | None = Field(default=None, sa_column=Column(Text))


class CaseEvent(SQLModel, table=True):
    """One line of a case's timeline. Append-only: nothing updates or deletes a row."""

    __tablename__ = "case_event"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_case_event_case_seq"),)

    id: uuid.UUID = Field(primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case_file.id", index=True)
    seq: int
    kind: str = Field(max_length=40)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    actor_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    actor_name: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    from_status: str | None = Field(default=None, max_length=32)
    to_status: str | None = Field(default=None, max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    change_seq: int = Field(default=0, index=True)


class CaseAttachment(SQLModel, table=True):
    """A photo, recording or scan filed with a case. The record names its content by
    SHA-256 and may arrive long before the bytes do (records never wait behind media)."""

    __tablename__ = "case_attachment"

    id: uuid.UUID = Field(primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case_file.id", index=True)
    sha256: str = Field(max_length=64, index=True)
    size: int
    media_type: str = Field(max_length=100)
    name: str = Field(max_length=200)
    note: str | None = Field(default=None, max_length=500)
    added_by: uuid.UUID = Field(foreign_key="app_user.id")
    added_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class IdentityAccess(SQLModel, table=True):
    """Who saw a petitioner's identity, when, and why (PIPL; Art. 18 ¶4 no retaliation)."""

    __tablename__ = "identity_access"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case_file.id", index=True)
    user_id: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    fields: list[str] = Field(sa_column=Column(JSON, nullable=False))
    party_ids: list[str] = Field(sa_column=Column(JSON, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))


class CaseCounter(SQLModel, table=True):
    """The last official number issued per village and year (gap-free: same transaction)."""

    __tablename__ = "case_counter"

    village_code: str = Field(max_length=20, primary_key=True)
    year: int = Field(primary_key=True)
    last_serial: int = 0


def official_number(village_code: str, year: int, serial: int) -> str:
    """一事一编码: village code, year, serial: 611026001001-2026-00042."""
    return f"{village_code}-{year}-{serial:05d}"
