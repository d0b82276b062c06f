"""Notifications: the outbox, delivery to a real webhook receiver with retries, the inbox."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import delete
from sqlmodel import col, select

from grid.cases import Case
from grid.people import User
from server.notifier import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, WebhookNotifier, sign, verify
from server.outbox import Notification
from server.services.context import ServiceContext
from server.services.notifications import backoff, deliver_due, delivery_interval, delivery_job, enqueue
from tests.server.test_cases_api import problem_of, register

SECRET = "webhook-shared-secret"


# ---------------------------------------------------------------- a real receiver


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server in a thread on a free port: down until ``start``; answers ``status``."""

    port: int = field(default_factory=lambda: _free_port())
    status: int = 204
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/fengqiao"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(Received(body, dict(self.headers.items())))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


async def queue(db, world, key: str, who: str | list[str], clock, case_id: uuid.UUID | None = None, **extra) -> int:
    names = [who] if isinstance(who, str) else who
    async with db.write() as session:
        return await enqueue(
            session,
            dedupe_key=key,
            event=extra.pop("event", "red"),
            case_id=case_id,
            recipients=[world.principals[name].user_id for name in names],
            title=extra.pop("title", "期限已过（红灯）"),
            body=extra.pop("body", "邻里排水沟纠纷：村级办理期限已过"),
            payload=extra.pop("payload", {"light": "red"}),
            created_at=extra.pop("created_at", clock.now()),
        )


async def rows_of(db, *keys: str) -> list[Notification]:
    async with db.read() as session:
        statement = select(Notification).where(col(Notification.dedupe_key).in_(keys))
        return sorted((await session.exec(statement)).all(), key=lambda row: (row.dedupe_key, str(row.recipient_id)))


# ---------------------------------------------------------------- the outbox


async def test_an_enqueue_repeated_adds_nothing(client, world, db, clock):
    case_id = uuid.UUID((await register(client, world))["id"])
    kwargs = dict(
        dedupe_key="notify:red:1",
        event="red",
        case_id=case_id,
        recipients=[
            "creator",
            "village_leader",
            world.principals["town"].user_id,
            str(world.principals["town"].user_id),
        ],
        title="红灯",
        body="期限已过",
        payload={"a": 1},
        created_at=clock.now(),
    )
    async with db.write() as session:
        assert await enqueue(session, **kwargs) == 3
    async with db.write() as session:
        assert await enqueue(session, **kwargs) == 0
    rows = await rows_of(db, "notify:red:1")
    assert {row.recipient_id for row in rows} == {
        world.principals[n].user_id for n in ("grid_worker", "leader", "town")
    }
    assert {(row.attempts, row.next_attempt_at, row.delivered_at) for row in rows} == {(0, clock.now(), None)}


async def test_roles_resolve_to_people_of_the_cases_own_jurisdiction(client, world, db, clock):
    case_id = uuid.UUID((await register(client, world))["id"])
    expected = {
        "creator": {"grid_worker"},
        "handler": set(),  # nobody is assigned yet
        "baoan_leader": set(),
        "handling_officers": {"leader", "mediator"},
        "handler_leader": {"leader"},
        "village_leader": {"leader"},
        "town_officer": {"town"},
        "county_officer": {"county"},
    }
    for role, names in expected.items():
        async with db.write() as session:
            await enqueue(
                session,
                dedupe_key=f"role:{role}",
                event="test",
                case_id=case_id,
                recipients=[role],
                title="t",
                body="b",
                payload={},
                created_at=clock.now(),
            )
        got = {row.recipient_id for row in await rows_of(db, f"role:{role}")}
        assert got == {world.principals[name].user_id for name in names}, role
    # The handler once assigned; an account switched off hears nothing.
    async with db.write() as session:
        case = await session.get(Case, case_id)
        case.assigned_to = world.principals["mediator"].user_id
        session.add(case)
        leader = await session.get(User, world.principals["leader"].user_id)
        leader.active = False
        session.add(leader)
    async with db.write() as session:
        await enqueue(
            session,
            dedupe_key="role:later",
            event="test",
            case_id=case_id,
            recipients=["handler", "handler_leader", "village_leader"],
            title="t",
            body="b",
            payload={},
            created_at=clock.now(),
        )
    assert {row.recipient_id for row in await rows_of(db, "role:later")} == {world.principals["mediator"].user_id}


async def test_an_unknown_recipient_is_a_programming_error(client, world, db, clock):
    case_id = uuid.UUID((await register(client, world))["id"])
    for recipients, case in ((["chairman"], case_id), ([uuid.uuid4()], case_id), (["handler"], None)):
        with pytest.raises(ValueError):
            async with db.write() as session:
                await enqueue(
                    session,
                    dedupe_key="bad",
                    event="test",
                    case_id=case,
                    recipients=recipients,
                    title="t",
                    body="b",
                    payload={},
                    created_at=clock.now(),
                )


# ---------------------------------------------------------------- delivery


async def test_every_notification_arrives_once_after_the_receiver_comes_up(world, db, clock, context, receiver):
    t0 = clock.now()
    assert await queue(db, world, "red:case-1", ["leader", "town"], clock) == 2
    assert await queue(db, world, "escalated:case-2", "county", clock, event="escalated") == 1
    # The sweeper running twice enqueues the same message again: nothing is added.
    assert await queue(db, world, "red:case-1", ["leader", "town"], clock) == 0
    keys = ("red:case-1", "escalated:case-2")

    async with WebhookNotifier(receiver.url, secret=SECRET, timeout=2, clock=clock) as notifier:
        # The receiver is down: every attempt fails and is rescheduled 30 s later.
        report = await deliver_due(context, t0, notifier, limit=10)
        assert (report.claimed, report.delivered, report.failed) == (3, 0, 3)
        rows = await rows_of(db, *keys)
        assert {(row.attempts, row.next_attempt_at, row.delivered_at) for row in rows} == {
            (1, t0 + timedelta(seconds=30), None)
        }
        assert all(row.last_error and "Connect" in row.last_error for row in rows)
        assert (await deliver_due(context, t0 + timedelta(seconds=29), notifier, limit=10)).claimed == 0

        # Up, but failing (503): the next wait doubles.
        receiver.status = 503
        receiver.start()
        report = await deliver_due(context, t0 + timedelta(seconds=30), notifier, limit=10)
        assert (report.claimed, report.failed) == (3, 3)
        rows = await rows_of(db, *keys)
        assert {(row.attempts, row.next_attempt_at) for row in rows} == {(2, t0 + timedelta(seconds=90))}
        assert all("HTTP 503" in (row.last_error or "") for row in rows)
        assert (await deliver_due(context, t0 + timedelta(seconds=89), notifier, limit=10)).claimed == 0

        receiver.status = 204
        report = await deliver_due(context, t0 + timedelta(seconds=90), notifier, limit=10)
        assert (report.claimed, report.delivered, report.failed) == (3, 3, 0)
        assert (await deliver_due(context, t0 + timedelta(hours=1), notifier, limit=10)).claimed == 0

    rows = await rows_of(db, *keys)
    assert {(row.attempts, row.delivered_at, row.last_error) for row in rows} == {(3, t0 + timedelta(seconds=90), None)}
    accepted = [item for item in receiver.received[3:]]
    assert len(receiver.received) == 6  # three refused with 503, then three accepted
    assert sorted(item.json["id"] for item in accepted) == sorted(str(row.id) for row in rows)
    by_id = {item.json["id"]: item for item in accepted}
    for row in rows:
        item = by_id[str(row.id)]
        assert item.headers[IDEMPOTENCY_HEADER] == str(row.id)
        assert item.json["dedupe_key"] == row.dedupe_key
        assert item.json["recipient"]["id"] == str(row.recipient_id)
        assert item.json["recipient"]["username"] in {"leader", "town", "county"}
        assert (item.json["title"], item.json["payload"], item.json["attempt"]) == (row.title, row.payload, 3)
        assert verify(SECRET, item.headers[SIGNATURE_HEADER], item.body)
        assert not verify("another secret", item.headers[SIGNATURE_HEADER], item.body)
        assert not verify(SECRET, item.headers[SIGNATURE_HEADER], item.body.replace(b"red", b"tan"))


def test_backoff_doubles_from_thirty_seconds_up_to_six_hours():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4, 10)] == [30, 60, 120, 240, 15360]
    assert backoff(11) == backoff(50) == timedelta(hours=6)


def test_the_scheduler_runs_delivery_only_with_a_webhook(settings):
    assert delivery_interval(settings) == 0
    configured = settings.model_copy(
        update={"notification_webhook_url": "http://127.0.0.1:9/hook", "notification_interval_seconds": 15.0}
    )
    assert delivery_interval(configured) == 15.0


def test_the_signature_is_an_hmac_of_the_timestamp_and_the_body():
    body = b'{"id":"1"}'
    header = sign(SECRET, 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify(SECRET, header, body, now=1_700_000_100)
    assert not verify(SECRET, header, body, now=1_700_001_000)  # a replay ten minutes later
    assert not verify(SECRET, "garbage", body)


async def test_two_delivery_runs_at_once_deliver_each_notification_once(backend, world, receiver):
    """Against the real (committed) database: each run claims rows in its own transaction."""
    now = datetime.now().astimezone()
    keys = [f"race:{uuid.uuid4()}" for _ in range(12)]
    from server.clock import FixedClock
    from server.crypto import FieldCipher
    from tests.conftest import TEST_KEY, make_settings

    context = ServiceContext(
        settings=make_settings(backend.url),
        db=backend.database,
        clock=FixedClock(now),
        cipher=FieldCipher.from_setting(TEST_KEY),
    )
    try:
        for key in keys:
            async with backend.database.write() as session:
                await enqueue(
                    session,
                    dedupe_key=key,
                    event="race",
                    case_id=None,
                    recipients=[world.principals["county"].user_id],
                    title="并发投递",
                    body="b",
                    payload={},
                    created_at=now,
                )
        receiver.start()
        async with WebhookNotifier(receiver.url, timeout=5) as one, WebhookNotifier(receiver.url, timeout=5) as two:
            reports = await asyncio.gather(
                deliver_due(context, now, one, limit=12),
                deliver_due(context, now, two, limit=12),
                deliver_due(context, now, one, limit=5),
            )
        assert sum(report.delivered for report in reports) == 12
        got = [item.json["dedupe_key"] for item in receiver.received if item.json["dedupe_key"] in keys]
        assert sorted(got) == sorted(keys)
    finally:
        async with backend.database.write() as session:
            await session.exec(delete(Notification).where(col(Notification.dedupe_key).in_(keys)))  # type: ignore[call-overload]


async def test_the_delivery_job_uses_the_configured_webhook_and_does_nothing_without_one(
    world, db, clock, context, receiver
):
    await queue(db, world, "job:1", "leader", clock)
    assert context.settings.notification_webhook_url is None
    assert await delivery_job(context) is None
    assert (await rows_of(db, "job:1"))[0].delivered_at is None

    receiver.start()
    configured = ServiceContext(
        settings=context.settings.model_copy(
            update={"notification_webhook_url": receiver.url, "notification_webhook_secret": SECRET}
        ),
        db=context.db,
        clock=context.clock,
        cipher=context.cipher,
        calendar=context.calendar,
    )
    report = await delivery_job(configured)
    assert report is not None and report.delivered >= 1
    assert (await rows_of(db, "job:1"))[0].delivered_at == clock.now()
    delivered = [item for item in receiver.received if item.json["dedupe_key"] == "job:1"]
    assert len(delivered) == 1
    assert verify(SECRET, delivered[0].headers[SIGNATURE_HEADER], delivered[0].body)


# ---------------------------------------------------------------- the inbox


async def test_my_notifications_newest_first_in_pages_and_only_mine(client, world, db, clock):
    for minute in range(3):
        await queue(db, world, f"inbox:{minute}", "leader", clock, created_at=clock.now() + timedelta(minutes=minute))
    await queue(db, world, "inbox:other", "leader_b", clock, title="别人的通知")
    headers = world.auth("leader")
    first = await client.get("/notifications", params={"limit": 2}, headers=headers)
    assert first.status_code == 200
    page = first.json()
    assert [item["payload"] for item in page["items"]] == [{"light": "red"}] * 2
    second = await client.get("/notifications", params={"limit": 2, "cursor": page["next_cursor"]}, headers=headers)
    assert second.json()["next_cursor"] is None
    rows = {row.id: row.dedupe_key for row in await rows_of(db, "inbox:0", "inbox:1", "inbox:2")}
    order = [rows[uuid.UUID(item["id"])] for item in page["items"] + second.json()["items"]]
    assert order == ["inbox:2", "inbox:1", "inbox:0"]
    assert "别人的通知" not in first.text + second.text
    problem_of(
        await client.get("/notifications", params={"cursor": "nonsense"}, headers=headers), 422, "validation.failed"
    )


async def test_reading_a_notification_marks_it_and_someone_elses_stays_hidden(client, world, db, clock):
    await queue(db, world, "read:mine", "leader", clock)
    await queue(db, world, "read:theirs", "leader_b", clock)
    mine, theirs = (await rows_of(db, "read:mine"))[0], (await rows_of(db, "read:theirs"))[0]
    headers = world.auth("leader")
    assert [
        item["id"] for item in (await client.get("/notifications?unread=true", headers=headers)).json()["items"]
    ] == [str(mine.id)]
    read = await client.post(f"/notifications/{mine.id}/read", headers=headers)
    assert read.status_code == 200 and read.json()["read_at"] is not None
    assert (await client.get("/notifications?unread=true", headers=headers)).json()["items"] == []
    assert len((await client.get("/notifications", headers=headers)).json()["items"]) == 1
    for target in (theirs.id, uuid.uuid4()):
        problem_of(await client.post(f"/notifications/{target}/read", headers=headers), 404, "notification.not_found")
    assert (await rows_of(db, "read:theirs"))[0].read_at is None
