"""Recusal (回避, 信访工作条例 Art. 28): a person with a direct interest stays out of a case.

A recusal is recorded when a user declares their own interest, or when someone asks that
a user withdraw: a party (the request is taken down by the officer who heard it) or a
leader. It takes effect at once — the person withdraws while the request is looked at —
and from then on the person may not be assigned the case, may not act on it (any command,
edit, attachment or identity reveal) and may not approve anything on it, until a head of
the handling organ lifts a *requested* recusal with a reason. A declared interest is the
person's own statement and is never lifted by someone else.

No I/O here: the services load rows and pass them in.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from grid.errors import DomainError
from grid.people import Role
from grid.storage_types import UTCDateTime

RECUSAL_RECORDED = "recusal"
RECUSAL_LIFTED = "recusal_lift"
ENTRY_NAMES_ZH = {RECUSAL_RECORDED: "回避", RECUSAL_LIFTED: "撤销回避"}

ARTICLE_28 = "《信访工作条例》第二十八条"


class RecusalSource(StrEnum):
    DECLARED = "declared"  # the person declares their own interest
    PARTY = "party"  # a party asks (recorded by the officer who heard it)
    LEADER = "leader"  # a leader orders it


RECUSAL_SOURCE_NAMES_ZH = {
    RecusalSource.DECLARED: "本人申明回避",
    RecusalSource.PARTY: "当事人申请回避",
    RecusalSource.LEADER: "领导决定回避",
}

# Who may ask that *another* person withdraw on a leader's authority.
LEADER_ROLES = frozenset({Role.VILLAGE_LEADER, Role.TOWN_OFFICER, Role.COUNTY_OFFICER, Role.ADMIN})


class CaseRecusal(SQLModel, table=True):
    """One recusal of one person from one case; lifting fills the ``lifted_*`` columns."""

    __tablename__ = "case_recusal"
    __table_args__ = (Index("ix_case_recusal_case_user", "case_id", "user_id"),)

    id: uuid.UUID = Field(primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case_file.id")
    user_id: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    user_name: str = Field(max_length=64)
    source: str = Field(max_length=16)
    # For a party's request: which party asked (a case_party id).
    party_id: uuid.UUID | None = Field(default=None, foreign_key="case_party.id")
    reason: str = Field(sa_column=Column(Text, nullable=False))
    recorded_by: uuid.UUID = Field(foreign_key="app_user.id")
    recorded_by_name: str = Field(max_length=64)
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    lifted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    lifted_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    lifted_by_name: str | None = Field(default=None, max_length=64)
    lift_reason: str | None = Field(default=None, sa_column=Column(Text))

    @property
    def active(self) -> bool:
        return self.lifted_at is None


class Recused(DomainError):
    code = "case.recused"


def recused(user_name: str, *, acting_self: bool) -> Recused:
    who = "您" if acting_self else f"{user_name}"
    return Recused(
        f"{who}与本案有直接利害关系，已回避，不能办理或审批本案（{ARTICLE_28}）",
        data={"user_name": user_name},
    )


def check_may_record(
    source: RecusalSource, *, recorder_id: uuid.UUID, recorder_role: Role, user_id: uuid.UUID, has_party: bool
) -> None:
    if source is RecusalSource.DECLARED and user_id != recorder_id:
        raise DomainError("只能为本人申明回避；他人回避请选择当事人申请或领导决定", code="recusal.invalid_source")
    if source is not RecusalSource.DECLARED and user_id == recorder_id:
        raise DomainError("本人回避请选择“本人申明回避”", code="recusal.invalid_source")
    if source is RecusalSource.PARTY and not has_party:
        raise DomainError("当事人申请回避须指明提出申请的当事人", code="recusal.party_required")
    if source is RecusalSource.LEADER and recorder_role not in LEADER_ROLES:
        raise DomainError("只有村（社区）两委、乡镇（街道）和县级干部可以决定他人回避", code="auth.forbidden")


def check_may_lift(recusal: CaseRecusal, *, is_head: bool) -> None:
    if not recusal.active:
        raise DomainError("该回避已撤销", code="recusal.already_lifted")
    if recusal.source == RecusalSource.DECLARED.value:
        raise DomainError("本人申明的回避不能由他人撤销", code="recusal.not_liftable")
    if not is_head:
        raise DomainError("撤销回避须由办理机关负责人决定", code="organ.not_head")


# ---------------------------------------------------------------- handler assignment

# Assigning the case's handler (``case_file.assigned_to``) is where a recusal bites first:
# a person who withdrew is never made the handler.
ASSIGNED = "assign"
ASSIGNMENT_NAMES_ZH = {ASSIGNED: "指定承办人"}
# Who names the handler: the leaders and officers of the level holding the case.
ASSIGNERS = LEADER_ROLES
