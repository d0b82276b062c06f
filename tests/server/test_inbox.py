"""GET /inbox: what waits on each person, at the injected clock's now.

Dates: T0 is Mon 2026-03-02 10:00 (China). Under the 柞水县 policy a village has 1 day for
a simple matter (邻里, neighbourhood) and 7 days for an ordinary one (合同, contract); a
township 3 working days for a simple one. Yellow once two thirds of a period are used.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from grid.calendar import CHINA_TZ
from grid.people import Role
from server.services.notifications import enqueue
from tests.conftest import T0
from tests.factories import case_payload
from tests.server.test_extensions import act, ask, decide, in_handling, officer


async def register(client, world, place: str, category: str, who: str = "leader", title: str = "纠纷") -> str:
    body = case_payload(place, category=category, title=title)
    created = await client.post("/cases", json=body, headers=world.auth(who))
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def inbox_of(client, world, who: str, **params: Any) -> dict[str, Any]:
    answer = await client.get("/inbox", params=params, headers=world.auth(who))
    assert answer.status_code == 200, answer.text
    return answer.json()


def ids(section: dict[str, Any]) -> list[str]:
    return [item["id"] for item in section["items"]]


async def test_should_list_red_and_yellow_cases_the_user_answers_for_with_the_clock_that_lit_them(client, world, clock):
    simple = await register(client, world, world.grid_a, "neighbourhood", "grid_worker")
    ordinary = await register(client, world, world.grid_a2, "contract")
    elsewhere = await register(client, world, world.grid_b, "neighbourhood", "grid_worker_b")
    gone_up = await register(client, world, world.grid_a, "neighbourhood")
    clock.advance(hours=1)
    escalated = await act(client, world.auth("leader"), gone_up, "escalate", "涉及两个村民小组，需镇里协调")
    assert escalated.status_code == 200, escalated.text

    # Tue Mar 3 12:00: the simple matter has used 2/3 of its day (from 11:20), nothing is late.
    clock.at = datetime(2026, 3, 3, 12, 0, tzinfo=CHINA_TZ)
    early = await inbox_of(client, world, "leader")
    assert (ids(early["overdue"]), ids(early["due_soon"])) == ([], [simple])
    assert datetime.fromisoformat(early["generated_at"]) == clock.now()

    # Sun Mar 8 10:00: the simple one is overdue (last day Mar 3), the ordinary one is yellow
    # (last day Mon Mar 9). A fresh one is green, another village's and the escalated one are
    # not the village's.
    clock.at = datetime(2026, 3, 8, 9, 0, tzinfo=CHINA_TZ)
    fresh = await register(client, world, world.grid_a, "contract")
    clock.at = datetime(2026, 3, 8, 10, 0, tzinfo=CHINA_TZ)
    leader = await inbox_of(client, world, "leader")
    assert (leader["overdue"]["count"], ids(leader["overdue"])) == (1, [simple])
    assert (leader["due_soon"]["count"], ids(leader["due_soon"])) == (1, [ordinary])
    late = leader["overdue"]["items"][0]
    assert (late["light"], late["clock"], late["statutory"], late["last_day"]) == ("red", "stage", False, "2026-03-03")
    assert datetime.fromisoformat(late["ends_at"]) == datetime(2026, 3, 4, tzinfo=CHINA_TZ)
    assert late["clock_name"] and late["status"] == "registered" and late["assigned_to_me"] is False
    assert leader["due_soon"]["items"][0]["last_day"] == "2026-03-09"
    assert fresh not in str(leader) and elsewhere not in str(leader) and gone_up not in ids(leader["overdue"])

    # The grid worker follows the village-level cases of their own grid only.
    worker = await inbox_of(client, world, "grid_worker")
    assert (ids(worker["overdue"]), ids(worker["due_soon"])) == ([simple], [])
    # The town answers for its villages and for what it holds: the escalated case, whose
    # township stage (3 working days from Mar 2: Thu Mar 5) ran out after the village's.
    town = await inbox_of(client, world, "town")
    assert ids(town["overdue"]) == [simple, gone_up]
    assert town["overdue"]["items"][1]["last_day"] == "2026-03-05"
    other_town = await inbox_of(client, world, "town_b")
    assert ids(other_town["overdue"]) == [elsewhere]
    # The county holds none of them: they reach it escalated or supervised, not as a list.
    county = await inbox_of(client, world, "county")
    assert (county["overdue"]["count"], county["due_soon"]["count"]) == (0, 0)

    # A case assigned to someone is theirs wherever it lies.
    assigned = await client.post(
        f"/cases/{ordinary}/assignment",
        json={"user_id": str(world.principals["grid_worker"].user_id)},
        headers=world.auth("leader"),
    )
    assert assigned.status_code == 200, assigned.text
    worker = await inbox_of(client, world, "grid_worker")
    assert ids(worker["due_soon"]) == [ordinary] and worker["due_soon"]["items"][0]["assigned_to_me"] is True


async def test_should_list_cases_escalated_to_my_node_until_my_level_accepts_them(client, world, clock):
    case_id = await register(client, world, world.grid_a, "contract")
    clock.advance(hours=2)
    assert (await act(client, world.auth("leader"), case_id, "escalate", "村级无法化解")).status_code == 200
    town = await inbox_of(client, world, "town")
    assert (town["escalated_to_me"]["count"], ids(town["escalated_to_me"])) == (1, [case_id])
    assert town["escalated_to_me"]["items"][0]["status_name"] == "已上报待接收"
    for who in ("town_b", "county", "leader"):
        assert (await inbox_of(client, world, who))["escalated_to_me"]["count"] == 0
    assert (await act(client, world.auth("town"), case_id, "accept", "镇里接收")).status_code == 200
    assert (await inbox_of(client, world, "town"))["escalated_to_me"] == {"count": 0, "items": []}


async def test_should_show_an_extension_request_to_the_heads_of_the_organ_and_to_nobody_else(client, world, context):
    clerk = await officer(client, context, "town_clerk", Role.TOWN_OFFICER, world.town_a)
    case_id = await in_handling(client, world)
    request_id = (await ask(client, clerk, case_id)).json()["id"]

    head = await inbox_of(client, world, "town")
    assert (head["extension_approvals"]["is_head"], head["extension_approvals"]["count"]) == (True, 1)
    item = head["extension_approvals"]["items"][0]
    assert (item["request"]["id"], item["request"]["requested_by_name"]) == (request_id, "测试town_clerk")
    assert (item["current_last_day"], item["request"]["extended_last_day"]) == ("2026-05-06", "2026-06-01")
    asker = (await client.get("/inbox", headers=clerk)).json()["extension_approvals"]
    assert (asker["is_head"], asker["count"]) == (False, 0)
    for who in ("county", "town_b", "leader"):
        assert (await inbox_of(client, world, who))["extension_approvals"]["count"] == 0

    assert (await decide(client, world.auth("town"), case_id, request_id)).status_code == 200
    assert (await inbox_of(client, world, "town"))["extension_approvals"]["count"] == 0


async def test_should_count_the_supervision_replies_my_organ_owes_and_my_unread_notifications(
    client, world, context, clock
):
    case_id = await register(client, world, world.grid_a, "contract")
    opened = await client.post(
        f"/cases/{case_id}/supervisions", json={"reason": "请加快办理进度"}, headers=world.auth("town")
    )
    assert opened.status_code == 201, opened.text
    leader = await inbox_of(client, world, "leader")
    owed = leader["supervision_replies"]
    assert (owed["count"], owed["items"][0]["id"], owed["items"][0]["status"]) == (1, opened.json()["id"], "open")
    assert owed["items"][0]["reply_last_day"] == opened.json()["reply_last_day"]
    for who in ("town", "mediator", "leader_b"):
        assert (await inbox_of(client, world, who))["supervision_replies"]["count"] == 0

    leader_id = world.principals["leader"].user_id
    async with context.db.write() as session:
        await enqueue(
            session,
            dedupe_key="inbox-test",
            event="test",
            case_id=None,
            recipients=[leader_id],
            title="收件箱测试通知",
            body="请查看",
            payload={},
            created_at=clock.now() + timedelta(seconds=1),
        )
    unread = (await client.get("/notifications", params={"unread": "true"}, headers=world.auth("leader"))).json()
    leader = await inbox_of(client, world, "leader")
    assert leader["unread_notifications"]["count"] == len(unread["items"]) >= 1
    assert ids(leader["unread_notifications"]) == [item["id"] for item in unread["items"]]
    newest = leader["unread_notifications"]["items"][0]
    assert (newest["title"], newest["event"]) == ("收件箱测试通知", "test")
    read = await client.post(f"/notifications/{newest['id']}/read", headers=world.auth("leader"))
    assert read.status_code == 200, read.text
    reply = await client.post(
        f"/cases/{case_id}/supervisions/{opened.json()['id']}/reply",
        json={"text": "已组织双方协商，三日内办结"},
        headers=world.auth("leader"),
    )
    assert reply.status_code == 200, reply.text
    after = await inbox_of(client, world, "leader")
    assert after["unread_notifications"]["count"] == len(unread["items"]) - 1
    assert after["supervision_replies"]["count"] == 0


async def test_should_count_every_case_but_list_at_most_the_limit_most_urgent_first(client, world, clock):
    made = []
    for day in range(3):
        clock.at = T0 + timedelta(days=day)
        made.append(await register(client, world, world.grid_a, "neighbourhood", "grid_worker"))
    clock.at = T0 + timedelta(days=10)
    worker = await inbox_of(client, world, "grid_worker", limit=2)
    assert (worker["limit"], worker["overdue"]["count"], ids(worker["overdue"])) == (2, 3, made[:2])
    refused = await client.get("/inbox", params={"limit": 101}, headers=world.auth("grid_worker"))
    assert refused.status_code == 422 and refused.json()["code"] == "validation.failed"


async def test_should_answer_nobody_without_a_login(client):
    answer = await client.get("/inbox")
    assert (answer.status_code, answer.json()["code"]) == (401, "auth.unauthenticated")
