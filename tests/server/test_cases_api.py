"""Cases through HTTP: intake rules, masked identity, numbering, edits, transitions, lists."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

import pytest
from sqlmodel import select

from grid.calendar import CHINA_TZ
from grid.cases import IdentityAccess, Party
from tests.factories import case_payload, fresh_headers, id_number, party

PROBLEM = "application/problem+json"
RAW_ID = "11010519491231002X"
RAW_MOBILE = "13812345678"
RAW_ADDRESS = "柞水县乾佑街道仁和社区12号"


def problem_of(response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    return body


def issues_of(response) -> set[tuple[str, str]]:
    body = problem_of(response, 422, "validation.failed")
    return {(error["field"], error["rule"]) for error in body["errors"]}


async def register(client, world, who: str = "grid_worker", place: str | None = None, **overrides) -> dict:
    place = place or world.grid_a
    key = "grid_code" if world.regions[place].level == "grid" else "village_code"
    body = case_payload(**{key: place}, **overrides)
    response = await client.post("/cases", json=body, headers=world.auth(who))
    assert response.status_code == 201, response.text
    return response.json()


async def act(client, headers, case_id, action: str, reason: str | None = None, **data):
    body: dict[str, Any] = {"action": action, "data": data}
    if reason is not None:
        body["reason"] = reason
    return await client.post(f"/cases/{case_id}/transitions", json=body, headers=headers)


async def accepted(client, world, case_id, who: str = "leader", headers=None) -> dict:
    response = await act(client, headers or world.auth(who), case_id, "accept", "属于本村受理范围")
    assert response.status_code == 200, response.text
    return response.json()


def applicant_with_identity() -> dict[str, Any]:
    return party(
        id_number=RAW_ID, phone=f"+86 {RAW_MOBILE[:3]} {RAW_MOBILE[3:7]} {RAW_MOBILE[7:]}", address=RAW_ADDRESS
    )


def respondent_with_landline() -> dict[str, Any]:
    return party(name="李秀英", role="respondent", id_number=id_number("19750505", "246"), phone="0914 4321234")


def with_wrong_check_character(number: str) -> str:
    return number[:17] + ("0" if number[17] != "0" else "1")


# ------------------------------------------------------------------ intake rules


async def test_should_reject_an_id_number_with_a_wrong_check_character_naming_the_party_field(client, world):
    body = case_payload(world.grid_a, parties=[party(id_number=with_wrong_check_character(id_number()))])
    response = await client.post("/cases", json=body, headers=world.auth("grid_worker"))
    assert ("parties.0.id_number", "id_number.checksum") in issues_of(response)


async def test_should_name_every_bad_field_of_every_party_in_one_answer(client, world):
    parties = [
        party(id_number=with_wrong_check_character(id_number()), phone="12345"),
        party(name="李秀英", role="respondent", id_number=None),
        party(name="张三", role="third_party", id_number="61102619800101123"),
    ]
    response = await client.post(
        "/cases", json=case_payload(world.grid_a, parties=parties), headers=world.auth("leader")
    )
    assert issues_of(response) == {
        ("parties.0.id_number", "id_number.checksum"),
        ("parties.0.phone", "phone.format"),
        ("parties.1.id_number", "id_number.unknown_needs_reason"),
        ("parties.2.id_number", "id_number.length"),
    }


async def test_should_require_a_reason_when_the_id_number_is_unknown(client, world):
    body = case_payload(world.grid_a, parties=[party(id_number=None)])
    response = await client.post("/cases", json=body, headers=world.auth("grid_worker"))
    assert issues_of(response) == {("parties.0.id_number", "id_number.unknown_needs_reason")}


async def test_should_accept_an_unknown_id_number_with_a_reason_and_mark_it_unknown(client, world):
    reason = "老人身份证不在身边"
    created = await register(client, world, parties=[party(id_number=None, id_unknown_reason=reason)])
    shown = (await client.get(f"/cases/{created['id']}", headers=world.auth("leader"))).json()["parties"][0]
    assert shown["id_number"] is None
    assert shown["id_number_status"] == "unknown"
    assert shown["id_unknown_reason"] == reason


def collective_parties(representatives: int) -> list[dict[str, Any]]:
    return [
        party(name=f"联名人{i}", id_number=id_number(order=f"{100 + i}"), is_representative=True, is_signer=True)
        for i in range(representatives)
    ]


async def test_should_refuse_a_collective_case_with_six_representatives(client, world):
    body = case_payload(world.grid_a, is_collective=True, parties=collective_parties(6))
    response = await client.post("/cases", json=body, headers=world.auth("leader"))
    assert issues_of(response) == {("parties", "case.too_many_representatives")}


async def test_should_accept_a_collective_case_with_five_representatives(client, world):
    created = await register(client, world, is_collective=True, parties=collective_parties(5))
    assert created["is_collective"] is True
    assert sum(p["is_representative"] for p in created["parties"]) == 5


async def test_should_reject_a_phone_number_that_is_neither_mobile_nor_landline(client, world):
    body = case_payload(world.grid_a, parties=[party(phone="138123")])
    response = await client.post("/cases", json=body, headers=world.auth("grid_worker"))
    assert issues_of(response) == {("parties.0.phone", "phone.format")}


async def test_should_name_each_field_that_breaks_the_schema(client, world):
    body = case_payload(world.grid_a, kind="quarrel", risk="extreme")
    del body["title"]
    response = await client.post("/cases", json=body, headers=world.auth("grid_worker"))
    assert issues_of(response) == {("title", "missing"), ("kind", "enum"), ("risk", "enum")}


async def test_should_name_a_bad_field_inside_a_party_of_the_schema(client, world):
    body = case_payload(world.grid_a, parties=[party(role="witness", name="")])
    response = await client.post("/cases", json=body, headers=world.auth("grid_worker"))
    fields = {field for field, _ in issues_of(response)}
    assert fields == {"parties.0.role", "parties.0.name"}


async def test_should_refuse_a_place_outside_the_callers_area_as_a_field_error(client, world):
    body = case_payload(world.grid_b)
    response = await client.post("/cases", json=body, headers=world.auth("leader"))
    assert issues_of(response) == {("grid_code", "auth.out_of_scope")}


# ------------------------------------------------------------------ identity


async def test_should_show_the_exact_masks_of_the_id_number_and_phone_that_were_sent(client, world):
    created = await register(client, world, parties=[applicant_with_identity(), respondent_with_landline()])
    shown = (await client.get(f"/cases/{created['id']}", headers=world.auth("leader"))).json()["parties"]
    assert shown[0]["id_number"] == "110105********002X"
    assert shown[0]["phone"] == "138****5678"
    assert shown[0]["phone_kind"] == "mobile"
    assert shown[0]["address"] == "柞水县乾佑街道****"
    assert shown[1]["phone"] == "0914-****234"
    assert all(p["masked"] for p in shown)


async def test_should_never_put_a_raw_id_number_phone_or_address_in_any_case_answer(client, world):
    created = await register(client, world, parties=[applicant_with_identity(), respondent_with_landline()])
    case_id = created["id"]
    leader = world.auth("leader")
    answers = {
        "POST /cases": created,
        "GET /cases/{id}": (await client.get(f"/cases/{case_id}", headers=leader)).json(),
        "GET /cases": (await client.get("/cases", headers=leader)).json(),
        "GET /cases?q=": (await client.get("/cases", params={"q": "排水沟"}, headers=leader)).json(),
        "GET timeline": (await client.get(f"/cases/{case_id}/timeline", headers=leader)).json(),
        "PATCH": (await client.patch(f"/cases/{case_id}", json={"version": 1, "facts": "补充"}, headers=leader)).json(),
        "accept": await accepted(client, world, case_id),
    }
    raw = [RAW_ID, RAW_MOBILE, "4321234", "社区12号", id_number("19750505", "246")]
    leaks = [
        (name, value)
        for name, answer in answers.items()
        for value in raw
        if value in json.dumps(answer, ensure_ascii=False)
    ]
    assert leaks == []


async def test_should_store_identity_only_as_ciphertext(client, world, db):
    created = await register(client, world, parties=[applicant_with_identity()])
    async with db.read() as session:
        stored = (await session.exec(select(Party).where(Party.case_id == uuid.UUID(created["id"])))).one()
    assert stored.id_number_cipher and stored.phone_cipher and stored.address_cipher
    columns = " ".join(str(value) for value in stored.model_dump().values())
    for plain in (RAW_ID, RAW_MOBILE, "社区12号"):
        assert plain not in columns


async def test_should_reveal_identity_in_clear_with_a_reason_and_log_who_saw_what_and_why(client, world, db):
    created = await register(client, world, parties=[applicant_with_identity(), respondent_with_landline()])
    case_id = created["id"]
    reason = "电话回访信访人，核实身份"
    response = await client.post(
        f"/cases/{case_id}/identity",
        json={"reason": reason, "fields": ["id_number", "phone"]},
        headers=world.auth("leader"),
    )
    assert response.status_code == 200, response.text
    revealed = response.json()
    assert revealed == [
        {"id": created["parties"][0]["id"], "id_number": RAW_ID, "phone": RAW_MOBILE},
        {"id": created["parties"][1]["id"], "id_number": id_number("19750505", "246"), "phone": "0914-4321234"},
    ]
    async with db.read() as session:
        rows = (await session.exec(select(IdentityAccess).where(IdentityAccess.case_id == uuid.UUID(case_id)))).all()
    assert len(rows) == 1
    assert rows[0].user_id == world.principals["leader"].user_id
    assert rows[0].fields == ["id_number", "phone"]
    assert rows[0].reason == reason
    assert sorted(rows[0].party_ids) == sorted(p["id"] for p in created["parties"])
    log = (await client.get(f"/cases/{case_id}/identity-accesses", headers=world.auth("county"))).json()
    assert [(entry["user_id"], entry["reason"]) for entry in log] == [(str(world.principals["leader"].user_id), reason)]


@pytest.mark.parametrize(
    ("body", "rule"),
    [({}, "missing"), ({"reason": "看看"}, "string_too_short"), ({"reason": "回访核实", "fields": []}, "too_short")],
)
async def test_should_refuse_to_reveal_identity_without_a_stated_reason(client, world, db, body, rule):
    created = await register(client, world, parties=[applicant_with_identity()])
    response = await client.post(f"/cases/{created['id']}/identity", json=body, headers=world.auth("leader"))
    assert {r for _, r in issues_of(response)} == {rule}
    assert RAW_ID not in response.text
    async with db.read() as session:
        assert (await session.exec(select(IdentityAccess))).all() == []


async def test_should_forbid_a_grid_worker_to_reveal_identity_on_a_case_someone_else_registered(client, world, db):
    created = await register(client, world, who="leader", parties=[applicant_with_identity()])
    reading = await client.get(f"/cases/{created['id']}", headers=world.auth("grid_worker"))
    assert reading.status_code == 200
    response = await client.post(
        f"/cases/{created['id']}/identity", json={"reason": "我想核实一下"}, headers=world.auth("grid_worker")
    )
    problem_of(response, 403, "auth.forbidden")
    assert RAW_ID not in response.text
    async with db.read() as session:
        assert (await session.exec(select(IdentityAccess))).all() == []


async def test_should_let_a_grid_worker_reveal_identity_on_a_case_they_registered(client, world):
    created = await register(client, world, who="grid_worker", parties=[applicant_with_identity()])
    response = await client.post(
        f"/cases/{created['id']}/identity",
        json={"reason": "补录联系方式", "fields": ["phone"]},
        headers=world.auth("grid_worker"),
    )
    assert response.status_code == 200, response.text
    assert response.json() == [{"id": created["parties"][0]["id"], "phone": RAW_MOBILE}]


# ------------------------------------------------------------------ official numbers


async def test_should_number_accepted_cases_gap_free_per_village_and_year(client, world):
    cases = [await register(client, world) for _ in range(3)]
    numbers = [(await accepted(client, world, case["id"]))["number"] for case in cases]
    assert numbers == [f"{world.village_a}-2026-{serial:05d}" for serial in (1, 2, 3)]


async def test_should_not_burn_a_number_when_an_acceptance_is_refused(client, world):
    first, second, third = [await register(client, world) for _ in range(3)]
    assert (await accepted(client, world, first["id"]))["number"].endswith("-2026-00001")
    again = await act(client, world.auth("leader"), first["id"], "accept", "重复受理")
    problem_of(again, 409, "case.invalid_transition")
    by_grid_worker = await act(client, world.auth("grid_worker"), second["id"], "accept", "越权受理")
    problem_of(by_grid_worker, 403, "auth.forbidden")
    # Refused after the number was drawn (the payload is checked later): the draw rolls back.
    with_bad_payload = await act(client, world.auth("leader"), second["id"], "accept", "受理", note="多余字段")
    assert issues_of(with_bad_payload) == {("data.note", "accept.extra_forbidden")}
    declined = await act(client, world.auth("leader"), third["id"], "decline", "不属于受理范围")
    assert declined.status_code == 200 and declined.json()["number"] is None
    assert (await accepted(client, world, second["id"]))["number"] == f"{world.village_a}-2026-00002"


async def test_should_start_another_village_at_serial_one(client, world):
    await accepted(client, world, (await register(client, world))["id"])
    await accepted(client, world, (await register(client, world))["id"])
    other = await register(client, world, who="grid_worker_b", place=world.grid_b)
    assert (await accepted(client, world, other["id"], "leader_b"))["number"] == f"{world.village_b}-2026-00001"


async def test_should_restart_the_serial_when_the_year_turns_in_china_time(client, world, clock):
    await accepted(client, world, (await register(client, world))["id"])
    # 23:30 on New Year's Eve in China is 15:30 UTC: still 2026.
    clock.at = datetime(2026, 12, 31, 23, 30, tzinfo=CHINA_TZ)
    leader = (await fresh_headers(client, "leader"))["leader"]
    late = await client.post("/cases", json=case_payload(world.grid_a), headers=leader)
    assert (await accepted(client, world, late.json()["id"], headers=leader))["number"].endswith("-2026-00002")
    # 00:30 on 1 January in China is still 31 December in UTC: already 2027.
    clock.at = datetime(2027, 1, 1, 0, 30, tzinfo=CHINA_TZ)
    new_year = await client.post("/cases", json=case_payload(world.grid_a), headers=leader)
    number = (await accepted(client, world, new_year.json()["id"], headers=leader))["number"]
    assert number == f"{world.village_a}-2027-00001"


# ------------------------------------------------------------------ idempotent intake, versions


async def test_should_return_the_same_case_when_the_same_content_is_sent_again_with_its_id(client, world):
    body = case_payload(world.grid_a)
    first = await client.post("/cases", json=body, headers=world.auth("grid_worker"))
    again = await client.post("/cases", json=body, headers=world.auth("grid_worker"))
    assert first.status_code == 201 and again.status_code == 201
    assert again.json()["id"] == first.json()["id"] == body["id"]
    assert again.json()["parties"] == first.json()["parties"]
    listed = (await client.get("/cases", headers=world.auth("leader"))).json()["items"]
    assert [item["id"] for item in listed] == [body["id"]]
    timeline = (await client.get(f"/cases/{body['id']}/timeline", headers=world.auth("leader"))).json()
    assert [entry["kind"] for entry in timeline] == ["register"]


async def test_should_refuse_an_id_that_is_reused_for_other_content(client, world):
    body = case_payload(world.grid_a)
    await client.post("/cases", json=body, headers=world.auth("grid_worker"))
    other = {**body, "title": "另一件事"}
    response = await client.post("/cases", json=other, headers=world.auth("grid_worker"))
    problem_of(response, 409, "case.duplicate_id")
    kept = (await client.get(f"/cases/{body['id']}", headers=world.auth("leader"))).json()
    assert kept["title"] == body["title"]


async def test_should_apply_an_edit_based_on_the_current_version_and_record_it(client, world, clock):
    created = await register(client, world)
    clock.advance(minutes=5)
    response = await client.patch(
        f"/cases/{created['id']}",
        json={"version": 1, "title": "排水沟堵塞纠纷", "risk": "medium"},
        headers=world.auth("leader"),
    )
    assert response.status_code == 200, response.text
    assert (response.json()["title"], response.json()["risk"], response.json()["version"]) == (
        "排水沟堵塞纠纷",
        "medium",
        2,
    )
    timeline = (await client.get(f"/cases/{created['id']}/timeline", headers=world.auth("leader"))).json()
    edit = timeline[-1]
    assert (edit["kind"], edit["seq"], edit["data"]) == ("edit", 2, {"fields": ["risk", "title"]})
    assert edit["actor_id"] == str(world.principals["leader"].user_id)
    assert datetime.fromisoformat(edit["at"]) == clock.now()


async def test_should_refuse_an_edit_based_on_a_stale_version(client, world):
    created = await register(client, world)
    first = await client.patch(
        f"/cases/{created['id']}", json={"version": 1, "title": "甲"}, headers=world.auth("leader")
    )
    assert first.status_code == 200
    stale = await client.patch(
        f"/cases/{created['id']}", json={"version": 1, "title": "乙"}, headers=world.auth("town")
    )
    assert problem_of(stale, 409, "case.version_conflict")["current_version"] == 2
    assert (await client.get(f"/cases/{created['id']}", headers=world.auth("leader"))).json()["title"] == "甲"


async def test_should_refuse_a_transition_based_on_a_stale_version(client, world):
    created = await register(client, world)
    await client.patch(f"/cases/{created['id']}", json={"version": 1, "title": "甲"}, headers=world.auth("leader"))
    response = await client.post(
        f"/cases/{created['id']}/transitions",
        json={"action": "accept", "expected_version": 1},
        headers=world.auth("leader"),
    )
    assert problem_of(response, 409, "case.version_conflict")["current_version"] == 2


async def test_should_refuse_an_action_the_status_does_not_allow(client, world):
    created = await register(client, world)
    response = await act(client, world.auth("leader"), created["id"], "close", "直接办结")
    body = problem_of(response, 409, "case.invalid_transition")
    assert body["case_status"] == "registered"
    assert body["action"] == "close"
    assert "accept" in body["allowed_actions"]
    assert (await client.get(f"/cases/{created['id']}", headers=world.auth("leader"))).json()["status"] == "registered"


# ------------------------------------------------------------------ a whole life


REPLY = {
    "outcome": "support",
    "request": "要求疏通排水沟",
    "facts_and_reasons": "经现场查看，排水沟确被堵塞",
    "decision": "责成对方三日内疏通",
    "legal_basis": "《民法典》第二百九十条",
}


async def test_should_walk_a_petition_from_registration_to_closing_with_every_step_in_the_timeline(
    client, world, clock
):
    created = await register(client, world, kind="claim")
    case_id = created["id"]
    steps = [
        ("leader", "accept", "属于本村受理范围", {}, "accepted"),
        ("town", "start_handling", "镇综治中心牵头办理", {}, "in_handling"),
        ("town", "reply", "依法出具处理意见", REPLY, "replied"),
        ("leader", "evaluate", "信访人当面表示满意", {"evaluation": "satisfied"}, "replied"),
        ("leader", "close", "事项已解决", {"resolution": "排水沟已疏通"}, "closed"),
    ]
    for who, action, reason, data, status in steps:
        clock.advance(days=1)
        response = await act(client, world.auth(who), case_id, action, reason, **data)
        assert response.status_code == 200, (action, response.text)
        assert response.json()["status"] == status
    final = (await client.get(f"/cases/{case_id}", headers=world.auth("leader"))).json()
    assert (final["evaluation"], final["reply_outcome"], final["version"]) == ("satisfied", "support", 6)
    assert final["number"] == f"{world.village_a}-2026-00001"

    timeline = (await client.get(f"/cases/{case_id}/timeline", headers=world.auth("leader"))).json()
    expected = [("grid_worker", "register", None, None, "registered")]
    previous = "registered"
    for who, action, reason, _, status in steps:
        expected.append((who, action, reason, previous, status))
        previous = status
    assert [
        (
            entry["actor_id"],
            entry["actor_name"],
            entry["kind"],
            entry["reason"],
            entry["from_status"],
            entry["to_status"],
        )
        for entry in timeline
    ] == [
        (str(world.principals[who].user_id), f"测试{who}", kind, reason, before, after)
        for who, kind, reason, before, after in expected
    ]
    assert [entry["seq"] for entry in timeline] == list(range(1, 7))
    moments = [datetime.fromisoformat(entry["at"]) for entry in timeline]
    assert moments == sorted(moments) and len(set(moments)) == 6


async def test_should_move_an_escalated_case_to_the_town_which_alone_may_decide_on_it(client, world):
    created = await register(client, world)
    case_id = created["id"]
    assert created["handling_node_code"] == world.village_a
    escalated = await act(client, world.auth("leader"), case_id, "escalate", "涉及两个村民小组，需镇里协调")
    assert escalated.status_code == 200, escalated.text
    body = escalated.json()
    assert (body["status"], body["level"], body["handling_node_code"]) == ("escalated", "township", world.town_a)
    assert [(e["from_level"], e["to_level"]) for e in body["escalations"]] == [("village", "township")]

    seen_by_leader = await client.get(f"/cases/{case_id}", headers=world.auth("leader"))
    assert seen_by_leader.status_code == 200
    assert "accept" not in seen_by_leader.json()["allowed_actions"]
    assert "record_visit" in seen_by_leader.json()["allowed_actions"]
    refused = await act(client, world.auth("leader"), case_id, "accept", "村里受理")
    problem_of(refused, 403, "auth.forbidden")
    visit = await act(client, world.auth("leader"), case_id, "record_visit", summary="村里继续走访稳控")
    assert visit.status_code == 200, visit.text

    seen_by_town = (await client.get(f"/cases/{case_id}", headers=world.auth("town"))).json()
    assert "accept" in seen_by_town["allowed_actions"]
    taken = await act(client, world.auth("town"), case_id, "accept", "镇里接收")
    assert taken.status_code == 200, taken.text
    assert (taken.json()["status"], taken.json()["number"]) == ("accepted", f"{world.village_a}-2026-00001")
    problem_of(await client.get(f"/cases/{case_id}", headers=world.auth("town_b")), 404, "auth.out_of_scope")


# ------------------------------------------------------------------ lists


async def ids_of(client, headers, **params) -> set[str]:
    response = await client.get("/cases", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


async def test_should_filter_cases_by_status_kind_category_level_region_and_text(client, world):
    drain = (await register(client, world, title="邻里排水沟纠纷"))["id"]
    homestead = (
        await register(
            client, world, place=world.grid_a2, who="leader", kind="claim", category="homestead", title="宅基地确权诉求"
        )
    )["id"]
    number = (await accepted(client, world, homestead))["number"]
    forest = (
        await register(client, world, who="leader_b", place=world.grid_b, category="land_forest", title="山林边界争议")
    )["id"]
    town = (await register(client, world, who="town", place=world.village_a2, title="镇里接访登记"))["id"]
    county = world.auth("county")

    assert await ids_of(client, county) == {drain, homestead, forest, town}
    assert await ids_of(client, county, status="accepted") == {homestead}
    assert await ids_of(client, county, status=["registered", "accepted"]) == {drain, homestead, forest, town}
    assert await ids_of(client, county, kind="claim") == {homestead}
    assert await ids_of(client, county, category=["homestead", "land_forest"]) == {homestead, forest}
    assert await ids_of(client, county, level="township") == {town}
    assert await ids_of(client, county, region=world.village_a) == {drain, homestead}
    assert await ids_of(client, county, region=world.town_a) == {drain, homestead, town}
    assert await ids_of(client, county, region=world.grid_b) == {forest}
    assert await ids_of(client, county, q="邻里") == {drain}
    assert await ids_of(client, county, q=number) == {homestead}
    assert await ids_of(client, county, region=world.town_a, kind="civil_dispute") == {drain, town}
    assert await ids_of(client, world.auth("leader")) == {drain, homestead}
    assert await ids_of(client, world.auth("grid_worker"), mine="true") == {drain}


@pytest.mark.parametrize("region", ["village_b", "county"])
async def test_should_refuse_a_region_filter_outside_the_callers_area(client, world, region):
    await register(client, world, who="leader_b", place=world.grid_b, title="营镇社区的案件")
    response = await client.get("/cases", params={"region": getattr(world, region)}, headers=world.auth("leader"))
    problem_of(response, 404, "auth.out_of_scope")
    assert "营镇社区的案件" not in response.text


async def test_should_page_through_cases_newest_first_without_duplicates_or_misses(client, world, clock):
    created = []
    for index in range(7):
        if index != 4:  # the 4th and 5th share a timestamp: the id breaks the tie
            clock.advance(minutes=3)
        created.append(await register(client, world, title=f"第{index}件"))
    expected = [
        case["id"]
        for case in sorted(
            created, key=lambda case: (datetime.fromisoformat(case["registered_at"]), case["id"]), reverse=True
        )
    ]
    seen: list[str] = []
    pages: list[int] = []
    cursor = None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/cases", params=params, headers=world.auth("leader"))).json()
        seen += [item["id"] for item in page["items"]]
        pages.append(len(page["items"]))
        if len(pages) == 1:
            # A case registered while paging is newer than the cursor: it must not shift the pages.
            clock.advance(minutes=1)
            await register(client, world, title="翻页时新登记")
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [3, 3, 1]
    assert seen == expected


def _cursor(raw: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


BAD_CURSORS = {
    "garbage": "not a cursor",
    "object": _cursor({"at": "2026-03-02T10:00:00+08:00"}),
    "one_part": _cursor(["2026-03-02T10:00:00+08:00"]),
    "bad_time": _cursor(["yesterday", str(uuid.uuid4())]),
    "naive_time": _cursor(["2026-03-02T10:00:00", str(uuid.uuid4())]),
    "bad_id": _cursor(["2026-03-02T10:00:00+08:00", "case-7"]),
    "numbers": _cursor([20260302, 7]),
}


@pytest.mark.parametrize("cursor", BAD_CURSORS.values(), ids=BAD_CURSORS.keys())
async def test_should_refuse_a_cursor_it_did_not_issue(client, world, cursor):
    response = await client.get("/cases", params={"cursor": cursor}, headers=world.auth("leader"))
    assert issues_of(response) == {("cursor", "cursor.invalid")}


@pytest.mark.parametrize("limit", ["0", "501", "many"])
async def test_should_refuse_a_page_size_out_of_range(client, world, limit):
    response = await client.get("/cases", params={"limit": limit}, headers=world.auth("leader"))
    assert {field for field, _ in issues_of(response)} == {"limit"}


# ------------------------------------------------------------------ system


async def test_should_answer_health_without_a_token(client, backend_name):
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] == backend_name


async def test_should_publish_the_case_endpoints_in_the_openapi_document(client):
    response = await client.get("http://testserver.local/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        "/api/v1/cases": {"get", "post"},
        "/api/v1/cases/{case_id}": {"get", "patch"},
        "/api/v1/cases/{case_id}/transitions": {"post"},
        "/api/v1/cases/{case_id}/timeline": {"get"},
        "/api/v1/cases/{case_id}/identity": {"post"},
        "/api/v1/cases/{case_id}/identity-accesses": {"get"},
    }
    assert {path: set(paths.get(path, {})) & {"get", "post", "patch"} for path in expected} == expected


async def test_should_leave_the_record_of_an_escalated_case_to_the_level_that_holds_it(client, world):
    case = await register(client, world)
    edit = {"version": case["version"], "facts": "补充：对方已同意协商"}
    assert (await client.patch(f"/cases/{case['id']}", json=edit, headers=world.auth("grid_worker"))).status_code == 200
    await accepted(client, world, case["id"])
    escalated = await act(client, world.auth("leader"), case["id"], "escalate", "村级调解未果")
    assert escalated.status_code == 200, escalated.text
    version = escalated.json()["version"]
    for who in ("grid_worker", "leader"):
        refused = await client.patch(
            f"/cases/{case['id']}", json={"version": version, "facts": "村里改写"}, headers=world.auth(who)
        )
        problem_of(refused, 403, "auth.forbidden")
    applied = await client.patch(
        f"/cases/{case['id']}", json={"version": version, "facts": "镇里核实后更正"}, headers=world.auth("town")
    )
    assert applied.status_code == 200 and applied.json()["facts"] == "镇里核实后更正"


async def test_should_refuse_to_edit_a_closed_case(client, world):
    case = await register(client, world, kind="claim")
    await accepted(client, world, case["id"])
    declined_route = await act(
        client, world.auth("leader"), case["id"], "route", route="litigation", organ="柞水县人民法院"
    )
    closed = await act(client, world.auth("leader"), case["id"], "close")
    assert closed.status_code == 200, closed.text
    refused = await client.patch(
        f"/cases/{case['id']}", json={"version": closed.json()["version"], "title": "改"}, headers=world.auth("leader")
    )
    assert declined_route.status_code == 200
    problem_of(refused, 409, "case.closed")
