"""Recusal (信访工作条例 Art. 28): a person with a direct interest stays out of the case."""

from __future__ import annotations

from typing import Any

from grid.people import Role
from tests.factories import case_payload
from tests.server.test_case_lead import assign as assign_lead
from tests.server.test_extensions import act, ask, decide, in_handling, officer, problem

INTEREST = "申请人系本人堂兄，存在直接利害关系"


async def registered(client, world, who: str = "grid_worker") -> dict[str, Any]:
    created = await client.post("/cases", json=case_payload(world.grid_a), headers=world.auth(who))
    assert created.status_code == 201, created.text
    return created.json()


async def recuse(client, headers, case_id: str, **body: Any):
    body.setdefault("reason", INTEREST)
    return await client.post(f"/cases/{case_id}/recusals", json=body, headers=headers)


async def assign(client, headers, case_id: str, user_id: str | None):
    return await client.post(f"/cases/{case_id}/assignment", json={"user_id": user_id}, headers=headers)


def user_id(world, name: str) -> str:
    return str(world.principals[name].user_id)


async def test_should_keep_a_user_who_declared_an_interest_from_every_change_to_the_case(client, world):
    case = await registered(client, world)
    case_id = case["id"]
    declared = await recuse(client, world.auth("mediator"), case_id)
    assert declared.status_code == 201, declared.text
    assert (declared.json()["user_id"], declared.json()["source"], declared.json()["active"]) == (
        user_id(world, "mediator"),
        "declared",
        True,
    )

    visit = await act(client, world.auth("mediator"), case_id, "record_visit", summary="上门了解情况")
    body = problem(visit, 403, "case.recused")
    assert "回避" in body["detail"] and "第二十八条" in body["detail"]
    edit = await client.patch(
        f"/cases/{case_id}", json={"version": case["version"], "title": "改"}, headers=world.auth("mediator")
    )
    problem(edit, 403, "case.recused")
    reveal = await client.post(
        f"/cases/{case_id}/identity", json={"reason": "核实身份以便回访"}, headers=world.auth("mediator")
    )
    problem(reveal, 403, "case.recused")
    # Reading stays; the others work on.
    assert (await client.get(f"/cases/{case_id}", headers=world.auth("mediator"))).status_code == 200
    assert (await act(client, world.auth("leader"), case_id, "accept", "符合受理条件")).status_code == 200

    timeline = (await client.get(f"/cases/{case_id}/timeline", headers=world.auth("leader"))).json()
    entry = next(item for item in timeline if item["kind"] == "recusal")
    assert (entry["kind_name"], entry["actor_name"], entry["reason"]) == ("回避", "测试mediator", INTEREST)
    assert (entry["data"]["source"], entry["data"]["user_name"]) == ("declared", "测试mediator")


async def test_should_take_a_recused_handler_off_the_case_and_never_assign_them_again(client, world):
    case_id = (await registered(client, world))["id"]
    assigned = await assign(client, world.auth("leader"), case_id, user_id(world, "mediator"))
    assert (assigned.status_code, assigned.json()["assigned_to"]) == (200, user_id(world, "mediator"))

    assert (await recuse(client, world.auth("mediator"), case_id)).status_code == 201
    case = (await client.get(f"/cases/{case_id}", headers=world.auth("leader"))).json()
    assert case["assigned_to"] is None
    again = await assign(client, world.auth("leader"), case_id, user_id(world, "mediator"))
    body = problem(again, 403, "case.recused")
    assert "测试mediator" in body["detail"]
    other = await assign(client, world.auth("leader"), case_id, user_id(world, "grid_worker"))
    assert (other.status_code, other.json()["assigned_to"]) == (200, user_id(world, "grid_worker"))
    kinds = [
        entry["kind"] for entry in (await client.get(f"/cases/{case_id}/timeline", headers=world.auth("leader"))).json()
    ]
    assert kinds == ["register", "assign", "recusal", "assign"]


async def test_should_let_only_the_leaders_of_the_level_holding_the_case_name_its_handler(client, world):
    case_id = (await registered(client, world))["id"]
    problem(
        await assign(client, world.auth("grid_worker"), case_id, user_id(world, "grid_worker")), 403, "auth.forbidden"
    )
    problem(await assign(client, world.auth("leader_b"), case_id, user_id(world, "leader_b")), 404, "auth.out_of_scope")
    outside = await assign(client, world.auth("leader"), case_id, user_id(world, "town"))
    assert {(e["field"], e["rule"]) for e in problem(outside, 422, "validation.failed")["errors"]} == {
        ("user_id", "user.unknown")
    }
    cleared = await assign(client, world.auth("town"), case_id, None)
    assert (cleared.status_code, cleared.json()["assigned_to"]) == (200, None)


async def test_should_keep_a_head_a_party_asked_to_withdraw_from_approving_the_extension(client, world, context):
    clerk = await officer(client, context, "town_clerk", Role.TOWN_OFFICER, world.town_a)
    case_id = await in_handling(client, world)
    request_id = (await ask(client, clerk, case_id)).json()["id"]
    case = (await client.get(f"/cases/{case_id}", headers=world.auth("leader"))).json()
    applicant = next(party["id"] for party in case["parties"] if party["role"] == "applicant")
    asked = await recuse(
        client,
        world.auth("leader"),
        case_id,
        user_id=user_id(world, "town"),
        source="party",
        party_id=applicant,
        reason="信访人称镇负责人曾参与涉事土地的处置",
    )
    assert asked.status_code == 201, asked.text
    assert (asked.json()["source_name"], asked.json()["recorded_by_name"]) == ("当事人申请回避", "测试leader")

    problem(await decide(client, world.auth("town"), case_id, request_id), 403, "case.recused")
    inbox = (await client.get("/inbox", headers=world.auth("town"))).json()
    assert inbox["extension_approvals"]["count"] == 0
    listed = (await client.get(f"/cases/{case_id}/extension-requests", headers=world.auth("leader"))).json()
    assert [item["status"] for item in listed] == ["pending"]


async def test_should_let_only_a_head_lift_a_requested_recusal_and_nobody_a_declared_one(client, world, clock):
    case_id = (await registered(client, world))["id"]
    ordered = await recuse(client, world.auth("leader"), case_id, user_id=user_id(world, "mediator"), source="leader")
    clock.advance(minutes=5)
    declared = await recuse(client, world.auth("grid_worker"), case_id)
    ordered_id, declared_id = ordered.json()["id"], declared.json()["id"]
    lift = {"reason": "经核实不存在利害关系"}

    problem(
        await client.post(f"/cases/{case_id}/recusals/{ordered_id}/lift", json=lift, headers=world.auth("leader")),
        403,
        "organ.not_head",
    )
    # The case is held at the village: its organ is the township, whose head decides.
    lifted = await client.post(f"/cases/{case_id}/recusals/{ordered_id}/lift", json=lift, headers=world.auth("town"))
    assert lifted.status_code == 200, lifted.text
    assert (lifted.json()["active"], lifted.json()["lifted_by_name"], lifted.json()["lift_reason"]) == (
        False,
        "测试town",
        "经核实不存在利害关系",
    )
    assert (await act(client, world.auth("mediator"), case_id, "record_visit", summary="回访")).status_code == 200
    twice = await client.post(f"/cases/{case_id}/recusals/{ordered_id}/lift", json=lift, headers=world.auth("town"))
    problem(twice, 409, "recusal.already_lifted")
    own = await client.post(f"/cases/{case_id}/recusals/{declared_id}/lift", json=lift, headers=world.auth("town"))
    problem(own, 409, "recusal.not_liftable")
    problem(await act(client, world.auth("grid_worker"), case_id, "record_visit", summary="走访"), 403, "case.recused")
    listed = (await client.get(f"/cases/{case_id}/recusals", headers=world.auth("county"))).json()
    assert [(item["id"], item["active"]) for item in listed] == [(ordered_id, False), (declared_id, True)]
    last = (await client.get(f"/cases/{case_id}/timeline", headers=world.auth("town"))).json()[-2]
    assert (last["kind"], last["kind_name"]) == ("recusal_lift", "撤销回避")


async def test_should_refuse_a_recusal_whose_source_does_not_fit(client, world):
    case_id = (await registered(client, world))["id"]
    mediator = user_id(world, "mediator")
    problem(await recuse(client, world.auth("leader"), case_id, user_id=mediator), 422, "recusal.invalid_source")
    problem(await recuse(client, world.auth("leader"), case_id, source="leader"), 422, "recusal.invalid_source")
    problem(
        await recuse(client, world.auth("leader"), case_id, user_id=mediator, source="party"),
        422,
        "recusal.party_required",
    )
    foreign = await recuse(
        client,
        world.auth("leader"),
        case_id,
        user_id=mediator,
        source="party",
        party_id="0190f000-0000-7000-8000-0000000000aa",
    )
    assert {(e["field"], e["rule"]) for e in problem(foreign, 422, "validation.failed")["errors"]} == {
        ("party_id", "party.unknown")
    }
    problem(
        await recuse(client, world.auth("grid_worker"), case_id, user_id=mediator, source="leader"),
        403,
        "auth.forbidden",
    )
    assert (await recuse(client, world.auth("leader"), case_id, user_id=mediator, source="leader")).status_code == 201
    problem(await recuse(client, world.auth("town"), case_id, user_id=mediator, source="leader"), 409, "recusal.exists")
    problem(await recuse(client, world.auth("leader_b"), case_id), 404, "auth.out_of_scope")


async def test_should_reject_a_recused_users_offline_mutation_and_keep_it(client, world):
    case_id = (await registered(client, world))["id"]
    assert (await recuse(client, world.auth("grid_worker"), case_id)).status_code == 201
    device_id = "0190f000-0000-7000-8000-00000000d001"
    device = await client.post("/devices", json={"device_id": device_id}, headers=world.auth("grid_worker"))
    mutation = {"action": "record_visit", "reason": None, "data": {"summary": "离线走访记录"}}
    outbox = [
        {
            "seq": 1,
            "id": "0190f000-0000-7000-8000-00000000d002",
            "type": "transition",
            "case_id": case_id,
            "data": mutation,
        }
    ]
    answer = await client.post(
        "/sync",
        json={"protocol": 1, "app_version": "test", "device_id": device_id, "outbox": outbox},
        headers={"Authorization": f"Bearer {device.json()['device_token']}"},
    )
    [result] = answer.json()["results"]
    assert (result["status"], result["code"]) == ("rejected", "case.recused")


async def test_should_not_let_anyone_name_a_recused_user_the_cases_baoan_leader(client, world):
    case_id = (await registered(client, world))["id"]
    assert (await recuse(client, world.auth("leader"), case_id)).status_code == 201
    refused = await assign_lead(client, world, case_id, "leader", by="town")
    assert "测试leader" in problem(refused, 403, "case.recused")["detail"]
    named = await assign_lead(client, world, case_id, "town", by="town")
    assert named.status_code == 200, named.text
