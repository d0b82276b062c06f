"""Attachment bytes: tus uploads that survive cuts, verified, stored once by SHA-256.

Layout under ``settings.files_dir``:

- ``uploads/<upload id>.part``: the bytes of an unfinished upload. Its length beyond the
  offset the database holds is never trusted (a crash between the write and the commit):
  it is cut back before anyone appends.
- ``blobs/<aa>/<sha256>``: a verified content, hard-linked from its part file once the
  hash and the type match, never rewritten. A second upload of the same bytes finds it
  there and stores nothing.

A PATCH writes what arrives as it arrives and records the new offset when the body ends,
the client goes away (uvicorn answers ``receive()`` with ``http.disconnect``; Litestar's
``Request.stream()`` would raise ``InternalServerException`` there, so the body is read
from ``receive`` directly), the client falls silent for ``upload_idle_timeout_s``, or
another request for the same upload takes over (a phone that reconnected after a cut the
server has not noticed yet). uvicorn drops the body bytes it had buffered but not yet
handed over when the connection ends (at most its 64 KiB high-water mark); the client
learns the true offset from HEAD and sends them again.

One server process per ``files_dir`` hands over in-flight uploads; a second process that
finds an upload's part file locked (``flock``) answers 423 ``upload.locked``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import update
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid.cases import Case, CaseAttachment
from server.errors import ServiceError
from server.principal import Principal
from server.services.cases import CaseService
from server.services.changes import transaction_change_seq
from server.services.context import ServiceContext
from server.services.devices import DeviceService
from server.services.upsert import upsert_statement
from server.services.users import UserService
from sync.attachments import (
    ACCEPTED_MEDIA_TYPES,
    SNIFF_BYTES,
    UNDECLARED_TYPES,
    Blob,
    Upload,
    blob_path,
    is_accepted,
    normalize_media_type,
    normalize_sha256,
    parse_upload_metadata,
    sniff_media_type,
)

log = logging.getLogger(__name__)

# How long a request waits for the in-flight PATCH of the same upload to save and let go.
TAKEOVER_WAIT_S = 10.0
PURGE_BATCH = 100


@dataclass(frozen=True)
class Uploader:
    """Who sends bytes: a user, through one of their enrolled devices or a browser login."""

    principal: Principal
    device_id: uuid.UUID | None = None


@dataclass(frozen=True)
class UploadState:
    id: uuid.UUID
    sha256: str
    length: int
    offset: int
    expires_at: datetime
    complete: bool

    @classmethod
    def of(cls, upload: Upload) -> UploadState:
        return cls(upload.id, upload.sha256, upload.length, upload.offset, upload.expires_at, upload.complete)


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    media_type: str
    path: Path


@dataclass
class _Writer:
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = field(default_factory=asyncio.current_task)


# The request currently holding each upload in this process.
_HOLDERS: dict[uuid.UUID, _Writer] = {}


def not_found() -> ServiceError:
    return ServiceError("上传不存在或已过期，请重新上传", code="upload.not_found")


def parse_upload_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(hex=text)
    except ValueError:
        raise not_found() from None


class BlobService:
    def __init__(self, context: ServiceContext):
        self.context = context
        self.root = Path(context.settings.files_dir)

    # ------------------------------------------------------------------ who
    async def authenticate(self, token: str) -> Uploader:
        """A device token or a user's login token: phones and the web app both upload."""
        try:
            caller = await DeviceService(self.context).authenticate(token)
        except ServiceError as error:
            if error.code != "sync.device_unknown":
                raise
        else:
            return Uploader(caller.principal, caller.device.id)
        return Uploader(await UserService(self.context).authenticate(token))

    # ------------------------------------------------------------------ creation
    async def create(self, uploader: Uploader, length_header: str | None, metadata_header: str | None) -> UploadState:
        settings = self.context.settings
        length = _parse_count(length_header, "Upload-Length")
        if length < 1:
            raise ServiceError("不能上传空文件", code="upload.invalid")
        if length > settings.max_upload_bytes:
            raise ServiceError(
                f"文件过大：上限为 {settings.max_upload_bytes // (1024 * 1024)} MB",
                code="upload.too_large",
                data={"max_size": settings.max_upload_bytes},
            )
        try:
            metadata = parse_upload_metadata(metadata_header)
        except ValueError as error:
            raise ServiceError(f"Upload-Metadata 格式有误：{error}", code="upload.invalid") from None
        sha256 = normalize_sha256(metadata.get("sha256"))
        if sha256 is None:
            raise ServiceError("Upload-Metadata 须含文件的 sha256（64 位十六进制）", code="upload.invalid")
        declared = normalize_media_type(metadata.get("filetype"))
        if declared in UNDECLARED_TYPES:
            declared = ""
        elif not is_accepted(declared):
            raise ServiceError(
                f"不支持的文件类型：{declared}",
                code="upload.unsupported_type",
                data={"accepted": list(ACCEPTED_MEDIA_TYPES)},
            )
        filename = metadata.get("filename", "").strip()[:255]
        now = self.context.clock.now()
        expires_at = now + timedelta(hours=settings.upload_expiry_hours)
        await self.purge_expired()
        async with self.context.db.write() as session:
            blob = await session.get(Blob, sha256)
            if blob is not None and blob_path(self.root, sha256).exists():
                if blob.size != length:
                    raise ServiceError("文件长度与其 sha256 不符", code="upload.hash_mismatch")
                # Already held: an upload that is complete from the start, nothing to send.
                upload = self._new_upload(uploader, sha256, length, declared, filename, now, expires_at)
                upload.offset, upload.completed_at = length, now
                session.add(upload)
                return UploadState.of(upload)
            # The same user sending the same content again (the answer to the first
            # creation was lost on the way): carry on with the upload already begun.
            statement = (
                select(Upload)
                .where(
                    Upload.owner_id == uploader.principal.user_id,
                    Upload.sha256 == sha256,
                    Upload.length == length,
                    col(Upload.completed_at).is_(None),
                    col(Upload.expires_at) > now,
                )
                .order_by(col(Upload.offset).desc())
                .limit(1)
            )
            upload = (await session.exec(statement)).first()
            if upload is None:
                upload = self._new_upload(uploader, sha256, length, declared, filename, now, expires_at)
            else:
                upload.expires_at = expires_at
            session.add(upload)
            return UploadState.of(upload)

    def _new_upload(
        self,
        uploader: Uploader,
        sha256: str,
        length: int,
        media_type: str,
        filename: str,
        now: datetime,
        expires_at: datetime,
    ) -> Upload:
        return Upload(
            id=uuid.uuid4(),
            sha256=sha256,
            length=length,
            media_type=media_type,
            filename=filename,
            owner_id=uploader.principal.user_id,
            device_id=uploader.device_id,
            created_at=now,
            expires_at=expires_at,
        )

    # ------------------------------------------------------------------ HEAD
    async def status(self, uploader: Uploader, upload_id: uuid.UUID) -> UploadState:
        """The offset as stored, after stopping any PATCH still writing to this upload."""
        async with self._held(upload_id):
            upload = await self._owned(uploader, upload_id)
            if upload.complete or upload.offset < upload.length:
                return UploadState.of(upload)
            # Every byte arrived but the file was not stored (the server stopped in
            # between): finish now, or a client that trusts this offset would wait forever.
            with self._part(upload) as part:
                upload = await self._reconcile(upload, part)
                if upload.offset == upload.length:
                    upload = await self._complete(upload, part)
            return UploadState.of(upload)

    # ------------------------------------------------------------------ PATCH
    async def append(
        self,
        uploader: Uploader,
        upload_id: uuid.UUID,
        offset: int,
        content_length: int | None,
        chunks: AsyncIterable[bytes],
    ) -> UploadState:
        async with self._held(upload_id) as writer:
            upload = await self._owned(uploader, upload_id)
            if upload.complete:
                if offset != upload.length:
                    raise _offset_mismatch(upload.length)
                return UploadState.of(upload)
            if content_length == 0 and upload.offset < upload.length:
                # Nothing to write (a probe): the stored offset answers, no part file is touched.
                if offset != upload.offset:
                    raise _offset_mismatch(upload.offset)
                return UploadState.of(upload)
            with self._part(upload) as part:
                upload = await self._reconcile(upload, part)
                if offset != upload.offset:
                    raise _offset_mismatch(upload.offset)
                room = upload.length - upload.offset
                if content_length is not None and content_length > room:
                    raise _beyond_length(upload)
                written, overflow = await self._receive(chunks, part, upload.offset, room, writer.stop)
                if written:
                    await asyncio.to_thread(os.fsync, part)
                    upload = await self._save_offset(upload, upload.offset + written)
                if overflow:
                    raise _beyond_length(upload)
                if upload.offset == upload.length:
                    upload = await self._complete(upload, part)
            return UploadState.of(upload)

    async def _receive(
        self, chunks: AsyncIterable[bytes], part: int, position: int, room: int, stop: asyncio.Event
    ) -> tuple[int, bool]:
        """Write the body as it comes. Returns (bytes written, body went past the length)."""
        idle = self.context.settings.upload_idle_timeout_s
        iterator = chunks.__aiter__()
        written = 0
        while True:
            next_chunk = asyncio.ensure_future(anext(iterator))
            stopped = asyncio.ensure_future(stop.wait())
            try:
                done, _ = await asyncio.wait({next_chunk, stopped}, timeout=idle, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
            if next_chunk not in done:
                # Taken over or silent too long: keep what was written, stop reading.
                next_chunk.cancel()
                with contextlib.suppress(BaseException):
                    await next_chunk
                return written, False
            try:
                data = next_chunk.result()
            except StopAsyncIteration:
                return written, False
            overflow = len(data) > room - written
            if overflow:
                data = data[: room - written]
            if data:
                await asyncio.to_thread(_write_all, part, data, position + written)
                written += len(data)
            if overflow:
                return written, True

    async def _save_offset(self, upload: Upload, offset: int) -> Upload:
        now = self.context.clock.now()
        async with self.context.db.write() as session:
            row = await session.get(Upload, upload.id)
            if row is None:
                raise not_found()
            row.offset = offset
            # Progress keeps an upload alive.
            row.expires_at = now + timedelta(hours=self.context.settings.upload_expiry_hours)
            session.add(row)
            return row

    # ------------------------------------------------------------------ completion
    async def _complete(self, upload: Upload, part: int) -> Upload:
        digest, head = await asyncio.to_thread(_digest_and_head, part, upload.length)
        if digest != upload.sha256:
            await self._discard(upload)
            raise ServiceError(
                "文件内容与声明的 sha256 不符，本次上传已作废，请重新上传",
                code="upload.hash_mismatch",
                data={"expected": upload.sha256, "received": digest},
            )
        detected = sniff_media_type(head)
        if detected is None:
            await self._discard(upload)
            raise ServiceError(
                "文件内容不是支持的类型",
                code="upload.unsupported_type",
                data={"accepted": list(ACCEPTED_MEDIA_TYPES)},
            )
        if upload.media_type and detected != upload.media_type:
            await self._discard(upload)
            raise ServiceError(
                f"文件内容（{detected}）与声明的类型（{upload.media_type}）不符",
                code="upload.type_mismatch",
                data={"declared": upload.media_type, "detected": detected},
            )
        await asyncio.to_thread(self._store, upload)
        now = self.context.clock.now()
        async with self.context.db.write() as session:
            await _insert_blob(session, upload, detected, now)
            await _touch_citing_cases(session, upload.sha256)
            row = await session.get(Upload, upload.id)
            if row is None:
                raise not_found()
            row.offset, row.completed_at, row.media_type = upload.length, now, detected
            session.add(row)
        with contextlib.suppress(FileNotFoundError):
            self._part_path(upload.id).unlink()
        return row

    def _store(self, upload: Upload) -> None:
        """Link the verified part file into place; bytes already there stay as they are."""
        target = blob_path(self.root, upload.sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(self._part_path(upload.id), target)
        except FileExistsError:
            return  # the same content, stored by an earlier upload
        target.chmod(0o444)
        _fsync_dir(target.parent)

    async def _discard(self, upload: Upload) -> None:
        async with self.context.db.write() as session:
            await session.exec(delete(Upload).where(col(Upload.id) == upload.id))  # type: ignore[call-overload]
        with contextlib.suppress(FileNotFoundError):
            self._part_path(upload.id).unlink()

    # ------------------------------------------------------------------ termination, expiry
    async def terminate(self, uploader: Uploader, upload_id: uuid.UUID) -> None:
        """Forget an upload. A content already stored stays: other records may cite it."""
        async with self._held(upload_id):
            upload = await self._owned(uploader, upload_id)
            await self._discard(upload)

    async def purge_expired(self) -> int:
        now = self.context.clock.now()
        async with self.context.db.write() as session:
            statement = select(Upload).where(col(Upload.expires_at) <= now).limit(PURGE_BATCH)
            expired = [row for row in (await session.exec(statement)).all() if row.id not in _HOLDERS]
            if expired:
                ids = [row.id for row in expired]
                await session.exec(delete(Upload).where(col(Upload.id).in_(ids)))  # type: ignore[call-overload]
        for row in expired:
            with contextlib.suppress(FileNotFoundError):
                self._part_path(row.id).unlink()
        return len(expired)

    # ------------------------------------------------------------------ download
    async def blob_for(self, principal: Principal, sha256_text: str) -> StoredBlob:
        """A stored content, for a caller who may read a case that cites it."""
        sha256 = normalize_sha256(sha256_text)
        hidden = ServiceError("附件不存在或不在您的管辖范围内", code="auth.out_of_scope")
        if sha256 is None:
            raise hidden
        async with self.context.db.read() as session:
            cited = (
                select(CaseAttachment.id)
                .join(Case, col(Case.id) == col(CaseAttachment.case_id))
                .where(CaseAttachment.sha256 == sha256, CaseService(self.context).scope_clause(principal))
                .limit(1)
            )
            if (await session.exec(cited)).first() is None:
                raise hidden
            blob = await session.get(Blob, sha256)
        path = blob_path(self.root, sha256)
        if blob is None or not path.exists():
            raise ServiceError("附件文件尚未上传完成", code="file.not_uploaded")
        return StoredBlob(sha256, blob.size, blob.media_type, path)

    async def present(self, hashes: list[str]) -> set[str]:
        """Which of these contents the server holds."""
        if not hashes:
            return set()
        async with self.context.db.read() as session:
            rows = await session.exec(select(Blob.sha256).where(col(Blob.sha256).in_(set(hashes))))
            return set(rows.all())

    # ------------------------------------------------------------------ helpers
    def hold(self, upload_id: uuid.UUID) -> contextlib.AbstractAsyncContextManager[_Writer]:
        """Take the upload before anything that waits (the caller's authentication): a
        request that arrived later then finds this one and waits for it, so a HEAD right
        after a cut reports what the cut PATCH saved, not what was there before it."""
        return self._held(upload_id)

    @contextlib.asynccontextmanager
    async def _held(self, upload_id: uuid.UUID) -> AsyncIterator[_Writer]:
        """This request alone works on the upload: an earlier one still reading is told to
        stop, saves what it has, and lets go first. Re-entrant within one request."""
        current = _HOLDERS.get(upload_id)
        if current is not None and current.task is not None and current.task is asyncio.current_task():
            yield current
            return
        me = _Writer()
        while (other := _HOLDERS.get(upload_id)) is not None:
            other.stop.set()
            try:
                await asyncio.wait_for(other.done.wait(), TAKEOVER_WAIT_S)
            except TimeoutError:
                raise _locked() from None
        _HOLDERS[upload_id] = me
        try:
            yield me
        finally:
            if _HOLDERS.get(upload_id) is me:
                del _HOLDERS[upload_id]
            me.done.set()

    async def _owned(self, uploader: Uploader, upload_id: uuid.UUID) -> Upload:
        async with self.context.db.read() as session:
            upload = await session.get(Upload, upload_id)
        if upload is None or upload.owner_id != uploader.principal.user_id:
            raise not_found()
        if upload.expires_at <= self.context.clock.now():
            raise not_found()
        return upload

    def _part_path(self, upload_id: uuid.UUID) -> Path:
        return self.root / "uploads" / f"{upload_id.hex}.part"

    @contextlib.contextmanager
    def _part(self, upload: Upload):
        path = self._part_path(upload.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(part, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise _locked() from None
                raise
            yield part
        finally:
            os.close(part)

    async def _reconcile(self, upload: Upload, part: int) -> Upload:
        """The database's offset is what was acknowledged; the file must agree with it."""
        size = os.fstat(part).st_size
        if size > upload.offset:
            os.ftruncate(part, upload.offset)
        elif size < upload.offset:
            log.warning("upload %s: part file has %s of %s bytes; resuming from there", upload.id, size, upload.offset)
            upload = await self._save_offset(upload, size)
        return upload


async def _insert_blob(session: AsyncSession, upload: Upload, media_type: str, now: datetime) -> None:
    # Two uploads of the same content finishing at once: the first row stays.
    statement = upsert_statement(session.bind.dialect.name, Blob.__table__, ["sha256"], None).values(
        sha256=upload.sha256, size=upload.length, media_type=media_type, stored_at=now, uploaded_by=upload.owner_id
    )
    await session.exec(statement)  # type: ignore[call-overload]


async def _touch_citing_cases(session: AsyncSession, sha256: str) -> None:
    """Snapshots say whether a cited file is on the server (``ok``): the cases citing it
    move forward in the change feed, so every device in scope learns it has arrived."""
    cited = select(CaseAttachment.case_id).where(CaseAttachment.sha256 == sha256)
    if (await session.exec(cited.limit(1))).first() is None:
        return
    change_seq = await transaction_change_seq(session)
    await session.exec(  # type: ignore[call-overload]
        update(Case).where(col(Case.id).in_(cited)).values(change_seq=change_seq)
    )


def _parse_count(text: str | None, header: str) -> int:
    value = (text or "").strip()
    if not value.isdigit():
        raise ServiceError(f"缺少或无效的 {header} 请求头（应为非负整数）", code="upload.invalid")
    return int(value)


def _offset_mismatch(offset: int) -> ServiceError:
    return ServiceError(
        f"续传位置不符：服务器已收到 {offset} 字节，请从该位置继续",
        code="upload.offset_mismatch",
        data={"offset": offset},
    )


def _beyond_length(upload: Upload) -> ServiceError:
    return ServiceError(
        "上传的内容超出了声明的文件长度",
        code="upload.beyond_length",
        data={"offset": upload.offset, "length": upload.length},
    )


def _locked() -> ServiceError:
    return ServiceError("该上传正在另一请求中进行，请稍后重试", code="upload.locked")


def _write_all(part: int, data: bytes, position: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(part, view, position)
        view, position = view[written:], position + written


def _digest_and_head(part: int, length: int) -> tuple[str, bytes]:
    digest = hashlib.sha256()
    head = os.pread(part, SNIFF_BYTES, 0)
    position = 0
    while position < length:
        chunk = os.pread(part, min(1 << 20, length - position), position)
        if not chunk:
            break
        digest.update(chunk)
        position += len(chunk)
    return digest.hexdigest(), head


def _fsync_dir(path: Path) -> None:
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
