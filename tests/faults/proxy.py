"""An asyncio HTTP/1.1 proxy that shapes the link and breaks exchanges on purpose.

It sits between a client and a real server and understands message framing (headers,
Content-Length or chunked bodies, bodiless answers), so a fault can hit one exchange at a
chosen point: a request cut before the server has it whole, an answer dropped after the
server has committed, a request delivered twice, a reset (RST) at a random byte. Each
message is read whole before it is forwarded: that is what lets a cut land after the
server's commit, and it is how a slow link looks to the far side anyway (the bytes arrive
late). Faults are drawn per exchange from ``random.Random(plan.seed)``.

The statistics are computed, not measured: tests assert on them, never on the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import urlsplit

HEAD_LIMIT = 1 << 20
FAULTS = ("cut_request", "cut_response", "duplicate_request", "reset")


@dataclass
class LinkShape:
    """The same shaping applies to both directions."""

    bandwidth_bps: float | None = None  # bits per second (50_000 for 2G); None: unlimited
    rtt_s: float = 0.0  # added round trip: half before each direction's message

    def delay_of(self, size: int) -> float:
        """What one message of ``size`` bytes costs in one direction."""
        return self.rtt_s / 2 + (size * 8 / self.bandwidth_bps if self.bandwidth_bps else 0.0)


@dataclass
class FaultPlan:
    """Probabilities per exchange. The four faults exclude each other; a delay can add to any."""

    cut_request: float = 0.0  # the server gets part of the request, then both sockets close
    cut_response: float = 0.0  # the server answered (committed); the client gets part of it, then a close
    duplicate_request: float = 0.0  # the request reaches the server twice; the client gets one answer
    reset: float = 0.0  # RST at a random byte of the request or of the answer
    delay: float = 0.0  # an extra stall of up to ``delay_s`` before the request is forwarded
    delay_s: float = 0.2
    seed: int = 0


class Exchange(NamedTuple):
    method: str
    path: str
    request_bytes: int  # read from the client
    response_bytes: int  # written to the client
    fault: str | None


@dataclass
class ProxyStats:
    """Bytes are HTTP bytes (heads and bodies) on the client side of the proxy."""

    bytes_up: int = 0
    bytes_down: int = 0
    exchanges: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    log: list[Exchange] = field(default_factory=list)
    upstream_requests: int = 0  # whole requests the server answered (a duplicate counts twice)
    delay_s: float = 0.0  # shaping and stalls imposed, as computed from the sizes and the plan
    connections: int = 0  # client connections accepted


class Message:
    """One HTTP message as raw bytes, with its head parsed."""

    def __init__(self, head: bytes, body: bytes, until_close: bool = False, interim: bytes = b""):
        self.head = head
        self.body = body
        self.until_close = until_close  # the body ended with the connection
        self.interim = interim  # 1xx answers that came before this one
        lines = head.decode("latin-1").split("\r\n")
        self.start = lines[0]
        self.headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                self.headers.append((name.strip().lower(), value.strip()))

    @property
    def raw(self) -> bytes:
        return self.interim + self.head + self.body

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key == name]
        return ", ".join(values) if values else None

    def has_token(self, name: str, token: str) -> bool:
        value = self.header(name) or ""
        return token in (part.strip().lower() for part in value.split(","))

    @property
    def chunked(self) -> bool:
        value = (self.header("transfer-encoding") or "").lower()
        return value.rsplit(",", 1)[-1].strip() == "chunked"

    def content_length(self) -> int | None:
        value = self.header("content-length")
        return int(value.split(",")[0]) if value else None

    # request side
    @property
    def method(self) -> str:
        return self.start.split(" ", 1)[0]

    @property
    def target(self) -> str:
        parts = self.start.split(" ")
        return parts[1] if len(parts) > 1 else ""

    # answer side
    @property
    def status(self) -> int:
        return int(self.start.split(" ")[1])

    def keeps_alive(self) -> bool:
        if self.has_token("connection", "close"):
            return False
        return (
            self.start.endswith("HTTP/1.1")
            or self.start.startswith("HTTP/1.1")
            or self.has_token("connection", "keep-alive")
        )


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    """The head up to and with the blank line; None when the peer closed between messages."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if not error.partial.strip():
            return None
        raise ConnectionError("connection closed inside a message head") from error


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        line = await reader.readuntil(b"\r\n")
        parts.append(line)
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while True:  # trailers, then the blank line
                trailer = await reader.readuntil(b"\r\n")
                parts.append(trailer)
                if trailer == b"\r\n":
                    return b"".join(parts)
        parts.append(await reader.readexactly(size + 2))


async def read_request(reader: asyncio.StreamReader, on_expect: asyncio.StreamWriter | None = None) -> Message | None:
    head = await _read_head(reader)
    if head is None:
        return None
    message = Message(head, b"")
    if message.has_token("expect", "100-continue"):
        # The body is read whole before forwarding, so the proxy says go on itself and
        # the server never sees the expectation.
        lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"expect:")]
        message = Message(b"\r\n".join(lines), b"")
        if on_expect is not None:
            on_expect.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await on_expect.drain()
    if message.chunked:
        message.body = await _read_chunked(reader)
    elif (length := message.content_length()) is not None:
        message.body = await reader.readexactly(length)
    return message


async def read_response(reader: asyncio.StreamReader, method: str) -> Message | None:
    interim = b""
    while True:
        head = await _read_head(reader)
        if head is None:
            if interim:
                raise ConnectionError("connection closed after an interim answer")
            return None
        message = Message(head, b"", interim=interim)
        if 100 <= message.status < 200 and message.status != 101:
            interim += head
            continue
        break
    if method == "HEAD" or message.status in (204, 304) or 100 <= message.status < 200:
        return message
    if message.chunked:
        message.body = await _read_chunked(reader)
    elif (length := message.content_length()) is not None:
        message.body = await reader.readexactly(length)
    else:
        message.body = await reader.read()
        message.until_close = True
    return message


@dataclass
class _Draw:
    """Every random choice of one exchange, drawn at once so a seed replays the same run."""

    fault: str | None
    stall_s: float
    where: float  # the fraction of the message where a cut or reset falls
    on_response: bool  # a reset hits the answer (after the commit) rather than the request
    concurrent: bool  # a duplicate goes out on both connections at once
    pick_second: bool  # the client gets the duplicate's answer


class _Upstream:
    def __init__(self) -> None:
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = False

    @property
    def open(self) -> bool:
        return self.writer is not None and not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
        self.used = False


def _abort(writer: asyncio.StreamWriter | None) -> None:
    """Close with a TCP reset (SO_LINGER 0): the peer reads ECONNRESET, not an orderly end."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    def __init__(self, upstream: str, *, shape: LinkShape | None = None, faults: FaultPlan | None = None):
        parts = urlsplit(upstream)
        if not parts.hostname:
            raise ValueError(f"upstream needs a host: {upstream!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.shape = shape or LinkShape()
        self.faults = faults or FaultPlan()
        self.stats = ProxyStats()
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def faults(self) -> FaultPlan:
        return self._faults

    @faults.setter
    def faults(self, plan: FaultPlan) -> None:
        # A new plan starts its own random sequence: the same seed replays the same faults.
        self._faults = plan
        self._rng = random.Random(plan.seed)

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the proxy is not running")
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def reset_stats(self) -> None:
        self.stats = ProxyStats()

    async def __aenter__(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=HEAD_LIMIT)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    @contextlib.contextmanager
    def running_in_thread(self) -> Iterator[FaultProxy]:
        """Serve from a loop of its own in a daemon thread, for blocking clients (requests, tuspy)."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.__aenter__())
            except BaseException as error:
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.__aexit__(None, None, None))
                loop.close()

        thread = threading.Thread(target=main, name="fault-proxy", daemon=True)
        thread.start()
        if not ready.wait(30):
            raise RuntimeError("the proxy did not start")
        if failure:
            raise failure[0]
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)

    # the exchange loop
    def _draw(self) -> _Draw:
        plan, rng = self._faults, self._rng
        roll, fault, edge = rng.random(), None, 0.0
        for name in FAULTS:
            edge += getattr(plan, name)
            if roll < edge:
                fault = name
                break
        stall = rng.uniform(0, plan.delay_s) if plan.delay and rng.random() < plan.delay else 0.0
        return _Draw(fault, stall, rng.random(), rng.random() < 0.5, rng.random() < 0.5, rng.random() < 0.5)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.stats.connections += 1
        upstream = _Upstream()
        try:
            while True:
                request = await read_request(client_reader, on_expect=client_writer)
                if request is None or not await self._exchange(request, client_writer, upstream):
                    break
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # the client went away or spoke no HTTP: nothing to forward
        except asyncio.CancelledError:
            # The proxy is closing. Ending quietly: Python 3.11's stream callback logs a
            # cancelled handler as an error.
            pass
        finally:
            upstream.close()
            if not client_writer.is_closing():
                client_writer.close()
            with contextlib.suppress(Exception):
                await client_writer.wait_closed()
            if task is not None:
                self._tasks.discard(task)

    async def _exchange(self, request: Message, client: asyncio.StreamWriter, upstream: _Upstream) -> bool:
        """One request and its answer, with this exchange's fault. Returns: keep the client connection."""
        draw = self._draw()
        stats = self.stats
        stats.exchanges += 1
        stats.bytes_up += len(request.raw)
        if draw.fault:
            stats.faults[draw.fault] += 1
        if draw.stall_s:
            stats.faults["delay"] += 1
            stats.delay_s += draw.stall_s
            await asyncio.sleep(draw.stall_s)
        logged = draw.fault or ("delay" if draw.stall_s else None)

        def record(sent: int) -> None:
            stats.bytes_down += sent
            stats.log.append(Exchange(request.method, request.target, len(request.raw), sent, logged))

        if draw.fault == "cut_request" or (draw.fault == "reset" and not draw.on_response):
            raw = request.raw
            cut = int(draw.where * len(raw))
            try:
                await self._connect(upstream)
                await self._send(upstream.writer, raw[:cut])
            except OSError:
                pass
            if draw.fault == "reset":
                await _flushed(upstream.writer)
                _abort(upstream.writer)
                _abort(client)
            upstream.close()
            record(0)
            return False

        try:
            if draw.fault == "duplicate_request":
                response = await self._duplicate(request, upstream, draw)
            else:
                response = await self._round_trip(request, upstream)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            response = None
        if response is None:  # the server went away: the client sees the connection end
            upstream.close()
            record(0)
            return False

        raw = response.raw
        if draw.fault in ("cut_response", "reset"):
            cut = int(draw.where * len(raw))
            await self._send(client, raw[:cut])
            if draw.fault == "reset":
                await _flushed(client)
                _abort(client)
            upstream.close()
            record(cut)
            return False
        await self._send(client, raw)
        record(len(raw))
        if response.until_close or not response.keeps_alive():
            upstream.close()
        return request.keeps_alive() and not response.until_close and not response.has_token("connection", "close")

    async def _connect(self, upstream: _Upstream) -> None:
        if not upstream.open:
            upstream.close()
            upstream.reader, upstream.writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port, limit=HEAD_LIMIT
            )

    async def _round_trip(self, request: Message, upstream: _Upstream) -> Message | None:
        for _attempt in range(2):
            await self._connect(upstream)
            reused, upstream.used = upstream.used, True
            await self._send(upstream.writer, request.raw)
            response = await read_response(upstream.reader, request.method)
            if response is not None:
                self.stats.upstream_requests += 1
                return response
            upstream.close()
            if not reused:
                return None
            # A kept-alive connection the server closed while idle never carried this
            # request: one more try on a fresh one.
        return None

    async def _duplicate(self, request: Message, upstream: _Upstream, draw: _Draw) -> Message | None:
        second = _Upstream()
        try:
            if draw.concurrent:
                answers = await asyncio.gather(
                    self._round_trip(request, upstream), self._round_trip(request, second), return_exceptions=True
                )
            else:
                answers = []
                for link in (upstream, second):
                    try:
                        answers.append(await self._round_trip(request, link))
                    except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                        answers.append(error)
        finally:
            second.close()
        first, other = answers
        if draw.pick_second:
            first, other = other, first
        for answer in (first, other):
            if isinstance(answer, Message):
                return answer
        return None

    async def _send(self, writer: asyncio.StreamWriter | None, data: bytes) -> None:
        """Forward one message (or the part of it a fault lets through), shaped."""
        if writer is None:
            return
        shape = self.shape
        self.stats.delay_s += shape.delay_of(len(data))
        if shape.rtt_s:
            await asyncio.sleep(shape.rtt_s / 2)
        if not shape.bandwidth_bps:
            writer.write(data)
            await writer.drain()
            return
        # A token bucket without burst: about 20 slices a second, each let out on time.
        loop = asyncio.get_running_loop()
        start = loop.time()
        step = max(512, int(shape.bandwidth_bps / 8 / 20))
        for offset in range(0, len(data), step):
            end = min(offset + step, len(data))
            wait = start + end * 8 / shape.bandwidth_bps - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data[offset:end])
            await writer.drain()


async def _flushed(writer: asyncio.StreamWriter | None) -> None:
    """Let the bytes already written reach the kernel before a reset throws the buffer away."""
    if writer is None or writer.is_closing():
        return
    with contextlib.suppress(OSError):
        await writer.drain()
    for _ in range(100):
        if not writer.transport.get_write_buffer_size():
            return
        await asyncio.sleep(0.001)
