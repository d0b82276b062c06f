"""Attachment files: the tus 1.0 core protocol with creation, termination and expiration,
and downloads of stored contents by SHA-256 (docs/sync-protocol.md, "Attachments").

A stock tus client (tus-js-client, tuspy, TUSKit) works against ``/api/v1/files/``:
metadata ``sha256`` (required), ``filetype`` and ``filename``; ``Authorization: Bearer``
with a device token or a user's login token.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime

from litestar import Controller, Request, Response, delete, get, head, patch, post, route
from litestar.datastructures import ETag, State
from litestar.enums import HttpMethod
from litestar.params import FromPath
from litestar.response import File
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from server.api.deps import bearer_token, context_of
from server.errors import ServiceError
from server.services.blobs import BlobService, UploadState, parse_upload_id
from sync.attachments import TUS_VERSION

TUS_EXTENSIONS = "creation,termination,expiration"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
# For a CORS configuration: the headers a browser tus client must be allowed to read.
TUS_EXPOSED_HEADERS = ("Location", "Upload-Offset", "Upload-Length", "Upload-Expires", "Tus-Resumable", "Tus-Version")


class TusHeadersMiddleware:
    """Tus-Resumable on every answer, problems included; Tus-Version on a 412 (tus 1.0)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_tus(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"tus-resumable", TUS_VERSION.encode())]
                if message["status"] == 412:
                    headers.append((b"tus-version", TUS_VERSION.encode()))
                message = {**message, "headers": headers}  # type: ignore[typeddict-item]
            await send(message)

        await self.app(scope, receive, send_with_tus)


def require_tus(request: Request) -> None:
    if request.headers.get("tus-resumable", "").strip() != TUS_VERSION:
        raise ServiceError(
            f"不支持的 tus 协议版本，请使用 {TUS_VERSION}",
            code="upload.unsupported_version",
            data={"tus_version": TUS_VERSION},
        )


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def upload_headers(state: UploadState) -> dict[str, str]:
    return {
        "Upload-Offset": str(state.offset),
        "Upload-Length": str(state.length),
        "Upload-Expires": http_date(state.expires_at),
        "Cache-Control": "no-store",
    }


class BodyDrain:
    """Takes the request body off the connection from the moment the handler starts, into
    a small buffer the upload then writes from.

    uvicorn hands a body over only when the app asks for it, and when the connection ends
    it answers ``http.disconnect`` and drops whatever it still held. A handler that first
    authenticates and looks the upload up (database round trips) would lose exactly the
    bytes of a cut PATCH it most needs to keep; a receive that is always pending gets every
    byte that reached the socket before the end. The buffer is bounded: past ``budget``
    bytes the drain stops asking, and uvicorn stops reading the socket.
    """

    def __init__(self, receive: Receive, budget: int = 256 * 1024) -> None:
        self._receive = receive
        self._budget = budget
        self._chunks: deque[bytes] = deque()
        self._held = 0
        self._ended = False
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._pump = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            while True:
                while self._held >= self._budget:
                    self._room.clear()
                    await self._room.wait()
                message = await self._receive()
                if message["type"] == "http.disconnect":
                    return  # the client went away: what arrived before stays in the buffer
                if body := message.get("body", b""):
                    self._chunks.append(body)
                    self._held += len(body)
                    self._arrived.set()
                if not message.get("more_body", False):
                    return
        finally:
            self._ended = True
            self._arrived.set()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; it simply ends when the client goes away (Litestar's
        Request.stream() would raise InternalServerException there instead)."""
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._held -= len(chunk)
                self._room.set()
                yield chunk
                continue
            if self._ended:
                return
            self._arrived.clear()
            await self._arrived.wait()

    async def close(self) -> None:
        self._pump.cancel()
        # A receive that failed means the connection is gone; the answer no longer matters.
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._pump


def _offset_header(request: Request) -> int:
    value = request.headers.get("upload-offset", "").strip()
    if not value.isdigit():
        raise ServiceError("缺少或无效的 Upload-Offset 请求头", code="upload.invalid")
    return int(value)


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.strip().isdigit():
        raise ServiceError("无效的 Content-Length 请求头", code="upload.invalid")
    return int(value)


class FileController(Controller):
    path = "/files"
    tags = ["files"]
    middleware = [TusHeadersMiddleware]

    @route("/", http_method=[HttpMethod.OPTIONS], status_code=204, summary="tus：服务器能力")
    async def capabilities(self, state: State) -> Response[None]:
        return Response(
            content=None,
            status_code=204,
            headers={
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": TUS_EXTENSIONS,
                "Tus-Max-Size": str(context_of(state).settings.max_upload_bytes),
            },
        )

    @post("/", status_code=201, summary="tus：创建上传（元数据须含 sha256；已有的文件直接答复上传完成）")
    async def create(self, request: Request, state: State) -> Response[None]:
        require_tus(request)
        service = BlobService(context_of(state))
        uploader = await service.authenticate(bearer_token(request))
        created = await service.create(
            uploader, request.headers.get("upload-length"), request.headers.get("upload-metadata")
        )
        location = f"{request.url.path.rstrip('/')}/{created.id.hex}"
        return Response(content=None, status_code=201, headers={"Location": location, **upload_headers(created)})

    @head("/{key:str}", summary="tus：查询已收到的字节数")
    async def offset(self, key: FromPath[str], request: Request, state: State) -> Response[None]:
        require_tus(request)
        service = BlobService(context_of(state))
        upload_id = parse_upload_id(key)
        async with service.hold(upload_id):
            uploader = await service.authenticate(bearer_token(request))
            current = await service.status(uploader, upload_id)
        return Response(content=None, status_code=200, headers=upload_headers(current))

    @patch("/{key:str}", status_code=204, summary="tus：从 Upload-Offset 处续传一段字节")
    async def append(self, key: FromPath[str], request: Request, state: State) -> Response[None]:
        require_tus(request)
        service = BlobService(context_of(state))
        upload_id = parse_upload_id(key)
        # Before anything that waits (see BodyDrain and BlobService.hold): a cut must take
        # neither the bytes nor the order of requests with it.
        body = BodyDrain(request.receive)
        try:
            async with service.hold(upload_id):
                uploader = await service.authenticate(bearer_token(request))
                content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
                if content_type != OFFSET_CONTENT_TYPE:
                    raise ServiceError(
                        f"PATCH 的 Content-Type 须为 {OFFSET_CONTENT_TYPE}", code="upload.bad_content_type"
                    )
                current = await service.append(
                    uploader, upload_id, _offset_header(request), _content_length(request), body.chunks()
                )
        finally:
            await body.close()
        return Response(content=None, status_code=204, headers=upload_headers(current))

    @delete("/{key:str}", status_code=204, summary="tus：放弃一次上传")
    async def terminate(self, key: FromPath[str], request: Request, state: State) -> None:
        require_tus(request)
        service = BlobService(context_of(state))
        upload_id = parse_upload_id(key)
        async with service.hold(upload_id):
            uploader = await service.authenticate(bearer_token(request))
            await service.terminate(uploader, upload_id)

    @get(
        "/{key:str}",
        summary="下载附件（按 sha256；须有辖区内案件引用该文件）",
        # Photos and recordings are compressed already; gzip would only burn CPU.
        opt={"skip_compression": True},
    )
    async def download(self, key: FromPath[str], request: Request, state: State) -> File:
        service = BlobService(context_of(state))
        uploader = await service.authenticate(bearer_token(request))
        blob = await service.blob_for(uploader.principal, key)
        return File(
            blob.path,
            media_type=blob.media_type,
            filename=blob.sha256,
            content_disposition_type="inline",
            etag=ETag(value=blob.sha256),
            headers={
                "Cache-Control": "private, max-age=31536000, immutable",
                "X-Content-Type-Options": "nosniff",
            },
        )
