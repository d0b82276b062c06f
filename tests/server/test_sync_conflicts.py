"""Concurrent edits from devices: merged field by field, collisions held for a reviewer,
never silently overwritten; timeline entries never conflict; the reviewer's API."""

import uuid

from sqlalchemy import update

from grid.cases import Case
from tests.server.test_sync import body, create, enroll, transition


def edit(seq: int, case_id: str, base_version: int | None, **fields) -> dict:
    mutation = {"seq": seq, "id": str(uuid.uuid4()), "type": "edit_case", "case_id": case_id, "data": fields}
    if base_version is not None:
        mutation["base_version"] = base_version
    return mutation


async def push(client, device_id, auth, outbox) -> list[dict]:
    answer = await client.post("/sync", json=body(device_id, outbox), headers=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()["results"]


async def captured_case(client, world) -> tuple[str, dict, str]:
    """A case captured by the grid worker's phone (version 1)."""
    device_id, auth = await enroll(client, world, "grid_worker")
    case_id = str(uuid.uuid4())
    [result] = await push(client, device_id, auth, [create(1, case_id, world.grid_a)])
    assert (result["status"], result["case_version"]) == ("applied", 1)
    return device_id, auth, case_id


async def read_case(client, world, case_id) -> dict:
    answer = await client.get(f"/cases/{case_id}", headers=world.auth("leader"))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def open_items(client, world, who: str = "leader", **params) -> list[dict]:
    answer = await client.get("/sync/mutations", params=params, headers=world.auth(who))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_stale_edit_of_another_field_is_merged_and_both_edits_stand(client, world):
    device_id, auth, case_id = await captured_case(client, world)
    newer = await client.patch(
        f"/cases/{case_id}", json={"version": 1, "facts": "村干部更正"}, headers=world.auth("leader")
    )
    assert newer.status_code == 200

    [result] = await push(client, device_id, auth, [edit(2, case_id, 1, title="离线时改的标题")])

    assert (result["status"], result["code"], result["case_version"]) == ("applied", "sync.merged", 3)
    case = await read_case(client, world, case_id)
    assert (case["facts"], case["title"]) == ("村干部更正", "离线时改的标题")
    assert await open_items(client, world) == []


async def test_a_field_someone_else_changed_is_held_for_review_and_the_rest_applies(client, world):
    device_id, auth, case_id = await captured_case(client, world)
    await client.patch(f"/cases/{case_id}", json={"version": 1, "facts": "村干部更正"}, headers=world.auth("leader"))

    [result] = await push(
        client, device_id, auth, [edit(2, case_id, 1, facts="网格员离线时写的", title="离线时改的标题")]
    )

    assert (result["status"], result["code"], result["held"]) == ("conflict", "sync.edit_conflict", ["facts"])
    assert "事实" in result["message"]
    case = await read_case(client, world, case_id)
    assert (case["facts"], case["title"]) == ("村干部更正", "离线时改的标题")
    timeline = (await client.get(f"/cases/{case_id}/timeline", headers=world.auth("leader"))).json()
    assert (timeline[-1]["kind"], timeline[-1]["data"]) == ("edit", {"fields": ["title"], "held": ["facts"]})
    [item] = await open_items(client, world, status="conflict")
    assert (item["device_id"], item["seq"], item["case_id"]) == (device_id, 2, case_id)
    assert item["held"] == {"facts": {"device": {"facts": "网格员离线时写的"}, "server": {"facts": "村干部更正"}}}
    assert item["review"] is None


async def test_two_devices_editing_the_same_field_offline_never_overwrite_each_other(client, world):
    worker_device, worker_auth, case_id = await captured_case(client, world)
    mediator_device, mediator_auth = await enroll(client, world, "mediator")
    # Both phones hold version 1 and change the risk while out of signal.
    [first] = await push(client, worker_device, worker_auth, [edit(2, case_id, 1, risk="medium")])
    [second] = await push(client, mediator_device, mediator_auth, [edit(1, case_id, 1, risk="high")])

    assert (first["status"], second["status"], second["held"]) == ("applied", "conflict", ["risk"])
    assert (await read_case(client, world, case_id))["risk"] == "medium"
    [item] = await open_items(client, world)
    assert item["held"] == {"risk": {"device": {"risk": "high"}, "server": {"risk": "medium"}}}


async def test_a_stale_edit_that_agrees_with_the_current_value_is_no_conflict(client, world):
    device_id, auth, case_id = await captured_case(client, world)
    await client.patch(f"/cases/{case_id}", json={"version": 1, "risk": "high"}, headers=world.auth("leader"))

    [result] = await push(client, device_id, auth, [edit(2, case_id, 1, risk="high")])

    assert (result["status"], result["code"], result["case_version"]) == ("applied", "sync.merged", 2)
    assert await open_items(client, world) == []


async def test_visits_recorded_offline_on_an_old_version_never_conflict(client, world):
    worker_device, worker_auth, case_id = await captured_case(client, world)
    mediator_device, mediator_auth = await enroll(client, world, "mediator")
    await client.patch(f"/cases/{case_id}", json={"version": 1, "facts": "更正"}, headers=world.auth("leader"))

    [a] = await push(client, worker_device, worker_auth, [transition(2, case_id, "record_visit", summary="第一次走访")])
    [b] = await push(client, mediator_device, mediator_auth, [transition(1, case_id, "record_visit", summary="回访")])

    assert (a["status"], b["status"]) == ("applied", "applied")
    timeline = (await client.get(f"/cases/{case_id}/timeline", headers=world.auth("leader"))).json()
    assert [entry["data"].get("summary") for entry in timeline if entry["kind"] == "record_visit"] == [
        "第一次走访",
        "回访",
    ]


async def test_a_reviewer_may_take_the_devices_value_once(client, world):
    device_id, auth, case_id = await captured_case(client, world)
    await client.patch(f"/cases/{case_id}", json={"version": 1, "facts": "村干部更正"}, headers=world.auth("leader"))
    await push(client, device_id, auth, [edit(2, case_id, 1, facts="网格员离线时写的")])
    version_before = (await read_case(client, world, case_id))["version"]

    answer = await client.post(
        f"/sync/mutations/{device_id}/2/review",
        json={"decision": "apply_device", "note": "网格员现场核实，采用"},
        headers=world.auth("leader"),
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["review"]["case_version"] == version_before + 1
    case = await read_case(client, world, case_id)
    assert (case["facts"], case["version"]) == ("网格员离线时写的", version_before + 1)
    assert await open_items(client, world) == []
    [reviewed] = await open_items(client, world, open="false")
    assert (reviewed["review"]["decision"], reviewed["review"]["note"]) == ("apply_device", "网格员现场核实，采用")
    again = await client.post(
        f"/sync/mutations/{device_id}/2/review",
        json={"decision": "keep_server", "note": "改主意"},
        headers=world.auth("leader"),
    )
    assert (again.status_code, again.json()["code"]) == (409, "sync.already_reviewed")


async def test_keeping_the_servers_value_changes_nothing_on_the_case(client, world):
    device_id, auth, case_id = await captured_case(client, world)
    await client.patch(f"/cases/{case_id}", json={"version": 1, "facts": "村干部更正"}, headers=world.auth("leader"))
    await push(client, device_id, auth, [edit(2, case_id, 1, facts="网格员离线时写的")])
    before = await read_case(client, world, case_id)

    answer = await client.post(
        f"/sync/mutations/{device_id}/2/review",
        json={"decision": "keep_server", "note": "以村委会记录为准"},
        headers=world.auth("leader"),
    )

    assert answer.status_code == 200, answer.text
    after = await read_case(client, world, case_id)
    assert (after["facts"], after["version"]) == (before["facts"], before["version"])


async def test_taking_a_held_flag_changes_that_flag_only(client, world):
    device_id, auth, case_id = await captured_case(client, world)
    flags = {
        "involves_litigation": False,
        "administrative_dispute": False,
        "violence_risk": False,
        "cadres_involved": False,
        "multi_village": False,
    }
    await client.patch(
        f"/cases/{case_id}",
        json={"version": 1, "flags": {**flags, "violence_risk": False, "multi_village": True}},
        headers=world.auth("leader"),
    )
    # Offline, the worker marks violence risk; the same edit still says "one village".
    await push(client, device_id, auth, [edit(2, case_id, 1, flags={**flags, "violence_risk": True})])
    [item] = await open_items(client, world)
    assert set(item["held"]) == {"multi_village"}
    assert (await read_case(client, world, case_id))["flags"]["violence_risk"] is True

    await client.post(
        f"/sync/mutations/{device_id}/2/review",
        json={"decision": "apply_device", "note": "只涉及本村"},
        headers=world.auth("leader"),
    )

    assert (await read_case(client, world, case_id))["flags"] == {**flags, "violence_risk": True}


async def test_a_rejected_mutation_is_shown_to_the_senders_leader_who_may_dismiss_it(client, world):
    device_id, auth = await enroll(client, world, "grid_worker")
    [result] = await push(client, device_id, auth, [create(1, str(uuid.uuid4()), world.grid_b)])
    assert (result["status"], result["code"]) == ("rejected", "auth.out_of_scope")

    [item] = await open_items(client, world, "leader", status="rejected")
    assert (item["code"], item["sender_name"]) == ("auth.out_of_scope", world.principals["grid_worker"].display_name)
    assert await open_items(client, world, "leader_b") == []
    assert await open_items(client, world, "grid_worker") != []
    wrong = await client.post(
        f"/sync/mutations/{device_id}/1/review",
        json={"decision": "apply_device", "note": "试试"},
        headers=world.auth("leader"),
    )
    assert (wrong.status_code, wrong.json()["code"]) == (409, "sync.review_invalid")
    by_worker = await client.post(
        f"/sync/mutations/{device_id}/1/review",
        json={"decision": "dismiss", "note": "知道了"},
        headers=world.auth("grid_worker"),
    )
    assert (by_worker.status_code, by_worker.json()["code"]) == (403, "auth.forbidden")
    elsewhere = await client.post(
        f"/sync/mutations/{device_id}/1/review",
        json={"decision": "dismiss", "note": "知道了"},
        headers=world.auth("leader_b"),
    )
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (404, "auth.out_of_scope")

    done = await client.post(
        f"/sync/mutations/{device_id}/1/review",
        json={"decision": "dismiss", "note": "已告知网格员，该户属营盘镇"},
        headers=world.auth("leader"),
    )

    assert done.status_code == 200, done.text
    assert await open_items(client, world, "leader") == []


async def test_an_applied_mutation_is_not_reviewable(client, world):
    device_id, _auth, _case_id = await captured_case(client, world)
    answer = await client.post(
        f"/sync/mutations/{device_id}/1/review",
        json={"decision": "dismiss", "note": "无事"},
        headers=world.auth("leader"),
    )
    assert (answer.status_code, answer.json()["code"]) == (409, "sync.not_reviewable")


async def test_a_stale_edit_of_a_case_without_field_history_is_held_whole(client, world, db):
    device_id, auth, case_id = await captured_case(client, world)
    await client.patch(f"/cases/{case_id}", json={"version": 1, "facts": "更正"}, headers=world.auth("leader"))
    async with db.write() as session:
        await session.exec(update(Case).where(Case.id == uuid.UUID(case_id)).values(field_versions=None))

    [result] = await push(client, device_id, auth, [edit(2, case_id, 1, title="新标题")])

    assert (result["status"], result["held"]) == ("conflict", ["title"])
    assert (await read_case(client, world, case_id))["title"] != "新标题"


async def test_an_edit_without_the_version_it_was_made_on_is_rejected(client, world):
    device_id, auth, case_id = await captured_case(client, world)
    [result] = await push(client, device_id, auth, [edit(2, case_id, None, title="新标题")])
    assert (result["status"], result["code"]) == ("rejected", "validation.failed")


async def test_an_attachment_record_travels_with_the_case_before_its_bytes(client, world):
    device_id, auth = await enroll(client, world, "grid_worker")
    case_id, attachment_id = str(uuid.uuid4()), str(uuid.uuid4())
    attach = {
        "seq": 2,
        "id": str(uuid.uuid4()),
        "type": "attach_file",
        "case_id": case_id,
        "data": {"id": attachment_id, "sha256": "ab" * 32, "size": 307200, "type": "image/jpeg", "name": "现场.jpg"},
    }

    answer = await client.post("/sync", json=body(device_id, [create(1, case_id, world.grid_a), attach]), headers=auth)

    assert [r["status"] for r in answer.json()["results"]] == ["applied", "applied"]
    [snapshot] = [change for change in answer.json()["changes"] if change["id"] == case_id]
    assert [(a["id"], a["h"], a["z"]) for a in snapshot["att"]] == [(attachment_id, "ab" * 32, 307200)]
    assert snapshot["tl"][-1]["k"] == "attachment"
    again = {**attach, "seq": 3, "id": str(uuid.uuid4())}
    [reused] = await push(client, device_id, auth, [again])
    assert (reused["status"], reused["code"]) == ("rejected", "attachment.duplicate_id")
    bad = {
        **attach,
        "seq": 4,
        "id": str(uuid.uuid4()),
        "data": {**attach["data"], "id": str(uuid.uuid4()), "sha256": "xyz"},
    }
    [refused] = await push(client, device_id, auth, [bad])
    assert (refused["status"], refused["code"]) == ("rejected", "validation.failed")
