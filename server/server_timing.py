"""Server-Timing on the sync endpoint: how long the server worked on a request, apart
from the time it waited in queues before the handler ran (what a capacity benchmark
needs to tell the two apart)."""

from __future__ import annotations

import time

from litestar.types import ASGIApp, Message, Receive, Scope, Send

TIMED_PATHS = ("/api/v1/sync",)


class ServerTimingMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].rstrip("/").endswith(TIMED_PATHS):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                milliseconds = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={milliseconds:.1f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed_send)
