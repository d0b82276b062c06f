"""Extension of the handling period (信访工作条例 Art. 34): request, then the head decides.

A handler asks for up to 30 more days and says why, in Chinese: the reason is told to the
petitioner (延期告知书). The request waits for a head of the handling organ
(``grid.organs``), who approves or refuses it with a note. Approval applies the
lifecycle's own ``extend`` command (``grid.lifecycle.decide``) with the head as
``approved_by``; a request is refused up front exactly when that command would be refused
at that instant (:func:`check_request` runs it without keeping the result), so the codes
are the lifecycle's: ``case.extension_used``, ``case.window_closed``,
``case.invalid_transition``.

No I/O here: the services load rows and pass ``now`` in.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from grid import deadlines
from grid.calendar import StatutoryCalendar
from grid.errors import DomainError, InvalidInput, Issue
from grid.lifecycle import Action, Actor, CaseFacts, Command, decide
from grid.storage_types import UTCDateTime

# Timeline entries written beside the lifecycle's own ``extend`` (which records the approval).
EXTENSION_REQUESTED = "extension_request"
EXTENSION_REFUSED = "extension_refuse"
EXTENSION_LAPSED = "extension_lapse"
ENTRY_NAMES_ZH = {
    EXTENSION_REQUESTED: "申请延长办理期限",
    EXTENSION_REFUSED: "不批准延期",
    EXTENSION_LAPSED: "延期申请失效",
}

ARTICLE_34 = "《信访工作条例》第三十四条"
# Stands in for the head's name while the lifecycle checks a request that nobody approved yet.
_PENDING_APPROVER = "待批准"
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


class ExtensionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    # The case moved to another organ before its head decided: the new organ asks anew.
    LAPSED = "lapsed"


EXTENSION_STATUS_NAMES_ZH = {
    ExtensionStatus.PENDING: "待批准",
    ExtensionStatus.APPROVED: "已批准",
    ExtensionStatus.REFUSED: "不予批准",
    ExtensionStatus.LAPSED: "已失效",
}


class ExtensionRequest(SQLModel, table=True):
    """One request to extend a case's handling period, and the head's decision on it."""

    __tablename__ = "extension_request"
    __table_args__ = (
        # "Awaiting my approval": pending requests of an organ.
        Index("ix_extension_request_organ_status", "organ_node_code", "status"),
    )

    id: uuid.UUID = Field(primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case_file.id", index=True)
    # The organ whose head decides (the case's handling organ when it was asked).
    organ_node_code: str = Field(max_length=20, foreign_key="region.code")
    days: int
    reason: str = Field(sa_column=Column(Text, nullable=False))
    requested_by: uuid.UUID = Field(foreign_key="app_user.id")
    requested_by_name: str = Field(max_length=64)
    requested_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: str = Field(max_length=16)
    decided_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    decided_by_name: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    decision_note: str | None = Field(default=None, sa_column=Column(Text))


def check_reason(reason: str) -> str:
    """The reason is told to the petitioner: it must be there, and in Chinese."""
    text = reason.strip()
    if not text:
        raise InvalidInput([Issue("reason", "reason.required", "须说明延期理由")])
    if not _HAN.search(text):
        raise InvalidInput([Issue("reason", "reason.not_chinese", "延期理由须用中文填写（将书面告知信访人）")])
    return text


def check_request(
    facts: CaseFacts, *, days: int, reason: str, now: datetime, actor: Actor, calendar: StatutoryCalendar
) -> deadlines.Due:
    """Refuse a request now that its approval would be refused now; the handling period's
    end once approved."""
    decide(
        facts,
        Command(Action.EXTEND, reason, {"days": days, "approved_by": _PENDING_APPROVER}),
        now=now,
        actor=actor,
        calendar=calendar,
    )
    assert facts.accepted_at is not None  # in_handling implies acceptance
    return deadlines.handling_due(calendar, facts.accepted_at, days)


def check_may_decide(request: ExtensionRequest, *, approver_id: uuid.UUID, is_head: bool) -> None:
    if request.status != ExtensionStatus.PENDING.value:
        raise DomainError(
            f"该延期申请已{EXTENSION_STATUS_NAMES_ZH[ExtensionStatus(request.status)]}，不能再次审批",
            code="extension.already_decided",
            data={"extension_status": request.status},
        )
    if not is_head:
        raise DomainError(f"延期须经本机关负责人批准（{ARTICLE_34}）", code="organ.not_head")
    if request.requested_by == approver_id:
        # Approval is a second person's check; another head of the organ decides.
        raise DomainError("不能批准本人提出的延期申请，须由本机关其他负责人审批", code="extension.self_approval")
