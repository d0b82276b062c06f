"""Cases as the server hands them to reports/ (the API's JSON), for tests without a database.

Two cases of 柞水县: a neighbours' dispute mediated in 仁和社区 to a written agreement that
was performed, and a claim (申诉求决类) answered by 乾佑街道 with an extension, then
reviewed by the county and re-reviewed by the city, with a 督办 and a 转送 on the way.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

from reports.documents import CaseData

CN = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=CN)

REGIONS = {
    "610000000000": {"name": "陕西省", "level": "province"},
    "611000000000": {"name": "商洛市", "level": "city"},
    "611026000000": {"name": "柞水县", "level": "county"},
    "611026001000": {"name": "乾佑街道", "level": "township"},
    "611026001001": {"name": "仁和社区居委会", "level": "village"},
    "611026001001001": {"name": "第1网格", "level": "grid"},
}

APPLICANT_ID = "0195d2f0-0000-7000-8000-000000000001"
RESPONDENT_ID = "0195d2f0-0000-7000-8000-000000000002"
FULL_ID_NUMBER = "61102619800101001X"
MASKED_ID_NUMBER = "611026********001X"


def at(days: float, hours: float = 0) -> str:
    return (T0 + timedelta(days=days, hours=hours)).isoformat()


def party(party_id: str, role: str, name: str, id_number: str | None, phone: str, address: str) -> dict[str, Any]:
    return {
        "id": party_id,
        "kind": "person",
        "role": role,
        "name": name,
        "is_representative": False,
        "is_signer": False,
        "id_number": id_number,
        "id_number_status": "valid" if id_number else None,
        "id_unknown_reason": None if id_number else "本人未携带身份证",
        "org_code": None,
        "phone": phone,
        "phone_kind": "mobile",
        "address": address,
        "masked": True,
    }


def base_case(case_id: str, kind: str, number: str, title: str, status: str, status_name: str) -> dict[str, Any]:
    return {
        "id": case_id,
        "number": number,
        "title": title,
        "kind": kind,
        "category": "neighbour",
        "channel": "visit",
        "status": status,
        "status_name": status_name,
        "level": "village",
        "risk": "low",
        "is_collective": False,
        "village_code": "611026001001",
        "grid_code": "611026001001001",
        "registered_at": at(0),
        "updated_at": at(40),
        "version": 9,
        "deadline": None,
        "request": "请求对方拆除占用通道的柴棚，恢复通行。",
        "facts": "2026年2月，被申请人在两家之间的通道上搭建柴棚，致申请人无法通行。",
        "reasons": "通道系两家共用，被申请人单方占用缺乏依据。",
        "category_version": 1,
        "location": None,
        "people_involved": 2,
        "flags": {
            "involves_litigation": False,
            "administrative_dispute": False,
            "violence_risk": False,
            "cadres_involved": False,
            "multi_village": False,
        },
        "handling_node_code": "611026001001",
        "created_by": "0195d2f0-0000-7000-8000-0000000000aa",
        "assigned_to": None,
        "captured_at": None,
        "parties": [
            party(APPLICANT_ID, "applicant", "王堃", MASKED_ID_NUMBER, "138****1234", "柞水县乾佑街道仁和社区***"),
            party(RESPONDENT_ID, "respondent", "李喆", None, "139****5678", "柞水县乾佑街道仁和社区***"),
        ],
        "accepted_at": at(1),
        "route": None,
        "extension_days": None,
        "extension": None,
        "reply_outcome": None,
        "evaluation": None,
        "escalations": [],
        "allowed_actions": [],
    }


def entry(seq: int, kind: str, when: str, *, actor: str = "张调解", reason: str | None = None, **data: Any):
    return {
        "id": f"0195d2f0-0000-7000-9000-{seq:012d}",
        "seq": seq,
        "kind": kind,
        "kind_name": kind,
        "at": when,
        "actor_id": None,
        "actor_name": actor,
        "reason": reason,
        "from_status": None,
        "to_status": None,
        "data": data,
    }


def mediated_case() -> CaseData:
    case = base_case(
        "0195d2f0-0000-7000-8000-00000000c001",
        "civil_dispute",
        "611026001001-2026-0007",
        "王堃与李喆通道纠纷",
        "closed",
        "已办结",
    )
    timeline = [
        entry(1, "register", at(0), actor="赵网格", level="village"),
        entry(2, "accept", at(1), number=case["number"], taking_over=False, level="village"),
        entry(3, "start_mediation", at(2), consenting_party_ids=[APPLICANT_ID, RESPONDENT_ID]),
        entry(
            4,
            "record_session",
            at(3),
            summary="双方陈述了通道使用的历史。被申请人同意拆除柴棚。",
            place="仁和社区调解室",
            participants=["王堃", "李喆", "张调解"],
            violence_risk=False,
        ),
        entry(
            5,
            "reach_agreement",
            at(3, 2),
            form="written",
            content="李喆于2026年3月20日前自行拆除柴棚，恢复通道原状；王堃不再追究其他责任。",
            creates_obligations=True,
            party_requests_written=False,
            performance_manner="被申请人自行拆除",
            performance_place="两家之间的通道",
            performance_deadline="2026年3月20日前",
        ),
        entry(
            6,
            "sign_agreement",
            at(3, 3),
            party_ids=[APPLICANT_ID, RESPONDENT_ID],
            mediator_signed=True,
            committee_sealed=True,
            effective=True,
        ),
        entry(7, "follow_up", at(20), summary="柴棚已拆除，通道恢复通行。"),
        entry(8, "confirm_performance", at(21), summary="双方确认协议已履行完毕。"),
        entry(9, "evaluate", at(21, 1), evaluation="satisfied"),
        entry(10, "close", at(22), resolution="协议履行完毕"),
    ]
    return CaseData(case=case, timeline=timeline, regions=REGIONS, category_name="邻里纠纷")


def petition_case() -> CaseData:
    case = base_case(
        "0195d2f0-0000-7000-8000-00000000c002",
        "claim",
        "611026001001-2026-0012",
        "要求解决宅基地确权问题",
        "final",
        "复核终结",
    )
    case["category"] = "land"
    case["level"] = "county"
    case["reply_outcome"] = "reject"
    case["extension_days"] = 30
    case["extension"] = {
        "days": 30,
        "approved_by": "陈主任",
        "approved_at": at(50),
        "reason": "需要调取历史档案并实地测量",
        "last_day": "2026-05-01",
        "provisional": False,
    }
    timeline = [
        entry(1, "register", at(0), actor="赵网格", level="village"),
        entry(
            2,
            "escalate",
            at(0, 2),
            actor="钱村长",
            reason="涉及宅基地确权，村级无权处理",
            from_level="village",
            to_level="township",
            rule=None,
        ),
        entry(3, "accept", at(1), actor="孙镇干", number=case["number"], taking_over=True, level="township"),
        entry(4, "start_handling", at(1, 1), actor="孙镇干", due_last_day="2026-05-01"),
        entry(
            5,
            "open_supervision",
            at(30),
            actor="周县干",
            reason="办理进度滞后，请加快办理",
            source="person",
            supervising_level="county",
            supervised_node="611026001000",
            reply_last_day="2026-04-10",
            supervision="s-1",
        ),
        entry(
            6,
            "supervision_reply",
            at(33),
            actor="孙镇干",
            reason="已调取档案，正组织测量。",
            supervision="s-1",
            late=False,
        ),
        entry(
            7,
            "extend",
            at(50),
            actor="陈主任",
            reason="需要调取历史档案并实地测量",
            days=30,
            approved_by="陈主任",
            due_last_day="2026-05-01",
        ),
        entry(
            8,
            "reply",
            at(60),
            actor="孙镇干",
            outcome="reject",
            request="要求将争议宅基地确权至本人名下。",
            facts_and_reasons="经调取1988年宅基地登记档案并实地测量，争议地块登记在李喆名下。",
            decision="对信访人的请求不予支持。",
            legal_basis="《中华人民共和国土地管理法》第六十二条",
            delivered_at=at(60),
            review_window_last_day="2026-06-01",
        ),
        entry(
            9,
            "request_review",
            at(70),
            actor="周县干",
            to_level="county",
            organ="柞水县人民政府",
            organ_level="county",
            node_code="611026000000",
            node_name="柞水县",
            contested_level="township",
            rule="law.review",
            request_last_day="2026-06-01",
        ),
        entry(
            10,
            "decide_review",
            at(90),
            actor="周县干",
            outcome="reject",
            request="请求撤销乾佑街道办事处的处理意见。",
            facts_and_reasons="复查认定原处理意见认定事实清楚，适用法律正确。",
            decision="维持原处理意见。",
            legal_basis="《信访工作条例》第三十五条",
            delivered_at=at(90),
            rereview_window_last_day="2026-07-01",
        ),
        entry(
            11,
            "request_rereview",
            at(100),
            actor="周县干",
            to_level="county",
            organ="商洛市人民政府",
            organ_level="city",
            node_code=None,
            node_name=None,
            contested_level="county",
            rule="law.rereview",
        ),
        entry(
            12,
            "decide_rereview",
            at(120),
            actor="周县干",
            outcome="reject",
            request="请求撤销复查意见。",
            facts_and_reasons="复核认定复查意见正确。",
            decision="维持复查意见。",
            legal_basis="《信访工作条例》第三十六条",
            delivered_at=at(120),
        ),
    ]
    return CaseData(case=case, timeline=timeline, regions=REGIONS, category_name="山林土地纠纷")


def declined_case() -> CaseData:
    case = base_case(
        "0195d2f0-0000-7000-8000-00000000c003",
        "claim",
        None,  # type: ignore[arg-type]
        "要求重新分配已调整的承包地",
        "closed",
        "已办结",
    )
    case["number"] = None
    timeline = [
        entry(1, "register", at(0), actor="赵网格", level="village"),
        entry(
            2,
            "refer_down",
            at(0, 1),
            actor="孙镇干",
            reason="属村级事务",
            from_level="township",
            to_level="village",
            organ="仁和社区居民委员会",
        ),
        entry(3, "decline", at(2), actor="孙镇干", reason="该事项已经人民法院判决", basis="《信访工作条例》第三十一条"),
    ]
    return CaseData(case=case, timeline=timeline, regions=REGIONS, category_name="山林土地纠纷")


def with_full_identity(data: CaseData) -> CaseData:
    case = copy.deepcopy(dict(data.case))
    for item in case["parties"]:
        if item["id"] == APPLICANT_ID:
            item.update(id_number=FULL_ID_NUMBER, phone="13812341234", address="柞水县乾佑街道仁和社区3组12号")
        item["masked"] = False
    return CaseData(
        case=case, timeline=data.timeline, regions=data.regions, category_name=data.category_name, identity="full"
    )
