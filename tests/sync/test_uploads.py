"""The reference client's attachments: the record goes with the outbox, the file after it,
resumably (over ASGI, on SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import uuid

import httpx
import pytest
from sqlmodel import col, select

from grid.cases import CaseAttachment
from server.app import create_app
from sync.attachments import Blob, Upload
from sync.client import Device, DeviceStore
from sync.uploads import DONE, FAILED, PENDING, AttachmentRefused
from tests.conftest import TEST_PASSWORD
from tests.factories import case_payload
from tests.media import jpeg, sha256

SERVER = "http://testserver.local/api/v1"


class CuttingTransport(httpx.AsyncBaseTransport):
    """The app's transport. With ``cut_at`` set, every PATCH reaches the server cut short
    (the first ``cut_at`` of its bytes, then the connection ends) and the phone sees the
    connection drop; ``patched`` counts the body bytes that reached the server."""

    def __init__(self, inner: httpx.AsyncBaseTransport):
        self.inner = inner
        self.cut_at: float | None = None
        self.patched = 0
        self.patches = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "PATCH":
            return await self.inner.handle_async_request(request)
        body = await request.aread()
        self.patches += 1
        if self.cut_at is None:
            self.patched += len(body)
            return await self.inner.handle_async_request(request)
        delivered = body[: int(len(body) * self.cut_at)]
        headers = [(name, value) for name, value in request.headers.items() if name.lower() != "content-length"]
        cut = httpx.Request("PATCH", request.url, headers=headers, content=delivered)
        response = await self.inner.handle_async_request(cut)
        await response.aread()
        self.patched += len(delivered)
        raise httpx.WriteError("connection reset by peer", request=request)


@pytest.fixture
async def phone(settings, context, tmp_path):
    own_settings = settings.model_copy(update={"files_dir": tmp_path / "server-files"})
    app = create_app(own_settings, context=dataclasses.replace(context, settings=own_settings))
    transport = CuttingTransport(httpx.ASGITransport(app=app))
    async with httpx.AsyncClient(transport=transport) as http:
        device = Device(DeviceStore(tmp_path / "phone" / "device.db"), http=http)
        device.upload_chunk_size = 64 * 1024
        device.link = transport
        device.server_files = own_settings.files_dir
        try:
            yield device
        finally:
            device.store.close()


async def with_case(phone: Device, world) -> str:
    await phone.enroll(SERVER, "grid_worker", TEST_PASSWORD, "测试手机")
    body = case_payload(world.grid_a)
    body.pop("id")
    case_id = phone.capture_case(body)
    await phone.sync()
    return case_id


def photo_file(tmp_path, data: bytes, name: str = "现场照片.jpg"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def damage(path: str) -> None:
    with open(path, "r+b") as copy:
        copy.seek(1000)
        copy.write(bytes(16))


async def blob_on_server(db, data: bytes) -> Blob | None:
    async with db.read() as session:
        return await session.get(Blob, sha256(data))


async def test_should_deliver_the_record_even_if_the_upload_is_cut_and_finish_the_file_next_sync(
    phone, world, db, tmp_path
):
    case_id = await with_case(phone, world)
    data = jpeg(300 * 1024, seed=31)
    attachment_id = phone.attach(case_id, photo_file(tmp_path, data), note="排水沟现场")
    phone.link.cut_at = 0.4  # every PATCH: 40 % arrives, then the line drops

    first = await phone.sync()

    assert first.applied == 1  # the record is through
    assert (first.uploaded, first.uploads_pending) == (0, 1)
    assert first.upload_errors and "upload.network" in first.upload_errors[0]
    async with db.read() as session:
        record = await session.get(CaseAttachment, uuid.UUID(attachment_id))
        partial = (await session.exec(select(Upload).where(Upload.sha256 == sha256(data)))).one()
    assert (record.sha256, record.size, record.media_type, record.note) == (
        sha256(data),
        len(data),
        "image/jpeg",
        "排水沟现场",
    )
    assert partial.offset == phone.link.patched > 0  # what arrived before each cut was kept
    assert await blob_on_server(db, data) is None
    assert [(item["id"], item["h"], item["ok"]) for item in phone.store.case(case_id)["att"]] == [
        (attachment_id, sha256(data), False)
    ]

    phone.link.cut_at = None
    second = await phone.sync()

    assert (second.uploaded, second.uploads_pending, second.upload_errors) == (1, 0, [])
    assert (await blob_on_server(db, data)).size == len(data)
    stored = phone.server_files / "blobs" / sha256(data)[:2] / sha256(data)
    assert stored.read_bytes() == data
    # Acknowledged bytes were never sent again: the server received the file exactly once over.
    assert phone.link.patched == len(data)
    assert phone.uploads.job(attachment_id).state == DONE
    # The file's arrival moves the case in the change feed: the next pull says it is there.
    await phone.sync()
    assert [item["ok"] for item in phone.store.case(case_id)["att"]] == [True]


async def test_should_send_nothing_for_a_file_the_server_already_holds(phone, world, db, tmp_path):
    case_id = await with_case(phone, world)
    data = jpeg(100 * 1024, seed=32)
    phone.attach(case_id, photo_file(tmp_path, data, "第一张.jpg"))
    await phone.sync()
    patches = phone.link.patches
    # The same photo, filed again (with another case entry): the record goes, the bytes do not.
    again = phone.attach(case_id, photo_file(tmp_path, data, "同一张.jpg"))
    summary = await phone.sync()
    assert (summary.applied, summary.uploaded, summary.upload_bytes) == (1, 1, 0)
    assert phone.link.patches == patches
    assert phone.uploads.job(again).state == DONE
    async with db.read() as session:
        cited = (await session.exec(select(CaseAttachment).where(col(CaseAttachment.sha256) == sha256(data)))).all()
    assert len(cited) == 2


async def test_should_report_a_file_the_server_refuses_and_not_send_it_again(phone, world, db, tmp_path):
    case_id = await with_case(phone, world)
    data = jpeg(50 * 1024, seed=33)
    attachment_id = phone.attach(case_id, photo_file(tmp_path, data))
    # The phone's copy is damaged after the record was made: its bytes no longer hash to it.
    damage(phone.uploads.job(attachment_id).path)

    summary = await phone.sync()

    assert summary.applied == 1
    assert summary.uploads_pending == 0
    assert "upload.hash_mismatch" in summary.upload_errors[0]
    job = phone.uploads.job(attachment_id)
    assert (job.state, job.code) == (FAILED, "upload.hash_mismatch")
    patches = phone.link.patches
    later = await phone.sync()
    assert (later.upload_errors, phone.link.patches) == ([], patches)
    assert await blob_on_server(db, data) is None


async def test_should_refuse_to_attach_a_file_the_server_would_refuse_and_queue_nothing(phone, world, tmp_path):
    case_id = await with_case(phone, world)
    archive = tmp_path / "材料.zip"
    archive.write_bytes(b"PK\x03\x04" + bytes(1000))
    with pytest.raises(AttachmentRefused) as refused:
        phone.attach(case_id, archive)
    assert refused.value.code == "upload.unsupported_type"
    assert phone.store.pending_count() == 0
    assert phone.uploads.jobs(PENDING) == []


async def test_should_keep_its_own_copy_so_a_deleted_original_is_still_uploaded(phone, world, db, tmp_path):
    case_id = await with_case(phone, world)
    data = jpeg(20 * 1024, seed=34)
    original = photo_file(tmp_path, data)
    phone.attach(case_id, original)
    original.unlink()
    summary = await phone.sync()
    assert summary.uploaded == 1
    assert (await blob_on_server(db, data)).media_type == "image/jpeg"
