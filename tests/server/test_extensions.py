"""Extension of the handling period (信访工作条例 Art. 34): a handler asks, a head decides.

The seeded world: "town" heads 乾佑街道 (town_a), "county" heads 柞水县. A village-level
case handled under route (6) is handled by its township, so town_a's head decides.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from grid.calendar import CHINA_TZ
from grid.people import Role
from server.services.users import UserService
from tests.conftest import TEST_PASSWORD
from tests.factories import case_payload, fresh_headers

REASON = "需会同县自然资源局重新测量宅基地界址"


async def officer(client, context, username: str, role: Role, node_code: str) -> dict[str, str]:
    """One more account (beside the seeded world) and its login headers."""
    await UserService(context).create(
        username=username, display_name=f"测试{username}", role=role, node_code=node_code, password=TEST_PASSWORD
    )
    answer = await client.post("/auth/login", json={"username": username, "password": TEST_PASSWORD})
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


async def act(client, headers, case_id: str, action: str, reason: str | None = None, **data: Any):
    body: dict[str, Any] = {"action": action, "data": data}
    if reason is not None:
        body["reason"] = reason
    return await client.post(f"/cases/{case_id}/transitions", json=body, headers=headers)


async def in_handling(client, world, place: str | None = None) -> str:
    """A petition of the village, accepted by the village and handled by the town (route 6)."""
    body = case_payload(place or world.grid_a, kind="claim", category="homestead", title="宅基地确权诉求")
    created = await client.post("/cases", json=body, headers=world.auth("leader"))
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    for who, action in (("leader", "accept"), ("town", "start_handling")):
        answer = await act(client, world.auth(who), case_id, action, "依法办理")
        assert answer.status_code == 200, answer.text
    return case_id


async def ask(client, headers, case_id: str, days: int = 30, reason: str = REASON):
    return await client.post(
        f"/cases/{case_id}/extension-requests", json={"days": days, "reason": reason}, headers=headers
    )


async def decide(client, headers, case_id: str, request_id: str, decision: str = "approve", note: str | None = None):
    body: dict[str, Any] = {"decision": decision}
    if note is not None:
        body["note"] = note
    return await client.post(f"/cases/{case_id}/extension-requests/{request_id}/decision", json=body, headers=headers)


def problem(response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    return body


async def test_should_extend_the_60_day_period_by_30_days_counted_from_acceptance_across_the_labour_day_holiday(
    client, world, context, clock
):
    await officer(client, context, "town_clerk", Role.TOWN_OFFICER, world.town_a)
    case_id = await in_handling(client, world)  # accepted Mon 2026-03-02 10:00
    before = (await client.get(f"/cases/{case_id}", headers=world.auth("town"))).json()["deadline"]
    # 60 days from Mar 2 is Fri May 1, inside the Labour Day holiday (May 1-5): May 6.
    assert (before["kind"], before["last_day"]) == ("handling", "2026-05-06")

    clock.advance(days=49)  # Tue Apr 21: past the seeded logins' 30-day lifetime
    headers = await fresh_headers(client, "town", "town_clerk")
    asked = await ask(client, headers["town_clerk"], case_id)
    assert asked.status_code == 201, asked.text
    request = asked.json()
    # 90 days from Mar 2 is Sun May 31: Mon Jun 1. Not the rolled-over May 6 + 30 (Jun 5).
    assert (request["status"], request["days"], request["extended_last_day"]) == ("pending", 30, "2026-06-01")
    unchanged = (await client.get(f"/cases/{case_id}", headers=headers["town"])).json()
    assert unchanged["deadline"]["last_day"] == "2026-05-06" and unchanged["extension"] is None

    clock.advance(days=1)
    approved = await decide(client, headers["town"], case_id, request["id"], note="同意")
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["decided_by_name"]) == ("approved", "测试town")

    case = (await client.get(f"/cases/{case_id}", headers=headers["town"])).json()
    assert case["status"] == "in_handling"
    assert (case["deadline"]["last_day"], case["extension_days"]) == ("2026-06-01", 30)
    assert datetime.fromisoformat(case["deadline"]["ends_at"]) == datetime(2026, 6, 2, tzinfo=CHINA_TZ)
    # What the 延期告知书 tells the petitioner: how long, until when, why, approved by whom.
    assert case["extension"] == {
        "days": 30,
        "approved_by": "测试town",
        "approved_at": case["extension"]["approved_at"],
        "reason": REASON,
        "last_day": "2026-06-01",
        "provisional": False,
    }
    assert datetime.fromisoformat(case["extension"]["approved_at"]) == clock.now()

    timeline = (await client.get(f"/cases/{case_id}/timeline", headers=headers["town"])).json()
    asked_entry, extend_entry = timeline[-2:]
    assert (asked_entry["kind"], asked_entry["kind_name"], asked_entry["actor_name"], asked_entry["reason"]) == (
        "extension_request",
        "申请延长办理期限",
        "测试town_clerk",
        REASON,
    )
    assert (extend_entry["kind"], extend_entry["actor_name"], extend_entry["reason"]) == ("extend", "测试town", REASON)
    assert (extend_entry["from_status"], extend_entry["to_status"]) == ("in_handling", "in_handling")
    assert extend_entry["data"]["approved_by"] == "测试town"
    assert extend_entry["data"]["due_last_day"] == "2026-06-01"
    assert extend_entry["data"]["request"] == request["id"]
    assert extend_entry["data"]["requested_by_name"] == "测试town_clerk"


async def test_should_refuse_the_direct_extend_command_and_point_to_the_request_flow(client, world):
    case_id = await in_handling(client, world)
    refused = await act(client, world.auth("town"), case_id, "extend", REASON, days=10, approved_by="镇长")
    body = problem(refused, 409, "case.extension_needs_approval")
    assert body["request_path"] == f"/api/v1/cases/{case_id}/extension-requests"
    case = (await client.get(f"/cases/{case_id}", headers=world.auth("town"))).json()
    assert case["extension_days"] is None
    assert "extend" not in case["allowed_actions"] and "reply" in case["allowed_actions"]


async def test_should_refuse_more_than_30_days_and_a_reason_the_petitioner_cannot_read(client, world):
    case_id = await in_handling(client, world)
    too_long = await ask(client, world.auth("town"), case_id, days=31)
    assert {(e["field"], e["rule"]) for e in problem(too_long, 422, "validation.failed")["errors"]} == {
        ("days", "less_than_equal")
    }
    english = await ask(client, world.auth("town"), case_id, reason="need more time")
    assert {(e["field"], e["rule"]) for e in problem(english, 422, "validation.failed")["errors"]} == {
        ("reason", "reason.not_chinese")
    }
    blank = await ask(client, world.auth("town"), case_id, reason="   ")
    assert problem(blank, 422, "validation.failed")["errors"][0]["field"] == "reason"
    listed = await client.get(f"/cases/{case_id}/extension-requests", headers=world.auth("town"))
    assert listed.json() == []


async def test_should_let_only_a_head_of_the_handling_organ_decide(client, world, context):
    clerk = await officer(client, context, "town_clerk", Role.TOWN_OFFICER, world.town_a)
    case_id = await in_handling(client, world)
    request_id = (await ask(client, clerk, case_id)).json()["id"]

    problem(await decide(client, clerk, case_id, request_id), 403, "organ.not_head")
    # The county's head is not the head of the town that handles the case.
    problem(await decide(client, world.auth("county"), case_id, request_id), 403, "organ.not_head")
    problem(await decide(client, world.auth("leader"), case_id, request_id), 403, "auth.forbidden")
    problem(await decide(client, world.auth("town_b"), case_id, request_id), 404, "auth.out_of_scope")
    approved = await decide(client, world.auth("town"), case_id, request_id)
    assert approved.status_code == 200, approved.text
    again = await decide(client, world.auth("town"), case_id, request_id, "refuse", note="重复审批")
    problem(again, 409, "extension.already_decided")


async def test_should_not_let_a_head_approve_their_own_request_but_another_head_may(client, world, context):
    deputy = await officer(client, context, "town_deputy", Role.TOWN_OFFICER, world.town_a)
    case_id = await in_handling(client, world)
    request_id = (await ask(client, world.auth("town"), case_id)).json()["id"]
    problem(await decide(client, world.auth("town"), case_id, request_id), 403, "extension.self_approval")
    problem(await decide(client, deputy, case_id, request_id), 403, "organ.not_head")

    deputy_id = (await client.get("/auth/me", headers=deputy)).json()["id"]
    made = await client.post(f"/organs/{world.town_a}/heads", json={"user_id": deputy_id}, headers=world.auth("admin"))
    assert made.status_code == 201, made.text
    heads = await client.get(f"/organs/{world.town_a}/heads", headers=world.auth("grid_worker"))
    assert {head["username"] for head in heads.json()} == {"town", "town_deputy"}
    approved = await decide(client, deputy, case_id, request_id)
    assert (approved.status_code, approved.json()["decided_by_name"]) == (200, "测试town_deputy")


async def test_should_keep_one_request_waiting_and_one_extension_per_case(client, world, context):
    clerk = await officer(client, context, "town_clerk", Role.TOWN_OFFICER, world.town_a)
    case_id = await in_handling(client, world)
    first = (await ask(client, clerk, case_id, days=10)).json()
    body = problem(await ask(client, clerk, case_id, days=20), 409, "extension.pending")
    assert body["request_id"] == first["id"]
    assert (await decide(client, world.auth("town"), case_id, first["id"])).status_code == 200
    # The lifecycle's own code for a second extension (Art. 34: once).
    problem(await ask(client, clerk, case_id, days=5), 409, "case.extension_used")
    listed = (await client.get(f"/cases/{case_id}/extension-requests", headers=world.auth("leader"))).json()
    assert [(item["days"], item["status"]) for item in listed] == [(10, "approved")]


async def test_should_record_a_refusal_with_its_note_and_leave_the_period_unchanged(client, world, context):
    clerk = await officer(client, context, "town_clerk", Role.TOWN_OFFICER, world.town_a)
    case_id = await in_handling(client, world)
    request_id = (await ask(client, clerk, case_id)).json()["id"]
    silent = await decide(client, world.auth("town"), case_id, request_id, "refuse")
    assert {(e["field"], e["rule"]) for e in problem(silent, 422, "validation.failed")["errors"]} == {
        ("note", "value_error")
    }
    refused = await decide(client, world.auth("town"), case_id, request_id, "refuse", note="现有期限足以办结")
    assert (refused.status_code, refused.json()["status"], refused.json()["decision_note"]) == (
        200,
        "refused",
        "现有期限足以办结",
    )
    case = (await client.get(f"/cases/{case_id}", headers=world.auth("town"))).json()
    assert (case["deadline"]["last_day"], case["extension_days"], case["extension"]) == ("2026-05-06", None, None)
    last = (await client.get(f"/cases/{case_id}/timeline", headers=world.auth("town"))).json()[-1]
    assert (last["kind"], last["kind_name"], last["reason"], last["actor_name"]) == (
        "extension_refuse",
        "不批准延期",
        "现有期限足以办结",
        "测试town",
    )
    # A refusal does not use up the one extension: the handler may ask again.
    assert (await ask(client, clerk, case_id, days=15)).status_code == 201


async def test_should_refuse_a_request_and_an_approval_once_the_60_days_have_run_out(client, world, context, clock):
    clerk = await officer(client, context, "town_clerk", Role.TOWN_OFFICER, world.town_a)
    case_id = await in_handling(client, world)
    clock.advance(days=20)
    request_id = (await ask(client, clerk, case_id)).json()["id"]
    # The period's last day is Wed May 6; from May 7 00:00 it is over.
    clock.at = datetime(2026, 5, 7, 0, 0, tzinfo=CHINA_TZ)
    headers = await fresh_headers(client, "town")
    problem(await decide(client, headers["town"], case_id, request_id), 409, "case.window_closed")
    problem(await ask(client, headers["town"], case_id), 409, "case.window_closed")
    pending = (await client.get(f"/cases/{case_id}/extension-requests", headers=headers["town"])).json()
    assert [item["status"] for item in pending] == ["pending"]


async def test_should_refuse_a_request_while_the_case_is_not_in_handling(client, world):
    created = await client.post("/cases", json=case_payload(world.grid_a, kind="claim"), headers=world.auth("leader"))
    case_id = created.json()["id"]
    body = problem(await ask(client, world.auth("town"), case_id), 409, "case.invalid_transition")
    assert body["case_status"] == "registered"
    problem(await ask(client, world.auth("grid_worker"), case_id), 403, "auth.forbidden")


async def test_should_let_a_waiting_request_lapse_when_the_case_moves_to_another_organ(client, world, context, clock):
    clerk = await officer(client, context, "town_clerk", Role.TOWN_OFFICER, world.town_a)
    case_id = await in_handling(client, world)
    old = (await ask(client, clerk, case_id)).json()
    for who, action, reason in (
        ("town", "escalate", "涉及多个部门，由镇统筹"),
        ("town", "accept", None),
        ("town", "escalate", "涉及县级职权，报县处理"),
        ("county", "accept", None),
        ("county", "start_handling", None),
    ):
        clock.advance(hours=1)
        answer = await act(client, world.auth(who), case_id, action, reason)
        assert answer.status_code == 200, (action, answer.text)
    county_request = await ask(client, world.auth("county"), case_id, days=20)
    assert county_request.status_code == 201, county_request.text
    assert county_request.json()["organ_node_code"] == world.county
    listed = (await client.get(f"/cases/{case_id}/extension-requests", headers=world.auth("county"))).json()
    assert [(item["id"], item["status"]) for item in listed] == [
        (old["id"], "lapsed"),
        (county_request.json()["id"], "pending"),
    ]
    kinds = [
        entry["kind"] for entry in (await client.get(f"/cases/{case_id}/timeline", headers=world.auth("county"))).json()
    ]
    assert kinds[-2:] == ["extension_lapse", "extension_request"]


async def test_should_refuse_an_extend_mutation_from_a_device_with_the_same_code(client, world):
    case_id = await in_handling(client, world)
    device = await client.post(
        "/devices", json={"device_id": "0190f000-0000-7000-8000-00000000e001"}, headers=world.auth("town")
    )
    assert device.status_code == 201, device.text
    mutation = {"action": "extend", "reason": REASON, "data": {"days": 10, "approved_by": "镇长"}}
    body = {
        "protocol": 1,
        "app_version": "test",
        "device_id": "0190f000-0000-7000-8000-00000000e001",
        "outbox": [
            {
                "seq": 1,
                "id": "0190f000-0000-7000-8000-00000000e002",
                "type": "transition",
                "case_id": case_id,
                "data": mutation,
            }
        ],
    }
    answer = await client.post("/sync", json=body, headers={"Authorization": f"Bearer {device.json()['device_token']}"})
    assert answer.status_code == 200, answer.text
    [result] = answer.json()["results"]
    assert (result["status"], result["code"]) == ("rejected", "case.extension_needs_approval")


def test_the_labour_day_example_is_what_the_calendar_says():
    # Guards the dates the holiday test relies on (2026 official calendar).
    from grid.calendar import StatutoryCalendar

    calendar = StatutoryCalendar()
    assert [calendar.is_working_day(date(2026, 5, day)) for day in range(1, 7)] == [False] * 5 + [True]
    assert not calendar.is_working_day(date(2026, 5, 31)) and calendar.is_working_day(date(2026, 6, 1))
