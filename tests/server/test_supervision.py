"""督办 (信访工作条例 Art. 40): items opened by a rule or by a higher organ, written replies."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlmodel import select

from grid.calendar import CHINA_TZ
from grid.cases import Case, CaseEvent
from grid.escalation import ENGINE_ACTOR, SUPERVISION_ENTRY
from grid.lifecycle import Status, TimelineEntry
from grid.supervision import Supervision
from server.outbox import Notification
from server.services.cases import append_timeline
from server.services.supervision import open_supervision
from tests.factories import fresh_headers
from tests.server.test_cases_api import act, problem_of, register

REPLY = {"text": "已约谈双方当事人，排水沟已于本周疏通，双方均表示满意。"}


async def supervise(client, headers, case_id: str, reason: str = "群众反映久拖未决，请加快办理"):
    return await client.post(f"/cases/{case_id}/supervisions", json={"reason": reason}, headers=headers)


async def opened(client, world, who: str = "town", case_id: str | None = None) -> tuple[str, dict]:
    case_id = case_id or (await register(client, world))["id"]
    response = await supervise(client, world.auth(who), case_id)
    assert response.status_code == 201, response.text
    return case_id, response.json()


async def rule_opens(db, case_id: uuid.UUID, key: str, at: datetime, due: datetime) -> Supervision:
    async with db.write() as session:
        return await open_supervision(
            session,
            case_id=case_id,
            trigger_key=key,
            reason="村级办理期限超期，启动督办",
            opened_at=at,
            reply_due_at=due,
        )


async def entries_of(db, case_id: uuid.UUID, kind: str) -> list[CaseEvent]:
    async with db.read() as session:
        rows = await session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == kind))
        return list(rows.all())


# ---------------------------------------------------------------- opened by a rule (the sweeper)


async def test_a_rule_opens_one_supervision_per_trigger_key_however_often_it_runs(client, world, db, clock):
    case_id = uuid.UUID((await register(client, world))["id"])
    due = datetime(2026, 3, 10, tzinfo=CHINA_TZ)
    first = await rule_opens(db, case_id, "supervise:stage:x", clock.now(), due)
    again = await rule_opens(db, case_id, "supervise:stage:x", clock.now() + timedelta(hours=1), due)
    other = await rule_opens(db, case_id, "supervise:handling:y", clock.now(), due)

    assert again.id == first.id and other.id != first.id
    async with db.read() as session:
        items = (await session.exec(select(Supervision).where(Supervision.case_id == case_id))).all()
    assert len(items) == 2
    assert {(item.source, item.supervising_level, item.supervised_node_code) for item in items} == {
        ("rule", "township", world.village_a)
    }
    assert first.reply_last_day.isoformat() == "2026-03-09"
    entries = await entries_of(db, case_id, SUPERVISION_ENTRY)
    assert len(entries) == 2
    assert {entry.actor_name for entry in entries} == {ENGINE_ACTOR.name}
    assert {entry.data["trigger_key"] for entry in entries} == {"supervise:stage:x", "supervise:handling:y"}


async def test_a_rule_adds_no_second_entry_when_the_engine_already_wrote_its_own(client, world, db, clock):
    case_id = uuid.UUID((await register(client, world))["id"])
    async with db.write() as session:
        case = await session.get(Case, case_id)
        engine_entry = TimelineEntry(
            kind=SUPERVISION_ENTRY,
            at=clock.now(),
            actor_id=None,
            actor_name=ENGINE_ACTOR.name,
            reason="红灯已持续两个工作日，启动督办",
            from_status=Status.REGISTERED,
            to_status=Status.REGISTERED,
            data={"trigger_key": "supervise:stage:z"},
        )
        await append_timeline(session, case, (engine_entry,))
    await rule_opens(db, case_id, "supervise:stage:z", clock.now(), datetime(2026, 3, 10, tzinfo=CHINA_TZ))
    assert [entry.reason for entry in await entries_of(db, case_id, SUPERVISION_ENTRY)] == [
        "红灯已持续两个工作日，启动督办"
    ]


async def test_a_supervision_opened_by_a_rule_is_answered_to_the_level_above(client, world, db, clock):
    case_id = (await register(client, world))["id"]
    item = await rule_opens(
        db, uuid.UUID(case_id), "supervise:stage:r", clock.now(), datetime(2026, 3, 10, tzinfo=CHINA_TZ)
    )
    replied = await client.post(
        f"/cases/{case_id}/supervisions/{item.id}/reply", json=REPLY, headers=world.auth("leader")
    )
    assert replied.status_code == 200, replied.text
    town_inbox = (await client.get("/notifications", headers=world.auth("town"))).json()["items"]
    assert [(row["event"], row["payload"]["supervision_id"]) for row in town_inbox] == [
        ("supervision_replied", str(item.id))
    ]
    assert (await client.get("/notifications", headers=world.auth("town_b"))).json()["items"] == []


# ---------------------------------------------------------------- opened by a higher organ


async def test_a_town_officer_supervises_a_village_case_and_the_reply_is_due_in_five_working_days(client, world):
    case_id, item = await opened(client, world, "town")
    # Monday 2 March 2026 + 5 working days (policy [supervision] reply_days/reply_unit).
    assert item["reply_last_day"] == "2026-03-09"
    assert datetime.fromisoformat(item["reply_due_at"]) == datetime(2026, 3, 10, tzinfo=CHINA_TZ)
    assert (item["status"], item["status_name"], item["source"]) == ("open", "待回复", "person")
    assert (item["supervising_level"], item["supervised_level"], item["supervised_node_code"]) == (
        "township",
        "village",
        world.village_a,
    )
    assert item["opened_by"] == str(world.principals["town"].user_id)
    assert "第四十条" in item["reason"] and "2026-03-09" in item["reason"]
    listed = await client.get(f"/cases/{case_id}/supervisions", headers=world.auth("grid_worker"))
    assert [row["id"] for row in listed.json()] == [item["id"]]


async def test_the_reply_period_skips_national_day_and_counts_the_make_up_saturday(client, world, clock):
    case_id = (await register(client, world))["id"]
    clock.at = datetime(2026, 9, 30, 10, 0, tzinfo=CHINA_TZ)  # Wednesday before 国庆节
    headers = await fresh_headers(client, "county")
    response = await supervise(client, headers["county"], case_id)
    assert response.status_code == 201, response.text
    # 1-7 October are holidays, Saturday 10 October a working day (调休): 8, 9, 10, 12, 13.
    # Counting weekdays alone would give 7 October.
    assert response.json()["reply_last_day"] == "2026-10-13"
    assert datetime.fromisoformat(response.json()["reply_due_at"]) == datetime(2026, 10, 14, tzinfo=CHINA_TZ)
    assert response.json()["supervising_level"] == "county"


async def test_only_an_organ_above_the_level_holding_the_case_may_supervise_it(client, world):
    case_id = (await register(client, world))["id"]
    for who in ("grid_worker", "mediator", "leader", "admin"):
        problem_of(await supervise(client, world.auth(who), case_id), 403, "auth.forbidden")
    escalated = await act(client, world.auth("leader"), case_id, "escalate", "涉及两个村民小组，需镇里协调")
    assert escalated.json()["level"] == "township"
    # The town holds it now: supervising it is the county's.
    refused = problem_of(await supervise(client, world.auth("town"), case_id), 403, "auth.forbidden")
    assert "镇级" in refused["detail"]
    by_county = await supervise(client, world.auth("county"), case_id)
    assert by_county.status_code == 201, by_county.text
    assert (by_county.json()["supervised_level"], by_county.json()["supervised_node_code"]) == (
        "township",
        world.town_a,
    )


async def test_a_case_outside_the_callers_jurisdiction_stays_invisible(client, world):
    case_id, item = await opened(client, world, "town")
    for who in ("town_b", "other_county", "leader_b"):
        problem_of(await supervise(client, world.auth(who), case_id), 404, "auth.out_of_scope")
        listed = await client.get(f"/cases/{case_id}/supervisions", headers=world.auth(who))
        problem_of(listed, 404, "auth.out_of_scope")
        reply = await client.post(
            f"/cases/{case_id}/supervisions/{item['id']}/reply", json=REPLY, headers=world.auth(who)
        )
        problem_of(reply, 404, "auth.out_of_scope")
    assert "群众反映" not in listed.text


async def test_opening_a_supervision_notifies_the_policys_recipients_of_the_case(client, world):
    case_id, item = await opened(client, world, "town")
    # [notify] supervision = handling_officers, handler_leader, baoan_leader, county_officer
    for who in ("leader", "mediator", "county"):
        inbox = (await client.get("/notifications", headers=world.auth(who))).json()["items"]
        assert [(row["event"], row["case_id"], row["payload"]["supervision_id"]) for row in inbox] == [
            ("supervision", case_id, item["id"])
        ], who
        assert inbox[0]["title"].startswith("督办：")
    for who in ("leader_b", "town_b", "other_county", "grid_worker"):
        assert (await client.get("/notifications", headers=world.auth(who))).json()["items"] == [], who


# ---------------------------------------------------------------- the written reply


async def test_the_supervised_organ_replies_in_writing_once(client, world):
    case_id, item = await opened(client, world, "town")
    path = f"/cases/{case_id}/supervisions/{item['id']}/reply"
    for body in ({"text": ""}, {"text": "   "}, {}):
        problem_of(await client.post(path, json=body, headers=world.auth("leader")), 422, "validation.failed")
    for who in ("mediator", "grid_worker", "town", "county"):
        problem_of(await client.post(path, json=REPLY, headers=world.auth(who)), 403, "auth.forbidden")

    replied = await client.post(path, json=REPLY, headers=world.auth("leader"))
    assert replied.status_code == 200, replied.text
    body = replied.json()
    assert (body["status"], body["status_name"], body["reply_text"], body["replied_late"]) == (
        "replied",
        "已回复",
        REPLY["text"],
        False,
    )
    assert body["replied_by"] == str(world.principals["leader"].user_id)

    again = problem_of(
        await client.post(path, json={"text": "补充回复"}, headers=world.auth("leader")),
        409,
        "supervision.already_replied",
    )
    assert datetime.fromisoformat(again["replied_at"]) == datetime.fromisoformat(body["replied_at"])
    listed = (await client.get(f"/cases/{case_id}/supervisions", headers=world.auth("town"))).json()
    assert listed[0]["reply_text"] == REPLY["text"]

    timeline = (await client.get(f"/cases/{case_id}/timeline", headers=world.auth("leader"))).json()
    assert [(entry["kind"], entry["kind_name"]) for entry in timeline[-2:]] == [
        ("open_supervision", "启动督办"),
        ("supervision_reply", "督办书面回复"),
    ]
    assert timeline[-1]["reason"] == REPLY["text"] and timeline[-1]["actor_name"] == "测试leader"
    town_inbox = (await client.get("/notifications", headers=world.auth("town"))).json()["items"]
    assert [row["event"] for row in town_inbox] == ["supervision_replied"]
    assert REPLY["text"] in town_inbox[0]["body"]


async def test_a_supervision_without_a_reply_turns_overdue_after_its_last_day(client, world, clock):
    case_id, item = await opened(client, world, "town")
    clock.at = datetime(2026, 3, 9, 23, 59, tzinfo=CHINA_TZ)
    assert (await client.get(f"/cases/{case_id}/supervisions", headers=world.auth("town"))).json()[0][
        "status"
    ] == "open"
    clock.at = datetime(2026, 3, 10, 0, 0, tzinfo=CHINA_TZ)
    overdue = (await client.get(f"/cases/{case_id}/supervisions", headers=world.auth("town"))).json()[0]
    assert (overdue["status"], overdue["status_name"]) == ("overdue", "逾期未回复")
    late = await client.post(
        f"/cases/{case_id}/supervisions/{item['id']}/reply", json=REPLY, headers=world.auth("leader")
    )
    assert (late.json()["status"], late.json()["replied_late"]) == ("replied", True)
    timeline = (await client.get(f"/cases/{case_id}/timeline", headers=world.auth("leader"))).json()
    assert timeline[-1]["data"]["late"] is True


async def test_a_reply_names_a_supervision_of_that_case(client, world):
    case_id, item = await opened(client, world, "town")
    other_case = (await register(client, world))["id"]
    for path in (
        f"/cases/{other_case}/supervisions/{item['id']}/reply",
        f"/cases/{case_id}/supervisions/{uuid.uuid4()}/reply",
    ):
        problem_of(await client.post(path, json=REPLY, headers=world.auth("leader")), 404, "supervision.not_found")
    assert (await client.get(f"/cases/{other_case}/supervisions", headers=world.auth("leader"))).json() == []


async def test_the_village_replies_to_a_supervision_even_after_the_case_moved_up(client, world, db):
    case_id, item = await opened(client, world, "town")
    escalated = await act(client, world.auth("leader"), case_id, "escalate", "村级调解未果")
    assert escalated.status_code == 200
    path = f"/cases/{case_id}/supervisions/{item['id']}/reply"
    replied = await client.post(path, json=REPLY, headers=world.auth("leader"))
    assert replied.status_code == 200, replied.text
    async with db.read() as session:
        rows = (await session.exec(select(Notification).where(Notification.event == "supervision_replied"))).all()
    assert [row.recipient_id for row in rows] == [world.principals["town"].user_id]
