"""Rules for what a newly captured case must say about its people."""

from __future__ import annotations

from dataclasses import dataclass

from grid.cases import PartyKind, PartyRole
from grid.errors import IssueCollector
from grid.identity import IdentityRuleError, Phone, ResidentId, normalize_phone, parse_resident_id

MAX_REPRESENTATIVES = 5  # 信访工作条例 Art. 20 ¶3


@dataclass(frozen=True)
class PartyInput:
    kind: PartyKind
    role: PartyRole
    name: str
    id_number: str | None = None
    id_unknown_reason: str | None = None
    org_code: str | None = None
    phone: str | None = None
    address: str | None = None
    is_representative: bool = False
    is_signer: bool = False


@dataclass(frozen=True)
class CheckedParty:
    source: PartyInput
    resident_id: ResidentId | None
    phone: Phone | None


def check_parties(parties: list[PartyInput], *, is_collective: bool, field: str = "parties") -> list[CheckedParty]:
    """Validate every party at once so one answer names every bad field."""
    issues = IssueCollector()
    checked: list[CheckedParty] = []
    for index, party in enumerate(parties):
        prefix = f"{field}.{index}"
        resident_id = None
        phone = None
        if not party.name.strip():
            issues.add(f"{prefix}.name", "party.name_required", "当事人姓名或名称不能为空")
        if party.kind is PartyKind.PERSON:
            try:
                resident_id = parse_resident_id(party.id_number, unknown_reason=party.id_unknown_reason)
            except IdentityRuleError as error:
                issues.issues.append(error.issue(f"{prefix}.id_number"))
        elif party.id_number:
            issues.add(
                f"{prefix}.id_number",
                "party.org_has_no_id_number",
                "单位当事人不填写居民身份证号，请填写统一社会信用代码",
            )
        if party.phone:
            try:
                phone = normalize_phone(party.phone)
            except IdentityRuleError as error:
                issues.issues.append(error.issue(f"{prefix}.phone"))
        if party.kind is PartyKind.ORGANISATION and (party.is_representative or party.is_signer):
            issues.add(f"{prefix}.is_representative", "party.org_cannot_represent", "集体访代表和签名人须为自然人")
        checked.append(CheckedParty(party, resident_id, phone))
    if not any(party.role is PartyRole.APPLICANT for party in parties):
        issues.add(field, "case.applicant_required", "至少需要一名信访人（申请人）")
    representatives = [party for party in parties if party.is_representative]
    if is_collective:
        if not representatives:
            issues.add(field, "case.representative_required", "集体访须推选代表（不超过5人）")
        if len(representatives) > MAX_REPRESENTATIVES:
            issues.add(
                field,
                "case.too_many_representatives",
                f"集体访代表不得超过{MAX_REPRESENTATIVES}人（信访工作条例第二十条），当前为{len(representatives)}人",
            )
        if not any(party.is_signer for party in parties):
            issues.add(field, "case.signers_required", "集体访须列明全部联名人")
    elif representatives:
        issues.add(field, "case.representatives_only_for_collective", "只有集体访才推选代表")
    issues.raise_if_any()
    return checked
