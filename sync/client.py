"""The reference device client: an offline outbox, a case store and the sync loop.

A phone captures cases and timeline entries offline; each becomes a numbered mutation in
its outbox (a local SQLite file). ``Device.sync()`` pushes the pending outbox, stores every
result, pulls the changed cases page by page and checks the scope digest
(docs/sync-protocol.md). Nothing is ever lost on a failed request: the next sync resends,
and the server answers replays as duplicates.

The HTTP side is asynchronous (``httpx.AsyncClient``) so tests can drive the app over ASGI;
pass ``http=`` (an open client) or ``transport=`` to choose how requests travel.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uuid_utils

from sync.beacon import BeaconAnswer, decode_answer, encode_check
from sync.protocol import (
    DEFAULT_PAGE,
    MAX_OUTBOX,
    MAX_PAGE,
    PROTOCOL_VERSION,
    Mutation,
    MutationResult,
    MutationType,
    ResultStatus,
    SyncRequest,
    SyncResponse,
    scope_digest,
)
from sync.uploads import DEFAULT_CHUNK_SIZE, TusUploader, UploadQueue, describe_file
from sync.uploads import PENDING as UPLOAD_PENDING

APP_VERSION = "fengqiao-client/0.1.0"
# A UDP answer takes one round trip: 300 ms on 2G; after this long it was lost.
UDP_ANSWER_TIMEOUT_S = 3.0
# Of the beacon's datagram checks, one in this many asks for an answer even when nothing
# is new (about hourly at a check every 5 minutes): the others are quiet, so silence is
# "nothing new", and the answered one shows that datagrams still get through.
UDP_ANSWERED_EVERY = 12
# Between full syncs of an idle device, only the beacon is asked (docs/sync-protocol.md).
FULL_SYNC_EVERY = timedelta(hours=6)
API_PREFIX = "/api/v1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    case_id TEXT NOT NULL,
    mutation TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    status TEXT,
    code TEXT,
    message TEXT,
    case_version INTEGER,
    created_at TEXT NOT NULL,
    acknowledged_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, seq);
CREATE TABLE IF NOT EXISTS cases (id TEXT PRIMARY KEY, snapshot TEXT NOT NULL, version INTEGER NOT NULL);
"""

PENDING = "pending"
ACKNOWLEDGED = "acknowledged"


def uuid7() -> uuid.UUID:
    """A time-ordered id (RFC 9562 version 7), as DESIGN.md §4 asks of device ids."""
    return uuid.UUID(str(uuid_utils.uuid7()))


def now_text() -> str:
    return datetime.now(UTC).isoformat()


def api_base(server_url: str) -> str:
    """``http://host:8000`` and ``http://host:8000/api/v1`` both name the same API."""
    base = server_url.rstrip("/")
    return base if base.endswith(API_PREFIX) else base + API_PREFIX


class SyncError(RuntimeError):
    """A sync that did not finish. ``retryable``: try again later, nothing was lost."""

    def __init__(self, message: str, code: str = "sync.failed", retryable: bool = False, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.status = status


class DeviceRevoked(SyncError):
    def __init__(self, message: str = "本设备已被停用，已停止同步（手机上的数据仍保留）"):
        super().__init__(message, code="sync.device_revoked", status=401)


@dataclass
class SyncSummary:
    applied: int = 0
    duplicate: int = 0
    rejected: int = 0
    conflict: int = 0
    pages: int = 0
    requests: int = 0
    changes: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    resent_after_gap: bool = False
    drift_repaired: bool = False
    drifted: bool = False  # the digest still differs after a full pull
    # Files, sent after the records (sync/uploads.py); a failed upload fails no sync.
    uploaded: int = 0
    upload_bytes: int = 0
    uploads_pending: int = 0
    upload_errors: list[str] = field(default_factory=list)

    def count(self, result: MutationResult) -> None:
        setattr(self, result.status.value, getattr(self, result.status.value) + 1)


@dataclass
class OutboxItem:
    seq: int
    id: str
    type: str
    case_id: str
    state: str
    status: str | None
    code: str | None
    message: str | None
    case_version: int | None


@dataclass
class DeviceStatus:
    enrolled: bool
    device_id: str | None
    server_url: str | None
    pending: int
    last_sync_at: str | None
    revoked: bool
    cases: int
    problems: list[OutboxItem] = field(default_factory=list)  # rejected or conflicting, with the server's reason


class DeviceStore:
    """The phone's own SQLite file: settings, the outbox and the cases it holds."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None)  # explicit transactions only
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # settings
    def get(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else None

    def set(self, key: str, value: str | None, db: sqlite3.Connection | None = None) -> None:
        (db or self.db).execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # outbox
    def append(self, make: Any) -> Mutation:
        """Number a new mutation (``make(seq) -> Mutation``) and queue it, atomically."""
        with self.transaction() as db:
            seq = int(self.get("next_seq") or 1)
            mutation: Mutation = make(seq)
            db.execute(
                "INSERT INTO outbox (seq, id, type, case_id, mutation, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    str(mutation.id),
                    mutation.type.value,
                    str(mutation.case_id),
                    mutation.model_dump_json(),
                    PENDING,
                    now_text(),
                ),
            )
            self.set("next_seq", str(seq + 1), db)
        return mutation

    def pending(self, limit: int = MAX_OUTBOX) -> list[Mutation]:
        rows = self.db.execute(
            "SELECT mutation FROM outbox WHERE state = ? ORDER BY seq LIMIT ?", (PENDING, limit)
        ).fetchall()
        return [Mutation.model_validate_json(row["mutation"]) for row in rows]

    def pending_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM outbox WHERE state = ?", (PENDING,)).fetchone()[0]

    def has_seq(self, seq: int) -> bool:
        return self.db.execute("SELECT 1 FROM outbox WHERE seq = ?", (seq,)).fetchone() is not None

    def requeue_from(self, seq: int) -> None:
        self.db.execute(
            "UPDATE outbox SET state = ?, acknowledged_at = NULL WHERE seq >= ?",
            (PENDING, seq),
        )

    def items(self, where: str = "1 = 1", params: tuple[Any, ...] = ()) -> list[OutboxItem]:
        rows = self.db.execute(
            "SELECT seq, id, type, case_id, state, status, code, message, case_version FROM outbox "
            f"WHERE {where} ORDER BY seq",
            params,
        ).fetchall()
        return [OutboxItem(**dict(row)) for row in rows]

    # cases
    def case_ids(self) -> list[uuid.UUID]:
        return [uuid.UUID(row["id"]) for row in self.db.execute("SELECT id FROM cases").fetchall()]

    def case(self, case_id: uuid.UUID | str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT snapshot FROM cases WHERE id = ?", (str(uuid.UUID(str(case_id))),)).fetchone()
        return json.loads(row["snapshot"]) if row else None

    def delete_case(self, case_id: uuid.UUID | str) -> None:
        self.db.execute("DELETE FROM cases WHERE id = ?", (str(uuid.UUID(str(case_id))),))

    def delete_cases(self, case_ids: set[uuid.UUID]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM cases WHERE id = ?", [(str(case_id),) for case_id in case_ids])

    def store_snapshots(self, snapshots: list[dict[str, Any]]) -> None:
        with self.transaction() as db:
            self._put_snapshots(db, snapshots)

    @staticmethod
    def _put_snapshots(db: sqlite3.Connection, snapshots: list[dict[str, Any]]) -> None:
        db.executemany(
            "INSERT INTO cases (id, snapshot, version) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "snapshot = excluded.snapshot, version = excluded.version",
            [
                (str(uuid.UUID(str(snapshot["id"]))), json.dumps(snapshot, ensure_ascii=False), snapshot["v"])
                for snapshot in snapshots
            ],
        )

    def clear_cases(self) -> None:
        """Forget every case and the cursor: the next pull starts from the beginning."""
        with self.transaction() as db:
            db.execute("DELETE FROM cases")
            self.set("cursor", None, db)

    def store_answer(self, answer: SyncResponse) -> None:
        """Results, the page of snapshots and its cursor: one transaction, all or nothing."""
        stamp = now_text()
        with self.transaction() as db:
            for result in answer.results:
                # A duplicate shows the worker what the first delivery came to.
                shown = result.original_status if result.status is ResultStatus.DUPLICATE else result.status
                db.execute(
                    "UPDATE outbox SET state = ?, status = ?, code = ?, message = ?, case_version = ?, "
                    "acknowledged_at = ? WHERE seq = ? AND id = ?",
                    (
                        ACKNOWLEDGED,
                        (shown or result.status).value,
                        result.code,
                        result.message,
                        result.case_version,
                        stamp,
                        result.seq,
                        str(result.id),
                    ),
                )
            self._put_snapshots(db, answer.changes)
            self.set("cursor", answer.cursor, db)
            self.set("last_sync_at", stamp, db)
            self.set("server_time", answer.server_time.isoformat(), db)


class Device:
    """One enrolled phone. Capturing never touches the network; ``sync()`` does."""

    def __init__(
        self,
        store: DeviceStore,
        *,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ):
        self.store = store
        self.http = http
        self.transport = transport
        self.timeout = timeout

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[httpx.AsyncClient]:
        if self.http is not None:
            yield self.http
            return
        async with httpx.AsyncClient(transport=self.transport, timeout=self.timeout) as client:
            yield client

    @property
    def device_id(self) -> str | None:
        return self.store.get("device_id")

    @property
    def revoked(self) -> bool:
        return self.store.get("revoked") == "1"

    # enrollment
    async def enroll(self, server_url: str, username: str, password: str, name: str = "") -> str:
        """Log in, register this phone and keep its device token. Returns the device id.

        A store that already has a device id keeps it (a reinstall replaces the token).
        """
        base = api_base(server_url)
        device_id = self.device_id or str(uuid.uuid4())
        async with self._client() as client:
            try:
                login = await client.post(f"{base}/auth/login", json={"username": username, "password": password})
                raise_for_problem(login)
                token = login.json()["token"]
                enrolled = await client.post(
                    f"{base}/devices",
                    json={"device_id": device_id, "name": name},
                    headers={"Authorization": f"Bearer {token}"},
                )
                raise_for_problem(enrolled)
            except httpx.TransportError as error:
                raise SyncError(f"无法连接服务器：{error}", code="sync.network", retryable=True) from error
        with self.store.transaction() as db:
            self.store.set("server_url", base, db)
            self.store.set("device_id", device_id, db)
            self.store.set("device_token", enrolled.json()["device_token"], db)
            self.store.set("beacon", enrolled.json().get("beacon"), db)
            udp_port = enrolled.json().get("beacon_udp_port")
            self.store.set("beacon_udp_port", str(udp_port) if udp_port else None, db)
            self.store.set("username", username, db)
            self.store.set("revoked", "0", db)
        return device_id

    # offline capture
    def capture_case(self, data: dict[str, Any]) -> str:
        """Queue a new case (the body of POST /cases); its id is made here. Returns the id."""
        body = dict(data)
        case_id = uuid.UUID(str(body.pop("id"))) if body.get("id") else uuid7()
        self._queue(MutationType.CREATE_CASE, case_id, body)
        return str(case_id)

    def add_transition(
        self, case_id: str | uuid.UUID, action: str, reason: str | None = None, data: dict[str, Any] | None = None
    ) -> int:
        """Queue a status change or timeline entry (visit, session, note). Returns its seq."""
        body = {"action": action, "reason": reason, "data": data or {}}
        return self._queue(MutationType.TRANSITION, uuid.UUID(str(case_id)), body).seq

    def edit_case(self, case_id: str | uuid.UUID, base_version: int, fields: dict[str, Any]) -> int:
        """Queue an edit made on ``base_version`` of the case. Returns its seq."""
        return self._queue(MutationType.EDIT_CASE, uuid.UUID(str(case_id)), dict(fields), base_version).seq

    upload_chunk_size = DEFAULT_CHUNK_SIZE

    @property
    def uploads(self) -> UploadQueue:
        return UploadQueue(self.store.db, self.store.path)

    def attach(self, case_id: str | uuid.UUID, path: str | os.PathLike[str], note: str | None = None) -> str:
        """Queue a file's record (``attach_file``) and its upload. Returns the attachment id.

        The file is checked (type, size) and copied beside the store now; a file the server
        would refuse raises ``sync.uploads.AttachmentRefused`` and nothing is queued.
        """
        source = Path(path)
        facts = describe_file(source)
        uploads = self.uploads
        copy = uploads.keep_copy(source, facts.sha256)
        attachment_id, case = str(uuid7()), uuid.UUID(str(case_id))
        data: dict[str, Any] = {
            "id": attachment_id,
            "sha256": facts.sha256,
            "size": facts.size,
            "type": facts.media_type,
            "name": facts.name,
        }
        if note:
            data["note"] = note
        device_time = datetime.now().astimezone()

        def record_and_job(seq: int) -> Mutation:
            # Runs inside the outbox transaction: the record and its upload job commit together.
            uploads.add(attachment_id, str(case), facts, copy)
            return Mutation(
                seq=seq, id=uuid7(), type=MutationType.ATTACH_FILE, case_id=case, data=data, device_time=device_time
            )

        self.store.append(record_and_job)
        return attachment_id

    def _queue(
        self, kind: MutationType, case_id: uuid.UUID, data: dict[str, Any], base_version: int | None = None
    ) -> Mutation:
        device_time = datetime.now().astimezone()
        return self.store.append(
            lambda seq: Mutation(
                seq=seq,
                id=uuid7(),
                type=kind,
                case_id=case_id,
                base_version=base_version,
                data=data,
                device_time=device_time,
            )
        )

    # sync
    async def sync(self, page_size: int = DEFAULT_PAGE) -> SyncSummary:
        """Push the pending outbox, store every result, pull every page, check the digest."""
        if self.revoked:
            raise DeviceRevoked()
        base, token = self.store.get("server_url"), self.store.get("device_token")
        if not base or not token or not self.device_id:
            raise SyncError("本机尚未登记，请先执行 device enroll", code="sync.not_enrolled")
        summary = SyncSummary()
        gap_resent = cursor_reset = False
        async with self._client() as client:
            while True:
                outbox = self.store.pending(MAX_OUTBOX)
                request = self._request(page_size, outbox=outbox)
                response = await self._post(client, f"{base}/sync", token, request, summary)
                if response.status_code != 200:
                    problem = problem_of(response)
                    code = problem.get("code")
                    if code == "sync.gap" and not gap_resent:
                        expected = int(problem.get("expected_seq", 0))
                        if expected >= 1 and self.store.has_seq(expected):
                            self.store.requeue_from(expected)
                            gap_resent = summary.resent_after_gap = True
                            continue
                        raise SyncError(
                            f"服务器要求从第 {expected} 条变更开始，但本机已没有这些记录，请联系管理员",
                            code="sync.gap",
                            status=409,
                        )
                    if response.status_code == 422 and "cursor.invalid" in response.text and not cursor_reset:
                        self.store.clear_cases()
                        cursor_reset = True
                        continue
                    raise_for_problem(response, on_revoked=self._mark_revoked)
                answer = SyncResponse.model_validate_json(response.content)
                self.store.store_answer(answer)
                summary.pages += 1
                summary.changes += len(answer.changes)
                for result in answer.results:
                    summary.count(result)
                if answer.more or self.store.pending_count():
                    continue
                if answer.scope is not None and answer.scope.digest != scope_digest(self.store.case_ids()).digest:
                    if summary.drift_repaired:
                        summary.drifted = True
                        break
                    await self._repair_drift(client, base, token, summary)
                    summary.drift_repaired = True
                    continue
                break
            # Records never wait behind media: files go once every record is through.
            await self._upload_files(client, base, token, summary)
        return summary

    async def _upload_files(self, client: httpx.AsyncClient, base: str, token: str, summary: SyncSummary) -> None:
        uploader = TusUploader(client, f"{base}/files/", token, chunk_size=self.upload_chunk_size)
        report = await uploader.run(self.uploads)
        summary.uploaded, summary.upload_bytes = report.uploaded, report.bytes_sent
        summary.uploads_pending, summary.upload_errors = report.pending, report.errors
        if any("sync.device_revoked" in error for error in report.errors):
            self._mark_revoked()

    async def sync_if_needed(
        self, page_size: int = DEFAULT_PAGE, *, now: datetime | None = None, full_every: timedelta = FULL_SYNC_EVERY
    ) -> SyncSummary | None:
        """The periodic sync: a full one when there is something to send or to fetch, or
        when the last full one is older than ``full_every`` (the beacon cannot see a scope
        that shrank); otherwise only the beacon (a few dozen bytes). None when nothing was
        needed."""
        last = self.store.get("last_sync_at")
        overdue = last is None or (now or datetime.now(UTC)) - datetime.fromisoformat(last) >= full_every
        if overdue or self.store.pending_count() or self.uploads.jobs(UPLOAD_PENDING):
            return await self.sync(page_size)
        news = await self.news()
        # No answer (the link dropped): a full sync now would most likely drop too, and
        # there is nothing to send; wait for the next round.
        return await self.sync(page_size) if news else None

    async def news(self) -> bool | None:
        """Ask the beacon whether the scope changed since the stored cursor: True (or it
        cannot tell from here: no full sync yet, no beacon, unknown beacon), False for a
        204, None when the link gave no answer."""
        base, beacon, cursor = self.store.get("server_url"), self.store.get("beacon"), self.store.get("cursor")
        if not base or not beacon or not cursor or self.revoked:
            return True
        change_seq = int(cursor.partition(".")[0])
        udp_port = self.store.get("beacon_udp_port")
        if udp_port:
            news = await self._udp_news(httpx.URL(base).host, int(udp_port), beacon, change_seq)
            if news is not None:
                return news
            # No datagram came back: the link dropped, or this network blocks UDP; HTTP
            # answers the same question, and is paid for only when datagrams fail.
        origin = base.removesuffix(API_PREFIX)
        async with self._client() as client:
            request = client.build_request("GET", f"{origin}/b/{beacon}/{change_seq}")
            # Only Host is needed; every other default header would be paid for 288 times a day.
            for name in list(request.headers):
                if name.lower() != "host":
                    del request.headers[name]
            try:
                response = await client.send(request)
            except httpx.TransportError:
                return None
        return response.status_code != 204

    async def _udp_news(self, host: str, port: int, beacon: str, change_seq: int) -> bool | None:
        """The datagram check, quiet unless an answered one is due. Until one is answered
        (the first, or after an answered one got none) every check asks for an answer: a
        quiet check's silence means nothing only once datagrams are known to arrive."""
        quiet_left = int(self.store.get("udp_quiet_left") or 0)
        news = await udp_news(host, port, beacon, change_seq, quiet=quiet_left > 0)
        if quiet_left > 0 and news is False:
            self.store.set("udp_quiet_left", str(quiet_left - 1))
        elif news is not None:  # an answer came: the path works
            self.store.set("udp_quiet_left", str(UDP_ANSWERED_EVERY - 1))
        return news

    async def _repair_drift(self, client: httpx.AsyncClient, base: str, token: str, summary: SyncSummary) -> None:
        """The scope digest differs: drop the cases no longer in scope and fetch the ones
        missing, instead of pulling everything again (docs/sync-protocol.md, Integrity)."""

        async def exchange(**extra: Any) -> SyncResponse:
            request = self._request(page_size=1, **extra)
            response = await self._post(client, f"{base}/sync", token, request, summary)
            raise_for_problem(response, on_revoked=self._mark_revoked)
            answer = SyncResponse.model_validate_json(response.content)
            self.store.store_answer(answer)
            return answer

        answer = await exchange(want_scope_ids=True)
        in_scope = {uuid.UUID(hex=value) for value in answer.scope_ids or []}
        held = set(self.store.case_ids())
        self.store.delete_cases(held - in_scope)
        missing = sorted(in_scope - held)
        for start in range(0, len(missing), MAX_PAGE):
            answer = await exchange(refetch=missing[start : start + MAX_PAGE])
            self.store.store_snapshots(answer.refetched)

    def _request(self, page_size: int, **extra: Any) -> SyncRequest:
        return SyncRequest(
            protocol=PROTOCOL_VERSION,
            app_version=APP_VERSION,
            device_id=uuid.UUID(str(self.device_id)),
            cursor=self.store.get("cursor"),
            page_size=page_size,
            **extra,
        )

    async def _post(
        self, client: httpx.AsyncClient, url: str, token: str, request: SyncRequest, summary: SyncSummary
    ) -> httpx.Response:
        packed = gzip.compress(request.model_dump_json(exclude_none=True).encode())
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Accept-Encoding": "gzip",
        }
        try:
            response = await client.post(url, content=packed, headers=headers)
        except httpx.TransportError as error:
            raise SyncError(
                f"网络中断，稍后重试（未同步的记录仍在本机）：{error}", code="sync.network", retryable=True
            ) from error
        summary.requests += 1
        summary.bytes_sent += len(packed)
        summary.bytes_received += response.num_bytes_downloaded
        return response

    def _mark_revoked(self) -> None:
        self.store.set("revoked", "1")

    def status(self) -> DeviceStatus:
        store = self.store
        return DeviceStatus(
            enrolled=bool(store.get("device_token")),
            device_id=self.device_id,
            server_url=store.get("server_url"),
            pending=store.pending_count(),
            last_sync_at=store.get("last_sync_at"),
            revoked=self.revoked,
            cases=len(store.case_ids()),
            problems=store.items("state = ? AND status IN (?, ?)", (ACKNOWLEDGED, "rejected", "conflict")),
        )


def problem_of(response: httpx.Response) -> dict[str, Any]:
    try:
        problem = response.json()
    except ValueError:
        return {}
    return problem if isinstance(problem, dict) else {}


def raise_for_problem(response: httpx.Response, on_revoked: Any = None) -> None:
    """Turn an error answer into a SyncError; 5xx are retryable, revocation stops the device."""
    if response.is_success:
        return
    problem = problem_of(response)
    code = problem.get("code") or f"http.{response.status_code}"
    message = problem.get("detail") or problem.get("message") or problem.get("title") or response.reason_phrase
    if code == "sync.device_revoked":
        if on_revoked is not None:
            on_revoked()
        raise DeviceRevoked()
    if response.status_code >= 500:
        raise SyncError(
            f"服务器暂时不可用（{response.status_code}），稍后重试：{message}",
            code=code,
            retryable=True,
            status=response.status_code,
        )
    raise SyncError(str(message), code=code, status=response.status_code)


async def udp_news(host: str, port: int, beacon: str, change_seq: int, *, quiet: bool = False) -> bool | None:
    """The idle check as one datagram each way (sync/beacon.py): True when the scope has
    news or the server does not know the beacon (a full sync sorts both out), False when
    nothing is new, None when no answer came (the link dropped; try at the next round).
    A ``quiet`` check is answered only with news: its silence is False."""
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[bytes] = loop.create_future()

    class Receiver(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            if not answered.done():
                answered.set_result(data)

    try:
        transport, _ = await loop.create_datagram_endpoint(Receiver, remote_addr=(host, port))
    except OSError:
        return None
    try:
        transport.sendto(encode_check(beacon, change_seq, quiet=quiet))
        answer = decode_answer(await asyncio.wait_for(answered, UDP_ANSWER_TIMEOUT_S))
    except TimeoutError:
        return False if quiet else None
    except (OSError, ValueError):
        return None
    finally:
        transport.close()
    return answer is not BeaconAnswer.NOTHING_NEW
