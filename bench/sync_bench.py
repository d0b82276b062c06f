"""Sync benchmark: issue 3's targets over a shaped, lossy link, and the server's capacity.

    python -m bench.sync_bench            # everything (about 10 minutes)
    python -m bench.sync_bench --quick    # a smoke run (about 3 minutes)
    python -m bench.sync_bench --only capacity   # or: link

Everything runs against real ``fengqiao serve`` processes (migrated, ``demo --cases 0``:
柞水县 and its demo users), each on a fresh database removed at the end.

Link (SQLite server): every exchange goes through ``tests.faults.FaultProxy`` shaped to
50 kbit/s and 300 ms round trip, cutting 5% of requests and 5% of answers (10% of
exchanges); bytes are the proxy's HTTP bytes (heads and bodies). Our side is the reference
client ``sync.client.Device``: gzip both ways, one request carries the outbox and the pull,
files go by tus after the records (``Device.attach``), an idle phone asks the beacon
(``Device.sync_if_needed``); after a failed attempt it syncs again after a short pause
until nothing is left to push, pull or upload. The naive baseline, measured in the same
run over the same kind of link: plain REST with a user token, uncompressed JSON both ways,
one ``POST /cases`` per case, the whole request sent again after a cut (a cut answer means
the case was created and is created again: those duplicates are counted), the photo in one
request started again from zero after a cut. The slow scenarios run ``--runs`` times (the
photo 4 times as often), each over its own link with its own fault seed (ours and the
baseline share the seeds). Each link is shaped on its own, so the baseline's runs (small
requests) and the photo runs go in parallel; our batch and first-sync runs go one after
another beside them, since in parallel they would queue on SQLite's single writer.
A p95 of 5 runs is their maximum.

Capacity (SQLite and PostgreSQL, no proxy, loopback): devices pushing outboxes of
create_case and record_visit mutations back to back for ``--seconds`` (applied mutations
per second, sustained), against a baseline of the same mutations as one REST request each.
Then 50 devices online at once, each syncing (a one-mutation outbox and the pull) every
``--period`` seconds at its own phase: the figure is the p95 of the server's handler time
from its ``Server-Timing`` header. The same 50 devices syncing back to back show the
server's saturation throughput; their latency then is queueing by construction and is
printed beside it, as is the latency of one device syncing alone.

PostgreSQL: ``FENGQIAO_TEST_POSTGRES_URL`` (default the local server's ``test`` database)
names a server where a throwaway database is created; when unreachable its column says so.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gzip
import hashlib
import json
import logging
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx

from grid.hierarchy import Level, parse_division_csv
from grid.identity import check_character
from server.crypto import generate_key_text
from server.demo import DEMO_DIVISIONS, DEMO_PASSWORD, DISPUTES, GIVEN, SURNAMES
from sync.attachments import TUS_VERSION
from sync.client import FULL_SYNC_EVERY, Device, DeviceStore, SyncError, api_base, uuid7
from sync.uploads import PENDING as UPLOAD_PENDING
from tests.e2e.processes import FENGQIAO, free_port, run
from tests.faults import FaultPlan, FaultProxy, LinkShape
from tests.faults.udp import udp_relay
from tests.media import jpeg
from tests.pg import POSTGRES_URL, create_database, drop_database

API = "/api/v1"
BANDWIDTH_BPS = 50_000
RTT_S = 0.3
CUT_REQUEST = CUT_RESPONSE = 0.05
IDLE_SYNCS_PER_DAY = 24 * 60 // 5
RETRY_PAUSE_S = 0.5
PHOTO_BYTES = 300 * 1024
PHOTO_RUNS_PER_RUN = 4
# Villages of the demo county in code order; the demo gives each at least two grids and a
# grid worker `grid-<village[6:]>001` on the first.
VILLAGES = sorted(
    row.code for row in parse_division_csv(DEMO_DIVISIONS.read_text(encoding="utf-8")) if row.level is Level.VILLAGE
)


def grid_of(village: str) -> str:
    return f"{village}001"


def grid_worker(village: str) -> str:
    return f"grid-{grid_of(village)[6:]}"


def leader(village: str) -> str:
    return f"leader-{village[6:]}"


# ------------------------------------------------------------------ measuring


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def p95_of(runs: int) -> str:
    """The label of a p95 over a few runs, which with fewer than a dozen is their maximum."""
    return f"p95 of {runs} runs" + (" (= max)" if round(0.95 * (runs - 1)) == runs - 1 else "")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def quiet() -> None:
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("asyncio").addFilter(not_a_cancelled_connection)


def not_a_cancelled_connection(record: logging.LogRecord) -> bool:
    """Python 3.11 logs the connection tasks a stopping proxy cancels; they are not errors."""
    return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


@dataclass
class Row:
    figure: str
    target: str = ""
    ours: str = ""
    baseline: str = ""
    ratio: str = ""
    verdict: str = ""


def verdict(value: float | None, limit: float, *, at_least: bool = False) -> str:
    if value is None:
        return "n/a"
    return "PASS" if (value >= limit if at_least else value <= limit) else "MISS"


def ratio(baseline: float | None, ours: float | None) -> str:
    if not baseline or not ours:
        return ""
    return f"{baseline / ours:.1f}x"


def size(n: float) -> str:
    return f"{n:,.0f} B" if n < 10_000 else f"{n / 1024:,.1f} KB"


def print_table(title: str, headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)] if rows else []
    print()
    print(title)
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


# ------------------------------------------------------------------ servers


class BackendUnavailable(RuntimeError):
    pass


class ServerFailure(RuntimeError):
    """A 5xx: a phone sends the same outbox again (the protocol's rule); so does the bench."""


@dataclass
class Server:
    backend: str
    root: str  # http://127.0.0.1:port
    log: Path

    @property
    def base(self) -> str:
        return self.root + API


@contextlib.asynccontextmanager
async def fengqiao_server(backend: str, workdir: Path) -> AsyncIterator[Server]:
    """A migrated demo county served by a real process. Its log goes to a file: the
    e2e helper's pipe is never drained, and thousands of access-log lines would fill it
    and stall the server. Each server has a directory of its own: a second one must not
    find the first one's database (its demo step would keep the old data)."""
    home = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=workdir))
    drop = None
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{home / 'sync-bench.db'}"
    else:
        try:
            url = drop = await create_database("fq_syncbench")
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            raise BackendUnavailable(f"PostgreSQL unavailable at {POSTGRES_URL}: {error}") from error
    env = {
        **os.environ,
        "FENGQIAO_DATABASE_URL": url,
        "FENGQIAO_DATA_KEY": generate_key_text(),
        "FENGQIAO_FILES_DIR": str(home / "files"),
    }
    log_path = home / "serve.log"
    process = None
    try:
        await asyncio.to_thread(run, ["migrate"], env)
        seeded = await asyncio.to_thread(run, ["demo", "--cases", "0"], env)
        assert "演示数据已生成" in seeded, f"the demo county was not seeded: {seeded}"
        port = free_port()
        env["FENGQIAO_BEACON_UDP_PORT"] = str(port)  # UDP: its own port space
        with log_path.open("w") as log:
            process = await asyncio.create_subprocess_exec(
                FENGQIAO, "serve", "--port", str(port), env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
            )
        root = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=1) as probe:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await probe.get(f"{root}{API}/health")).status_code == 200:
                        break
                if process.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"fengqiao serve did not come up: {log_path.read_text()[-2000:]}")
                await asyncio.sleep(0.2)
        try:
            yield Server(backend, root, log_path)
        except BaseException:
            say(f"--- the end of the {backend} server's log ({log_path.name}):\n{log_path.read_text()[-4000:]}")
            raise
    finally:
        if process is not None and process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 10)
        if drop:
            await drop_database(drop)


# ------------------------------------------------------------------ payloads


def person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def id_number(rng: random.Random) -> str:
    first17 = (
        f"611026{rng.randint(1950, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    )
    return first17 + check_character(first17)


def case_body(rng: random.Random, grid: str) -> dict[str, Any]:
    """A realistic case as a grid worker captures it (the body of POST /cases, no id)."""
    category, title, request, facts = rng.choice(DISPUTES)
    return {
        "kind": "civil_dispute",
        "category": category,
        "channel": "door_to_door",
        "title": title,
        "request": request,
        "facts": facts,
        "risk": rng.choice(["low", "low", "medium"]),
        "location": {
            "latitude": round(33.68 + rng.uniform(-0.2, 0.2), 6),
            "longitude": round(109.11 + rng.uniform(-0.2, 0.2), 6),
        },
        "grid_code": grid,
        "parties": [
            {
                "name": person(rng),
                "role": "applicant",
                "id_number": id_number(rng),
                "phone": f"1{rng.choice('3578')}{rng.randint(0, 999_999_999):09d}",
                "address": f"陕西省商洛市柞水县第一网格{rng.randint(1, 60)}号",
            },
            {"name": person(rng), "role": "respondent", "id_number": id_number(rng)},
        ],
    }


VISIT_NOTES = [
    "上门走访，双方情绪平稳，约定下周再谈。",
    "电话回访申请人，对方已开始疏通排水沟。",
    "走访了解情况，已向村委会汇报。",
]


def visit_body(rng: random.Random) -> dict[str, Any]:
    return {"action": "record_visit", "reason": None, "data": {"summary": rng.choice(VISIT_NOTES)}}


def packed(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


# ------------------------------------------------------------------ accounts


async def login(http: httpx.AsyncClient, base: str, username: str) -> str:
    answer = await http.post(f"{base}/auth/login", json={"username": username, "password": DEMO_PASSWORD})
    assert answer.status_code == 201, answer.text
    return answer.json()["token"]


@dataclass
class RawDevice:
    """A device speaking the protocol by hand: the capacity runs want no phone-side SQLite
    in the way, only the server's work."""

    username: str
    grid: str
    user_token: str
    device_id: str
    token: str
    enrollment: dict[str, Any]
    seq: int = 0
    cursor: str | None = None
    cases: list[str] = field(default_factory=list)

    def outbox(self, rng: random.Random, creates: int, visits: int) -> list[dict[str, Any]]:
        mutations = []
        for _ in range(creates):
            self.seq += 1
            mutations.append(
                {
                    "seq": self.seq,
                    "id": str(uuid7()),
                    "type": "create_case",
                    "case_id": str(uuid7()),
                    "data": case_body(rng, self.grid),
                }
            )
        for _ in range(visits if self.cases else 0):
            self.seq += 1
            mutations.append(
                {
                    "seq": self.seq,
                    "id": str(uuid7()),
                    "type": "transition",
                    "case_id": rng.choice(self.cases),
                    "data": visit_body(rng),
                }
            )
        return mutations

    async def sync(
        self, http: httpx.AsyncClient, base: str, outbox: list[dict[str, Any]], page_size: int = 100
    ) -> tuple[dict[str, Any], float, float | None]:
        """One request; returns the answer, the client-observed seconds and the server's
        own handler time when it reports one (Server-Timing)."""
        request = {
            "protocol": 1,
            "app_version": "sync-bench",
            "device_id": self.device_id,
            "cursor": self.cursor,
            "page_size": page_size,
            "outbox": outbox,
        }
        started = time.perf_counter()
        response = await http.post(
            f"{base}/sync",
            content=gzip.compress(packed(request), 6),
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
                "Accept-Encoding": "gzip",
            },
        )
        elapsed = time.perf_counter() - started
        if response.status_code >= 500:
            raise ServerFailure(response.text[:300])
        assert response.status_code == 200, response.text[:500]
        answer = response.json()
        self.cursor = answer["cursor"]
        created = {m["seq"]: m["case_id"] for m in outbox if m["type"] == "create_case"}
        for result in answer["results"]:
            if result["status"] == "applied" and result["seq"] in created:
                self.cases.append(created[result["seq"]])
        return answer, elapsed, server_timing(response)


async def push(
    device: RawDevice,
    http: httpx.AsyncClient,
    base: str,
    outbox: list[dict[str, Any]],
    result: Capacity,
    page_size: int = 100,
) -> tuple[dict[str, Any], float, float | None]:
    """One sync as a phone makes it: sent again after a 5xx. The seconds cover every attempt."""
    started = time.perf_counter()
    while True:
        try:
            answer, _, handler = await device.sync(http, base, outbox, page_size)
            return answer, time.perf_counter() - started, handler
        except ServerFailure:
            result.failures += 1
            await asyncio.sleep(0.2)


def server_timing(response: httpx.Response) -> float | None:
    """Seconds from a ``Server-Timing: …;dur=<ms>`` header (the largest entry), if any."""
    header = response.headers.get("server-timing")
    if not header:
        return None
    durations = []
    for metric in header.split(","):
        for part in metric.split(";"):
            name, _, value = part.strip().partition("=")
            if name == "dur":
                with contextlib.suppress(ValueError):
                    durations.append(float(value) / 1000)
    return max(durations) if durations else None


async def enroll_raw(http: httpx.AsyncClient, base: str, village: str) -> RawDevice:
    username = grid_worker(village)
    user_token = await login(http, base, username)
    device_id = str(uuid.uuid4())
    answer = await http.post(
        f"{base}/devices",
        json={"device_id": device_id, "name": "sync-bench"},
        headers={"Authorization": f"Bearer {user_token}"},
    )
    assert answer.status_code == 201, answer.text
    enrollment = answer.json()
    return RawDevice(username, grid_of(village), user_token, device_id, enrollment["device_token"], enrollment)


async def gather_limited(jobs: list[Callable[[], Awaitable[Any]]], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs))


# ------------------------------------------------------------------ capacity


@dataclass
class Capacity:
    backend: str
    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failures: int = 0


async def bench_capacity(backend: str, args: argparse.Namespace, workdir: Path) -> Capacity:
    result = Capacity(backend)
    try:
        async with fengqiao_server(backend, workdir) as server:
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
            async with httpx.AsyncClient(timeout=120, limits=limits) as http:
                say(f"[{backend}] enrolling {args.devices} devices …")
                villages = VILLAGES[: max(args.devices, args.writers)]
                devices: list[RawDevice] = await gather_limited(
                    [lambda v=v: enroll_raw(http, server.base, v) for v in villages], 8
                )
                await sustained_mutations(server, http, devices[: args.writers], args, result)
                await rest_baseline(server, http, devices[: args.writers], args, result)
                await concurrent_latency(server, http, devices[: args.devices], args, result)
            if result.failures:
                result.notes.append(f"{result.failures} answers were 5xx (the same outbox was sent again)")
                result.notes.extend(f"  server log: {line}" for line in server_errors(server.log))
    except BackendUnavailable as error:
        result.notes.append(str(error))
    return result


def server_errors(log: Path, limit: int = 3) -> list[str]:
    """The distinct last lines of the tracebacks in a server log (the exception raised)."""
    lines = log.read_text(errors="replace").splitlines()
    found: list[str] = []
    for index, line in enumerate(lines):
        if line.startswith("Traceback"):
            end = index + 1
            while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
                end += 1
            if end < len(lines) and lines[end] not in found:
                found.append(lines[end][:300])
    return found[:limit]


async def sustained_mutations(
    server: Server, http: httpx.AsyncClient, devices: list[RawDevice], args: argparse.Namespace, result: Capacity
) -> None:
    """Devices pushing full outboxes back to back: half new cases, half visits to their own."""
    rng = random.Random(11)
    half = args.batch // 2
    for device in devices:  # warm-up, and cases to visit
        await push(device, http, server.base, device.outbox(rng, 5, 0), result)
    applied = rejected = requests = 0
    say(f"[{server.backend}] {len(devices)} devices pushing {args.batch}-mutation outboxes for {args.seconds:.0f} s …")
    started = time.perf_counter()
    deadline = started + args.seconds

    async def pump(device: RawDevice) -> None:
        nonlocal applied, rejected, requests
        local = random.Random(device.device_id)
        while time.perf_counter() < deadline:
            answer, _, _ = await push(device, http, server.base, device.outbox(local, half, args.batch - half), result)
            requests += 1
            for item in answer["results"]:
                if item["status"] == "applied":
                    applied += 1
                else:
                    rejected += 1

    await asyncio.gather(*(pump(device) for device in devices))
    elapsed = time.perf_counter() - started
    result.figures["mutations_per_s"] = applied / elapsed
    result.figures["mutations_seconds"] = elapsed
    result.figures["mutations_applied"] = applied
    if rejected:
        result.notes.append(f"{rejected} mutations not applied during the sustained run")


async def rest_baseline(
    server: Server, http: httpx.AsyncClient, devices: list[RawDevice], args: argparse.Namespace, result: Capacity
) -> None:
    """The same mutations as one REST request each (POST /cases, POST /cases/{id}/transitions)."""
    applied = 0
    seconds = args.seconds / 2
    say(f"[{server.backend}] baseline: the same mutations one REST request each, {seconds:.0f} s …")
    started = time.perf_counter()
    deadline = started + seconds

    async def pump(device: RawDevice) -> None:
        nonlocal applied
        local = random.Random(device.device_id + "rest")
        headers = {"Authorization": f"Bearer {device.user_token}"}
        own: list[str] = []
        while time.perf_counter() < deadline:
            created = await http.post(f"{server.base}/cases", json=case_body(local, device.grid), headers=headers)
            assert created.status_code == 201, created.text[:300]
            own.append(created.json()["id"])
            visited = await http.post(
                f"{server.base}/cases/{local.choice(own)}/transitions", json=visit_body(local), headers=headers
            )
            assert visited.status_code == 200, visited.text[:300]
            applied += 2

    await asyncio.gather(*(pump(device) for device in devices))
    result.figures["rest_mutations_per_s"] = applied / (time.perf_counter() - started)


async def concurrent_latency(
    server: Server, http: httpx.AsyncClient, devices: list[RawDevice], args: argparse.Namespace, result: Capacity
) -> None:
    """Fifty phones online at once, each syncing a visit (every fifth time a new case) and
    the pull. Paced: each phone syncs every ``--period`` seconds at its own phase, as busy
    phones do; the p95 of the server's handler time (Server-Timing) is the figure. Then
    saturated: every phone syncs again the moment its answer arrives, which measures the
    server's throughput; its latency is then queueing by construction (Little's law: phones
    ÷ syncs per second), printed beside it."""
    rng = random.Random(12)
    for device in devices:  # each has a case and an up-to-date cursor before the clock starts
        device.cursor = None
        await push(device, http, server.base, device.outbox(rng, 1, 0), result, page_size=500)
        while True:
            answer, _, _ = await push(device, http, server.base, [], result, page_size=500)
            if not answer["more"]:
                break
    alone = []
    solo = devices[0]
    for index in range(30):
        _, seconds, handler = await push(solo, http, server.base, solo.outbox(rng, int(index % 5 == 0), 1), result)
        alone.append(handler if handler is not None else seconds)
    result.figures["latency_alone_p95"] = percentile(alone, 95)
    result.figures["latency_devices"] = len(devices)
    result.figures["period_s"] = args.period

    say(f"[{server.backend}] {len(devices)} devices each syncing every {args.period:g} s for {args.seconds:.0f} s …")
    paced, paced_observed = await sync_loops(server, http, devices, args.seconds, args.period, result)
    result.figures["latency_p50"] = percentile(paced, 50)
    result.figures["latency_p95"] = percentile(paced, 95)
    result.figures["paced_observed_p95"] = percentile(paced_observed, 95)

    say(f"[{server.backend}] {len(devices)} devices syncing back to back for {args.seconds:.0f} s …")
    started = time.perf_counter()
    saturated, observed = await sync_loops(server, http, devices, args.seconds, 0, result)
    result.figures["syncs_per_s"] = len(observed) / (time.perf_counter() - started)
    result.figures["saturated_p95"] = percentile(saturated, 95)
    if len(paced) < len(paced_observed) or len(saturated) < len(observed):
        result.notes.append("latency: some answers had no Server-Timing; client-observed seconds used for those")


async def sync_loops(
    server: Server,
    http: httpx.AsyncClient,
    devices: list[RawDevice],
    seconds: float,
    period: float,
    result: Capacity,
) -> tuple[list[float], list[float]]:
    """Every device syncs until ``seconds`` are over, one sync every ``period`` seconds
    (0: back to back). Returns the server's handler times and the client-observed ones."""
    handler_times: list[float] = []
    observed: list[float] = []
    deadline = time.perf_counter() + seconds

    async def loop(device: RawDevice) -> None:
        local = random.Random(device.device_id + f"loop{period}")
        if period:
            await asyncio.sleep(local.uniform(0, period))
        count = 0
        while time.perf_counter() < deadline:
            due = time.perf_counter() + period
            outbox = device.outbox(local, int(count % 5 == 4), int(count % 5 != 4))
            _, elapsed, handler = await push(device, http, server.base, outbox, result)
            observed.append(elapsed)
            handler_times.append(handler if handler is not None else elapsed)
            count += 1
            if period:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))

    await asyncio.gather(*(loop(device) for device in devices))
    return handler_times, observed


# ------------------------------------------------------------------ the shaped link


@dataclass
class LinkRun:
    """One scenario run over one shaped link."""

    seconds: float
    exchanges: int
    up: int
    down: int
    cut: int = 0
    duplicates: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return self.up + self.down


def shaped(server: Server, seed: int | None) -> FaultProxy:
    """The 2G link of the field; ``seed=None``: shaped but never cut."""
    faults = FaultPlan(cut_request=CUT_REQUEST, cut_response=CUT_RESPONSE, seed=seed) if seed is not None else None
    return FaultProxy(server.root, shape=LinkShape(bandwidth_bps=BANDWIDTH_BPS, rtt_s=RTT_S), faults=faults)


def run_of(proxy: FaultProxy, seconds: float, **extra: float) -> LinkRun:
    stats = proxy.stats
    return LinkRun(
        seconds=seconds,
        exchanges=stats.exchanges,
        up=stats.bytes_up,
        down=stats.bytes_down,
        cut=sum(stats.faults[name] for name in ("cut_request", "cut_response", "reset")),
        extra=dict(extra),
    )


async def new_device(server: Server, username: str, workdir: Path) -> Device:
    """An enrolled reference client (enrolled straight to the server: not what is measured)."""
    device = Device(DeviceStore(workdir / f"device-{uuid.uuid4().hex}.db"), timeout=180)
    await device.enroll(server.root, username, DEMO_PASSWORD, name="sync-bench")
    return device


def route_through(device: Device, proxy: FaultProxy) -> None:
    device.store.set("server_url", api_base(proxy.url))


async def sync_until_done(device: Device) -> int:
    """What a phone does on a bad link: sync again after a short pause until nothing is
    left to push, pull or upload. Returns the attempts that did not finish."""
    failures = 0
    while True:
        try:
            summary = await device.sync()
        except SyncError as error:
            if not error.retryable:
                raise
            failures += 1
            await asyncio.sleep(RETRY_PAUSE_S)
            continue
        if device.store.pending_count() == 0 and not device.uploads.jobs(UPLOAD_PENDING):
            return failures
        failures += bool(summary.upload_errors)
        await asyncio.sleep(RETRY_PAUSE_S)


def assert_all_applied(device: Device, expected: int) -> None:
    items = device.store.items()
    wrong = [item for item in items if item.status != "applied"]
    assert len(items) == expected and not wrong, f"{len(items)} mutations, not applied: {wrong[:3]}"


class Naive:
    """The baseline client: plain REST, uncompressed JSON both ways, a user token, and on
    a network error the same request again (no resume, no idempotency key)."""

    def __init__(self, base: str, token: str):
        self.http = httpx.AsyncClient(
            base_url=base,
            timeout=180,
            headers={"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"},
        )
        self.failures = 0

    async def __aenter__(self) -> Naive:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.http.aclose()

    async def send(self, method: str, path: str, body: Any = None, *, expect: int = 200, **params: Any) -> Any:
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = {} if body is None else {"Content-Type": "application/json"}
        while True:
            try:
                response = await self.http.request(method, path, content=content, headers=headers, params=params)
            except httpx.TransportError:
                self.failures += 1
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text[:300]}"
            return response.json() if response.content else None


async def mine(server: Server, token: str) -> int:
    """Cases the user registered, counted straight at the server."""
    count, cursor = 0, None
    async with httpx.AsyncClient(base_url=server.base, headers={"Authorization": f"Bearer {token}"}) as http:
        while True:
            params: dict[str, Any] = {"mine": "true", "limit": 500} | ({"cursor": cursor} if cursor else {})
            page = (await http.get("/cases", params=params)).json()
            count += len(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return count


async def direct_login(server: Server, username: str) -> str:
    async with httpx.AsyncClient(timeout=30) as http:
        return await login(http, server.base, username)


# ---- 100 new cases


async def ours_upload(
    server: Server, village: str, seed: int | None, count: int, workdir: Path
) -> tuple[LinkRun, Device]:
    rng = random.Random(f"cases-{village}")
    device = await new_device(server, grid_worker(village), workdir)
    for _ in range(count):
        device.capture_case(case_body(rng, grid_of(village)))
    async with shaped(server, seed) as proxy:
        route_through(device, proxy)
        started = time.perf_counter()
        failures = await sync_until_done(device)
        seconds = time.perf_counter() - started
    assert_all_applied(device, count)
    return run_of(proxy, seconds, failures=failures), device


async def naive_upload(server: Server, village: str, seed: int | None, count: int) -> tuple[LinkRun, str]:
    rng = random.Random(f"cases-{village}")
    token = await direct_login(server, grid_worker(village))
    bodies = [case_body(rng, grid_of(village)) for _ in range(count)]
    async with shaped(server, seed) as proxy, Naive(proxy.url + API, token) as naive:
        started = time.perf_counter()
        for body in bodies:
            await naive.send("POST", "/cases", body, expect=201)
        seconds = time.perf_counter() - started
    run = run_of(proxy, seconds, failures=naive.failures)
    run.duplicates = await mine(server, token) - count
    return run, token


# ---- an incremental sync


async def ours_incremental(server: Server, device: Device, village: str) -> LinkRun:
    """Two new cases and a visit on the phone, one case changed elsewhere meanwhile."""
    rng = random.Random(f"incremental-{village}")
    token = await direct_login(server, grid_worker(village))
    elsewhere = device.store.case_ids()[0]
    async with httpx.AsyncClient(base_url=server.base, headers={"Authorization": f"Bearer {token}"}) as http:
        changed = await http.post(f"/cases/{elsewhere}/transitions", json=visit_body(rng))
        assert changed.status_code == 200, changed.text
    for _ in range(2):
        device.capture_case(case_body(rng, grid_of(village)))
    device.add_transition(device.store.case_ids()[1], "record_visit", data=visit_body(rng)["data"])
    async with shaped(server, None) as proxy:
        route_through(device, proxy)
        started = time.perf_counter()
        await sync_until_done(device)
        seconds = time.perf_counter() - started
    assert device.store.case(elsewhere)["tl"][-1]["k"] == "record_visit", "the change made elsewhere did not arrive"
    return run_of(proxy, seconds)


async def naive_incremental(server: Server, token: str, village: str) -> LinkRun:
    """The same with REST: each new record its own POST, then a page of the list to see
    what changed (the list has no 'changed since': it cannot even tell)."""
    rng = random.Random(f"incremental-{village}")
    async with Naive(server.base, token) as direct:
        first = (await direct.send("GET", "/cases", mine="true", limit=1))["items"][0]["id"]
        await direct.send("POST", f"/cases/{first}/transitions", visit_body(rng))
    async with shaped(server, None) as proxy, Naive(proxy.url + API, token) as naive:
        started = time.perf_counter()
        created = [await naive.send("POST", "/cases", case_body(rng, grid_of(village)), expect=201) for _ in range(2)]
        await naive.send("POST", f"/cases/{created[0]['id']}/transitions", visit_body(rng))
        await naive.send("GET", "/cases", limit=100)
        seconds = time.perf_counter() - started
    return run_of(proxy, seconds)


# ---- the first sync of a 1,000-case village


async def seed_village(server: Server, village: str, count: int) -> None:
    """``count`` cases in one village, pushed by a setup device in outboxes of 500."""
    rng = random.Random(f"village-{village}")
    async with httpx.AsyncClient(timeout=300) as http:
        device = await enroll_raw(http, server.base, village)
        for start in range(0, count, 500):
            answer, _, _ = await device.sync(
                http, server.base, device.outbox(rng, min(500, count - start), 0), page_size=1
            )
            assert all(item["status"] == "applied" for item in answer["results"]), answer["results"][:3]


async def ours_first_sync(server: Server, village: str, seed: int, count: int, workdir: Path) -> LinkRun:
    device = await new_device(server, leader(village), workdir)
    async with shaped(server, seed) as proxy:
        route_through(device, proxy)
        started = time.perf_counter()
        failures = await sync_until_done(device)
        seconds = time.perf_counter() - started
    held = len(device.store.case_ids())
    assert held == count, f"the device holds {held} cases, not {count}"
    return run_of(proxy, seconds, failures=failures)


async def naive_first_sync(server: Server, village: str, seed: int, count: int) -> LinkRun:
    """GET /cases page after page, uncompressed; a failed page is asked again."""
    token = await direct_login(server, leader(village))
    seen: set[str] = set()
    async with shaped(server, seed) as proxy, Naive(proxy.url + API, token) as naive:
        started = time.perf_counter()
        cursor = None
        while True:
            page = await naive.send("GET", "/cases", limit=100, **({"cursor": cursor} if cursor else {}))
            seen.update(item["id"] for item in page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        seconds = time.perf_counter() - started
    assert len(seen) == count, f"the list gave {len(seen)} cases, not {count}"
    return run_of(proxy, seconds, failures=naive.failures)


# ---- a device with nothing new


async def ours_idle(server: Server, device: Device, seed: int, syncs: int) -> LinkRun:
    async with shaped(server, seed) as proxy:
        route_through(device, proxy)
        started = time.perf_counter()
        for _ in range(syncs):
            await sync_until_done(device)
        seconds = time.perf_counter() - started
    return run_of(proxy, seconds / syncs)


async def naive_idle(server: Server, device: Device, seed: int, syncs: int) -> LinkRun:
    """The same empty sync, uncompressed both ways."""
    request = {
        "protocol": 1,
        "app_version": "sync-bench",
        "device_id": device.device_id,
        "cursor": device.store.get("cursor"),
        "outbox": [],
    }
    async with shaped(server, seed) as proxy, Naive(proxy.url + API, device.store.get("device_token") or "") as naive:
        started = time.perf_counter()
        for _ in range(syncs):
            await naive.send("POST", "/sync", request)
        seconds = time.perf_counter() - started
    return run_of(proxy, seconds / syncs)


# ------------------------------------------------------------------ the link, all scenarios


async def one_after_another(jobs: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Our runs that make the server work (batches of 100 cases, pages of 100 snapshots)
    go one at a time: in parallel they would queue behind each other on SQLite's single
    writer, which is not the link's doing. The baseline's runs, a small request at a time,
    go in parallel beside them."""
    return [await job() for job in jobs]


def spread(runs: list[LinkRun], pick: Callable[[LinkRun], float]) -> str:
    values = sorted(pick(r) for r in runs)
    return " ".join(f"{v:.1f}" for v in values)


async def bench_link(args: argparse.Namespace, workdir: Path) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    notes: list[str] = []
    seeds = [args.seed + index for index in range(args.runs)]
    p95_label = p95_of(args.runs)
    async with fengqiao_server("sqlite", workdir) as server:
        big = VILLAGES[1]
        pool = iter(VILLAGES[2:])
        say(f"[link] {args.village_cases:,} cases in one village …")
        await seed_village(server, big, args.village_cases)

        # 100 new cases: once on a clean shaped link (bytes), then the runs over the cut link.
        n = args.cases
        clean_ours, clean_naive = next(pool), next(pool)
        ours_villages = [next(pool) for _ in seeds]
        naive_villages = [next(pool) for _ in seeds]
        say(f"[link] {n} new cases: 1 clean + {args.runs} cut runs each side …")
        ours_jobs = [lambda: ours_upload(server, clean_ours, None, n, workdir)] + [
            lambda v=v, s=s: ours_upload(server, v, s, n, workdir) for v, s in zip(ours_villages, seeds, strict=True)
        ]
        ours_uploads, naive_uploads = await asyncio.gather(
            one_after_another(ours_jobs),
            asyncio.gather(
                naive_upload(server, clean_naive, None, n),
                *(naive_upload(server, v, s, n) for v, s in zip(naive_villages, seeds, strict=True)),
            ),
        )
        (ours_clean, ours_device), (naive_clean, naive_token) = ours_uploads[0], naive_uploads[0]
        ours_cut = [run for run, _ in ours_uploads[1:]]
        naive_cut = [run for run, _ in naive_uploads[1:]]
        ours_twice = 0
        for village in [clean_ours, *ours_villages]:
            ours_twice += await mine(server, await direct_login(server, grid_worker(village))) - n
        per_case = ours_clean.bytes / n
        rows.append(
            Row(
                f"bytes on the wire per case, {n} cases in one batch (up+down, clean link)",
                "≤ 400 B",
                size(per_case),
                size(naive_clean.bytes / n),
                ratio(naive_clean.bytes, ours_clean.bytes),
                verdict(per_case, 400),
            )
        )
        rows.append(
            Row(
                "  of which up (the outbox / the POSTs)",
                "",
                size(ours_clean.up / n),
                size(naive_clean.up / n),
                ratio(naive_clean.up, ours_clean.up),
            )
        )
        ours_p95 = percentile([r.seconds for r in ours_cut], 95)
        naive_p95 = percentile([r.seconds for r in naive_cut], 95)
        rows.append(
            Row(
                f"{n} new cases uploaded, cut link, {p95_label}",
                "≤ 15 s",
                f"{ours_p95:.1f} s",
                f"{naive_p95:.1f} s",
                ratio(naive_p95, ours_p95),
                verdict(ours_p95, 15),
            )
        )
        rows.append(
            Row(
                "  exchanges / of them cut, all runs",
                "",
                f"{sum(r.exchanges for r in ours_cut)} / {sum(r.cut for r in ours_cut)}",
                f"{sum(r.exchanges for r in naive_cut)} / {sum(r.cut for r in naive_cut)}",
            )
        )
        rows.append(
            Row(
                "  cases created twice by retries, all runs",
                "0",
                str(ours_twice),
                str(sum(r.duplicates for r in naive_cut)),
                "",
                verdict(ours_twice, 0),
            )
        )
        notes.append(
            f"{n} new cases, seconds per run: ours {spread(ours_cut, lambda r: r.seconds)}; "
            f"baseline {spread(naive_cut, lambda r: r.seconds)}"
        )
        notes.append(
            f"{n} new cases, clean link: ours {ours_clean.seconds:.1f} s in {ours_clean.exchanges} exchange(s), "
            f"{size(ours_clean.up)} up, {size(ours_clean.down)} down (the answer carries each new case's snapshot); "
            f"baseline {naive_clean.seconds:.1f} s in {naive_clean.exchanges} exchanges"
        )

        say("[link] incremental sync, clean link …")
        ours_inc = await ours_incremental(server, ours_device, clean_ours)
        naive_inc = await naive_incremental(server, naive_token, clean_naive)
        rows.append(
            Row(
                "round trips per incremental sync (2 cases + 1 visit up, 1 change down)",
                "1",
                str(ours_inc.exchanges),
                str(naive_inc.exchanges),
                ratio(naive_inc.exchanges, ours_inc.exchanges),
                verdict(ours_inc.exchanges, 1),
            )
        )
        rows.append(
            Row(
                "  time and data of that sync",
                "",
                f"{ours_inc.seconds:.1f} s, {size(ours_inc.bytes)}",
                f"{naive_inc.seconds:.1f} s, {size(naive_inc.bytes)}",
                ratio(naive_inc.bytes, ours_inc.bytes),
            )
        )

        say(f"[link] idle device: {args.idle_syncs} periodic syncs each way, cut link …")
        seed = args.seed + 100
        ours_idle_run, naive_idle_run = await asyncio.gather(
            ours_idle(server, ours_device, seed, args.idle_syncs),
            naive_idle(server, ours_device, seed, args.idle_syncs),
        )
        full = ours_idle_run.bytes / args.idle_syncs
        naive_day = naive_idle_run.bytes / args.idle_syncs * IDLE_SYNCS_PER_DAY
        full_day = full * IDLE_SYNCS_PER_DAY
        if ours_device.store.get("beacon"):
            # The client still makes a full sync every FULL_SYNC_EVERY (a shrunk scope is
            # invisible to the beacon); the other checks are the beacon's.
            full_per_day = int(timedelta(days=1) / FULL_SYNC_EVERY)
            for udp in (True, False):
                beacon_run = await ours_periodic(server, ours_device, seed, args.idle_syncs, udp=udp)
                check = beacon_run.bytes / args.idle_syncs
                per_day = (IDLE_SYNCS_PER_DAY - full_per_day) * check + full_per_day * full
                how = "one UDP datagram, answered when there is news and hourly" if udp else "GET /b/… over HTTP"
                # Headers of the datagrams, per day: what the phone's data plan counts on
                # top of the payload (HTTP rows count HTTP bytes only, never TCP/IP).
                headers_day = (IDLE_SYNCS_PER_DAY - full_per_day) * 28 * beacon_run.extra["datagrams"] / args.idle_syncs
                rows.append(
                    Row(
                        f"idle device, data per day (a check every 5 min: {how}; a full sync every "
                        f"{FULL_SYNC_EVERY.total_seconds() / 3600:.0f} h)"
                        if udp
                        else "  the same with the beacon over HTTP (phones without UDP, the PWA)",
                        "≤ 20 KB/day" if udp else "",
                        f"{per_day / 1024:.1f} KB",
                        f"{naive_day / 1024:.0f} KB",
                        ratio(naive_day, per_day),
                        verdict(per_day / 1024, 20) if udp else "",
                    )
                )
                if udp:
                    rows.append(
                        Row(
                            "  the same counting the datagrams' UDP/IP headers (28 B each)",
                            "≤ 20 KB/day",
                            f"{(per_day + headers_day) / 1024:.1f} KB",
                            f"{naive_day / 1024:.0f} KB",
                            ratio(naive_day, per_day + headers_day),
                            verdict((per_day + headers_day) / 1024, 20),
                        )
                    )
                notes.append(
                    f"idle, beacon ({how}): {args.idle_syncs} checks by Device.sync_if_needed, "
                    f"{beacon_run.exchanges} HTTP exchanges, {int(beacon_run.extra['datagrams'])} datagrams "
                    f"({beacon_run.cut} cut or dropped, {int(beacon_run.extra['full_syncs'])} became full syncs), "
                    f"{size(check)} a check on average"
                    + (
                        f"; with UDP/IP headers (28 B a datagram) "
                        f"{size(check + 28 * beacon_run.extra['datagrams'] / args.idle_syncs)}"
                        if udp
                        else ""
                    )
                )
        else:
            notes.append("idle: the device got no beacon at enrollment; the idle figure is the full empty sync")
        rows.append(
            Row(
                "  idle, a full empty sync every 5 min (no beacon)",
                "" if ours_device.store.get("beacon") else "≤ 20 KB/day",
                f"{full_day / 1024:.0f} KB",
                f"{naive_day / 1024:.0f} KB",
                ratio(naive_day, full_day),
                "" if ours_device.store.get("beacon") else verdict(full_day / 1024, 20),
            )
        )
        notes.append(
            f"idle, full sync: {args.idle_syncs} each side, {ours_idle_run.exchanges} / {naive_idle_run.exchanges} "
            f"exchanges ({ours_idle_run.cut} / {naive_idle_run.cut} cut); one empty sync ≈ {size(full)} ours, "
            f"{size(naive_idle_run.bytes / args.idle_syncs)} baseline (the same sync, uncompressed: the baseline of "
            "both idle rows). HTTP bytes only: TCP/IP and TLS overhead are not counted"
        )

        say(f"[link] first sync of {args.village_cases:,} cases: {args.runs} runs each side …")
        ours_first, naive_first = await asyncio.gather(
            one_after_another(
                [lambda s=s: ours_first_sync(server, big, s, args.village_cases, workdir) for s in seeds]
            ),
            asyncio.gather(*(naive_first_sync(server, big, s, args.village_cases) for s in seeds)),
        )
        ours_p95 = percentile([r.seconds for r in ours_first], 95)
        naive_p95 = percentile([r.seconds for r in naive_first], 95)
        rows.append(
            Row(
                f"first sync of a {args.village_cases:,}-case village, cut link, {p95_label}",
                "≤ 90 s",
                f"{ours_p95:.1f} s",
                f"{naive_p95:.1f} s",
                ratio(naive_p95, ours_p95),
                verdict(ours_p95, 90),
            )
        )
        rows.append(
            Row(
                "  data per first sync (mean, incl. resends)",
                "",
                size(sum(r.bytes for r in ours_first) / args.runs),
                size(sum(r.bytes for r in naive_first) / args.runs),
                ratio(sum(r.bytes for r in naive_first), sum(r.bytes for r in ours_first)),
            )
        )
        notes.append(
            f"first sync, seconds per run: ours {spread(ours_first, lambda r: r.seconds)}; "
            f"baseline {spread(naive_first, lambda r: r.seconds)}. Ours: full snapshots (parties, timeline) in pages "
            "of 100; baseline: GET /cases pages of 100, summaries only (no parties, no timeline), so a lower bound "
            "of what a REST client would need"
        )
        # One exchange carries the photo, so with 10% of exchanges cut a handful of runs
        # often sees no cut at all; the runs are cheap in parallel (a few requests each).
        photo_seeds = [args.seed + index for index in range(PHOTO_RUNS_PER_RUN * args.runs)]
        say(f"[link] a 300 KB photo: {len(photo_seeds)} runs each side, in parallel …")
        rows.extend(await bench_photo(server, args, photo_seeds, workdir, [next(pool) for _ in photo_seeds], notes))
    return rows, notes


# ---- the beacon: an idle device asks "anything new after change_seq?" and gets 204


async def ours_periodic(server: Server, device: Device, seed: int, calls: int, *, udp: bool) -> LinkRun:
    """``Device.sync_if_needed`` as the phone's 5-minute timer calls it: the beacon (one
    datagram each way with ``udp``, else ``GET /b/…``), and a full sync only when the beacon
    says so; a check that got no answer waits for the next round. Datagrams go through a
    relay with the link's delay and loss (5% of questions, 5% of answers); their payload
    bytes are added to the HTTP bytes."""
    full_syncs = 0
    udp_port = device.store.get("beacon_udp_port")
    async with (
        shaped(server, seed) as proxy,
        udp_relay(
            ("127.0.0.1", int(udp_port or 0)),
            rtt_s=RTT_S,
            drop_request=CUT_REQUEST,
            drop_answer=CUT_RESPONSE,
            seed=seed,
        ) as relay,
    ):
        route_through(device, proxy)
        device.store.set("beacon_udp_port", str(relay.port) if udp else None)
        started = time.perf_counter()
        try:
            for _ in range(calls):
                while True:
                    try:
                        full_syncs += await device.sync_if_needed() is not None
                        break
                    except SyncError as error:
                        if not error.retryable:
                            raise
                        await asyncio.sleep(RETRY_PAUSE_S)
        finally:
            device.store.set("beacon_udp_port", udp_port)
        seconds = time.perf_counter() - started
    datagrams = relay.stats.datagrams_up + relay.stats.datagrams_down
    run = run_of(proxy, seconds / calls, full_syncs=full_syncs, datagrams=datagrams)
    run.up += relay.stats.bytes_up
    run.down += relay.stats.bytes_down
    run.cut += sum(relay.stats.dropped.values())
    return run


# ---- a 300 KB photo


class CarriedProxy(FaultProxy):
    """Also counts the bytes carried toward the server. ``ProxyStats.bytes_up`` counts what
    the client handed over, whole even when the request is cut; on a real link only the
    part before the cut was sent, and that part is what a resume may send again."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.carried_up = 0
        self._clients: set[asyncio.StreamWriter] = set()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self._clients.add(client_writer)
        try:
            await super()._serve(client_reader, client_writer)
        finally:
            self._clients.discard(client_writer)

    async def _send(self, writer: asyncio.StreamWriter | None, data: bytes) -> None:
        if writer is not None and writer not in self._clients:
            self.carried_up += len(data)
        await super()._send(writer, data)


def photo_proxy(server: Server, seed: int) -> CarriedProxy:
    return CarriedProxy(
        server.root,
        shape=LinkShape(bandwidth_bps=BANDWIDTH_BPS, rtt_s=RTT_S),
        faults=FaultPlan(cut_request=CUT_REQUEST, cut_response=CUT_RESPONSE, seed=seed),
    )


def tus_metadata(data: bytes) -> dict[str, str]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "filetype": "image/jpeg", "filename": "现场照片.jpg"}


def photo_run(proxy: CarriedProxy, seconds: float, size_of: int, failures: int) -> LinkRun:
    run = run_of(proxy, seconds, failures=failures)
    run.extra["twice"] = max(0, proxy.carried_up - size_of) / size_of
    return run


async def ours_photo(server: Server, village: str, data: bytes, seed: int, workdir: Path) -> LinkRun:
    """``Device.attach`` on a case the server has, then syncs until the file is through:
    the attach_file record, then the tus upload (sync/uploads.py) resuming after cuts."""
    device = await new_device(server, grid_worker(village), workdir)
    case_id = device.capture_case(case_body(random.Random(seed), grid_of(village)))
    await sync_until_done(device)  # straight to the server: the case is not what is measured
    photo = workdir / f"photo-{seed}.jpg"
    photo.write_bytes(data)
    device.attach(case_id, photo, note="现场照片")
    proxy = photo_proxy(server, seed)
    async with proxy:
        route_through(device, proxy)
        started = time.perf_counter()
        failures = await sync_until_done(device)
        seconds = time.perf_counter() - started
    jobs = device.uploads.jobs()
    assert [job.state for job in jobs] == ["done"], [(job.state, job.code, job.message) for job in jobs]
    assert_all_applied(device, 2)
    return photo_run(proxy, seconds, len(data), failures)


def naive_photo(server: Server, token: str, data: bytes, seed: int) -> LinkRun:
    """The whole file in one request; after a cut, everything again from the first byte.
    The server would resume, so before each new attempt the bench deletes the upload
    straight at the server (not over the link, not counted): the next one starts at zero."""
    metadata = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in tus_metadata(data).items())
    auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": TUS_VERSION}
    proxy = photo_proxy(server, seed)
    with proxy.running_in_thread(), httpx.Client(timeout=300, headers=auth) as http:
        started = time.perf_counter()
        failures = 0
        location = None
        while True:
            if location:
                httpx.delete(server.root + urlsplit(location).path, headers=auth)
                location = None
            try:
                created = http.post(
                    f"{proxy.url}{API}/files/", headers={"Upload-Length": str(len(data)), "Upload-Metadata": metadata}
                )
                assert created.status_code == 201, created.text
                location = created.headers["location"]
                had = int(created.headers["upload-offset"])
                sent = http.patch(
                    proxy.url + urlsplit(location).path,
                    content=data,
                    headers={"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
                )
            except httpx.TransportError:
                failures += 1
                time.sleep(RETRY_PAUSE_S)
                continue
            # 409: an earlier attempt had arrived whole (its answer was cut); sent again all the same.
            assert sent.status_code == (204 if had == 0 else 409), f"{had}: {sent.status_code} {sent.text}"
            break
        seconds = time.perf_counter() - started
    return photo_run(proxy, seconds, len(data), failures)


async def bench_photo(
    server: Server, args: argparse.Namespace, seeds: list[int], workdir: Path, villages: list[str], notes: list[str]
) -> list[Row]:
    token = await direct_login(server, grid_worker(villages[0]))
    threads = ThreadPoolExecutor(max_workers=len(seeds), thread_name_prefix="photo")
    loop = asyncio.get_running_loop()
    try:
        runs = await asyncio.gather(
            *(
                ours_photo(server, village, jpeg(PHOTO_BYTES, seed), seed, workdir)
                for village, seed in zip(villages, seeds, strict=False)
            ),
            *(loop.run_in_executor(threads, naive_photo, server, token, jpeg(PHOTO_BYTES, s + 1000), s) for s in seeds),
        )
    finally:
        threads.shutdown(wait=False)
    ours, naive = runs[: len(seeds)], runs[len(seeds) :]
    p95_label = p95_of(len(seeds))
    ours_p95 = percentile([r.seconds for r in ours], 95)
    naive_p95 = percentile([r.seconds for r in naive], 95)
    ours_twice = percentile([r.extra["twice"] * 100 for r in ours], 95)
    naive_twice = percentile([r.extra["twice"] * 100 for r in naive], 95)
    cut_ours, cut_naive = sum(r.cut > 0 for r in ours), sum(r.cut > 0 for r in naive)
    notes.append(
        f"photo: {PHOTO_RUNS_PER_RUN} runs per --runs (one exchange carries the file, so few runs often see no "
        f"cut); runs with a cut exchange: ours {cut_ours}, baseline {cut_naive} of {len(seeds)}; "
        f"seconds per run: ours {spread(ours, lambda r: r.seconds)}; "
        f"baseline {spread(naive, lambda r: r.seconds)}; "
        f"% sent twice per run: ours {spread(ours, lambda r: r.extra['twice'] * 100)}; "
        f"baseline {spread(naive, lambda r: r.extra['twice'] * 100)}. Ours: Device.attach, then Device.sync "
        f"(the attach_file record, then tus chunks of {Device.upload_chunk_size // 1024} KB resumed from the "
        "server's offset); baseline: the whole file in one request, from zero again after a cut. Bytes sent "
        "twice = every byte carried toward the server beyond the file size (heads and the record's sync included)"
    )
    return [
        Row(
            f"a 300 KB photo, cut link, {p95_label}",
            "≤ 90 s",
            f"{ours_p95:.1f} s",
            f"{naive_p95:.1f} s",
            ratio(naive_p95, ours_p95),
            verdict(ours_p95, 90),
        ),
        Row(
            "  bytes sent twice, % of the file (p95 of the runs)",
            "≤ 10%",
            f"{ours_twice:.1f}%",
            f"{naive_twice:.1f}%",
            "",
            verdict(ours_twice, 10),
        ),
    ]


# ------------------------------------------------------------------ report


def capacity_rows(results: list[Capacity]) -> list[tuple[str, ...]]:
    def cell(result: Capacity, key: str, fmt: str, scale: float = 1) -> str:
        value = result.figures.get(key)
        return "n/a" if value is None else fmt.format(value * scale)

    def check(key: str, limit: float, *, at_least: bool = False, scale: float = 1, only: str | None = None) -> str:
        verdicts = [
            verdict(r.figures[key] * scale, limit, at_least=at_least)
            for r in results
            if key in r.figures and (only is None or r.backend == only)
        ]
        return " / ".join(verdicts) or "n/a"

    first = results[0].figures if results else {}
    writers = f"{int(first.get('writers', 0))} devices × {int(first.get('batch', 0))}-mutation outboxes"
    devices = int(first.get("latency_devices", 50))
    period = first.get("period_s", 1.0)
    return [
        (
            f"mutations applied per second, sustained ({writers})",
            "≥ 300 (SQLite)",
            *(cell(r, "mutations_per_s", "{:,.0f}/s") for r in results),
            check("mutations_per_s", 300, at_least=True, only="sqlite"),
        ),
        (
            "  baseline: one REST request per mutation",
            "",
            *(cell(r, "rest_mutations_per_s", "{:,.0f}/s") for r in results),
            "",
        ),
        (
            f"p95 handler time, {devices} devices online, each syncing every {period:g} s (1 mutation + pull)",
            "≤ 200 ms",
            *(cell(r, "latency_p95", "{:,.0f} ms", 1000) for r in results),
            check("latency_p95", 200, scale=1000),
        ),
        ("  p50", "", *(cell(r, "latency_p50", "{:,.0f} ms", 1000) for r in results), ""),
        (
            "  p95 seen by the phones (loopback, with the benchmark's own queueing)",
            "",
            *(cell(r, "paced_observed_p95", "{:,.0f} ms", 1000) for r in results),
            "",
        ),
        (
            f"  saturated: {devices} devices syncing back to back, syncs served per second",
            "",
            *(cell(r, "syncs_per_s", "{:,.0f}/s") for r in results),
            "",
        ),
        (
            "  saturated: p95 handler time (queueing: devices ÷ syncs per second)",
            "",
            *(cell(r, "saturated_p95", "{:,.0f} ms", 1000) for r in results),
            "",
        ),
        (
            "  p95 latency of one device syncing alone",
            "",
            *(cell(r, "latency_alone_p95", "{:,.0f} ms", 1000) for r in results),
            "",
        ),
    ]


def report(args: argparse.Namespace, link: tuple[list[Row], list[str]] | None, capacity: list[Capacity]) -> None:
    print()
    print(
        f"fengqiao sync benchmark ({'quick' if args.quick else 'full'}): link {BANDWIDTH_BPS // 1000} kbit/s, "
        f"{RTT_S * 1000:.0f} ms RTT, {int((CUT_REQUEST + CUT_RESPONSE) * 100)}% of exchanges cut "
        f"({int(CUT_REQUEST * 100)}% requests, {int(CUT_RESPONSE * 100)}% answers), "
        f"{args.runs} runs per slow scenario, "
        f"seeds {args.seed}…{args.seed + args.runs - 1}"
    )
    if link is not None:
        rows, notes = link
        print_table(
            "Over the shaped link (SQLite server). base/ours: how many times the baseline's figure is ours",
            ("figure", "target", "ours", "baseline", "base/ours", "verdict"),
            [(r.figure, r.target, r.ours, r.baseline, r.ratio, r.verdict) for r in rows],
        )
        for note in notes:
            print(f"- {note}")
    if capacity:
        print_table(
            "Server capacity on this machine (loopback, no proxy)",
            ("figure", "target", *(r.backend for r in capacity), "verdict"),
            capacity_rows(capacity),
        )
        for result in capacity:
            for note in result.notes:
                print(f"- {result.backend}: {note}")


# ------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["link", "capacity"], help="run one half only")
    parser.add_argument("--runs", type=int, default=5, help="runs of each slow link scenario (fault seeds)")
    parser.add_argument("--seed", type=int, default=2026, help="first fault seed")
    parser.add_argument("--cases", type=int, default=100, help="new cases uploaded in one go")
    parser.add_argument("--village-cases", type=int, default=1_000, help="cases in the village of the first sync")
    parser.add_argument("--idle-syncs", type=int, default=20, help="empty syncs measured for the idle figure")
    parser.add_argument("--seconds", type=float, default=20, help="duration of each capacity run")
    parser.add_argument("--writers", type=int, default=16, help="devices pushing outboxes in the capacity run")
    parser.add_argument("--batch", type=int, default=50, help="mutations per outbox in the capacity run")
    parser.add_argument("--devices", type=int, default=50, help="devices online at once for the latency figure")
    parser.add_argument("--period", type=float, default=1.0, help="seconds between one device's syncs (paced phase)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="backends of the capacity half")
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer runs, cases and seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.cases, args.village_cases, args.idle_syncs, args.seconds = 2, 50, 200, 5, 5
        args.writers, args.devices = 4, 10
    return args


async def main_async(args: argparse.Namespace) -> None:
    link = None
    capacity: list[Capacity] = []
    with tempfile.TemporaryDirectory(prefix="fq-sync-bench-") as temporary:
        workdir = Path(temporary)
        if args.only in (None, "capacity"):
            for backend in [b for b in args.backends.split(",") if b]:
                result = await bench_capacity(backend, args, workdir)
                result.figures.update(writers=args.writers, batch=args.batch)
                capacity.append(result)
        if args.only in (None, "link"):
            link = await bench_link(args, workdir)
    report(args, link, capacity)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet()
    started = time.perf_counter()
    asyncio.run(main_async(args))
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
