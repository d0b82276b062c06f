"""The reference device client against the real app (over ASGI, on SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import col, func, select

from grid.cases import Case, CaseEvent
from server.beacon_udp import start_beacon_listener
from sync.client import UDP_ANSWERED_EVERY, Device, DeviceRevoked, DeviceStore, SyncError
from tests.conftest import TEST_PASSWORD
from tests.factories import case_payload

SERVER = "http://testserver.local/api/v1"


class CountingTransport(httpx.AsyncBaseTransport):
    """The app's transport, counting requests; it can lose the next sync answer or the network."""

    def __init__(self, inner: httpx.AsyncBaseTransport):
        self.inner = inner
        self.requests = 0
        self.lose_next_answer = False
        self.offline = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.offline:
            raise httpx.ConnectError("no signal", request=request)
        self.requests += 1
        response = await self.inner.handle_async_request(request)
        if self.lose_next_answer and request.url.path.endswith("/sync"):
            self.lose_next_answer = False
            await response.aread()  # the server has committed; the answer never reaches the phone
            raise httpx.ReadError("connection reset", request=request)
        return response


@pytest.fixture
async def phone(client, tmp_path):
    transport = CountingTransport(client._transport)
    async with httpx.AsyncClient(transport=transport) as http:
        device = Device(DeviceStore(tmp_path / "device.db"), http=http)
        device.transport_spy = transport
        try:
            yield device
        finally:
            device.store.close()


async def enrolled(phone: Device, who: str = "grid_worker") -> Device:
    await phone.enroll(SERVER, who, TEST_PASSWORD, "测试手机")
    return phone


def new_case(world) -> dict:
    body = case_payload(world.grid_a)
    body.pop("id")
    return body


async def cases_on_server(db, case_ids) -> int:
    async with db.read() as session:
        ids = [uuid.UUID(case_id) for case_id in case_ids]
        return (await session.exec(select(func.count()).select_from(Case).where(col(Case.id).in_(ids)))).one()


async def events_on_server(db, case_id: str) -> int:
    async with db.read() as session:
        statement = select(func.count()).where(CaseEvent.case_id == uuid.UUID(case_id))
        return (await session.exec(statement)).one()


async def test_should_capture_offline_and_sync_every_case_exactly_once(phone, world, db):
    await enrolled(phone)
    before = phone.transport_spy.requests
    case_ids = [phone.capture_case(new_case(world)) for _ in range(3)]
    assert phone.transport_spy.requests == before  # capturing never touches the network
    assert phone.status().pending == 3

    summary = await phone.sync()
    assert (summary.applied, summary.rejected, summary.pages) == (3, 0, 1)
    assert summary.bytes_sent > 0 and summary.bytes_received > 0
    assert await cases_on_server(db, case_ids) == 3
    assert sorted(str(i) for i in phone.store.case_ids()) == sorted(case_ids)
    assert phone.store.case(case_ids[0])["v"] == 1
    status = phone.status()
    assert (status.pending, status.problems, status.revoked) == (0, [], False)
    assert status.last_sync_at


async def test_should_double_nothing_when_an_answer_is_lost_and_the_outbox_is_sent_again(phone, world, db):
    await enrolled(phone)
    case_id = phone.capture_case(new_case(world))
    phone.add_transition(case_id, "record_visit", None, {"summary": "上门了解情况"})
    phone.transport_spy.lose_next_answer = True
    with pytest.raises(SyncError) as lost:
        await phone.sync()
    assert lost.value.retryable
    assert phone.status().pending == 2  # nothing acknowledged, nothing lost

    summary = await phone.sync()
    assert (summary.duplicate, summary.applied) == (2, 0)
    assert await cases_on_server(db, [case_id]) == 1
    assert await events_on_server(db, case_id) == 2
    assert phone.status().pending == 0 and phone.status().problems == []

    # Even a store that forgot its acknowledgements only replays.
    phone.store.requeue_from(1)
    assert (await phone.sync()).duplicate == 2
    assert await events_on_server(db, case_id) == 2


async def test_should_keep_nothing_and_lose_nothing_without_a_network(phone, world):
    await enrolled(phone)
    phone.capture_case(new_case(world))
    phone.transport_spy.offline = True
    with pytest.raises(SyncError) as offline:
        await phone.sync()
    assert (offline.value.retryable, offline.value.code) == (True, "sync.network")
    assert phone.status().pending == 1
    phone.transport_spy.offline = False
    assert (await phone.sync()).applied == 1


async def test_should_show_a_rejected_mutation_and_still_apply_the_ones_behind_it(phone, world, db):
    await enrolled(phone)
    case_id = phone.capture_case(new_case(world))
    closing = phone.add_transition(case_id, "close")  # closing is not a grid worker's to do
    phone.add_transition(case_id, "record_visit", None, {"summary": "继续走访"})
    summary = await phone.sync()
    assert (summary.applied, summary.rejected) == (2, 1)
    problems = phone.status().problems
    assert [(p.seq, p.status, p.code) for p in problems] == [(closing, "rejected", "auth.forbidden")]
    assert problems[0].message
    assert phone.status().pending == 0  # a rejected mutation leaves the queue once its result is stored
    assert await events_on_server(db, case_id) == 2


async def test_should_apply_its_own_successive_offline_edits_of_one_field(phone, world):
    await enrolled(phone)
    case_id = phone.capture_case(new_case(world))
    await phone.sync()
    phone.edit_case(case_id, 1, {"facts": "补充：对方已同意协商"})
    phone.edit_case(case_id, 1, {"facts": "再补充：约定周五协商"})
    summary = await phone.sync()
    assert (summary.applied, summary.conflict) == (2, 0)
    assert phone.store.case(case_id)["facts"] == "再补充：约定周五协商"


async def test_should_report_an_edit_that_collides_with_someone_elses_as_a_conflict(phone, world, client):
    await enrolled(phone)
    case_id = phone.capture_case(new_case(world))
    await phone.sync()
    newer = await client.patch(
        f"/cases/{case_id}", json={"version": 1, "facts": "村干部更正"}, headers=world.auth("leader")
    )
    assert newer.status_code == 200
    phone.edit_case(case_id, 1, {"facts": "补充：对方已同意协商"})
    summary = await phone.sync()
    assert (summary.applied, summary.conflict) == (0, 1)
    assert [(p.status, p.code) for p in phone.status().problems] == [("conflict", "sync.edit_conflict")]
    assert phone.store.case(case_id)["facts"] == "村干部更正"


async def test_should_pull_page_by_page_with_a_small_page_size(phone, world):
    await enrolled(phone)
    case_ids = [phone.capture_case(new_case(world)) for _ in range(5)]
    summary = await phone.sync(page_size=2)
    assert summary.pages == 3 and summary.applied == 5 and summary.changes == 5
    assert sorted(str(i) for i in phone.store.case_ids()) == sorted(case_ids)
    again = await phone.sync(page_size=2)
    assert (again.pages, again.changes, again.drift_repaired) == (1, 0, False)


async def test_should_repair_a_drifted_case_store_from_the_scope_digest(phone, world):
    await enrolled(phone)
    case_ids = [phone.capture_case(new_case(world)) for _ in range(3)]
    await phone.sync()
    phone.store.delete_case(case_ids[1])
    summary = await phone.sync()
    assert summary.drift_repaired and not summary.drifted
    assert sorted(str(i) for i in phone.store.case_ids()) == sorted(case_ids)


async def test_should_resend_from_the_expected_seq_after_a_gap(phone, world, db):
    await enrolled(phone)
    first = phone.capture_case(new_case(world))
    second = phone.capture_case(new_case(world))
    # The phone believes seq 1 was delivered, but the server never saw it.
    phone.store.db.execute("UPDATE outbox SET state = 'acknowledged', status = 'applied' WHERE seq = 1")
    summary = await phone.sync()
    assert summary.resent_after_gap and summary.applied == 2
    assert await cases_on_server(db, [first, second]) == 2


async def test_a_revoked_device_stops_and_keeps_its_data(phone, client, world):
    await enrolled(phone)
    phone.capture_case(new_case(world))
    await phone.sync()
    phone.capture_case(new_case(world))
    revoked = await client.post(f"/devices/{phone.device_id}/revoke", headers=world.auth("grid_worker"))
    assert revoked.status_code == 200
    with pytest.raises(DeviceRevoked):
        await phone.sync()
    status = phone.status()
    assert (status.revoked, status.pending, status.cases) == (True, 1, 1)
    before = phone.transport_spy.requests
    with pytest.raises(DeviceRevoked):
        await phone.sync()
    assert phone.transport_spy.requests == before  # it stopped: no more requests


async def test_should_refuse_to_sync_before_enrolling(phone, world):
    phone.capture_case(new_case(world))
    with pytest.raises(SyncError) as error:
        await phone.sync()
    assert error.value.code == "sync.not_enrolled"


def fengqiao_device(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("fengqiao")), "device", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_the_device_commands_work_on_a_fresh_store_without_a_server(tmp_path):
    store = str(tmp_path / "phone.db")
    env = {**os.environ, "FENGQIAO_DATA_KEY_FILE": str(tmp_path / "no.key")}
    status = fengqiao_device("status", "--store", store, env=env)
    assert status.returncode == 0, status.stderr
    assert "尚未登记" in status.stdout and "待同步 0 条" in status.stdout
    assert not (tmp_path / "no.key").exists()  # a device needs no server key
    case = ["--grid", "611026001001001", "--kind", "civil_dispute", "--category", "neighbourhood"]
    text = ["--title", "排水沟纠纷", "--request", "疏通", "--id-unknown-reason", "老人未带证件"]
    captured = fengqiao_device("capture", "--store", store, *case, *text, env=env)
    assert captured.returncode == 0, captured.stderr
    assert "待同步 1 条" in captured.stdout
    synced = fengqiao_device("sync", "--store", store, env=env)
    assert synced.returncode == 2 and "sync.not_enrolled" in synced.stderr


async def test_should_only_ask_the_beacon_when_it_has_nothing_to_send(phone, world, client):
    await enrolled(phone)
    phone.capture_case(new_case(world))
    assert (await phone.sync_if_needed()).applied == 1
    requests = phone.transport_spy.requests

    assert await phone.sync_if_needed() is None
    assert phone.transport_spy.requests == requests + 1  # the beacon alone
    # No signal: the beacon gets no answer, and no full sync is attempted behind it.
    phone.transport_spy.offline = True
    assert await phone.sync_if_needed() is None
    phone.transport_spy.offline = False
    # Long quiet: a full sync anyway, since the beacon cannot see a scope that shrank.
    later = datetime.now(UTC) + timedelta(hours=7)
    assert (await phone.sync_if_needed(now=later)) is not None

    await client.post("/cases", json=new_case(world), headers=world.auth("leader"))
    summary = await phone.sync_if_needed()
    assert summary is not None and summary.changes == 1


async def test_should_drop_the_cases_that_left_its_scope_and_keep_the_rest(phone, world, db):
    await enrolled(phone)
    case_ids = [phone.capture_case(new_case(world)) for _ in range(3)]
    await phone.sync()
    # Someone else's case, once in scope, is gone from it (as after a boundary change).
    stranger = str(uuid.uuid4())
    phone.store.store_snapshots([{**phone.store.case(case_ids[0]), "id": stranger}])

    summary = await phone.sync()

    assert summary.drift_repaired and not summary.drifted
    assert sorted(str(i) for i in phone.store.case_ids()) == sorted(case_ids)
    assert summary.requests <= 3  # the check, the ids in scope, and nothing to refetch


async def test_should_check_quietly_by_datagram_and_ask_over_http_when_datagrams_get_no_answer(
    phone, world, client, context, monkeypatch
):
    monkeypatch.setattr("sync.client.UDP_ANSWER_TIMEOUT_S", 0.5)  # loopback answers in microseconds
    await enrolled(phone)
    await phone.sync()
    listener = await start_beacon_listener(context, "127.0.0.1", 0)
    # HTTP keeps going through the app's transport, whatever the host; datagrams go to it.
    phone.store.set("server_url", "http://127.0.0.1/api/v1")
    phone.store.set("beacon_udp_port", str(listener.get_extra_info("sockname")[1]))
    requests = phone.transport_spy.requests
    try:
        assert await phone.news() is False  # the first check asks for an answer …
        assert phone.store.get("udp_quiet_left") == str(UDP_ANSWERED_EVERY - 1)
        assert await phone.news() is False  # … the next ones are quiet: silence is "nothing new"
        assert phone.store.get("udp_quiet_left") == str(UDP_ANSWERED_EVERY - 2)
        await client.post("/cases", json=new_case(world), headers=world.auth("leader"))
        assert await phone.news() is True  # news is answered even to a quiet check
        assert phone.store.get("udp_quiet_left") == str(UDP_ANSWERED_EVERY - 1)
        assert phone.transport_spy.requests == requests  # not one HTTP exchange so far
    finally:
        listener.close()
    # Datagrams no longer answered (a network that blocks UDP): the answered check gets
    # nothing, and the same question goes over HTTP.
    phone.store.set("udp_quiet_left", "0")
    assert await phone.news() is True
    assert phone.transport_spy.requests == requests + 1
