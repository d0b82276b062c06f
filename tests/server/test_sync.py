import asyncio
import gzip
import json
import uuid

from sqlalchemy import text
from sqlmodel import func, select

from grid.cases import CaseEvent
from server.beacon_udp import start_beacon_listener
from sync.beacon import BeaconAnswer, decode_check, encode_check
from sync.client import udp_news
from sync.tables import Device, SyncMutation
from tests.factories import case_payload


async def enroll(client, world, who: str) -> tuple[str, dict[str, str]]:
    device_id = str(uuid.uuid4())
    answer = await client.post("/devices", json={"device_id": device_id, "name": "测试手机"}, headers=world.auth(who))
    assert answer.status_code == 201, answer.text
    return device_id, {"Authorization": f"Bearer {answer.json()['device_token']}"}


def body(device_id: str, outbox: list[dict], protocol: int = 1) -> dict:
    return {"protocol": protocol, "app_version": "0.1.0", "device_id": device_id, "outbox": outbox}


def create(seq: int, case_id: str, place: str, **overrides) -> dict:
    data = case_payload(place, **overrides)
    data.pop("id")
    return {"seq": seq, "id": str(uuid.uuid4()), "type": "create_case", "case_id": case_id, "data": data}


def transition(seq: int, case_id: str, action: str, reason: str | None = None, **data) -> dict:
    return {
        "seq": seq,
        "id": str(uuid.uuid4()),
        "type": "transition",
        "case_id": case_id,
        "data": {"action": action, "reason": reason, "data": data},
    }


async def timeline_length(db, case_id: str) -> int:
    async with db.read() as session:
        return (await session.exec(select(func.count()).where(CaseEvent.case_id == uuid.UUID(case_id)))).one()


async def test_should_apply_a_whole_outbox_in_one_request_and_answer_every_mutation(client, world, db):
    device_id, auth = await enroll(client, world, "grid_worker")
    case_id = str(uuid.uuid4())
    outbox = [
        create(1, case_id, world.grid_a),
        transition(2, case_id, "record_visit", summary="再次上门了解情况"),
        transition(3, case_id, "add_note", text="对方外出务工，下周再访"),
    ]
    answer = await client.post("/sync", json=body(device_id, outbox), headers=auth)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["last_seq"] == 3
    assert [(r["seq"], r["status"]) for r in result["results"]] == [(1, "applied"), (2, "applied"), (3, "applied")]
    assert await timeline_length(db, case_id) == 3
    case = await client.get(f"/cases/{case_id}", headers=world.auth("leader"))
    assert case.json()["created_by"] == str(world.principals["grid_worker"].user_id)


async def test_should_acknowledge_a_replayed_request_without_applying_it_again(client, world, db):
    device_id, auth = await enroll(client, world, "grid_worker")
    case_id = str(uuid.uuid4())
    outbox = [create(1, case_id, world.grid_a), transition(2, case_id, "record_visit", summary="走访")]
    first = await client.post("/sync", json=body(device_id, outbox), headers=auth)
    # The answer was lost on the way back: the phone sends the same outbox again.
    again = await client.post("/sync", json=body(device_id, outbox), headers=auth)
    assert again.status_code == 200
    assert [(r["status"], r["original_status"]) for r in again.json()["results"]] == [
        ("duplicate", "applied"),
        ("duplicate", "applied"),
    ]
    assert first.json()["last_seq"] == again.json()["last_seq"] == 2
    assert await timeline_length(db, case_id) == 2


async def test_should_not_let_a_rejected_mutation_block_the_ones_behind_it(client, world, db):
    device_id, auth = await enroll(client, world, "leader")
    case_id = str(uuid.uuid4())
    outbox = [
        create(1, case_id, world.grid_a),
        transition(2, case_id, "start_handling"),  # written handling belongs to the town
        transition(3, case_id, "close"),  # not allowed in this status
        transition(4, case_id, "record_visit", summary="继续走访"),
    ]
    result = (await client.post("/sync", json=body(device_id, outbox), headers=auth)).json()
    assert [(r["status"], r["code"]) for r in result["results"]] == [
        ("applied", None),
        ("rejected", "auth.forbidden"),
        ("rejected", "case.invalid_transition"),
        ("applied", None),
    ]
    assert result["results"][2]["message"]  # a reason the worker can read
    assert result["last_seq"] == 4
    async with db.read() as session:
        kept = (await session.exec(select(SyncMutation).where(SyncMutation.status == "rejected"))).all()
    assert {(row.seq, row.code) for row in kept} == {(2, "auth.forbidden"), (3, "case.invalid_transition")}
    assert all(row.payload["data"]["action"] in ("start_handling", "close") for row in kept)


async def test_should_refuse_a_gap_and_apply_nothing(client, world, db):
    device_id, auth = await enroll(client, world, "grid_worker")
    case_id = str(uuid.uuid4())
    answer = await client.post("/sync", json=body(device_id, [create(2, case_id, world.grid_a)]), headers=auth)
    assert answer.status_code == 409
    problem = answer.json()
    assert (problem["code"], problem["expected_seq"]) == ("sync.gap", 1)
    missing = await client.get(f"/cases/{case_id}", headers=world.auth("leader"))
    assert missing.status_code == 404


async def test_should_reject_a_sequence_number_reused_for_other_content(client, world):
    device_id, auth = await enroll(client, world, "grid_worker")
    case_id = str(uuid.uuid4())
    await client.post("/sync", json=body(device_id, [create(1, case_id, world.grid_a)]), headers=auth)
    forged = create(1, case_id, world.grid_a, title="改过的标题")
    result = (await client.post("/sync", json=body(device_id, [forged]), headers=auth)).json()
    assert [(r["status"], r["code"]) for r in result["results"]] == [("rejected", "sync.seq_reused")]


async def test_should_quarantine_a_case_pushed_into_another_users_area(client, world, db):
    device_id, auth = await enroll(client, world, "grid_worker")
    case_id = str(uuid.uuid4())
    result = (await client.post("/sync", json=body(device_id, [create(1, case_id, world.grid_b)]), headers=auth)).json()
    assert [(r["status"], r["code"]) for r in result["results"]] == [("rejected", "auth.out_of_scope")]
    assert (await client.get(f"/cases/{case_id}", headers=world.auth("county"))).status_code == 404
    async with db.read() as session:
        row = (await session.exec(select(SyncMutation).where(SyncMutation.case_id == uuid.UUID(case_id)))).one()
    assert (row.status, row.payload["data"]["grid_code"]) == ("rejected", world.grid_b)


async def test_should_refuse_a_mutation_replayed_from_another_device(client, world):
    first_id, first_auth = await enroll(client, world, "grid_worker")
    second_id, second_auth = await enroll(client, world, "grid_worker")
    case_id = str(uuid.uuid4())
    mutation = create(1, case_id, world.grid_a)
    await client.post("/sync", json=body(first_id, [mutation]), headers=first_auth)
    result = (await client.post("/sync", json=body(second_id, [mutation]), headers=second_auth)).json()
    assert [(r["status"], r["code"]) for r in result["results"]] == [("rejected", "sync.mutation_replayed")]


async def test_should_refuse_a_device_id_that_does_not_match_the_token(client, world):
    _, auth = await enroll(client, world, "grid_worker")
    other_id, _ = await enroll(client, world, "grid_worker")
    answer = await client.post("/sync", json=body(other_id, []), headers=auth)
    assert (answer.status_code, answer.json()["code"]) == (403, "sync.device_mismatch")


async def test_a_revoked_device_is_told_to_stop_and_its_leader_may_revoke_it(client, world, db):
    device_id, auth = await enroll(client, world, "grid_worker")
    assert (await client.post("/sync", json=body(device_id, []), headers=auth)).status_code == 200
    outsider = await client.post(f"/devices/{device_id}/revoke", headers=world.auth("leader_b"))
    assert outsider.status_code == 404
    revoked = await client.post(f"/devices/{device_id}/revoke", headers=world.auth("leader"))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    answer = await client.post("/sync", json=body(device_id, []), headers=auth)
    assert answer.status_code == 401
    assert (answer.json()["code"], answer.json()["action"]) == ("sync.device_revoked", "stop")
    again = await client.post("/devices", json={"device_id": device_id}, headers=world.auth("grid_worker"))
    assert again.json()["code"] == "sync.device_revoked"


async def test_should_tell_an_outdated_client_to_update_and_apply_nothing(client, world, db, monkeypatch):
    # A later server that no longer speaks protocol 1.
    monkeypatch.setattr("server.services.sync.MIN_PROTOCOL_VERSION", 2)
    device_id, auth = await enroll(client, world, "grid_worker")
    case_id = str(uuid.uuid4())
    answer = await client.post("/sync", json=body(device_id, [create(1, case_id, world.grid_a)]), headers=auth)
    assert (answer.status_code, answer.json()["code"], answer.json()["min_protocol"]) == (
        426,
        "sync.client_outdated",
        2,
    )
    async with db.read() as session:
        device = await session.get(Device, uuid.UUID(device_id))
    assert device.last_seq == 0
    assert (await client.get(f"/cases/{case_id}", headers=world.auth("leader"))).status_code == 404


async def test_should_accept_a_gzip_body_and_answer_in_gzip(client, world):
    device_id, auth = await enroll(client, world, "grid_worker")
    outbox = [create(seq, str(uuid.uuid4()), world.grid_a) for seq in range(1, 11)]
    raw = json.dumps(body(device_id, outbox), ensure_ascii=False).encode()
    packed = gzip.compress(raw)
    answer = await client.post(
        "/sync",
        content=packed,
        headers={**auth, "Content-Type": "application/json", "Content-Encoding": "gzip", "Accept-Encoding": "gzip"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-encoding"] == "gzip"
    assert [r["status"] for r in answer.json()["results"]] == ["applied"] * 10
    assert len(packed) < len(raw) / 3


async def test_should_refuse_a_body_that_claims_gzip_but_is_not(client, world):
    _, auth = await enroll(client, world, "grid_worker")
    answer = await client.post(
        "/sync", content=b"not gzip", headers={**auth, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    )
    assert (answer.status_code, answer.json()["code"]) == (400, "request.bad_encoding")


async def pull_all(client, device_id: str, auth: dict, cursor: str | None = None, page_size: int = 100):
    """Sync with an empty outbox until the last page: every snapshot, the final answer."""
    snapshots: list[dict] = []
    while True:
        answer = await client.post(
            "/sync", json={**body(device_id, []), "cursor": cursor, "page_size": page_size}, headers=auth
        )
        assert answer.status_code == 200, answer.text
        result = answer.json()
        snapshots += result["changes"]
        cursor = result["cursor"]
        if not result["more"]:
            return snapshots, result


def digest_of(ids: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(sorted(uuid.UUID(i).hex for i in ids)).encode()).hexdigest()


async def test_the_same_request_pushes_and_pulls_and_the_next_sync_brings_nothing_new(client, world):
    device_id, auth = await enroll(client, world, "grid_worker")
    case_id = str(uuid.uuid4())
    first = (await client.post("/sync", json=body(device_id, [create(1, case_id, world.grid_a)]), headers=auth)).json()
    [snapshot] = first["changes"]
    assert (snapshot["id"], snapshot["v"], snapshot["st"]) == (case_id, 1, "registered")
    assert [entry["k"] for entry in snapshot["tl"]] == ["register"]
    assert snapshot["parties"][0]["idn"].count("*") == 8
    assert first["more"] is False
    assert first["scope"] == {"count": 1, "digest": digest_of([case_id])}
    again = (await client.post("/sync", json={**body(device_id, []), "cursor": first["cursor"]}, headers=auth)).json()
    assert again["changes"] == [] and again["cursor"] == first["cursor"]


async def test_a_device_pulls_its_scope_in_pages_without_gaps_or_repeats(client, world):
    created = []
    for _ in range(7):
        answer = await client.post("/cases", json=case_payload(world.grid_a), headers=world.auth("leader"))
        created.append(answer.json()["id"])
    elsewhere = await client.post("/cases", json=case_payload(world.grid_b), headers=world.auth("leader_b"))
    device_id, auth = await enroll(client, world, "grid_worker")
    snapshots, last = await pull_all(client, device_id, auth, page_size=3)
    ids = [snapshot["id"] for snapshot in snapshots]
    assert sorted(ids) == sorted(created)
    assert elsewhere.json()["id"] not in ids
    assert last["scope"] == {"count": 7, "digest": digest_of(created)}


async def test_a_change_made_on_the_server_reaches_the_device_on_its_next_sync(client, world):
    device_id, auth = await enroll(client, world, "grid_worker")
    case_id = str(uuid.uuid4())
    first = (await client.post("/sync", json=body(device_id, [create(1, case_id, world.grid_a)]), headers=auth)).json()
    accepted = await client.post(
        f"/cases/{case_id}/transitions", json={"action": "accept"}, headers=world.auth("leader")
    )
    assert accepted.status_code == 200
    snapshots, _ = await pull_all(client, device_id, auth, cursor=first["cursor"])
    [snapshot] = snapshots
    assert (snapshot["st"], snapshot["v"]) == ("accepted", 2)
    assert snapshot["no"].startswith(world.village_a)
    assert [entry["k"] for entry in snapshot["tl"]] == ["register", "accept"]


async def test_an_escalated_case_stays_in_the_village_devices_scope(client, world):
    case = await client.post("/cases", json=case_payload(world.grid_a), headers=world.auth("leader"))
    case_id = case.json()["id"]
    for action, reason in (("accept", None), ("escalate", "村级调解未果")):
        answer = await client.post(
            f"/cases/{case_id}/transitions", json={"action": action, "reason": reason}, headers=world.auth("leader")
        )
        assert answer.status_code == 200, answer.text
    device_id, auth = await enroll(client, world, "grid_worker")
    snapshots, last = await pull_all(client, device_id, auth)
    assert [(s["id"], s["lv"]) for s in snapshots] == [(case_id, "township")]
    assert last["scope"]["count"] == 1


async def test_should_refuse_a_cursor_it_did_not_issue(client, world):
    device_id, auth = await enroll(client, world, "grid_worker")
    for forged in ("not-a-cursor", f"{2**40}.", "-1."):
        answer = await client.post("/sync", json={**body(device_id, []), "cursor": forged}, headers=auth)
        assert answer.status_code == 422, forged
        assert answer.json()["errors"][0]["rule"] == "cursor.invalid"


async def test_no_raw_identity_ever_travels_to_a_device(client, world):
    from tests.factories import id_number

    await client.post("/cases", json=case_payload(world.grid_a), headers=world.auth("leader"))
    device_id, auth = await enroll(client, world, "grid_worker")
    answer = await client.post("/sync", json=body(device_id, []), headers=auth)
    assert id_number() not in answer.text and "13812345678" not in answer.text


async def test_cases_changed_in_one_transaction_page_out_one_by_one(client, world):
    # One push creates five cases under a single change number; pages of two must still
    # deliver each exactly once.
    device_id, auth = await enroll(client, world, "grid_worker")
    ids = [str(uuid.uuid4()) for _ in range(5)]
    outbox = [create(seq, case_id, world.grid_a) for seq, case_id in enumerate(ids, start=1)]
    first = (await client.post("/sync", json={**body(device_id, outbox), "page_size": 2}, headers=auth)).json()
    assert len(first["changes"]) == 2 and first["more"] is True
    rest, last = await pull_all(client, device_id, auth, cursor=first["cursor"], page_size=2)
    delivered = [snapshot["id"] for snapshot in first["changes"] + rest]
    assert sorted(delivered) == sorted(ids)
    assert last["scope"]["count"] == 5


async def test_a_device_repairs_drift_from_the_scope_ids_without_a_full_reset(client, world, db):
    kept = (await client.post("/cases", json=case_payload(world.grid_a), headers=world.auth("leader"))).json()["id"]
    moved = (await client.post("/cases", json=case_payload(world.grid_a), headers=world.auth("leader"))).json()["id"]
    device_id, auth = await enroll(client, world, "grid_worker")
    _, first = await pull_all(client, device_id, auth)
    assert first["scope"]["count"] == 2
    # The grid is redrawn: one case now lies in another grid (no new change for this device).
    async with db.write() as session:
        await session.exec(
            text("UPDATE case_file SET region_path = :path WHERE id = :id"),
            params={
                "path": world.regions[world.grid_b].path,
                "id": uuid.UUID(moved) if db.dialect != "sqlite" else uuid.UUID(moved).hex,
            },
        )
    quiet, check = await pull_all(client, device_id, auth, cursor=first["cursor"])
    assert quiet == [] and check["scope"] != first["scope"]  # drift detected
    repair = await client.post(
        "/sync",
        json={**body(device_id, []), "cursor": check["cursor"], "want_scope_ids": True, "refetch": [kept, moved]},
        headers=auth,
    )
    result = repair.json()
    assert result["scope_ids"] == [uuid.UUID(kept).hex]  # drop everything else
    assert [snapshot["id"] for snapshot in result["refetched"]] == [kept]  # never the moved one
    assert result["scope"] == {"count": 1, "digest": digest_of([kept])}


async def test_the_beacon_tells_an_idle_device_whether_its_scope_changed(client, world):
    enrolled = await client.post("/devices", json={"device_id": str(uuid.uuid4())}, headers=world.auth("grid_worker"))
    device_id, beacon = enrolled.json()["device"]["id"], enrolled.json()["beacon"]
    auth = {"Authorization": f"Bearer {enrolled.json()['device_token']}"}
    _, result = await pull_all(client, device_id, auth)
    after = result["cursor"].split(".")[0]
    root = f"{client.base_url.scheme}://{client.base_url.host}"

    quiet = await client.get(f"{root}/b/{beacon}/{after}")
    assert (quiet.status_code, quiet.content) == (204, b"")
    # A change elsewhere in the county is none of this device's business.
    await client.post("/cases", json=case_payload(world.grid_b), headers=world.auth("leader_b"))
    assert (await client.get(f"{root}/b/{beacon}/{after}")).status_code == 204
    await client.post("/cases", json=case_payload(world.grid_a), headers=world.auth("leader"))
    assert (await client.get(f"{root}/b/{beacon}/{after}")).status_code == 200
    _, result = await pull_all(client, device_id, auth, result["cursor"])
    assert (await client.get(f"{root}/b/{beacon}/{result['cursor'].split('.')[0]}")).status_code == 204

    await client.post(f"/devices/{device_id}/revoke", headers=world.auth("leader"))
    for unknown in (beacon, "not-a-beacon"):
        answer = await client.get(f"{root}/b/{unknown}/{after}")
        assert (answer.status_code, answer.json()["code"]) == (404, "sync.beacon_unknown")


async def test_the_udp_beacon_answers_what_the_http_beacon_answers_in_one_byte(client, world, context):
    enrolled = await client.post("/devices", json={"device_id": str(uuid.uuid4())}, headers=world.auth("grid_worker"))
    device_id, beacon = enrolled.json()["device"]["id"], enrolled.json()["beacon"]
    auth = {"Authorization": f"Bearer {enrolled.json()['device_token']}"}
    _, result = await pull_all(client, device_id, auth)
    after = int(result["cursor"].split(".")[0])
    listener = await start_beacon_listener(context, "127.0.0.1", 0)
    port = listener.get_extra_info("sockname")[1]
    try:
        assert await udp_news("127.0.0.1", port, beacon, after) is False
        await client.post("/cases", json=case_payload(world.grid_a), headers=world.auth("leader"))
        assert await udp_news("127.0.0.1", port, beacon, after) is True
        # An unknown beacon is news too: the full sync that follows says what happened.
        assert await udp_news("127.0.0.1", port, "AAAAAAAAAAAA", after) is True

        # Exactly one byte answers exactly thirteen; anything else gets no answer at all.
        loop = asyncio.get_running_loop()
        replies: asyncio.Queue[bytes] = asyncio.Queue()

        class Probe(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                replies.put_nowait(data)

        probe, _ = await loop.create_datagram_endpoint(Probe, remote_addr=("127.0.0.1", port))
        try:
            check = encode_check(beacon, after)
            assert len(check) == 13
            for junk in (b"", b"x" * 12, check + b"\0", b"GET /b/ HTTP/1.1\r\n\r\n" * 10):
                probe.sendto(junk)
            probe.sendto(check)
            assert await asyncio.wait_for(replies.get(), 3) == bytes([BeaconAnswer.NEWS])
            await asyncio.sleep(0.2)
            assert replies.empty()
        finally:
            probe.close()
    finally:
        listener.close()


async def test_a_quiet_udp_check_is_answered_only_with_news(client, world, context):
    enrolled = await client.post("/devices", json={"device_id": str(uuid.uuid4())}, headers=world.auth("grid_worker"))
    device_id, beacon = enrolled.json()["device"]["id"], enrolled.json()["beacon"]
    auth = {"Authorization": f"Bearer {enrolled.json()['device_token']}"}
    _, result = await pull_all(client, device_id, auth)
    after = int(result["cursor"].split(".")[0])
    listener = await start_beacon_listener(context, "127.0.0.1", 0)
    port = listener.get_extra_info("sockname")[1]
    loop = asyncio.get_running_loop()
    replies: asyncio.Queue[bytes] = asyncio.Queue()

    class Probe(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            replies.put_nowait(data)

    probe, _ = await loop.create_datagram_endpoint(Probe, remote_addr=("127.0.0.1", port))
    try:
        quiet = encode_check(beacon, after, quiet=True)
        assert len(quiet) == 13 and decode_check(quiet) == (beacon, after, True)
        probe.sendto(quiet)
        await asyncio.sleep(0.5)
        assert replies.empty()  # nothing new: no answer at all
        probe.sendto(encode_check(beacon, after))  # the same question, asking for an answer
        assert await asyncio.wait_for(replies.get(), 3) == bytes([BeaconAnswer.NOTHING_NEW])
        await asyncio.sleep(0.3)
        assert replies.empty()  # one answer for the two questions
        await client.post("/cases", json=case_payload(world.grid_a), headers=world.auth("leader"))
        probe.sendto(quiet)
        assert await asyncio.wait_for(replies.get(), 3) == bytes([BeaconAnswer.NEWS])
        probe.sendto(encode_check("AAAAAAAAAAAA", after, quiet=True))
        assert await asyncio.wait_for(replies.get(), 3) == bytes([BeaconAnswer.UNKNOWN])
    finally:
        probe.close()
        listener.close()


async def test_a_sync_answer_says_how_long_the_server_worked_on_it(client, world):
    device_id, auth = await enroll(client, world, "grid_worker")
    answer = await client.post(
        "/sync", json=body(device_id, [create(1, str(uuid.uuid4()), world.grid_a)]), headers=auth
    )
    name, _, duration = answer.headers["server-timing"].partition(";dur=")
    assert name == "app" and float(duration) > 0
    assert "server-timing" not in (await client.get("/health")).headers
