"""包案 (信访工作条例 Art. 18 ¶2): 定领导、定措施、定时间、定责任, with a history never rewritten."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import select

from server.outbox import Notification
from server.services.notifications import enqueue
from tests.server.test_cases_api import act, problem_of, register

TARGET = "2026-04-15"


def lead_body(world, who: str, **overrides) -> dict:
    body = {
        "leader_id": str(world.principals[who].user_id),
        "measures": "每周走访一次，召集村民小组长协调排水沟走向",
        "target_date": TARGET,
        "responsibility": "镇综治中心牵头，村两委配合，逾期追责",
    }
    body.update(overrides)
    return body


async def assign(client, world, case_id: str, leader: str, by: str = "town", **overrides):
    return await client.put(
        f"/cases/{case_id}/lead", json=lead_body(world, leader, **overrides), headers=world.auth(by)
    )


async def inbox(client, world, who: str) -> list[dict]:
    return (await client.get("/notifications", headers=world.auth(who))).json()["items"]


async def test_a_leader_is_assigned_with_measures_a_target_date_and_responsibility(client, world):
    case_id = (await register(client, world))["id"]
    empty = await client.get(f"/cases/{case_id}/lead", headers=world.auth("grid_worker"))
    assert empty.json() == {"current": None, "history": []}

    assigned = await assign(client, world, case_id, "town")
    assert assigned.status_code == 200, assigned.text
    current = assigned.json()["current"]
    assert (current["action"], current["leader_id"], current["leader_name"]) == (
        "assign",
        str(world.principals["town"].user_id),
        "测试town",
    )
    assert (current["measures"], current["target_date"], current["responsibility"]) == (
        lead_body(world, "town")["measures"],
        TARGET,
        lead_body(world, "town")["responsibility"],
    )
    assert current["by_id"] == str(world.principals["town"].user_id)
    # The village that captured the case sees who leads it.
    seen = (await client.get(f"/cases/{case_id}/lead", headers=world.auth("grid_worker"))).json()
    assert seen["current"]["id"] == current["id"] and len(seen["history"]) == 1

    timeline = (await client.get(f"/cases/{case_id}/timeline", headers=world.auth("leader"))).json()
    assert (timeline[-1]["kind"], timeline[-1]["kind_name"]) == ("lead_assign", "确定包案领导")
    assert "测试town" in timeline[-1]["reason"] and TARGET in timeline[-1]["reason"]
    assert "第十八条" in timeline[-1]["reason"]
    [told] = await inbox(client, world, "town")
    assert (told["event"], told["case_id"]) == ("lead_assigned", case_id)
    assert TARGET in told["body"]


async def test_a_replacement_and_an_end_add_rows_and_keep_the_history(client, world):
    case_id = (await register(client, world))["id"]
    first = (await assign(client, world, case_id, "leader", by="leader")).json()["current"]
    replaced = await assign(client, world, case_id, "town", by="town", target_date="2026-04-30", reason="村级协调未果")
    assert replaced.status_code == 200, replaced.text
    history = replaced.json()["history"]
    assert [(row["seq"], row["action"], row["leader_name"]) for row in history] == [
        (1, "assign", "测试leader"),
        (2, "replace", "测试town"),
    ]
    assert history[0] == first  # the first row is as it was
    assert replaced.json()["current"]["target_date"] == "2026-04-30"
    assert sorted(row["event"] for row in await inbox(client, world, "leader")) == ["lead_assigned", "lead_ended"]

    ended = await client.post(f"/cases/{case_id}/lead/end", json={"reason": "案件已化解"}, headers=world.auth("town"))
    assert ended.status_code == 200, ended.text
    assert ended.json()["current"] is None
    assert [(row["action"], row["leader_id"], row["reason"]) for row in ended.json()["history"]] == [
        ("assign", str(world.principals["leader"].user_id), None),
        ("replace", str(world.principals["town"].user_id), "村级协调未果"),
        ("end", None, "案件已化解"),
    ]
    assert ended.json()["history"][:2] == history
    again = await client.post(f"/cases/{case_id}/lead/end", json={"reason": "重复"}, headers=world.auth("town"))
    problem_of(again, 409, "lead.none")

    timeline = (await client.get(f"/cases/{case_id}/timeline", headers=world.auth("town"))).json()
    assert [(entry["kind"], entry["kind_name"]) for entry in timeline[-3:]] == [
        ("lead_assign", "确定包案领导"),
        ("lead_replace", "更换包案领导"),
        ("lead_end", "结束包案"),
    ]


async def test_the_leader_stands_at_or_above_the_handling_level_over_the_case(client, world):
    case_id = (await register(client, world))["id"]
    for who in ("grid_worker", "mediator", "admin", "leader_b", "town_b", "other_county"):
        refused = await assign(client, world, case_id, who)
        problem_of(refused, 422, "lead.invalid_leader")
    unknown = await client.put(
        f"/cases/{case_id}/lead", json=lead_body(world, "town", leader_id=str(uuid.uuid4())), headers=world.auth("town")
    )
    problem_of(unknown, 422, "lead.invalid_leader")
    # Once the town holds the case, the village leader is below it.
    await act(client, world.auth("leader"), case_id, "escalate", "涉及两个村民小组，需镇里协调")
    problem_of(await assign(client, world, case_id, "leader", by="town"), 422, "lead.invalid_leader")
    for who in ("town", "county"):
        assert (await assign(client, world, case_id, who, by="county")).status_code == 200


async def test_only_the_organ_holding_the_case_or_one_above_names_its_leader(client, world):
    case_id = (await register(client, world))["id"]
    for who in ("grid_worker", "mediator", "admin"):
        problem_of(await assign(client, world, case_id, "town", by=who), 403, "auth.forbidden")
    for who in ("town_b", "other_county", "leader_b", "grid_worker_b"):
        problem_of(await assign(client, world, case_id, "town", by=who), 404, "auth.out_of_scope")
        ended = await client.post(f"/cases/{case_id}/lead/end", json={"reason": "x"}, headers=world.auth(who))
        problem_of(ended, 404, "auth.out_of_scope")
        problem_of(await client.get(f"/cases/{case_id}/lead", headers=world.auth(who)), 404, "auth.out_of_scope")
    await act(client, world.auth("leader"), case_id, "escalate", "村级调解未果")
    # The village keeps reading but no longer decides.
    problem_of(await assign(client, world, case_id, "town", by="leader"), 403, "auth.forbidden")
    assert (await client.get(f"/cases/{case_id}/lead", headers=world.auth("leader"))).status_code == 200


async def test_the_target_date_is_not_in_the_past_and_every_part_is_required(client, world):
    case_id = (await register(client, world))["id"]
    past = await assign(client, world, case_id, "town", target_date="2026-03-01")
    problem_of(past, 422, "lead.target_in_past")
    assert (await assign(client, world, case_id, "town", target_date="2026-03-02")).status_code == 200
    for field in ("measures", "responsibility"):
        blank = await assign(client, world, case_id, "town", **{field: "  "})
        problem_of(blank, 422, "validation.failed")


async def test_the_baoan_leader_recipient_is_the_leader_in_force(client, world, db, clock):
    case_id = (await register(client, world))["id"]

    async def told(key: str) -> set[uuid.UUID]:
        async with db.write() as session:
            await enqueue(
                session,
                dedupe_key=key,
                event="red",
                case_id=uuid.UUID(case_id),
                recipients=["baoan_leader"],
                title="红灯",
                body="期限已过",
                payload={},
                created_at=clock.now(),
            )
            rows = (await session.exec(select(Notification).where(Notification.dedupe_key == key))).all()
            return {row.recipient_id for row in rows}

    assert await told("red:0") == set()
    await assign(client, world, case_id, "leader", by="leader")
    assert await told("red:1") == {world.principals["leader"].user_id}
    await assign(client, world, case_id, "county", by="county")
    assert await told("red:2") == {world.principals["county"].user_id}
    await client.post(f"/cases/{case_id}/lead/end", json={"reason": "已化解"}, headers=world.auth("county"))
    assert await told("red:3") == set()


@pytest.mark.parametrize("statement", ["UPDATE case_lead SET measures = 'rewritten'", "DELETE FROM case_lead"])
async def test_the_database_refuses_to_rewrite_the_lead_history(client, world, db, statement):
    case_id = (await register(client, world))["id"]
    assert (await assign(client, world, case_id, "town")).status_code == 200
    with pytest.raises((IntegrityError, DBAPIError), match="append-only"):
        async with db.write() as session:
            await session.exec(text(statement))  # type: ignore[call-overload]
