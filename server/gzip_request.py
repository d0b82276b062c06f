"""Accept gzip-compressed request bodies (sync uploads over 2G are mostly text).

Responses are compressed by Litestar; requests are not, so this ASGI middleware inflates
a body sent with ``Content-Encoding: gzip`` before the app reads it, with a cap on the
inflated size so a small bomb cannot fill memory.
"""

from __future__ import annotations

import json
import zlib

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import PROBLEM_MEDIA_TYPE, problem_body

MAX_INFLATED_BYTES = 32 * 1024 * 1024


class GzipRequestMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = [(name, value) for name, value in scope["headers"]]
        encoding = next((value for name, value in headers if name == b"content-encoding"), b"").strip().lower()
        if encoding != b"gzip":
            await self.app(scope, receive, send)
            return
        compressed = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            compressed.extend(message.get("body", b""))
            if not message.get("more_body"):
                break
        try:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            body = inflater.decompress(bytes(compressed), MAX_INFLATED_BYTES)
            if inflater.unconsumed_tail:
                await _problem(send, 413, "request.too_large", "解压后的请求内容过大")
                return
        except zlib.error:
            await _problem(send, 400, "request.bad_encoding", "请求内容不是有效的 gzip 数据")
            return
        rewritten = [
            (name, value) for name, value in headers if name not in (b"content-encoding", b"content-length")
        ] + [(b"content-length", str(len(body)).encode())]
        delivered = False

        async def inflated_receive() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app({**scope, "headers": rewritten}, inflated_receive, send)


async def _problem(send: Send, status: int, code: str, detail: str) -> None:
    body = json.dumps(problem_body(status, code, detail), ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", PROBLEM_MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
