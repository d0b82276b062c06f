"""A stock tus client (tuspy, from PyPI) uploads a photo to a real `fengqiao serve` process
through a link that cuts and resets its requests (tests/faults), and resumes each time."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.storage.filestorage import FileStorage

from tests.conftest import BACKENDS, TEST_KEY, _create_postgres_database, _drop_postgres_database
from tests.e2e.processes import run, serving
from tests.faults import FaultPlan, FaultProxy
from tests.media import jpeg

pytestmark = pytest.mark.e2e

PHOTO_BYTES = 300 * 1024
CHUNK = 64 * 1024
# Each exchange: a cut request, a cut answer, a reset or a duplicate, drawn from a fixed seed.
FAULTS = FaultPlan(cut_request=0.2, cut_response=0.1, reset=0.1, duplicate_request=0.05, seed=3)
# A person pressing "upload" again after the client gave up; far more than this plan needs.
ATTEMPTS = 50


@pytest.fixture(params=BACKENDS)
async def server(request, tmp_path):
    if request.param == "sqlite":
        url, drop = f"sqlite+aiosqlite:///{tmp_path / 'tus.db'}", None
    else:
        url = drop = await _create_postgres_database()
    files = tmp_path / "files"
    env = {**os.environ, "FENGQIAO_DATABASE_URL": url, "FENGQIAO_DATA_KEY": TEST_KEY, "FENGQIAO_FILES_DIR": str(files)}
    try:
        run(["migrate"], env)
        run(["demo", "--cases", "0"], env)
        with serving(env) as base:
            yield base, files
    finally:
        if drop:
            await _drop_postgres_database(drop)


async def test_tuspy_uploads_a_photo_through_cuts_and_resets_and_the_server_keeps_it_whole(server, tmp_path):
    base, files = server
    login = httpx.post(f"{base}/auth/login", json={"username": "grid-001001001", "password": "fengqiao-demo"})
    token = login.json()["token"]
    data = jpeg(PHOTO_BYTES, seed=41)
    digest = hashlib.sha256(data).hexdigest()
    photo = tmp_path / "现场照片.jpg"
    photo.write_bytes(data)
    remembered = FileStorage(str(tmp_path / "tus-urls.json"))

    with FaultProxy(base, faults=FAULTS).running_in_thread() as proxy:
        client = TusClient(f"{proxy.url}/files/", headers={"Authorization": f"Bearer {token}"})
        for _attempt in range(ATTEMPTS):
            try:
                # A new uploader finds the URL it stored and asks the server for the offset.
                uploader = client.uploader(
                    file_path=str(photo),
                    chunk_size=CHUNK,
                    metadata={"sha256": digest, "filetype": "image/jpeg", "filename": photo.name},
                    retries=5,
                    retry_delay=0,
                    store_url=True,
                    url_storage=remembered,
                )
                uploader.upload()
                break
            except (TusCommunicationError, TusUploadFailed):
                continue
        else:
            pytest.fail(f"not uploaded after {ATTEMPTS} attempts: {proxy.stats.faults}")
        stats, upload_url = proxy.stats, uploader.url.replace(proxy.url, base)

    assert uploader.offset == len(data)
    stored = files / "blobs" / digest[:2] / digest
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == digest
    state = httpx.head(upload_url, headers={"Tus-Resumable": "1.0.0", **client.headers})
    assert state.headers["upload-offset"] == state.headers["upload-length"] == str(len(data))
    broken_patches = [
        entry for entry in stats.log if entry.method == "PATCH" and entry.fault in ("cut_request", "reset")
    ]
    assert broken_patches, f"the plan broke no PATCH: {stats.faults}"
    assert stats.faults["reset"] >= 1
    # Resuming from the server's offset: what was received is not sent again.
    assert stats.bytes_up < 2 * len(data), "\n".join(map(str, stats.log))
