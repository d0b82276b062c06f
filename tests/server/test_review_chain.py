"""The review chain, finality, duplicates and 越级 through HTTP and sync (both backends,
fixed clock from Mon 2 March 2026, real 柞水县 places, the packaged 柞水县 policy)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import select

from sync.tables import SyncMutation
from tests.factories import case_payload, fresh_headers, id_number, party

PROBLEM = "application/problem+json"
COUNTY_CODE = "611026000000"
# A petitioner of these tests only: the world's other tests use tests.factories' default.
PETITIONER_ID = id_number("19660412", "357")
REQUEST = {"category": "contract", "title": "土地流转合同租金纠纷", "request": "要求合作社按合同支付土地流转租金"}
REPLY = {
    "outcome": "reject",
    "request": "要求合作社按合同支付土地流转租金",
    "facts_and_reasons": "经核查，合作社已按合同约定支付当年租金",
    "decision": "不予支持",
    "legal_basis": "《信访工作条例》第三十二条第三项",
}


def petitioner(**overrides: Any) -> dict[str, Any]:
    return party(**{"name": "张满仓", "id_number": PETITIONER_ID, "phone": "13991234567"} | overrides)


def petition(place_key: str, place: str, *, applicant: dict[str, Any] | None = None, **overrides: Any) -> dict:
    body = case_payload(**{place_key: place}, kind="claim", channel="visit", **REQUEST)
    body["parties"] = [applicant or petitioner()]
    body.update(overrides)
    return body


async def register(client, world, who: str, place: str, **overrides: Any):
    key = "grid_code" if world.regions[place].level == "grid" else "village_code"
    return await client.post("/cases", json=petition(key, place, **overrides), headers=world.auth(who))


async def registered(client, world, who: str, place: str, **overrides: Any) -> dict:
    response = await register(client, world, who, place, **overrides)
    assert response.status_code == 201, response.text
    return response.json()


async def act(client, headers, case_id: str, action: str, reason: str | None = None, **data: Any):
    response = await client.post(
        f"/cases/{case_id}/transitions", json={"action": action, "reason": reason, "data": data}, headers=headers
    )
    return response


async def done(client, headers, case_id: str, action: str, reason: str | None = None, **data: Any) -> dict:
    response = await act(client, headers, case_id, action, reason, **data)
    assert response.status_code == 200, (action, response.text)
    return response.json()


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["code"] == code, body
    return body


async def replied_by_the_town(client, world, clock) -> str:
    """A petition registered in 仁和社区, accepted by the village, answered by 乾佑街道."""
    case_id = (await registered(client, world, "grid_worker", world.grid_a))["id"]
    await done(client, world.auth("leader"), case_id, "accept", "属于本村受理范围")
    clock.advance(days=1)
    await done(client, world.auth("town"), case_id, "start_handling", "镇综治中心牵头办理")
    clock.advance(days=10)
    await done(client, world.auth("town"), case_id, "reply", "依法出具处理意见", **REPLY)
    return case_id


async def timeline(client, world, case_id: str, who: str = "county") -> list[dict]:
    response = await client.get(f"/cases/{case_id}/timeline", headers=world.auth(who))
    assert response.status_code == 200, response.text
    return response.json()


async def chain_of(client, world, case_id: str, who: str = "county") -> dict:
    response = await client.get(f"/cases/{case_id}/review-chain", headers=world.auth(who))
    assert response.status_code == 200, response.text
    return response.json()


# ------------------------------------------------------------------ 复查 → 复核 → final


async def test_should_route_review_and_rereview_to_the_higher_organs_then_refuse_the_same_matter_as_final(
    client, world, clock
):
    case_id = await replied_by_the_town(client, world, clock)
    window = (await chain_of(client, world, case_id))["window"]
    # Delivered Fri Mar 13: day 30 is Sun Apr 12, so the window ends Mon Apr 13.
    assert (window["kind"], window["last_day"], window["open"]) == ("review_request", "2026-04-13", True)

    clock.advance(days=2)
    asked = await done(client, world.auth("town"), case_id, "request_review", "信访人不服处理意见")
    # 乾佑街道 replied (on a case filed in the village): the review goes to 柞水县人民政府.
    assert (asked["status"], asked["level"], asked["handling_node_code"]) == ("review_requested", "county", COUNTY_CODE)
    chain = await chain_of(client, world, case_id)
    assert chain["review"] | {"summary_zh": None} == {
        "stage": "review",
        "organ": "柞水县人民政府",
        "organ_level": "county",
        "level": "county",
        "node_code": COUNTY_CODE,
        "node_name": "柞水县",
        "contested_level": "township",
        "rule": "dissatisfaction.review.county",
        "summary_zh": None,
    }
    entry = (await timeline(client, world, case_id))[-1]
    assert entry["kind"] == "request_review"
    assert entry["data"]["summary_zh"].startswith(
        "信访人不服乾佑街道的信访处理意见，申请复查；依《信访工作条例》第三十五条"
    )
    assert "柞水县人民政府" in entry["data"]["summary_zh"]

    # The county holds it now: the town that replied may no longer decide, the county may.
    problem(await act(client, world.auth("town"), case_id, "decide_review", **REPLY), 403, "auth.forbidden")
    seen_by_town = (await client.get(f"/cases/{case_id}", headers=world.auth("town"))).json()
    assert "decide_review" not in seen_by_town["allowed_actions"]
    assert (
        "decide_review"
        in (await client.get(f"/cases/{case_id}", headers=world.auth("county"))).json()["allowed_actions"]
    )
    clock.advance(days=5)
    await done(client, world.auth("county"), case_id, "decide_review", "维持原处理意见", **REPLY)

    clock.advance(days=2)
    await done(client, world.auth("county"), case_id, "request_rereview", "信访人不服复查意见")
    chain = await chain_of(client, world, case_id)
    assert (chain["rereview"]["organ"], chain["rereview"]["organ_level"], chain["rereview"]["level"]) == (
        "商洛市人民政府",
        "city",
        "county",
    )
    assert chain["rereview"]["rule"] == "dissatisfaction.rereview.above_county"
    assert "案卷由县级保存" in (await timeline(client, world, case_id))[-1]["data"]["summary_zh"]
    clock.advance(days=5)
    final = await done(client, world.auth("county"), case_id, "decide_rereview", "维持复查意见", **REPLY)
    assert final["status"] == "final"
    chain = await chain_of(client, world, case_id)
    assert (chain["final"], chain["final_on"]) == (True, "2026-03-27")

    # The same petitioner on the same matter, anywhere in the county, is not accepted again.
    clock.advance(days=30)
    headers = await fresh_headers(client, "grid_worker_b", "town_b", "county")
    for who, place in (("grid_worker_b", world.grid_b), ("county", world.village_a2)):
        key = "grid_code" if world.regions[place].level == "grid" else "village_code"
        refused = await client.post(
            "/cases",
            json=petition(key, place, request="要求合作社按照合同支付拖欠的土地流转租金"),
            headers=headers[who],
        )
        body = problem(refused, 409, "case.final")
        assert body["final_case_number"] == final["number"] == f"{world.village_a}-2026-00001"
        assert body["final_case_id"] == case_id
        assert body["basis"] == "id_number"
        assert final["number"] in body["detail"] and "第三十六条" in body["detail"]
    # Found by name and phone when no ID number is at hand.
    no_id = petitioner(id_number=None, id_unknown_reason="未带身份证", phone="139 9123 4567")
    refused = await client.post(
        "/cases", json=petition("grid_code", world.grid_b, applicant=no_id), headers=headers["grid_worker_b"]
    )
    assert problem(refused, 409, "case.final")["basis"] == "name_phone"
    # Another matter of the same petitioner is a new petition.
    other = petition("grid_code", world.grid_b, category="damages", title="牛损坏庄稼", request="要求赔偿被毁玉米")
    assert (await client.post("/cases", json=other, headers=headers["grid_worker_b"])).status_code == 201


async def test_should_refuse_a_late_review_request_naming_the_window_and_its_dates(client, world, clock):
    case_id = await replied_by_the_town(client, world, clock)  # delivered Fri 2026-03-13
    clock.advance(days=32)  # Tue Apr 14: the window ended Mon Apr 13 (day 30 was a Sunday)
    headers = await fresh_headers(client, "town")
    body = problem(await act(client, headers["town"], case_id, "request_review"), 409, "case.window_closed")
    assert (body["window"], body["delivered_on"], body["last_day"], body["received_on"]) == (
        "review_request",
        "2026-03-13",
        "2026-04-13",
        "2026-04-14",
    )
    assert "复查申请已超过法定期限" in body["detail"] and "2026-04-13" in body["detail"]
    # A letter received on the last day is on time however late it is entered.
    on_time = await act(client, headers["town"], case_id, "request_review", received_at="2026-04-13T16:00:00+08:00")
    assert on_time.status_code == 200, on_time.text
    assert on_time.json()["level"] == "county"


# ------------------------------------------------------------------ duplicates


async def test_should_link_duplicates_across_villages_and_levels_to_the_first_case(client, world, clock):
    first = await registered(client, world, "grid_worker", world.grid_a)
    # The same petitioner raises it again at 营盘镇 (another town, township level) ...
    clock.advance(hours=1)
    second = await registered(
        client, world, "town_b", world.village_b, request="要求合作社按合同尽快支付拖欠的土地流转租金"
    )
    # ... and at the county, about a place in another village.
    clock.advance(hours=1)
    third = await registered(client, world, "county", world.village_a2)
    assert [entry["kind"] for entry in await timeline(client, world, first["id"])] == ["register"]
    for case, matched in ((second, first), (third, first)):
        entries = await timeline(client, world, case["id"])
        assert [entry["kind"] for entry in entries][:2] == ["register", "duplicate"]
        link = entries[1]
        assert link["data"]["original_id"] == first["id"]
        assert link["data"]["matched_id"] == matched["id"]
        assert (link["data"]["basis"], link["data"]["original_open"]) == ("id_number", True)
        assert "请并入原案办理" in link["reason"] and "第十九条第三款" in link["reason"]
        assert link["actor_id"] is None
        chain = await chain_of(client, world, case["id"])
        assert chain["duplicate_of"]["original_id"] == first["id"]

    listed = (await client.get(f"/cases/{third['id']}/duplicates", headers=world.auth("county"))).json()
    assert listed["original"]["id"] == first["id"]
    assert [item["case"]["id"] for item in listed["duplicates"]] == [second["id"], third["id"]]
    assert listed["hidden"] == 0
    # The village sees its own case and is told that two more exist elsewhere.
    seen = (await client.get(f"/cases/{first['id']}/duplicates", headers=world.auth("leader"))).json()
    assert (seen["original"]["id"], seen["duplicates"], seen["hidden"]) == (first["id"], [], 2)
    assert second["id"] not in str(seen) and third["id"] not in str(seen)

    counts = await client.get(
        "/stats/repeats", params={"since": "2026-03-01", "until": "2026-03-31"}, headers=world.auth("county")
    )
    assert counts.status_code == 200, counts.text
    assert {key: counts.json()[key] for key in ("registered", "duplicates", "duplicates_of_open", "repeat_rate")} == {
        "registered": 3,
        "duplicates": 2,
        "duplicates_of_open": 2,
        "repeat_rate": 0.6667,
    }


async def test_should_find_the_same_petitioner_by_name_and_phone_or_by_a_legacy_id_number(client, world):
    legacy = "611026660412357"  # the 15-digit card of PETITIONER_ID's holder
    first = await registered(client, world, "grid_worker", world.grid_a, parties=[petitioner(id_number=legacy)])
    by_id = await registered(client, world, "leader", world.grid_a2)
    no_id = petitioner(id_number=None, id_unknown_reason="口述无法核实", phone="+86 139-9123-4567")
    by_phone = await registered(client, world, "grid_worker_b", world.grid_b, parties=[no_id])
    for case, basis in ((by_id, "id_number"), (by_phone, "name_phone")):
        link = (await chain_of(client, world, case["id"]))["duplicate_of"]
        assert (link["original_id"], link["basis"]) == (first["id"], basis)
    # Same phone, another name (a family's one phone): not the same petitioner.
    relative = petitioner(name="张春花", id_number=None, id_unknown_reason="未带身份证")
    other = await registered(client, world, "grid_worker_b", world.grid_b, parties=[relative])
    assert (await chain_of(client, world, other["id"]))["duplicate_of"] is None


async def test_should_not_link_another_category_or_another_county(client, world):
    first = await registered(client, world, "grid_worker", world.grid_a)
    other_category = await registered(client, world, "grid_worker", world.grid_a, category="land_forest")
    elsewhere = await registered(client, world, "other_grid_worker", world.other_grid)
    for case in (other_category, elsewhere):
        assert (await chain_of(client, world, case["id"], who="admin" if case is other_category else "other_county"))[
            "duplicate_of"
        ] is None
    assert (await client.get(f"/cases/{first['id']}/duplicates", headers=world.auth("county"))).json()[
        "duplicates"
    ] == []


# ------------------------------------------------------------------ 越级


async def test_should_record_a_walk_in_at_the_county_as_skip_level_and_hand_it_down_only_with_a_reason(client, world):
    walk_in = await registered(client, world, "county", world.village_a)
    entries = await timeline(client, world, walk_in["id"])
    assert [entry["kind"] for entry in entries] == ["register", "skip_level"]
    assert entries[1]["data"] == {
        "registered_level": "county",
        "expected_level": "village",
        "rule": "default.village",
        "channel": "visit",
    }
    assert "未经镇级直接到县级提出" in entries[1]["reason"] and "第二十条第一款" in entries[1]["reason"]
    skip = (await chain_of(client, world, walk_in["id"]))["skip_level"]
    assert (skip["registered_level"], skip["expected_level"]) == ("county", "village")

    problem(
        await act(client, world.auth("county"), walk_in["id"], "refer_down", to_level="village"),
        422,
        "validation.failed",
    )
    handed = await done(
        client, world.auth("county"), walk_in["id"], "refer_down", "越级访，由社区先行化解", to_level="village"
    )
    assert (handed["status"], handed["level"], handed["handling_node_code"]) == (
        "registered",
        "village",
        world.village_a,
    )
    await done(client, world.auth("leader"), walk_in["id"], "accept", "社区受理")

    counts = (
        await client.get(
            "/stats/repeats",
            params={"since": "2026-03-02", "until": "2026-03-02", "region": world.town_a},
            headers=world.auth("town"),
        )
    ).json()
    assert (counts["registered"], counts["skip_level"], counts["skip_level_visits"]) == (1, 1, 1)


async def test_should_not_call_skip_level_a_visit_one_level_up_or_a_collective_case_at_the_county(client, world):
    at_town = await registered(client, world, "town", world.village_a)
    collective = petition("village_code", world.village_a2)
    collective["parties"] = [
        petitioner(name=f"村民{index}", id_number=id_number("19700101", f"{index:03d}"), phone=None)
        | {"is_representative": index < 2, "is_signer": True}
        for index in range(4)
    ]
    collective |= {"is_collective": True, "title": "集体土地租金", "request": "要求合作社支付全组土地租金"}
    at_county = await client.post("/cases", json=collective, headers=world.auth("county"))
    assert at_county.status_code == 201, at_county.text
    for case_id in (at_town["id"], at_county.json()["id"]):
        assert [entry["kind"] for entry in await timeline(client, world, case_id)] == ["register"]
        assert (await chain_of(client, world, case_id))["skip_level"] is None


# ------------------------------------------------------------------ over sync


async def test_a_device_create_of_a_final_matter_is_rejected_and_kept_and_the_queue_behind_it_applies(
    client, world, clock, db
):
    case_id = await replied_by_the_town(client, world, clock)
    for who, action, data in (
        ("town", "request_review", {}),
        ("county", "decide_review", REPLY),
        ("county", "request_rereview", {}),
        ("county", "decide_rereview", REPLY),
    ):
        clock.advance(days=1)
        await done(client, world.auth(who), case_id, action, **data)

    device_id = str(uuid.uuid4())
    enrolled = await client.post("/devices", json={"device_id": device_id}, headers=world.auth("grid_worker_b"))
    assert enrolled.status_code == 201, enrolled.text
    token = enrolled.json()["device_token"]
    repeat_id, other_id = str(uuid.uuid4()), str(uuid.uuid4())
    repeat = petition("grid_code", world.grid_b)
    other = petition("grid_code", world.grid_b, category="damages", title="牛损坏庄稼", request="要求赔偿被毁玉米")
    for body in (repeat, other):
        body.pop("id")
    outbox = [
        {"seq": 1, "id": str(uuid.uuid4()), "type": "create_case", "case_id": repeat_id, "data": repeat},
        {"seq": 2, "id": str(uuid.uuid4()), "type": "create_case", "case_id": other_id, "data": other},
        {
            "seq": 3,
            "id": str(uuid.uuid4()),
            "type": "transition",
            "case_id": other_id,
            "data": {"action": "record_visit", "data": {"summary": "上门了解情况"}},
        },
    ]
    answer = await client.post(
        "/sync",
        json={"protocol": 1, "app_version": "0.1.0", "device_id": device_id, "outbox": outbox},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [(r["seq"], r["status"], r["code"]) for r in results] == [
        (1, "rejected", "case.final"),
        (2, "applied", None),
        (3, "applied", None),
    ]
    assert f"{world.village_a}-2026-00001" in results[0]["message"]
    assert answer.json()["last_seq"] == 3
    async with db.read() as session:
        kept = (await session.exec(select(SyncMutation).where(SyncMutation.case_id == uuid.UUID(repeat_id)))).one()
    assert (kept.status, kept.code, kept.payload["data"]["request"]) == ("rejected", "case.final", REQUEST["request"])
    missing = await client.get(f"/cases/{repeat_id}", headers=world.auth("county"))
    problem(missing, 404, "auth.out_of_scope")
    assert (await client.get(f"/cases/{other_id}", headers=world.auth("county"))).status_code == 200
