"""The device's file uploads: a queue in its SQLite file and a tus 1.0 uploader over httpx.

``Device.attach`` keeps a copy of the file (named by its SHA-256, beside the store) and
queues an upload job in the same transaction as the ``attach_file`` record. ``Device.sync``
runs the queue after the records are through, so a record never waits behind media.

A job remembers its upload URL and the offset the server last acknowledged. After a cut
the uploader asks the server (HEAD) how much arrived and goes on from there: bytes the
server acknowledged are never sent again, and a cut in the middle of a PATCH loses only
what never reached the server. A server that already holds the content answers the
creation as complete and nothing is sent.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from sync.attachments import (
    ACCEPTED_MEDIA_TYPES,
    DEFAULT_MAX_UPLOAD_BYTES,
    SNIFF_BYTES,
    TUS_VERSION,
    encode_upload_metadata,
    sha256_of_file,
    sniff_media_type,
)

UPLOADS_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    attachment_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    url TEXT,
    acked INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending',
    code TEXT,
    message TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    done_at TEXT
);
CREATE INDEX IF NOT EXISTS uploads_state ON uploads (state, created_at);
"""

PENDING = "pending"
DONE = "done"
FAILED = "failed"  # the server refused the content itself: sending it again cannot help

DEFAULT_CHUNK_SIZE = 512 * 1024
# Connection failures tolerated per file and sync before the rest waits for the next sync.
DEFAULT_RETRIES = 3
# Answers that say the content will never be accepted as it is.
PERMANENT_CODES = frozenset(
    {"upload.hash_mismatch", "upload.type_mismatch", "upload.unsupported_type", "upload.too_large", "upload.invalid"}
)


class AttachmentRefused(ValueError):
    """A file the server would refuse; nothing was queued."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class FileFacts:
    sha256: str
    size: int
    media_type: str
    name: str


@dataclass
class UploadJob:
    attachment_id: str
    case_id: str
    sha256: str
    size: int
    media_type: str
    name: str
    path: str
    url: str | None
    acked: int
    state: str
    code: str | None
    message: str | None
    attempts: int


@dataclass
class UploadReport:
    uploaded: int = 0  # files now complete on the server
    bytes_sent: int = 0  # PATCH body bytes handed to the network (cut ones included)
    pending: int = 0  # still to send (next sync)
    failed: int = 0  # refused for good
    errors: list[str] = field(default_factory=list)


def describe_file(path: Path, max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> FileFacts:
    """What the record says about a file, checked against the server's rules up front."""
    if not path.is_file():
        raise AttachmentRefused(f"找不到文件：{path}", "upload.local_missing")
    size = path.stat().st_size
    if size == 0:
        raise AttachmentRefused("不能上传空文件", "upload.invalid")
    if size > max_bytes:
        raise AttachmentRefused(f"文件过大：上限为 {max_bytes // (1024 * 1024)} MB", "upload.too_large")
    with open(path, "rb") as stream:
        media_type = sniff_media_type(stream.read(SNIFF_BYTES))
    if media_type is None:
        accepted = "、".join(ACCEPTED_MEDIA_TYPES)
        raise AttachmentRefused(f"不支持的文件类型（支持：{accepted}）", "upload.unsupported_type")
    return FileFacts(sha256_of_file(path), size, media_type, path.name[:200])


class UploadQueue:
    """Upload jobs in the device's SQLite file, and the device's own copies of the files."""

    def __init__(self, db: sqlite3.Connection, store_path: Path):
        self.db = db
        self.media_dir = store_path.parent / f"{store_path.stem}-media"
        # execute, not executescript: the latter commits whatever transaction is open.
        for statement in UPLOADS_SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)

    def keep_copy(self, source: Path, sha256: str) -> Path:
        """The file as attached, kept under its hash: later edits or deletions of the
        original cannot change what is uploaded."""
        self.media_dir.mkdir(parents=True, exist_ok=True)
        target = self.media_dir / sha256
        if not target.exists():
            partial = target.with_suffix(".tmp")
            shutil.copyfile(source, partial)
            with open(partial, "rb") as stream:
                os.fsync(stream.fileno())
            partial.replace(target)
        return target

    def add(self, attachment_id: str, case_id: str, facts: FileFacts, path: Path) -> None:
        """Call inside the outbox transaction, so the record and its job commit together."""
        self.db.execute(
            "INSERT INTO uploads (attachment_id, case_id, sha256, size, media_type, name, path, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (attachment_id, case_id, facts.sha256, facts.size, facts.media_type, facts.name, str(path), _now()),
        )

    def jobs(self, state: str | None = None) -> list[UploadJob]:
        where, params = ("WHERE state = ?", (state,)) if state else ("", ())
        rows = self.db.execute(
            "SELECT attachment_id, case_id, sha256, size, media_type, name, path, url, acked, state, code, message, "
            f"attempts FROM uploads {where} ORDER BY created_at, attachment_id",
            params,
        ).fetchall()
        return [UploadJob(**dict(row)) for row in rows]

    def job(self, attachment_id: str) -> UploadJob | None:
        return next((job for job in self.jobs() if job.attachment_id == attachment_id), None)

    def save_progress(self, job: UploadJob) -> None:
        self.db.execute(
            "UPDATE uploads SET url = ?, acked = ? WHERE attachment_id = ?",
            (job.url, job.acked, job.attachment_id),
        )

    def finish(self, job: UploadJob, state: str, code: str | None = None, message: str | None = None) -> None:
        job.state, job.code, job.message = state, code, message
        self.db.execute(
            "UPDATE uploads SET state = ?, code = ?, message = ?, acked = ?, done_at = ? WHERE attachment_id = ?",
            (state, code, message, job.acked, _now() if state == DONE else None, job.attachment_id),
        )

    def note_error(self, job: UploadJob, code: str, message: str) -> None:
        self.db.execute(
            "UPDATE uploads SET code = ?, message = ?, attempts = attempts + 1 WHERE attachment_id = ?",
            (code, message, job.attachment_id),
        )


class UploadError(Exception):
    def __init__(self, message: str, code: str, permanent: bool = False, stop: bool = False):
        super().__init__(message)
        self.message = message
        self.code = code
        self.permanent = permanent  # the content itself is refused
        self.stop = stop  # no point trying other files now (network gone, device revoked)


class _Cut(Exception):
    """The connection broke mid-request: the server may have kept part of what was sent."""


class TusUploader:
    """tus 1.0 core + creation over an httpx client, resuming from the server's offset."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        files_url: str,
        token: str,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        retries: int = DEFAULT_RETRIES,
    ):
        self.http = http
        self.files_url = files_url if files_url.endswith("/") else files_url + "/"
        self.headers = {"Tus-Resumable": TUS_VERSION, "Authorization": f"Bearer {token}"}
        self.chunk_size = chunk_size
        self.retries = retries

    async def run(self, queue: UploadQueue) -> UploadReport:
        report = UploadReport()
        for job in queue.jobs(PENDING):
            try:
                report.bytes_sent += await self.send(job, queue)
            except UploadError as error:
                report.errors.append(f"{job.name}（{job.sha256[:12]}）：{error.code} {error.message}")
                if error.permanent:
                    queue.finish(job, FAILED, error.code, error.message)
                    report.failed += 1
                    continue
                queue.note_error(job, error.code, error.message)
                if error.stop:
                    break
            else:
                queue.finish(job, DONE)
                report.uploaded += 1
        report.pending = len(queue.jobs(PENDING))
        return report

    async def send(self, job: UploadJob, queue: UploadQueue) -> int:
        """Bring one file to the server. Returns the PATCH bytes handed to the network."""
        sent = 0
        cuts = 0
        # Resuming: the last run may have ended in a cut that delivered more than was
        # acknowledged, so the server says where to go on (one HEAD, no wasted chunk).
        offset: int | None = None
        while True:
            try:
                if job.url is None:
                    job.url, offset = await self._create(job)
                    job.acked = offset
                    queue.save_progress(job)
                elif offset is None:
                    offset = await self._offset(job.url)
                    if offset is None:  # expired or discarded on the server: begin again
                        job.url, job.acked = None, 0
                        queue.save_progress(job)
                        continue
                    job.acked = offset
                    queue.save_progress(job)
                if offset >= job.size:
                    return sent
                chunk = _read(job.path, offset, self.chunk_size)
                sent += len(chunk)
                offset = await self._append(job.url, offset, chunk)
                if offset is None:
                    job.url, job.acked = None, 0
                    queue.save_progress(job)
                    continue
                job.acked = offset
                queue.save_progress(job)
            except _Cut as cut:
                cuts += 1
                if cuts > self.retries:
                    raise UploadError(f"网络中断，下次同步时续传：{cut}", "upload.network", stop=True) from None
                offset = None  # ask the server how much arrived

    async def _create(self, job: UploadJob) -> tuple[str, int]:
        metadata = encode_upload_metadata({"sha256": job.sha256, "filetype": job.media_type, "filename": job.name})
        headers = {**self.headers, "Upload-Length": str(job.size), "Upload-Metadata": metadata}
        response = await self._request("POST", self.files_url, headers=headers)
        if response.status_code != 201 or "location" not in response.headers:
            raise _problem(response)
        url = str(httpx.URL(self.files_url).join(response.headers["location"]))
        # A content the server already holds is answered complete: nothing to send.
        return url, int(response.headers.get("upload-offset") or 0)

    async def _offset(self, url: str) -> int | None:
        response = await self._request("HEAD", url, headers=self.headers)
        if response.status_code == 404:
            return None
        if response.status_code != 200 or "upload-offset" not in response.headers:
            raise _problem(response)
        return int(response.headers["upload-offset"])

    async def _append(self, url: str, offset: int, chunk: bytes) -> int | None:
        headers = {**self.headers, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
        response = await self._request("PATCH", url, headers=headers, content=chunk)
        if response.status_code == 204:
            return int(response.headers["upload-offset"])
        problem = _json(response)
        if response.status_code == 404:
            return None
        if response.status_code == 409 and isinstance(problem.get("offset"), int):
            return problem["offset"]
        if response.status_code in (409, 423):
            raise _Cut(f"{response.status_code} {problem.get('code')}")
        raise _problem(response)

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.http.request(method, url, **kwargs)
        except httpx.TransportError as error:
            raise _Cut(str(error) or type(error).__name__) from error
        if response.status_code >= 500:
            raise _Cut(f"服务器暂时不可用（{response.status_code}）")
        return response


def _problem(response: httpx.Response) -> UploadError:
    problem = _json(response)
    code = str(problem.get("code") or f"http.{response.status_code}")
    message = str(problem.get("detail") or response.reason_phrase)
    if code in ("sync.device_revoked", "sync.device_unknown", "auth.unauthenticated"):
        return UploadError(message, code, stop=True)
    return UploadError(message, code, permanent=code in PERMANENT_CODES)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _read(path: str, offset: int, size: int) -> bytes:
    try:
        with open(path, "rb") as stream:
            stream.seek(offset)
            return stream.read(size)
    except FileNotFoundError:
        raise UploadError(f"本机副本已丢失：{path}", "upload.local_missing", permanent=True) from None


def _now() -> str:
    return datetime.now(UTC).isoformat()
