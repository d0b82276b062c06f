"""督办 (信访工作条例 Art. 40) and 包案 (Art. 18 ¶2): their tables and their rules.

督办: a higher organ (or a rule of the escalation policy, on its behalf) supervises a case
held at a lower level; the supervised organ owes a written reply within a period counted
on the statutory calendar. Whether an item is open, replied or overdue is derived from its
columns and ``now``, never stored.

包案: a leader takes personal charge of a hard case — 定领导、定措施、定时间、定责任. The
history is a sequence of rows per case (assign, replace, end) that are never rewritten;
the current leader is the last row's, unless that row ends the assignment.

No I/O here: the services load rows and pass ``now`` in.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Column, Date, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from grid import deadlines
from grid.calendar import StatutoryCalendar, local_date
from grid.cases import HANDLING_LEVEL_NAMES_ZH, HandlingLevel
from grid.errors import DomainError
from grid.escalation import SUPERVISION_ENTRY
from grid.hierarchy import Level, covers
from grid.people import Role
from grid.policy import DAY_UNIT_NAMES_ZH, DayUnit
from grid.storage_types import UTCDateTime

# Timeline entry kinds written beside the lifecycle's own.
SUPERVISION_OPENED = SUPERVISION_ENTRY  # one kind for the engine's entry and ours: never both
SUPERVISION_REPLIED = "supervision_reply"
LEAD_ASSIGNED = "lead_assign"
LEAD_REPLACED = "lead_replace"
LEAD_ENDED = "lead_end"
ENTRY_NAMES_ZH = {
    SUPERVISION_OPENED: "启动督办",
    SUPERVISION_REPLIED: "督办书面回复",
    LEAD_ASSIGNED: "确定包案领导",
    LEAD_REPLACED: "更换包案领导",
    LEAD_ENDED: "结束包案",
}

ARTICLE_40 = "《信访工作条例》第四十条"
ARTICLE_18 = "《信访工作条例》第十八条"


class SupervisionSource(StrEnum):
    RULE = "rule"  # opened by the escalation policy (a red light that lasted)
    PERSON = "person"  # opened by an officer of a higher organ


class SupervisionStatus(StrEnum):
    OPEN = "open"
    REPLIED = "replied"
    OVERDUE = "overdue"  # no reply and the reply period is over


SUPERVISION_STATUS_NAMES_ZH = {
    SupervisionStatus.OPEN: "待回复",
    SupervisionStatus.REPLIED: "已回复",
    SupervisionStatus.OVERDUE: "逾期未回复",
}


class Supervision(SQLModel, table=True):
    """One 督办 item. The reply columns are filled once; nothing else changes."""

    __tablename__ = "case_supervision"
    __table_args__ = (
        # A rule fires once per trigger; people's items have no key (NULLs never collide).
        UniqueConstraint("case_id", "trigger_key", name="uq_case_supervision_case_trigger"),
        Index("ix_case_supervision_case_opened", "case_id", "opened_at"),
        Index("ix_case_supervision_open_due", "replied_at", "reply_due_at"),
    )

    id: uuid.UUID = Field(primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case_file.id")
    trigger_key: str | None = Field(default=None, max_length=200)
    source: str = Field(max_length=10)
    # Who supervises (the level above the case, or the opener's level) and who owes the
    # reply (the organ holding the case when it was opened).
    supervising_level: str = Field(max_length=16)
    supervised_level: str = Field(max_length=16)
    supervised_node_code: str = Field(max_length=20, foreign_key="region.code")
    reason: str = Field(sa_column=Column(Text, nullable=False))
    opened_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    opened_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    reply_due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    reply_last_day: date = Field(sa_column=Column(Date(), nullable=False))
    reply_text: str | None = Field(default=None, sa_column=Column(Text))
    replied_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    replied_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")

    def status(self, now: datetime) -> SupervisionStatus:
        return supervision_status(self.replied_at, self.reply_due_at, now)


def supervision_status(replied_at: datetime | None, reply_due_at: datetime, now: datetime) -> SupervisionStatus:
    if replied_at is not None:
        return SupervisionStatus.REPLIED
    return SupervisionStatus.OVERDUE if now >= reply_due_at else SupervisionStatus.OPEN


def reply_due(calendar: StatutoryCalendar, opened_at: datetime, days: int, unit: DayUnit) -> deadlines.Due:
    """The written reply's period, counted from the day the 督办 is issued (that day not counted)."""
    if unit is DayUnit.WORKING:
        return deadlines.working_days_period(calendar, opened_at, days)
    return deadlines.calendar_days_period(calendar, opened_at, days)


def last_day_of(ends_at: datetime) -> date:
    """The last day of a period given its first late instant (24:00 of the last day)."""
    return local_date(ends_at - timedelta(microseconds=1))


def supervising_level_for(case_level: HandlingLevel) -> HandlingLevel:
    """The organ that supervises a case: the level above it, the county itself at the top."""
    return case_level.above() or case_level


def opening_reason_zh(reason: str, days: int, unit: DayUnit, last_day: date) -> str:
    return (
        f"{reason.strip()}。被督办单位应于{days}{DAY_UNIT_NAMES_ZH[unit]}内"
        f"（{last_day.isoformat()}前）书面回复办理情况（{ARTICLE_40}）"
    )


# ---------------------------------------------------------------- who may do what

# The levels of the hierarchy an organ sits at, from the bottom.
_ORGAN_LEVEL = {
    Level.VILLAGE: HandlingLevel.VILLAGE,
    Level.TOWNSHIP: HandlingLevel.TOWNSHIP,
    Level.COUNTY: HandlingLevel.COUNTY,
}
_RANK = {level: index for index, level in enumerate(HandlingLevel)}

# Officers of an organ that supervises (Art. 40: the higher organ's own staff).
SUPERVISORS = frozenset({Role.TOWN_OFFICER, Role.COUNTY_OFFICER})
# Who writes the supervised organ's reply: its officers (the village 两委 for a village).
REPLIERS = frozenset({Role.VILLAGE_LEADER, Role.TOWN_OFFICER, Role.COUNTY_OFFICER})
# Who may lead a case (包案) or name its leader: leaders of an organ.
LEAD_ROLES = frozenset({Role.VILLAGE_LEADER, Role.TOWN_OFFICER, Role.COUNTY_OFFICER})


class NotPermitted(DomainError):
    code = "auth.forbidden"


def organ_level(node_level: str) -> HandlingLevel | None:
    try:
        return _ORGAN_LEVEL.get(Level(node_level))
    except ValueError:
        return None


def check_may_supervise(
    role: Role, node_level: str, node_path: str, case_level: HandlingLevel, region_path: str
) -> HandlingLevel:
    """A person of a higher organ may supervise a case of their jurisdiction held below them.

    Returns the supervising level. Jurisdiction is checked by the caller first (so a case
    outside it stays invisible, ``auth.out_of_scope``).
    """
    level = organ_level(node_level)
    if role not in SUPERVISORS or level is None:
        raise NotPermitted("只有乡镇（街道）和县级干部可以督办案件")
    if not covers(node_path, region_path):
        raise NotPermitted("案件不在您的管辖范围内")
    if _RANK[level] <= _RANK[case_level]:
        raise NotPermitted(
            f"督办由上级机关启动：案件现由{HANDLING_LEVEL_NAMES_ZH[case_level]}办理，"
            f"{HANDLING_LEVEL_NAMES_ZH[level]}不能督办"
        )
    return level


def check_may_reply(role: Role, node_code: str, supervised_node_code: str, handling_node_code: str) -> None:
    """The written reply comes from the supervised organ (or the organ now holding the case)."""
    if role not in REPLIERS or node_code not in (supervised_node_code, handling_node_code):
        raise NotPermitted("督办回复须由被督办的办理单位作出")


class LeadAction(StrEnum):
    ASSIGN = "assign"
    REPLACE = "replace"
    END = "end"


LEAD_ACTION_ENTRY = {LeadAction.ASSIGN: LEAD_ASSIGNED, LeadAction.REPLACE: LEAD_REPLACED, LeadAction.END: LEAD_ENDED}


class CaseLead(SQLModel, table=True):
    """One step of a case's 包案 history: append-only (the database refuses changes)."""

    __tablename__ = "case_lead"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_case_lead_case_seq"),)

    id: uuid.UUID = Field(primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case_file.id", index=True)
    seq: int
    action: str = Field(max_length=10)
    # 定领导: None when the row ends the assignment.
    leader_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id", index=True)
    leader_name: str | None = Field(default=None, max_length=64)
    # 定措施、定时间、定责任 (repeated from the previous row on an end, for the record).
    measures: str | None = Field(default=None, sa_column=Column(Text))
    target_date: date | None = Field(default=None, sa_column=Column(Date()))
    responsibility: str | None = Field(default=None, sa_column=Column(Text))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    by_id: uuid.UUID = Field(foreign_key="app_user.id")
    by_name: str = Field(max_length=64)


@dataclass(frozen=True)
class Candidate:
    """A user proposed as 包案 leader, as the rule sees them."""

    role: Role
    node_level: str
    node_path: str
    active: bool


def current_lead(history: Iterable[CaseLead]) -> CaseLead | None:
    """The assignment in force: the last step, unless it ended the assignment."""
    last = max(history, key=lambda row: row.seq, default=None)
    if last is None or last.action == LeadAction.END.value:
        return None
    return last


def check_lead_leader(candidate: Candidate, handling_level: HandlingLevel, handling_node_path: str) -> None:
    """The leader stands at or above the handling level, over the handling organ (Art. 18 ¶2)."""
    level = organ_level(candidate.node_level)
    if not candidate.active:
        raise DomainError("该用户已停用，不能担任包案领导", code="lead.invalid_leader")
    if candidate.role not in LEAD_ROLES or level is None:
        raise DomainError("包案领导须为村（社区）两委、乡镇（街道）或县级干部", code="lead.invalid_leader")
    if _RANK[level] < _RANK[handling_level] or not covers(candidate.node_path, handling_node_path):
        raise DomainError(
            f"包案领导须为{HANDLING_LEVEL_NAMES_ZH[handling_level]}或更高层级、对案件有管辖权的领导",
            code="lead.invalid_leader",
        )


def check_may_assign_lead(role: Role, node_path: str, handling_node_path: str) -> None:
    """The organ holding the case, or one above it, decides who leads it."""
    if role not in LEAD_ROLES or not covers(node_path, handling_node_path):
        raise NotPermitted("只有办理单位或其上级的领导可以确定包案领导")


def check_target_date(target_date: date, now: datetime) -> None:
    if target_date < local_date(now):
        raise DomainError(
            "包案办结时限不能早于今天", code="lead.target_in_past", data={"target_date": target_date.isoformat()}
        )


def lead_reason_zh(
    action: LeadAction,
    leader_name: str | None,
    measures: str | None,
    target_date: date | None,
    responsibility: str | None,
    reason: str | None,
) -> str:
    if action is LeadAction.END:
        text = "结束包案"
    else:
        verb = "确定" if action is LeadAction.ASSIGN else "更换"
        deadline = target_date.isoformat() if target_date else ""
        text = f"{verb}包案领导：{leader_name}；措施：{measures}；办结时限：{deadline}；责任：{responsibility}"
    if reason:
        text += f"（{reason.strip()}）"
    return f"{text}（{ARTICLE_18}）"
