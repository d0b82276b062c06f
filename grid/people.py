"""Users, their roles, and where each role may stand in the hierarchy."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from grid.hierarchy import Level
from grid.storage_types import UTCDateTime, byte_ordered_string


class Role(StrEnum):
    GRID_WORKER = "grid_worker"
    VILLAGE_MEDIATOR = "village_mediator"
    VILLAGE_LEADER = "village_leader"
    TOWN_OFFICER = "town_officer"
    COUNTY_OFFICER = "county_officer"
    ADMIN = "admin"


ROLE_NAMES_ZH = {
    Role.GRID_WORKER: "网格员",
    Role.VILLAGE_MEDIATOR: "村人民调解员",
    Role.VILLAGE_LEADER: "村两委干部",
    Role.TOWN_OFFICER: "乡镇综治中心干部",
    Role.COUNTY_OFFICER: "县矛调中心干部",
    Role.ADMIN: "系统管理员",
}

# The node a user is bound to decides their jurisdiction, so a role only makes sense at
# the levels where that work is done.
ROLE_LEVELS: dict[Role, frozenset[Level]] = {
    Role.GRID_WORKER: frozenset({Level.GRID}),
    Role.VILLAGE_MEDIATOR: frozenset({Level.VILLAGE}),
    Role.VILLAGE_LEADER: frozenset({Level.VILLAGE}),
    Role.TOWN_OFFICER: frozenset({Level.TOWNSHIP}),
    Role.COUNTY_OFFICER: frozenset({Level.COUNTY}),
    Role.ADMIN: frozenset({Level.PROVINCE, Level.CITY, Level.COUNTY, Level.TOWNSHIP}),
}

# Roles that manage accounts and the configuration of their subtree.
ADMINISTRATORS = frozenset({Role.ADMIN})


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    display_name: str = Field(max_length=64)
    role: str = Field(max_length=32)
    node_code: str = Field(max_length=20, foreign_key="region.code", index=True)
    node_path: str = Field(sa_column=Column(byte_ordered_string(200), nullable=False, index=True))
    password_hash: str = Field(max_length=200)
    active: bool = True
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


def role_allowed_at(role: Role, level: Level) -> bool:
    return level in ROLE_LEVELS[role]


# What each role may do to a case. Grid workers capture and visit; mediators run people's
# mediation; village leaders also decide intake and escalation; written replies, reviews
# and extensions belong to the organs (town and county), which are administrative bodies.
_CAPTURE = frozenset({"record_visit", "add_note"})
_MEDIATION = frozenset(
    {
        "start_mediation",
        "refuse_mediation",
        "record_session",
        "fail_mediation",
        "reach_agreement",
        "sign_agreement",
        "follow_up",
        "confirm_performance",
        "report_nonperformance",
        "request_judicial_confirmation",
    }
)
_VILLAGE_DECISIONS = frozenset({"accept", "decline", "route", "return_misrouted", "escalate", "evaluate", "close"})
_ORGAN_DECISIONS = frozenset(
    {
        "start_handling",
        "refer_down",
        "extend",
        "reply",
        "request_review",
        "decide_review",
        "request_rereview",
        "record_hearing",
        "decide_rereview",
    }
)
ROLE_ACTIONS: dict[Role, frozenset[str]] = {
    Role.GRID_WORKER: _CAPTURE,
    Role.VILLAGE_MEDIATOR: _CAPTURE | _MEDIATION,
    Role.VILLAGE_LEADER: _CAPTURE | _MEDIATION | _VILLAGE_DECISIONS,
    Role.TOWN_OFFICER: _CAPTURE | _MEDIATION | _VILLAGE_DECISIONS | _ORGAN_DECISIONS,
    Role.COUNTY_OFFICER: _CAPTURE | _MEDIATION | _VILLAGE_DECISIONS | _ORGAN_DECISIONS,
    Role.ADMIN: _CAPTURE | _MEDIATION | _VILLAGE_DECISIONS | _ORGAN_DECISIONS,
}

# Entries anyone who can read the case may add, even after it has moved up a level: the
# village keeps visiting an escalated case.
READ_SCOPE_ACTIONS = _CAPTURE

# Who may see a petitioner's identity in clear (need-to-know, always with a reason).
IDENTITY_READERS = frozenset(
    {Role.VILLAGE_MEDIATOR, Role.VILLAGE_LEADER, Role.TOWN_OFFICER, Role.COUNTY_OFFICER, Role.ADMIN}
)
