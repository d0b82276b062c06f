"""The tus 1.0 upload endpoint and blob downloads (over ASGI, on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from httpx import URL, ASGITransport, AsyncClient, Response
from litestar import Litestar
from sqlmodel import func, select

from grid.cases import CaseAttachment
from server.app import create_app
from server.services.context import ServiceContext
from sync.attachments import Blob, Upload, encode_upload_metadata
from tests.conftest import T0, TEST_PASSWORD
from tests.factories import case_payload
from tests.media import jpeg, png, sha256

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"


@dataclass
class Files:
    client: AsyncClient
    app: Litestar
    context: ServiceContext
    root: Path

    async def create(
        self, auth: dict[str, str], data: bytes, filetype: str | None = "image/jpeg", **overrides: str | None
    ) -> Response:
        metadata = {"sha256": sha256(data), "filename": "现场照片.jpg"}
        if filetype is not None:
            metadata["filetype"] = filetype
        metadata.update({key: value for key, value in overrides.items() if value is not None})
        headers = {**TUS, **auth, "Upload-Length": str(len(data)), "Upload-Metadata": encode_upload_metadata(metadata)}
        return await self.client.post("/files/", headers=headers)

    def url(self, location: str) -> str:
        """A Location resolves against the creation URL, as a tus client resolves it."""
        return str(self.client.base_url.join("files/").join(location))

    async def patch(self, auth: dict[str, str], location: str, offset: int, chunk: bytes) -> Response:
        headers = {**TUS, **auth, "Upload-Offset": str(offset), "Content-Type": OCTETS}
        return await self.client.patch(self.url(location), content=chunk, headers=headers)

    async def head(self, auth: dict[str, str], location: str) -> Response:
        return await self.client.head(self.url(location), headers={**TUS, **auth})

    async def upload(self, auth: dict[str, str], data: bytes, filetype: str | None = "image/jpeg") -> str:
        created = await self.create(auth, data, filetype)
        assert created.status_code == 201, created.text
        location = created.headers["location"]
        offset = int(created.headers["upload-offset"])
        if offset < len(data):
            done = await self.patch(auth, location, offset, data[offset:])
            assert done.status_code == 204, done.text
        return location

    def blob_files(self) -> list[Path]:
        return sorted(path for path in (self.root / "blobs").rglob("*") if path.is_file())

    def part_files(self) -> list[Path]:
        return sorted((self.root / "uploads").glob("*.part")) if (self.root / "uploads").exists() else []

    async def asgi(
        self,
        method: str,
        location: str,
        headers: dict[str, str],
        receive: Callable[[], Awaitable[dict]],
    ) -> tuple[int, dict[str, str]]:
        """One request straight into the ASGI app, with a ``receive`` the test controls (a
        client that goes away mid-body, or falls silent)."""
        path = URL(self.url(location)).path
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver.local", 80),
            "state": {},
        }
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        await self.app(scope, receive, send)  # type: ignore[arg-type]
        start = next(message for message in sent if message["type"] == "http.response.start")
        return start["status"], {name.decode(): value.decode() for name, value in start["headers"]}


@pytest.fixture
async def files(settings, context, tmp_path):
    root = tmp_path / "files"
    own_settings = settings.model_copy(update={"files_dir": root})
    own_context = dataclasses.replace(context, settings=own_settings)
    app = create_app(own_settings, context=own_context)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver.local/api/v1") as client:
        yield Files(client, app, own_context, root)


async def count(db, model, *where) -> int:
    async with db.read() as session:
        return (await session.exec(select(func.count()).select_from(model).where(*where))).one()


async def device_auth(client, world, who: str = "grid_worker") -> dict[str, str]:
    enrolled = await client.post("/devices", json={"device_id": str(uuid.uuid4())}, headers=world.auth(who))
    assert enrolled.status_code == 201, enrolled.text
    return {"Authorization": f"Bearer {enrolled.json()['device_token']}"}


def chunks_then(chunks: list[bytes], end: Callable[[], Awaitable[dict]]) -> Callable[[], Awaitable[dict]]:
    queue = list(chunks)

    async def receive() -> dict:
        if queue:
            return {"type": "http.request", "body": queue.pop(0), "more_body": True}
        return await end()

    return receive


async def disconnect() -> dict:
    return {"type": "http.disconnect"}


# ------------------------------------------------------------------ the protocol


async def test_should_advertise_tus_1_0_with_its_extensions_and_size_limit(files):
    answer = await files.client.options("/files/")
    assert answer.status_code == 204
    assert answer.headers["tus-version"] == "1.0.0"
    assert set(answer.headers["tus-extension"].split(",")) == {"creation", "termination", "expiration"}
    assert int(answer.headers["tus-max-size"]) == 20 * 1024 * 1024


async def test_should_take_a_file_in_chunks_resume_from_the_offset_head_reports_and_store_it(files, world, db):
    data = jpeg(300 * 1024)
    auth = world.auth("grid_worker")
    created = await files.create(auth, data)
    assert created.status_code == 201, created.text
    assert created.headers["tus-resumable"] == "1.0.0"
    location = created.headers["location"]
    assert location.startswith("/api/v1/files/")
    assert created.headers["upload-offset"] == "0"

    first = await files.patch(auth, location, 0, data[:100_000])
    assert first.status_code == 204, first.text
    assert first.headers["upload-offset"] == "100000"
    head = await files.head(auth, location)
    assert head.status_code == 200
    assert (head.headers["upload-offset"], head.headers["upload-length"]) == ("100000", str(len(data)))
    assert head.headers["cache-control"] == "no-store"
    assert head.headers["tus-resumable"] == "1.0.0"

    rest = await files.patch(auth, location, 100_000, data[100_000:])
    assert rest.status_code == 204, rest.text
    assert rest.headers["upload-offset"] == str(len(data))
    [stored] = files.blob_files()
    assert stored.name == sha256(data) and stored.parent.name == sha256(data)[:2]
    assert stored.read_bytes() == data
    assert files.part_files() == []
    async with db.read() as session:
        blob = await session.get(Blob, sha256(data))
    assert (blob.size, blob.media_type, blob.uploaded_by) == (
        len(data),
        "image/jpeg",
        world.principals["grid_worker"].user_id,
    )
    done = await files.head(auth, location)
    assert done.headers["upload-offset"] == str(len(data))


async def test_should_keep_the_bytes_that_arrived_before_the_client_went_away_and_resume_from_there(files, world):
    data = jpeg(200 * 1024, seed=3)
    auth = world.auth("grid_worker")
    location = (await files.create(auth, data)).headers["location"]
    headers = {**TUS, **auth, "Upload-Offset": "0", "Content-Type": OCTETS, "Content-Length": str(len(data))}
    # The connection drops after 70 000 of the 204 800 bytes the client meant to send.
    receive = chunks_then([data[:30_000], data[30_000:70_000]], disconnect)
    await files.asgi("PATCH", location, headers, receive)

    head = await files.head(auth, location)
    assert head.headers["upload-offset"] == "70000"
    rest = await files.patch(auth, location, 70_000, data[70_000:])
    assert rest.status_code == 204, rest.text
    assert [path.read_bytes() for path in files.blob_files()] == [data]


async def test_should_let_a_reconnected_client_take_over_from_a_patch_still_waiting_for_the_old_connection(
    files, world
):
    data = jpeg(100 * 1024, seed=4)
    auth = world.auth("grid_worker")
    location = (await files.create(auth, data)).headers["location"]
    headers = {**TUS, **auth, "Upload-Offset": "0", "Content-Type": OCTETS, "Content-Length": str(len(data))}
    waiting = asyncio.Event()
    never = asyncio.Event()

    async def silent() -> dict:
        # The old connection is dead but no FIN arrived: nothing more, ever.
        waiting.set()
        await never.wait()
        return {"type": "http.disconnect"}

    old = asyncio.create_task(files.asgi("PATCH", location, headers, chunks_then([data[:40_000]], silent)))
    await waiting.wait()
    # The old PATCH has written what came and waits for more (one database connection per
    # test: the HEAD must not run while the PATCH is still looking its upload up).
    part = files.root / "uploads" / f"{location.rsplit('/', 1)[-1]}.part"
    for _ in range(1000):
        if part.exists() and part.stat().st_size == 40_000:
            break
        await asyncio.sleep(0.005)
    head = await files.head(auth, location)
    assert head.status_code == 200
    assert head.headers["upload-offset"] == "40000"
    status, answered = await old
    assert (status, answered["upload-offset"]) == (204, "40000")
    rest = await files.patch(auth, location, 40_000, data[40_000:])
    assert rest.status_code == 204, rest.text


async def test_should_end_a_patch_whose_client_falls_silent_and_keep_its_bytes(files, world):
    files.context.settings.upload_idle_timeout_s = 0.05
    data = jpeg(50 * 1024, seed=5)
    auth = world.auth("grid_worker")
    location = (await files.create(auth, data)).headers["location"]
    headers = {**TUS, **auth, "Upload-Offset": "0", "Content-Type": OCTETS, "Content-Length": str(len(data))}

    async def forever() -> dict:
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    status, answered = await files.asgi("PATCH", location, headers, chunks_then([data[:10_000]], forever))
    assert (status, answered["upload-offset"]) == (204, "10000")


async def test_should_refuse_a_patch_at_another_offset_than_the_server_holds(files, world):
    data = jpeg(20_000, seed=6)
    auth = world.auth("grid_worker")
    location = (await files.create(auth, data)).headers["location"]
    await files.patch(auth, location, 0, data[:5_000])
    for offset in (0, 7_000):
        answer = await files.patch(auth, location, offset, data[offset : offset + 1000])
        assert answer.status_code == 409
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert (answer.json()["code"], answer.json()["offset"]) == ("upload.offset_mismatch", 5_000)
        assert answer.headers["tus-resumable"] == "1.0.0"
    assert (await files.head(auth, location)).headers["upload-offset"] == "5000"


async def test_should_refuse_bytes_beyond_the_declared_length(files, world):
    data = jpeg(10_000, seed=7)
    auth = world.auth("grid_worker")
    location = (await files.create(auth, data)).headers["location"]
    answer = await files.patch(auth, location, 0, data + b"extra")
    assert (answer.status_code, answer.json()["code"]) == (413, "upload.beyond_length")
    assert (await files.head(auth, location)).headers["upload-offset"] == "0"


async def test_should_refuse_a_file_over_the_size_limit_before_any_byte_is_sent(files, world):
    headers = {
        **TUS,
        **world.auth("grid_worker"),
        "Upload-Length": str(20 * 1024 * 1024 + 1),
        "Upload-Metadata": encode_upload_metadata({"sha256": "a" * 64, "filetype": "image/jpeg"}),
    }
    answer = await files.client.post("/files/", headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (413, "upload.too_large")
    assert answer.json()["max_size"] == 20 * 1024 * 1024
    assert "20 MB" in answer.json()["detail"]


async def test_should_refuse_a_type_it_does_not_keep_when_declared_and_when_found_in_the_bytes(files, world, db):
    auth = world.auth("grid_worker")
    video = await files.create(auth, jpeg(5_000), filetype="video/mp4")
    assert (video.status_code, video.json()["code"]) == (415, "upload.unsupported_type")
    assert "image/jpeg" in video.json()["accepted"]

    # Undeclared: the bytes decide, and a ZIP is none of the accepted types.
    archive = b"PK\x03\x04" + bytes(5_000)
    created = await files.create(auth, archive, filetype=None)
    answer = await files.patch(auth, created.headers["location"], 0, archive)
    assert (answer.status_code, answer.json()["code"]) == (415, "upload.unsupported_type")

    # Declared as a JPEG, but the bytes are a PNG.
    picture = png(5_000)
    created = await files.create(auth, picture, filetype="image/jpeg")
    answer = await files.patch(auth, created.headers["location"], 0, picture)
    assert (answer.status_code, answer.json()["code"]) == (422, "upload.type_mismatch")
    assert (answer.json()["declared"], answer.json()["detected"]) == ("image/jpeg", "image/png")
    assert files.blob_files() == [] and files.part_files() == []
    assert await count(db, Blob) == 0


async def test_should_take_the_type_from_the_bytes_when_the_client_does_not_say(files, world, db):
    picture = png(6_000, seed=8)
    await files.upload(world.auth("grid_worker"), picture, filetype=None)
    async with db.read() as session:
        assert (await session.get(Blob, sha256(picture))).media_type == "image/png"


async def test_should_discard_an_upload_whose_bytes_do_not_match_its_hash(files, world, db):
    data = jpeg(30_000, seed=9)
    damaged = data[:-10] + bytes(10)
    auth = world.auth("grid_worker")
    location = (await files.create(auth, data)).headers["location"]
    answer = await files.patch(auth, location, 0, damaged)
    assert (answer.status_code, answer.json()["code"]) == (422, "upload.hash_mismatch")
    assert (answer.json()["expected"], answer.json()["received"]) == (sha256(data), sha256(damaged))
    gone = await files.head(auth, location)
    assert gone.status_code == 404
    assert files.blob_files() == [] and files.part_files() == []
    assert await count(db, Blob) == 0
    assert await count(db, Upload) == 0


async def test_should_store_a_content_sent_twice_once_and_answer_the_second_upload_complete_at_once(files, world, db):
    data = jpeg(80_000, seed=10)
    await files.upload(world.auth("grid_worker"), data)
    again = await files.create(world.auth("leader"), data)
    assert again.status_code == 201
    assert again.headers["upload-offset"] == again.headers["upload-length"] == str(len(data))
    head = await files.head(world.auth("leader"), again.headers["location"])
    assert head.headers["upload-offset"] == str(len(data))
    # A client that does not read the creation answer's offset sends nothing and is told where things stand.
    late = await files.patch(world.auth("leader"), again.headers["location"], 0, data)
    assert (late.status_code, late.json()["offset"]) == (409, len(data))
    assert len(files.blob_files()) == 1
    assert await count(db, Blob) == 1
    assert await count(db, Blob, Blob.uploaded_by == world.principals["grid_worker"].user_id) == 1


async def test_should_store_once_when_two_uploads_of_the_same_content_run_side_by_side(files, world, db):
    data = jpeg(60_000, seed=11)
    first = (await files.create(world.auth("grid_worker"), data)).headers["location"]
    second = (await files.create(world.auth("mediator"), data)).headers["location"]
    assert first != second
    # Both are under way before either finishes (one database connection per test: interleaved, not parallel).
    await files.patch(world.auth("grid_worker"), first, 0, data[:30_000])
    await files.patch(world.auth("mediator"), second, 0, data[:30_000])
    answers = [
        await files.patch(world.auth("grid_worker"), first, 30_000, data[30_000:]),
        await files.patch(world.auth("mediator"), second, 30_000, data[30_000:]),
    ]
    assert [answer.status_code for answer in answers] == [204, 204]
    assert [path.read_bytes() for path in files.blob_files()] == [data]
    assert await count(db, Blob) == 1


async def test_should_resume_the_upload_already_begun_when_the_creation_answer_was_lost(files, world):
    data = jpeg(40_000, seed=12)
    auth = world.auth("grid_worker")
    first = await files.create(auth, data)
    await files.patch(auth, first.headers["location"], 0, data[:15_000])
    again = await files.create(auth, data)
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["upload-offset"] == "15000"


async def test_should_refuse_requests_without_the_tus_version_it_speaks(files, world):
    headers = {**world.auth("grid_worker"), "Tus-Resumable": "0.2.2", "Upload-Length": "10"}
    answer = await files.client.post("/files/", headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (412, "upload.unsupported_version")
    assert answer.headers["tus-version"] == "1.0.0"
    missing = await files.client.post("/files/", headers={**world.auth("grid_worker"), "Upload-Length": "10"})
    assert missing.status_code == 412


async def test_should_refuse_a_patch_that_is_not_an_offset_octet_stream(files, world):
    data = jpeg(5_000, seed=13)
    auth = world.auth("grid_worker")
    location = (await files.create(auth, data)).headers["location"]
    headers = {**TUS, **auth, "Upload-Offset": "0", "Content-Type": "image/jpeg"}
    answer = await files.client.patch(files.url(location), content=data, headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (415, "upload.bad_content_type")


@pytest.mark.parametrize(
    ("length", "metadata"),
    [
        (None, {"sha256": "a" * 64}),
        ("0", {"sha256": "a" * 64}),
        ("12", {"filetype": "image/jpeg"}),
        ("12", {"sha256": "not-a-hash"}),
    ],
)
async def test_should_refuse_a_creation_without_a_length_or_a_sha256(files, world, length, metadata):
    headers = {**TUS, **world.auth("grid_worker"), "Upload-Metadata": encode_upload_metadata(metadata)}
    if length is not None:
        headers["Upload-Length"] = length
    answer = await files.client.post("/files/", headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (400, "upload.invalid")


async def test_should_refuse_malformed_upload_metadata(files, world):
    headers = {**TUS, **world.auth("grid_worker"), "Upload-Length": "12", "Upload-Metadata": "sha256 !!!notbase64"}
    answer = await files.client.post("/files/", headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (400, "upload.invalid")


async def test_should_not_let_another_user_see_or_continue_an_upload(files, world):
    data = jpeg(5_000, seed=14)
    location = (await files.create(world.auth("grid_worker"), data)).headers["location"]
    for answer in (
        await files.head(world.auth("leader"), location),
        await files.patch(world.auth("leader"), location, 0, data),
    ):
        assert answer.status_code == 404
    assert (await files.head(world.auth("grid_worker"), location)).headers["upload-offset"] == "0"


async def test_should_take_uploads_from_an_enrolled_device_and_refuse_a_revoked_one(files, world):
    device = await device_auth(files.client, world)
    data = jpeg(9_000, seed=15)
    await files.upload(device, data)
    devices = (await files.client.get("/devices", headers=world.auth("grid_worker"))).json()
    await files.client.post(f"/devices/{devices[0]['id']}/revoke", headers=world.auth("grid_worker"))
    refused = await files.create(device, jpeg(9_000, seed=16))
    assert (refused.status_code, refused.json()["code"]) == (401, "sync.device_revoked")
    anonymous = await files.client.post("/files/", headers={**TUS, "Upload-Length": "10"})
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "auth.unauthenticated")
    assert anonymous.headers["tus-resumable"] == "1.0.0"


async def test_should_forget_an_upload_its_owner_terminates(files, world):
    data = jpeg(8_000, seed=17)
    auth = world.auth("grid_worker")
    location = (await files.create(auth, data)).headers["location"]
    await files.patch(auth, location, 0, data[:3_000])
    gone = await files.client.delete(files.url(location), headers={**TUS, **auth})
    assert gone.status_code == 204
    assert (await files.head(auth, location)).status_code == 404
    assert files.part_files() == []


async def test_should_forget_an_unfinished_upload_once_it_expires(files, world, db, clock):
    data = jpeg(8_000, seed=18)
    auth = world.auth("grid_worker")
    created = await files.create(auth, data)
    await files.patch(auth, created.headers["location"], 0, data[:3_000])
    assert "GMT" in created.headers["upload-expires"]
    clock.advance(days=8)
    # The seeded login has expired by then too.
    login = await files.client.post("/auth/login", json={"username": "grid_worker", "password": TEST_PASSWORD})
    fresh = {"Authorization": f"Bearer {login.json()['token']}"}
    assert (await files.head(fresh, created.headers["location"])).status_code == 404
    # The next creation sweeps expired uploads away, bytes and row.
    await files.create(fresh, jpeg(8_000, seed=19))
    assert files.part_files() == []
    assert await count(db, Upload, Upload.sha256 == sha256(data)) == 0


# ------------------------------------------------------------------ downloads


async def cite(db, world, case_id: str, data: bytes, who: str = "grid_worker") -> None:
    async with db.write() as session:
        session.add(
            CaseAttachment(
                id=uuid.uuid4(),
                case_id=uuid.UUID(case_id),
                sha256=sha256(data),
                size=len(data),
                media_type="image/jpeg",
                name="现场照片.jpg",
                added_by=world.principals[who].user_id,
                added_at=T0,
            )
        )


async def test_should_serve_a_stored_file_only_to_those_who_may_read_a_case_citing_it(files, world, db):
    created = await files.client.post("/cases", json=case_payload(world.grid_a), headers=world.auth("grid_worker"))
    case_id = created.json()["id"]
    photo, pending, uncited = jpeg(50_000, seed=20), jpeg(50_000, seed=21), jpeg(50_000, seed=22)
    for data in (photo, uncited):
        await files.upload(world.auth("grid_worker"), data)
    await cite(db, world, case_id, photo)
    await cite(db, world, case_id, pending)

    for who in ("grid_worker", "leader", "county"):
        answer = await files.client.get(
            f"/files/{sha256(photo)}", headers={**world.auth(who), "Accept-Encoding": "gzip"}
        )
        assert answer.status_code == 200, (who, answer.text)
        assert answer.content == photo
        assert answer.headers["content-type"] == "image/jpeg"
        assert "content-encoding" not in answer.headers
        assert answer.headers["etag"].strip('"') == sha256(photo)
    device = await device_auth(files.client, world)
    assert (await files.client.get(f"/files/{sha256(photo)}", headers=device)).content == photo

    outside = await files.client.get(f"/files/{sha256(photo)}", headers=world.auth("leader_b"))
    assert (outside.status_code, outside.json()["code"]) == (404, "auth.out_of_scope")
    not_cited = await files.client.get(f"/files/{sha256(uncited)}", headers=world.auth("grid_worker"))
    assert (not_cited.status_code, not_cited.json()["code"]) == (404, "auth.out_of_scope")
    not_here = await files.client.get(f"/files/{sha256(pending)}", headers=world.auth("leader"))
    assert (not_here.status_code, not_here.json()["code"]) == (404, "file.not_uploaded")
    anonymous = await files.client.get(f"/files/{sha256(photo)}")
    assert anonymous.status_code == 401


# ------------------------------------------------------------------ after a crash


async def test_should_trust_only_the_acknowledged_offset_when_the_part_file_holds_more(files, world, db):
    data = jpeg(30_000, seed=23)
    auth = world.auth("grid_worker")
    location = (await files.create(auth, data)).headers["location"]
    await files.patch(auth, location, 0, data[:10_000])
    # The server stopped after writing more bytes but before recording them: garbage past 10 000.
    part = files.part_files()[0]
    part.write_bytes(data[:10_000] + b"\x00" * 25_000)
    assert (await files.head(auth, location)).headers["upload-offset"] == "10000"
    rest = await files.patch(auth, location, 10_000, data[10_000:])
    assert rest.status_code == 204, rest.text
    assert [path.read_bytes() for path in files.blob_files()] == [data]


async def test_should_finish_an_upload_whose_last_byte_arrived_before_the_server_stopped(files, world, db):
    data = jpeg(12_000, seed=24)
    auth = world.auth("grid_worker")
    location = (await files.create(auth, data)).headers["location"]
    await files.patch(auth, location, 0, data[:5_000])
    # Every byte written and recorded, then the process died before storing the file.
    part = files.part_files()[0]
    part.write_bytes(data)
    async with db.write() as session:
        upload = await session.get(Upload, uuid.UUID(hex=location.rsplit("/", 1)[-1]))
        upload.offset = len(data)
        session.add(upload)
    head = await files.head(auth, location)
    assert head.headers["upload-offset"] == str(len(data))
    assert [path.read_bytes() for path in files.blob_files()] == [data]
    assert await count(db, Blob) == 1
