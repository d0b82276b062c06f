"""Documents and case files through HTTP: real cases walked through the API, real PDFs."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlmodel import select

from grid.cases import IdentityAccess
from tests.factories import case_payload, id_number, party
from tests.reports.pdfcheck import assert_archival, embedded_files, page_texts, text_of
from tests.server.test_cases_api import act, problem_of

PDF = "application/pdf"
RAW_ID = "11010519491231002X"
RAW_MOBILE = "13812345678"
RARE_NAME = "王堃"
RESPONDENT = "李喆𠮷"
AGREEMENT = {
    "form": "written",
    "content": "李喆𠮷于三日内疏通排水沟，王堃不再追究。",
    "creates_obligations": True,
    "performance_manner": "被申请人自行疏通",
    "performance_place": "两家之间的排水沟",
    "performance_deadline": "三日内",
}
REPLY = {
    "outcome": "support",
    "request": "要求疏通排水沟",
    "facts_and_reasons": "经现场查看，排水沟确被堵塞",
    "decision": "责成对方三日内疏通",
    "legal_basis": "《中华人民共和国民法典》第二百九十条",
}


def flat(text: str) -> str:
    return text.replace("\n", "").replace(" ", "")


def parties() -> list[dict[str, Any]]:
    return [
        party(name=RARE_NAME, id_number=RAW_ID, phone=f"+86 {RAW_MOBILE}", address="柞水县乾佑街道仁和社区12号"),
        party(name=RESPONDENT, role="respondent", id_number=id_number("19750505", "246"), phone="0914 4321234"),
    ]


async def step(client, world, clock, who: str, action: str, reason: str | None = None, **data) -> dict[str, Any]:
    clock.advance(hours=2)
    response = await act(client, world.auth(who), data.pop("case_id"), action, reason, **data)
    assert response.status_code == 200, (action, response.text)
    return response.json()


async def mediated_case(client, world, clock) -> dict[str, Any]:
    """A neighbours' dispute of 仁和社区, mediated to a written agreement that was performed."""
    body = case_payload(grid_code=world.grid_a, parties=parties(), title="王堃与李喆𠮷排水沟纠纷")
    response = await client.post("/cases", json=body, headers=world.auth("grid_worker"))
    assert response.status_code == 201, response.text
    case = response.json()
    ids = [item["id"] for item in case["parties"]]
    case_id = case["id"]
    await step(client, world, clock, "leader", "accept", "属于本村受理范围", case_id=case_id)
    await step(
        client, world, clock, "mediator", "start_mediation", case_id=case_id, consenting_party_ids=ids,
        informed_of_rights=True,
    )  # fmt: skip
    await step(
        client, world, clock, "mediator", "record_session", case_id=case_id,
        summary="双方到场陈述，同意由李喆𠮷疏通排水沟。", place="仁和社区调解室", participants=[RARE_NAME, RESPONDENT],
    )  # fmt: skip
    await step(client, world, clock, "mediator", "reach_agreement", case_id=case_id, **AGREEMENT)
    await step(
        client, world, clock, "mediator", "sign_agreement", case_id=case_id, party_ids=ids, mediator_signed=True,
        committee_sealed=True,
    )  # fmt: skip
    clock.advance(days=3)
    await step(client, world, clock, "mediator", "follow_up", case_id=case_id, summary="排水沟已疏通。")
    await step(client, world, clock, "mediator", "confirm_performance", case_id=case_id, summary="双方确认已履行。")
    await step(client, world, clock, "leader", "evaluate", case_id=case_id, evaluation="satisfied")
    return await step(client, world, clock, "leader", "close", "协议已履行", case_id=case_id, resolution="已疏通")


async def replied_petition(client, world, clock) -> dict[str, Any]:
    body = case_payload(grid_code=world.grid_a, kind="claim", parties=parties(), title="要求疏通排水沟")
    response = await client.post("/cases", json=body, headers=world.auth("grid_worker"))
    assert response.status_code == 201, response.text
    case_id = response.json()["id"]
    await step(client, world, clock, "leader", "accept", "属于受理范围", case_id=case_id)
    await step(client, world, clock, "town", "start_handling", "镇综治中心牵头办理", case_id=case_id)
    return await step(client, world, clock, "town", "reply", "依法出具处理意见", case_id=case_id, **REPLY)


async def get_pdf(client, path: str, headers) -> bytes:
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == PDF
    assert "attachment" in response.headers["content-disposition"]
    return response.content


async def test_should_list_the_documents_a_case_has_the_facts_for(client, world, clock):
    case = await mediated_case(client, world, clock)
    response = await client.get(f"/cases/{case['id']}/documents", headers=world.auth("leader"))
    assert response.status_code == 200, response.text
    assert [(item["kind"], item["title"]) for item in response.json()] == [
        ("registration_form", "登记表"),
        ("acceptance_notice", "受理告知书"),
        ("mediation_record", "调解笔录"),
        ("mediation_agreement", "调解协议书"),
        ("follow_up_record", "回访记录"),
    ]
    assert response.json()[3]["path"] == f"/cases/{case['id']}/documents/mediation_agreement"


async def test_should_serve_each_document_as_archival_pdf_with_names_number_dates_and_outcome(client, world, clock):
    case = await mediated_case(client, world, clock)
    headers = world.auth("leader")
    number = case["number"]
    expectations = {
        "registration_form": ["矛盾纠纷登记表", "王堃与李喆𠮷排水沟纠纷", "要求对方疏通排水沟", "仁和社区"],
        "acceptance_notice": ["人民调解受理告知书", "仁和社区人民调解委员会"],
        "mediation_record": ["人民调解笔录", "仁和社区调解室", "同意由李喆𠮷疏通排水沟"],
        "mediation_agreement": ["人民调解协议书", "李喆𠮷于三日内疏通排水沟", "被申请人自行疏通", "三日内"],
        "follow_up_record": ["回访记录", "排水沟已疏通", "满意"],
    }
    for kind, expected in expectations.items():
        pdf = await get_pdf(client, f"/cases/{case['id']}/documents/{kind}", headers)
        assert_archival(pdf)
        text = flat(text_of(pdf))
        for words in [RARE_NAME, number, "2026年", *expected]:
            assert words in text, (kind, words)
        assert RAW_ID not in text and RAW_MOBILE not in text, kind


async def test_should_state_the_reply_and_the_review_window_in_the_handling_opinion(client, world, clock):
    case = await replied_petition(client, world, clock)
    pdf = await get_pdf(client, f"/cases/{case['id']}/documents/handling_opinion", world.auth("town"))
    assert_archival(pdf)
    text = flat(text_of(pdf))
    expected = [
        "乾佑街道办事处",
        "信访事项处理意见书",
        "予以支持",
        "经现场查看，排水沟确被堵塞",
        "《中华人民共和国民法典》第二百九十条",
        "三十日内",
        "向柞水县人民政府请求复查",
        RARE_NAME,
    ]
    for words in expected:
        assert words in text, words


async def test_should_embed_the_case_exactly_as_the_api_returns_it_in_the_case_file(client, world, clock):
    case = await mediated_case(client, world, clock)
    headers = world.auth("leader")
    pdf = await get_pdf(client, f"/cases/{case['id']}/case-file", headers)
    assert_archival(pdf)
    api_case = (await client.get(f"/cases/{case['id']}", headers=headers)).json()
    files = embedded_files(pdf)
    assert files["case.json"].relationship == "/Data"
    assert json.loads(files["case.json"].data) == api_case
    pages = page_texts(pdf)
    assert "案卷" in pages[0] and case["number"] in flat(pages[0])
    assert "卷内目录" in flat(pages[1])
    timeline = (await client.get(f"/cases/{case['id']}/timeline", headers=headers)).json()
    text = flat("".join(pages))
    for entry in timeline:
        assert entry["kind_name"] in text
    assert "人民调解协议书" in text


async def test_should_give_the_same_bytes_for_the_same_case(client, world, clock):
    case = await replied_petition(client, world, clock)
    headers = world.auth("town")
    path = f"/cases/{case['id']}/documents/handling_opinion"
    first = await client.get(path, headers=headers)
    clock.advance(hours=5)
    second = await client.get(path, headers=headers)
    assert first.content == second.content
    assert first.headers["etag"] == second.headers["etag"]


async def test_should_print_full_identity_only_for_the_parties_and_log_it(client, world, clock, db):
    case = await mediated_case(client, world, clock)
    path = f"/cases/{case['id']}/documents/mediation_agreement"
    masked = flat(text_of(await get_pdf(client, path, world.auth("mediator"))))
    assert RAW_ID not in masked and "110105" in masked
    reason = "当面送达当事人王堃签收"
    response = await client.post(f"{path}/for-party", json={"reason": reason}, headers=world.auth("mediator"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == PDF
    full = flat(text_of(response.content))
    assert RAW_ID in full and RAW_MOBILE in full and RARE_NAME in full
    async with db.read() as session:
        rows = (await session.exec(select(IdentityAccess).where(IdentityAccess.case_id == uuid.UUID(case["id"])))).all()
    assert len(rows) == 1
    assert rows[0].user_id == world.principals["mediator"].user_id
    assert sorted(rows[0].fields) == ["address", "id_number", "phone"]
    assert "调解协议书" in rows[0].reason and reason in rows[0].reason


async def test_should_refuse_full_identity_to_who_may_not_see_it_and_without_a_reason(client, world, clock, db):
    case = await mediated_case(client, world, clock)
    path = f"/cases/{case['id']}/documents/mediation_agreement/for-party"
    # A grid worker of another grid of the village cannot even read the case.
    other = await client.post(path, json={"reason": "送达当事人"}, headers=world.auth("grid_worker_b"))
    problem_of(other, 404, "auth.out_of_scope")
    missing = await client.post(path, json={"reason": "看"}, headers=world.auth("mediator"))
    assert missing.status_code == 422
    async with db.read() as session:
        rows = (await session.exec(select(IdentityAccess).where(IdentityAccess.case_id == uuid.UUID(case["id"])))).all()
    assert rows == []


async def test_should_name_an_unknown_kind_and_a_document_the_case_has_no_facts_for(client, world, clock):
    case = await replied_petition(client, world, clock)
    headers = world.auth("town")
    unknown = await client.get(f"/cases/{case['id']}/documents/no_such_paper", headers=headers)
    assert problem_of(unknown, 404, "document.unknown_kind")["kind"] == "no_such_paper"
    early = await client.get(f"/cases/{case['id']}/documents/mediation_agreement", headers=headers)
    assert problem_of(early, 409, "document.not_applicable")["kind"] == "mediation_agreement"


async def test_should_hide_documents_of_a_case_outside_the_callers_jurisdiction(client, world, clock):
    case = await replied_petition(client, world, clock)
    for path in ("documents", "documents/handling_opinion", "case-file"):
        answer = await client.get(f"/cases/{case['id']}/{path}", headers=world.auth("leader_b"))
        problem_of(answer, 404, "auth.out_of_scope")
        assert b"%PDF" not in answer.content
