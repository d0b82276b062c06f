"""The sync protocol's messages and the rules that need no database.

A device numbers its mutations 1, 2, 3, …; the server applies each exactly once and
answers every one. See docs/sync-protocol.md.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

PROTOCOL_VERSION = 1
# Clients older than this are told to update; their outbox is left untouched.
MIN_PROTOCOL_VERSION = 1
MAX_OUTBOX = 500
DEFAULT_PAGE = 100
MAX_PAGE = 500
# The change clock is a 32-bit column; a cursor beyond it was not issued by this server.
MAX_CHANGE_SEQ = 2**31 - 1


class MutationType(StrEnum):
    CREATE_CASE = "create_case"
    EDIT_CASE = "edit_case"
    # Status changes and timeline entries (visits, mediation sessions, notes) alike.
    TRANSITION = "transition"
    # The record of a file; its bytes are uploaded separately (tus) and never hold it up.
    ATTACH_FILE = "attach_file"
    # A periodic 排查 report (a 零报告 when nothing was found); ``case_id`` carries the
    # report's own id, as ``create_case`` carries the new case's.
    FILE_SCREENING_REPORT = "file_screening_report"


class ResultStatus(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    CONFLICT = "conflict"


class Mutation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=1, description="设备内从 1 开始连续编号")
    id: uuid.UUID = Field(description="设备生成的变更 ID（UUIDv7）")
    type: MutationType
    case_id: uuid.UUID
    base_version: int | None = Field(default=None, ge=1, description="修改所依据的案件版本")
    data: dict[str, Any] = Field(default_factory=dict)
    device_time: datetime | None = Field(default=None, description="设备时钟（仅作记录）")


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    protocol: int = Field(ge=1)
    app_version: str = Field(min_length=1, max_length=40)
    device_id: uuid.UUID
    outbox: list[Mutation] = Field(default_factory=list, max_length=MAX_OUTBOX)
    cursor: str | None = Field(default=None, max_length=100, description="上次同步返回的 cursor；首次为空")
    page_size: int = Field(default=DEFAULT_PAGE, ge=1, le=MAX_PAGE)
    # Drift repair: after a scope digest that differs from its own, a device asks for the
    # ids in scope (drops the others) and refetches the ones it lacks.
    want_scope_ids: bool = False
    refetch: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_PAGE)

    @model_validator(mode="after")
    def numbered_in_order(self) -> SyncRequest:
        seqs = [mutation.seq for mutation in self.outbox]
        if any(later != earlier + 1 for earlier, later in pairwise(seqs)):
            raise ValueError("outbox 中的 seq 须连续递增")
        return self


class MutationResult(BaseModel):
    seq: int
    id: uuid.UUID
    status: ResultStatus
    code: str | None = None
    message: str | None = None
    # For a duplicate: what the first delivery came to.
    original_status: ResultStatus | None = None
    case_version: int | None = None
    # For a conflict: the fields held back for a reviewer (the others were applied).
    held: list[str] | None = None


class ScopeDigest(BaseModel):
    """What the device should hold: compare with the ids it has to find drift."""

    count: int
    digest: str = Field(description="SHA-256 of the sorted case ids (hex, no dashes) joined by newlines")


class SyncResponse(BaseModel):
    protocol: int = PROTOCOL_VERSION
    last_seq: int
    results: list[MutationResult]
    changes: list[dict[str, Any]] = Field(description="变更后的案件快照（身份信息脱敏）")
    cursor: str
    more: bool = Field(description="还有下一页：保存本页后用新 cursor 再次请求")
    scope: ScopeDigest | None = Field(default=None, description="最后一页时给出，用于核对")
    scope_ids: list[str] | None = Field(default=None, description="want_scope_ids 时给出：范围内全部案件 ID（hex）")
    refetched: list[dict[str, Any]] = Field(default_factory=list, description="refetch 所列且在范围内的案件快照")
    server_time: datetime


def scope_digest(case_ids: list[uuid.UUID]) -> ScopeDigest:
    text = "\n".join(sorted(case_id.hex for case_id in case_ids))
    return ScopeDigest(count=len(case_ids), digest=hashlib.sha256(text.encode()).hexdigest())


def encode_cursor(change_seq: int, case_id: uuid.UUID | None) -> str:
    return f"{change_seq}.{case_id.hex if case_id else ''}"


def decode_cursor(cursor: str | None) -> tuple[int, uuid.UUID | None]:
    """Raises ValueError for a cursor this server did not issue."""
    if not cursor:
        return 0, None
    seq_text, _, id_text = cursor.partition(".")
    change_seq = int(seq_text)
    if not 0 <= change_seq <= MAX_CHANGE_SEQ:
        raise ValueError("change sequence out of range")
    return change_seq, uuid.UUID(hex=id_text) if id_text else None


def mutation_digest(mutation: Mutation) -> str:
    """Content identity of a mutation: the same seq with another digest is not a replay."""
    return payload_digest(mutation.model_dump(mode="json"))


def payload_digest(payload: dict[str, Any]) -> str:
    """:func:`mutation_digest` of a mutation already dumped as JSON. The device's clock is
    not content: a retry stamped later is still the same mutation."""
    canonical = {key: value for key, value in payload.items() if key != "device_time"}
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class OutboxPlan:
    replays: list[Mutation]
    new: list[Mutation]
    gap_expected: int | None  # set when the first new mutation does not follow last_seq


def plan_outbox(last_seq: int, outbox: list[Mutation]) -> OutboxPlan:
    """Split an outbox into replays (already received) and new mutations.

    The outbox is numbered consecutively (checked on parse); the first new mutation must be
    ``last_seq + 1`` or the request is refused as a gap, before anything is applied.
    """
    replays = [mutation for mutation in outbox if mutation.seq <= last_seq]
    new = [mutation for mutation in outbox if mutation.seq > last_seq]
    gap = last_seq + 1 if new and new[0].seq != last_seq + 1 else None
    return OutboxPlan(replays, new, gap)
