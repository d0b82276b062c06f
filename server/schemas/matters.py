"""Response bodies for a case's matter: review chain, duplicates, repeat counts."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from server.schemas.cases import CaseSummary


class ReviewHolderRead(BaseModel):
    stage: Literal["review", "rereview"]
    organ: str = Field(description="办理复查（复核）的机关")
    organ_level: str = Field(description="该机关的层级：township / county / city / province")
    level: str = Field(description="本系统中保存案卷、录入其意见的层级")
    node_code: str | None
    node_name: str | None
    contested_level: str = Field(description="被申请复查（复核）的意见出自哪一级")
    rule: str = Field(description="确定该机关的规则：升级规则条目，或 law.review / law.rereview")
    summary_zh: str


class PetitionerWindowRead(BaseModel):
    kind: Literal["review_request", "rereview_request"]
    name: str
    delivered_at: datetime
    last_day: date
    ends_at: datetime
    open: bool
    provisional: bool


class DuplicateLinkRead(BaseModel):
    original_id: uuid.UUID
    matched_id: uuid.UUID
    basis: Literal["id_number", "name_phone"]
    similarity: float
    original_status: str
    original_open: bool
    detected_at: datetime


class SkipLevelRead(BaseModel):
    registered_level: str
    expected_level: str
    rule: str
    channel: str
    detected_at: datetime


class ReviewChainRead(BaseModel):
    case_id: uuid.UUID
    status: str
    level: str
    handling_node_code: str
    review: ReviewHolderRead | None
    rereview: ReviewHolderRead | None
    window: PetitionerWindowRead | None = Field(description="信访人正在进行中的复查（复核）申请期限")
    final: bool = Field(description="已复核终结：同一事实和理由不再受理（第三十六条）")
    final_on: date | None
    duplicate_of: DuplicateLinkRead | None
    skip_level: SkipLevelRead | None


class DuplicateRead(BaseModel):
    case: CaseSummary
    matched_id: uuid.UUID
    basis: Literal["id_number", "name_phone"]
    similarity: float
    original_open: bool
    detected_at: datetime


class MatterDuplicatesRead(BaseModel):
    case_id: uuid.UUID
    original: CaseSummary | None = Field(description="该事项的原案（不在管辖范围内时为空）")
    duplicates: list[DuplicateRead]
    hidden: int = Field(description="同一事项中不在您管辖范围内的案件数")


class RepeatCountsRead(BaseModel):
    region: str
    since: date
    until: date
    registered: int
    duplicates: int = Field(description="重复信访件数（关联到此前同一事项的登记）")
    duplicates_of_open: int = Field(description="其中原案仍在办理的件数")
    repeat_rate: float | None = Field(description="重复访率 = 重复信访件数 / 登记件数")
    skip_level: int = Field(description="越级件数")
    skip_level_visits: int = Field(description="其中来访（越级访）件数")
