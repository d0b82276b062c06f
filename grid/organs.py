"""Organs (行政机关) and their heads (本行政机关负责人).

Some decisions belong to the head of the organ handling a case, not to any officer of it:
above all the one extension of the handling period (信访工作条例 Art. 34). An organ is a
township (乡镇人民政府 / 街道办事处) or a county node; a village committee is a
self-governing body (村民委员会组织法 Art. 2), not an administrative organ, so a case
still held at the village is handled, under route (6), by its township.

A head is an officer of the organ that an administrator has designated. Designations are
rows with a history (designated, revoked): who was head when is part of the record. A
designation counts only while its user is active and still bound to the organ's node, so
moving a person elsewhere ends their headship without anyone remembering to revoke it.
An organ may have several heads (正职 and 副职 are all 负责人).

No I/O here: the services load rows and pass them in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from grid.cases import HandlingLevel
from grid.errors import DomainError
from grid.hierarchy import Level
from grid.people import Role
from grid.storage_types import UTCDateTime

ORGAN_LEVELS = frozenset({Level.TOWNSHIP, Level.COUNTY})
# The officers who may head an organ of each level (an administrator runs the system,
# they do not lead an organ).
HEAD_ROLES: dict[Level, Role] = {Level.TOWNSHIP: Role.TOWN_OFFICER, Level.COUNTY: Role.COUNTY_OFFICER}


class OrganHead(SQLModel, table=True):
    """One designation of a head of an organ; revoking sets ``revoked_at`` (never deleted)."""

    __tablename__ = "organ_head"
    __table_args__ = (Index("ix_organ_head_node_revoked", "node_code", "revoked_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    node_code: str = Field(max_length=20, foreign_key="region.code")
    user_id: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    designated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # None when the seed or the CLI designated the head.
    designated_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    revoked_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")


def organ_level_for(handling_level: HandlingLevel) -> Level:
    """The level of the organ that handles a case held at ``handling_level``."""
    if handling_level is HandlingLevel.VILLAGE:
        return Level.TOWNSHIP
    return Level(handling_level.value)


@dataclass(frozen=True)
class HeadCandidate:
    """A user proposed as head, as the rule sees them."""

    role: Role
    node_code: str
    active: bool


def check_head_candidate(candidate: HeadCandidate, organ_code: str, organ_level: str) -> None:
    """A head is an active officer of the organ's own level, bound to the organ's node."""
    try:
        level = Level(organ_level)
    except ValueError:
        level = None
    if level not in ORGAN_LEVELS:
        raise DomainError(
            "只有乡镇（街道）和县级机关可以指定负责人；村（社区）不是行政机关",
            code="organ.not_an_organ",
            data={"node_code": organ_code, "level": organ_level},
        )
    assert level is not None
    if not candidate.active or candidate.node_code != organ_code or candidate.role is not HEAD_ROLES[level]:
        raise DomainError(
            "机关负责人须为该机关在职的干部（账号须设在该机关）",
            code="organ.head_not_member",
            data={"node_code": organ_code},
        )


def is_current_head(designation: OrganHead, *, user_node_code: str, user_active: bool) -> bool:
    return designation.revoked_at is None and user_active and user_node_code == designation.node_code
