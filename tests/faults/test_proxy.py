"""The fault proxy itself, in front of a real HTTP server (uvicorn in this event loop, with
an app that records every request it received whole: its "commits")."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from tests.faults import FaultPlan, FaultProxy, LinkShape


class Recorder:
    """An ASGI app that commits every request it reads whole and says how many it has."""

    def __init__(self) -> None:
        self.commits: list[tuple[str, str, bytes]] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # a cut request: never committed
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.commits.append((scope["method"], scope["path"], body))
        if scope["path"] == "/empty":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        answer = json.dumps({"n": len(self.commits), "size": len(body)}).encode()
        if scope["path"] == "/chunked":  # no Content-Length: uvicorn answers chunked
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            for part in (b"one,", b"two,", answer):
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else answer})


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Recorder, str]]:
    app = Recorder()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), task.exception()
        await asyncio.sleep(0.01)
    try:
        yield app, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_a_clean_exchange_passes_through_whole_and_keeps_the_connection(upstream):
    app, base = upstream
    async with FaultProxy(base) as proxy, httpx.AsyncClient(base_url=proxy.url) as http:
        first = await http.post("/commit", content=b"x" * 1000)
        second = await http.post("/commit", content=b"y" * 10)

    assert [first.json(), second.json()] == [{"n": 1, "size": 1000}, {"n": 2, "size": 10}]
    assert [body for _, _, body in app.commits] == [b"x" * 1000, b"y" * 10]
    stats = proxy.stats
    assert stats.connections == 1 and stats.exchanges == 2 and stats.upstream_requests == 2
    assert [(entry.method, entry.path, entry.fault) for entry in stats.log] == [("POST", "/commit", None)] * 2
    assert stats.bytes_up == sum(entry.request_bytes for entry in stats.log) > 1010
    assert stats.bytes_down == sum(entry.response_bytes for entry in stats.log)
    assert stats.bytes_down == first.num_bytes_downloaded + second.num_bytes_downloaded + _heads(first, second)
    assert not stats.faults


def _heads(*responses: httpx.Response) -> int:
    """The bytes of the status lines and headers, which num_bytes_downloaded leaves out."""
    return sum(
        len(f"HTTP/1.1 {r.status_code} {r.reason_phrase}\r\n".encode())
        + sum(len(name) + len(value) + 4 for name, value in r.headers.raw)
        + 2
        for r in responses
    )


async def test_a_chunked_request_and_a_chunked_answer_cross_whole(upstream):
    app, base = upstream

    async def parts():
        for part in (b"abc", b"defg", b"h" * 5000):
            yield part

    async with FaultProxy(base) as proxy, httpx.AsyncClient(base_url=proxy.url) as http:
        answer = await http.post("/chunked", content=parts())
        again = await http.get("/commit")

    assert answer.request.headers["transfer-encoding"] == "chunked"
    assert answer.headers["transfer-encoding"] == "chunked"
    assert answer.text == 'one,two,{"n": 1, "size": 5007}'
    assert app.commits[0][2] == b"abcdefg" + b"h" * 5000
    assert again.json()["n"] == 2
    assert proxy.stats.connections == 1


async def test_bodiless_answers_to_head_and_204_leave_the_connection_usable(upstream):
    _app, base = upstream
    async with FaultProxy(base) as proxy, httpx.AsyncClient(base_url=proxy.url) as http:
        empty = await http.delete("/empty")
        head = await http.head("/commit")
        after = await http.get("/commit")

    assert (empty.status_code, empty.content) == (204, b"")
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "19")
    assert after.json() == {"n": 3, "size": 0}
    assert proxy.stats.connections == 1 and proxy.stats.exchanges == 3


async def test_an_expect_100_continue_request_is_answered_by_the_proxy_and_forwarded_without_it(upstream):
    app, base = upstream
    async with FaultProxy(base) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"PUT /commit HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        await writer.drain()
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"hello")
        head = await reader.readuntil(b"\r\n\r\n")
        writer.close()

    assert head.startswith(b"HTTP/1.1 200")
    assert app.commits == [("PUT", "/commit", b"hello")]


async def test_a_cut_request_never_reaches_the_server_whole(upstream):
    app, base = upstream
    async with (
        FaultProxy(base, faults=FaultPlan(cut_request=1.0)) as proxy,
        httpx.AsyncClient(base_url=proxy.url) as http,
    ):
        for _ in range(5):
            with pytest.raises(httpx.TransportError):
                await http.post("/commit", content=b"z" * 2000)
        proxy.faults = FaultPlan()
        after = await http.get("/commit")

    assert app.commits == [("GET", "/commit", b"")]
    assert after.json()["n"] == 1
    assert proxy.stats.faults == {"cut_request": 5}
    assert proxy.stats.upstream_requests == 1
    assert [entry.response_bytes for entry in proxy.stats.log[:5]] == [0] * 5


async def test_a_cut_response_comes_after_the_server_committed(upstream):
    app, base = upstream
    async with (
        FaultProxy(base, faults=FaultPlan(cut_response=1.0)) as proxy,
        httpx.AsyncClient(base_url=proxy.url) as http,
    ):
        for _ in range(5):
            with pytest.raises(httpx.TransportError):
                await http.post("/commit", content=b"mutation")

    assert len(app.commits) == 5, "the server applied every one of them"
    assert proxy.stats.faults == {"cut_response": 5}
    for entry in proxy.stats.log:
        assert entry.fault == "cut_response"
        assert entry.response_bytes < 150  # a part (maybe none) of an answer that is longer
    assert proxy.stats.bytes_down == sum(entry.response_bytes for entry in proxy.stats.log)


async def test_a_duplicated_request_reaches_the_server_twice_and_the_client_gets_one_answer(upstream):
    app, base = upstream
    plan = FaultPlan(duplicate_request=1.0, seed=3)
    async with FaultProxy(base, faults=plan) as proxy, httpx.AsyncClient(base_url=proxy.url) as http:
        answers = [(await http.post("/commit", content=f"m{number}".encode())).json() for number in range(8)]

    assert [body for _, _, body in app.commits].count(b"m0") == 2
    assert sorted(body for _, _, body in app.commits) == sorted(f"m{n}".encode() for n in range(8) for _ in "ab")
    assert [answer["n"] for answer in answers] != [2 * n + 2 for n in range(8)], "sometimes the first answer wins"
    assert all(answer["n"] in (2 * n + 1, 2 * n + 2) for n, answer in enumerate(answers))
    assert proxy.stats.upstream_requests == 16 and proxy.stats.exchanges == 8
    assert proxy.stats.faults == {"duplicate_request": 8}


async def test_a_reset_lands_in_the_request_or_after_the_commit_and_the_client_sees_a_transport_error(upstream):
    app, base = upstream
    async with FaultProxy(base, faults=FaultPlan(reset=1.0, seed=11)) as proxy:
        for _ in range(12):
            # A fresh client each time: a reset connection is gone.
            async with httpx.AsyncClient(base_url=proxy.url) as http:
                with pytest.raises(httpx.TransportError):
                    await http.post("/commit", content=b"r" * 500)

    assert proxy.stats.faults == {"reset": 12}
    assert len(app.commits) == proxy.stats.upstream_requests
    assert 0 < len(app.commits) < 12, "resets hit both requests and answers"


async def test_shaping_charges_each_message_its_bytes_over_the_bandwidth_and_half_the_round_trip(upstream):
    _app, base = upstream
    shape = LinkShape(bandwidth_bps=80_000_000, rtt_s=0.01)
    async with FaultProxy(base, shape=shape) as proxy, httpx.AsyncClient(base_url=proxy.url) as http:
        answer = await http.post("/commit", content=b"s" * 50_000)

    assert answer.json()["size"] == 50_000
    (entry,) = proxy.stats.log
    expected = shape.delay_of(entry.request_bytes) + shape.delay_of(entry.response_bytes)
    assert proxy.stats.delay_s == pytest.approx(expected)
    assert expected == pytest.approx(0.01 + (entry.request_bytes + entry.response_bytes) * 8 / 80_000_000)
    # The same body over 2G (50 kbit/s) would take at least 8 s on the way up alone.
    assert LinkShape(bandwidth_bps=50_000).delay_of(entry.request_bytes) >= 8


async def test_a_delay_adds_a_stall_and_is_counted(upstream):
    _app, base = upstream
    plan = FaultPlan(delay=1.0, delay_s=0.01)
    async with FaultProxy(base, faults=plan) as proxy, httpx.AsyncClient(base_url=proxy.url) as http:
        for _ in range(3):
            assert (await http.get("/commit")).status_code == 200

    assert proxy.stats.faults == {"delay": 3}
    assert [entry.fault for entry in proxy.stats.log] == ["delay"] * 3
    assert 0 < proxy.stats.delay_s <= 0.03


async def test_the_same_seed_draws_the_same_faults(upstream):
    _app, base = upstream
    plan = FaultPlan(cut_request=0.2, cut_response=0.2, duplicate_request=0.2, reset=0.2, seed=5)
    runs = []
    async with FaultProxy(base, faults=plan) as proxy:
        for _ in range(2):
            proxy.faults = plan  # a new plan restarts its random sequence
            proxy.reset_stats()
            for _ in range(15):
                async with httpx.AsyncClient(base_url=proxy.url) as http:
                    with contextlib.suppress(httpx.TransportError):
                        await http.post("/commit", content=b"same")
            runs.append([entry.fault for entry in proxy.stats.log])

    assert runs[0] == runs[1]
    assert {"cut_request", "cut_response", "duplicate_request", "reset", None} <= set(runs[0])


async def test_the_proxy_keeps_the_upstream_path_prefix_and_serves_blocking_clients_from_a_thread(upstream):
    app, base = upstream
    proxy = FaultProxy(base + "/api/v1/")
    with proxy.running_in_thread() as running:
        assert running.url == f"http://127.0.0.1:{running.port}/api/v1"
        # The upstream server runs on this loop, so the blocking client runs beside it.
        answer = await asyncio.to_thread(httpx.post, running.url + "/sync", content=b"blocking")

    assert answer.json() == {"n": 1, "size": 8}
    assert app.commits == [("POST", "/api/v1/sync", b"blocking")]
    assert proxy.stats.exchanges == 1
