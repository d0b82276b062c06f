"""API benchmark: SQLite and PostgreSQL side by side, each against a baseline of the same run.

    python -m bench.api_bench             # 100,000 cases in the list database
    python -m bench.api_bench --quick     # a smoke run (well under a minute)

Per backend (a fresh temporary SQLite file and a fresh PostgreSQL database, both removed
at the end):

(c) Import of the 陕西省 division file (21,809 rows): the first import and the idempotent
    re-import through ``RegionService.import_divisions``. Baseline: a raw executemany
    INSERT of the same rows, paths precomputed, into an empty copy of the region table
    with the same indexes (the storage floor: no lookups, no upsert).
(a) Cases registered per second through ``CaseService.create`` (validation, lookups,
    AES-GCM encryption of identity fields, one BEGIN IMMEDIATE transaction per case), one
    writer. Baseline: the same rows (case, 2 parties, 1 timeline event) written per case
    in one ``Database.write()`` transaction with raw Core INSERTs, nothing else.
(b) Latency of a filtered page of 50 cases (status + township, as a county officer)
    over a database of ``--cases`` realistic rows (bulk-loaded raw; ANALYZE afterwards):
    the first page through the HTTP app (httpx + ASGITransport: auth, service, JSON), and
    a deep page (``--depth`` rows in) through ``CaseService.list`` with its keyset cursor.
    Baselines: the same deep page with OFFSET, and both queries again after dropping the
    ``(region_path, registered_at, id)`` index.

PostgreSQL: ``FENGQIAO_TEST_POSTGRES_URL`` (default the
local server's ``test`` database) names a server where a throwaway database is created;
when it is unreachable its column says so and SQLite still runs.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import random
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
from httpx import ASGITransport, AsyncClient
from sqlalchemy import MetaData, insert
from sqlmodel import select

from grid.calendar import CHINA_TZ, local_date
from grid.cases import Case, CaseCounter, CaseEvent, HandlingLevel, Kind, Party, official_number
from grid.hierarchy import Level, Region, compute_paths, parse_division_csv
from grid.identity import check_character, mask_address, mask_id_number
from grid.lifecycle import Action, Actor, Command, Decision, decide, register
from grid.people import Role
from server.app import create_app
from server.clock import FixedClock
from server.crypto import FieldCipher, generate_key_text
from server.db import Database, create_engine, query_plan
from server.migrate import upgrade
from server.principal import Principal
from server.schemas.cases import CaseCreate
from server.security import hash_password
from server.services.cases import CaseFilters, CaseService, encode_cursor
from server.services.categories import CategoryService
from server.services.context import ServiceContext
from server.services.deadlines import stamp_next_deadline
from server.services.regions import RegionService
from server.services.users import UserService, principal_of
from server.settings import Settings
from tests.pg import POSTGRES_URL, create_database, drop_database

ROOT = Path(__file__).resolve().parent.parent
DIVISIONS = ROOT.parent / "shared" / "data" / "divisions"
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=CHINA_TZ)  # a Monday; the calendar has data for it
COUNTY = "611026000000"  # 柞水县
TOWNSHIP = "611026109000"  # the list filter: the township with the most villages (14 of 82)
PASSWORD = "bench-password"
PATH_INDEX = "ix_case_file_region_path_registered"
PAGE = 50
CASES, PARTIES, EVENTS = Case.__table__, Party.__table__, CaseEvent.__table__

DISPUTES = [
    ("neighbourhood", "邻里因排水沟堵塞发生争执", "要求对方疏通排水沟并赔偿被淹的菜地损失"),
    ("homestead", "宅基地边界纠纷", "请求村委会重新确认两户宅基地界址"),
    ("land_forest", "山林承包界线争议", "请求依据林权证确认承包界线"),
    ("marriage_family", "赡养老人费用分担纠纷", "要求兄弟三人按月分担母亲的赡养费用"),
    ("wage_arrears", "农民工工资拖欠", "请求督促包工头支付拖欠的工资"),
    ("contract", "土地流转合同租金纠纷", "要求合作社按合同支付土地流转租金"),
    ("damages", "饲养的牛损坏庄稼", "要求对方赔偿被毁玉米的损失"),
]
NAMES = ["王建国", "李秀英", "张桂兰", "刘志强", "陈红梅", "杨海燕", "赵德胜", "黄玉兰"]
# Share of the bulk-loaded cases in each state, and the steps that lead there.
STATES: dict[str, tuple[float, list[Action]]] = {
    "registered": (0.10, []),
    "accepted": (0.25, [Action.ACCEPT]),
    "in_mediation": (0.20, [Action.ACCEPT, Action.START_MEDIATION]),
    "not_accepted": (0.05, [Action.DECLINE]),
    "closed": (0.40, [Action.DECLINE, Action.CLOSE]),
}


# ------------------------------------------------------------------ measuring


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


async def latencies(run: Callable[[], Awaitable[object]], count: int, warmup: int = 3) -> tuple[float, float]:
    for _ in range(warmup):
        await run()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await run()
        samples.append((time.perf_counter() - started) * 1000)
    return percentile(samples, 50), percentile(samples, 95)


@dataclass
class Results:
    backend: str
    figures: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def put(self, key: str, value: str) -> None:
        self.figures[key] = value
        print(f"  [{self.backend}] {key}: {value}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ databases


async def create_postgres_database() -> str:
    return await create_database("fq_bench")


def make_context(url: str, key: str) -> ServiceContext:
    return ServiceContext(
        settings=Settings(database_url=url, data_key=key, token_ttl_hours=720),
        db=Database(create_engine(url, pool_size=5)),
        clock=FixedClock(NOW),
        cipher=FieldCipher.from_setting(key),
    )


async def execute(context: ServiceContext, sql: str) -> None:
    async with context.db.write() as session:
        await (await session.connection()).exec_driver_sql(sql)


async def analyze(context: ServiceContext) -> None:
    await execute(context, "ANALYZE")


def quiet() -> None:
    # Litestar configures the root logger at INFO; one line per request would drown the table.
    for name in ("httpx", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


# ------------------------------------------------------------------ (c) division import


async def bench_import(context: ServiceContext, results: Results) -> None:
    rows = parse_division_csv((DIVISIONS / "shaanxi.csv").read_text(encoding="utf-8"))
    paths = compute_paths(rows)
    records = [
        {
            "code": row.code,
            "name": row.name,
            "level": row.level.value,
            "parent_code": row.parent_code,
            "path": paths[row.code],
            "valid_from_year": 2023,
            "valid_to_year": None,
        }
        for row in rows
    ]
    # Baseline: the same rows into an empty copy of the table with the same indexes.
    copy = Region.__table__.to_metadata(MetaData(), name="region_bench_copy")
    for index in copy.indexes:
        index.name = f"bench_{index.name}"
    async with context.db.engine.begin() as connection:
        await connection.run_sync(copy.create)
    started = time.perf_counter()
    async with context.db.write() as session:
        await (await session.connection()).execute(insert(copy), records)
    raw = time.perf_counter() - started
    async with context.db.engine.begin() as connection:
        await connection.run_sync(copy.drop)

    regions = RegionService(context)
    started = time.perf_counter()
    first = await regions.import_divisions(rows, valid_from_year=2023)
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    again = await regions.import_divisions(rows, valid_from_year=2023)
    again_s = time.perf_counter() - started
    assert (first.inserted, again.inserted, again.updated) == (len(rows), 0, 0), (first, again)
    results.put("import.first", f"{first_s:.2f} s ({len(rows) / first_s:,.0f} rows/s)")
    results.put("import.again", f"{again_s:.2f} s")
    results.put("import.raw", f"{raw:.2f} s")
    results.put("import.ratio", f"{first_s / raw:.1f}x raw, re-import {again_s / first_s:.2f}x first")


# ------------------------------------------------------------------ people


@dataclass
class People:
    county: Principal
    leaders: dict[str, Principal]
    villages: dict[str, Region]


async def seed_people(context: ServiceContext) -> People:
    await CategoryService(context).ensure_default()
    regions = RegionService(context)
    county = await regions.get(COUNTY)
    villages = {region.code: region for region in await regions.subtree(county.path, level=Level.VILLAGE)}
    users = UserService(context)
    password_hash = hash_password(PASSWORD)
    county_user = await users.create(
        username="county",
        display_name="县干部",
        role=Role.COUNTY_OFFICER,
        node_code=COUNTY,
        password_hash=password_hash,
    )
    leaders = {}
    for code in villages:
        user = await users.create(
            username=f"leader-{code}",
            display_name="村干部",
            role=Role.VILLAGE_LEADER,
            node_code=code,
            password_hash=password_hash,
        )
        leaders[code] = principal_of(user)
    return People(principal_of(county_user), leaders, villages)


# ------------------------------------------------------------------ (a) registering cases


def id_number(rng: random.Random) -> str:
    first17 = (
        f"611026{rng.randint(1950, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    )
    return first17 + check_character(first17)


def case_create(rng: random.Random, village: str) -> CaseCreate:
    category, title, request = rng.choice(DISPUTES)
    return CaseCreate.model_validate(
        {
            "id": str(uuid.uuid4()),
            "kind": "civil_dispute",
            "category": category,
            "channel": "door_to_door",
            "title": title,
            "request": request,
            "facts": "双方多次协商未果，申请村调委会调解。",
            "risk": "low",
            "village_code": village,
            "location": {"latitude": 33.68, "longitude": 109.11},
            "parties": [
                {
                    "name": rng.choice(NAMES),
                    "role": "applicant",
                    "id_number": id_number(rng),
                    "phone": f"138{rng.randint(0, 99_999_999):08d}",
                    "address": "柞水县乾佑街道仁和社区12号",
                },
                {"name": rng.choice(NAMES), "role": "respondent", "id_number": id_number(rng)},
            ],
        }
    )


async def bench_create(context: ServiceContext, people: People, count: int, results: Results) -> None:
    rng = random.Random(1)
    village = sorted(people.leaders)[0]
    leader = people.leaders[village]
    bodies = [case_create(rng, village) for _ in range(count)]
    service = CaseService(context)
    for body in bodies[:5]:  # warm caches and the connection pool
        await service.create(leader, body)
    started = time.perf_counter()
    for body in bodies[5:]:
        await service.create(leader, body)
    service_rate = (count - 5) / (time.perf_counter() - started)

    # Baseline: the rows the service wrote, written again under new ids, one transaction each.
    async with context.db.read() as session:
        cases = (await session.exec(select(Case).limit(count))).all()
        parties = defaultdict(list)
        for party in (await session.exec(select(Party))).all():
            parties[party.case_id].append(party)
        events = {event.case_id: event for event in (await session.exec(select(CaseEvent))).all()}
    batches = []
    for case in cases:
        new_id = uuid.uuid4()
        case_row = case.model_dump() | {"id": new_id, "number": None}
        party_rows = [party.model_dump() | {"id": uuid.uuid4(), "case_id": new_id} for party in parties[case.id]]
        event_row = events[case.id].model_dump() | {"id": uuid.uuid4(), "case_id": new_id}
        batches.append((case_row, party_rows, event_row))
    started = time.perf_counter()
    for case_row, party_rows, event_row in batches:
        async with context.db.write() as session:
            connection = await session.connection()
            await connection.execute(insert(CASES), [case_row])
            await connection.execute(insert(PARTIES), party_rows)
            await connection.execute(insert(EVENTS), [event_row])
    raw_rate = len(batches) / (time.perf_counter() - started)
    results.put("create.service", f"{service_rate:,.0f} cases/s")
    results.put("create.raw", f"{raw_rate:,.0f} cases/s")
    results.put("create.ratio", f"{service_rate / raw_rate:.2f}x raw")


# ------------------------------------------------------------------ (b) listing


@dataclass
class Template:
    facts: dict[str, Any]
    iso: str
    events: list[tuple[str, str | None, str | None]]
    deadline: tuple[datetime | None, str | None, datetime | None, bool]


def status_value(status) -> str | None:
    return status.value if status else None


def lifecycle_templates(context: ServiceContext, days: int) -> dict[tuple[str, int], Template]:
    """Facts of each state for each day: the domain decides them (not hand-written JSON)."""
    actor = Actor(str(uuid.uuid4()), "村干部")
    party_ids = (str(uuid.uuid4()), str(uuid.uuid4()))
    data = {
        Action.ACCEPT: {},
        Action.START_MEDIATION: {"consenting_party_ids": list(party_ids), "informed_of_rights": True},
        Action.DECLINE: {"basis": "不属于受理范围"},
        Action.CLOSE: {"resolution": "已告知"},
    }
    templates = {}
    for day in range(days):
        at = (NOW - timedelta(days=day + 1)).replace(hour=9, minute=0, second=0, microsecond=0)
        for state, (_, steps) in STATES.items():
            decision: Decision = register(
                kind=Kind.CIVIL_DISPUTE,
                level=HandlingLevel.VILLAGE,
                party_ids=party_ids,
                involves_litigation=False,
                administrative_dispute=False,
                now=at,
                actor=actor,
            )
            entries = list(decision.entries)
            for action in steps:
                command = Command(
                    action, "依法处理", data[action], assigned_number="X" if action is Action.ACCEPT else None
                )
                decision = decide(decision.facts, command, now=at, actor=actor, calendar=context.calendar)
                entries.extend(decision.entries)
            facts = decision.facts
            stamp = SimpleNamespace()
            stamp_next_deadline(stamp, facts, context.calendar)  # type: ignore[arg-type]
            templates[(state, day)] = Template(
                facts=facts.to_json(),
                iso=at.isoformat(),
                events=[(str(e.kind), status_value(e.from_status), status_value(e.to_status)) for e in entries],
                deadline=(
                    stamp.next_deadline_at,
                    stamp.next_deadline_kind,
                    stamp.next_deadline_started_at,
                    stamp.deadline_provisional,
                ),
            )
    return templates


async def bulk_load(context: ServiceContext, people: People, count: int, cipher: FieldCipher) -> dict[str, int]:
    rng = random.Random(2026)
    days = 730
    templates = lifecycle_templates(context, days)
    states = list(STATES)
    weights = [share for share, _ in STATES.values()]
    villages = list(people.villages.values())
    creators = [people.leaders[village.code].user_id for village in villages]
    # A few real ciphertexts, reused: the list never decrypts, only the size matters.
    secrets = [
        (
            cipher.encrypt(number, context="party.id_number"),
            cipher.blind_index(number, "party.id_number"),
            mask_id_number(number),
            cipher.encrypt("13812345678", context="party.phone"),
            cipher.encrypt("柞水县乾佑街道仁和社区12号", context="party.address"),
        )
        for number in (id_number(rng) for _ in range(20))
    ]
    serials: dict[tuple[str, int], int] = defaultdict(int)
    by_status: Counter[str] = Counter()
    batch = 5000
    for start in range(0, count, batch):
        cases, parties, events = [], [], []
        for _ in range(min(batch, count - start)):
            case_id = uuid.uuid4()
            state = rng.choices(states, weights)[0]
            day = rng.randrange(days)
            template = templates[(state, day)]
            offset = timedelta(seconds=rng.randrange(8 * 3600))
            registered_at = datetime.fromisoformat(template.iso) + offset
            iso = registered_at.isoformat()
            facts = {key: (iso if value == template.iso else value) for key, value in template.facts.items()}
            village = rng.choice(villages)
            number = None
            if facts.get("number"):
                key = (village.code, local_date(registered_at).year)
                serials[key] += 1
                number = official_number(village.code, key[1], serials[key])
                facts["number"] = number
            category, title, request = rng.choice(DISPUTES)
            ends_at, kind, started_at, provisional = template.deadline
            by_status[facts["status"]] += 1
            cases.append(
                {
                    "id": case_id,
                    "number": number,
                    "kind": "civil_dispute",
                    "category_code": category,
                    "category_version": 1,
                    "channel": rng.choice(["visit", "phone", "door_to_door"]),
                    "title": title,
                    "request": request,
                    "facts": "双方多次协商未果，申请村调委会调解。",
                    "reasons": "",
                    "risk": rng.choice(["low", "low", "medium", "high"]),
                    "latitude": 33.6 + rng.random() / 10,
                    "longitude": 109.1 + rng.random() / 10,
                    "people_involved": 2,
                    "is_collective": False,
                    "involves_litigation": False,
                    "administrative_dispute": False,
                    "violence_risk": False,
                    "cadres_involved": False,
                    "multi_village": False,
                    "village_code": village.code,
                    "grid_code": None,
                    "region_path": village.path,
                    "level": "village",
                    "handling_node_code": village.code,
                    "handling_node_path": village.path,
                    "status": facts["status"],
                    "lifecycle": facts,
                    "next_deadline_at": ends_at + offset if ends_at else None,
                    "next_deadline_kind": kind,
                    "next_deadline_started_at": started_at + offset if started_at else None,
                    "deadline_provisional": provisional,
                    "created_by": rng.choice(creators),
                    "assigned_to": None,
                    "captured_at": registered_at,
                    "registered_at": registered_at,
                    "updated_at": registered_at,
                    "version": len(template.events),
                    "intake_digest": hashlib.sha256(case_id.bytes).hexdigest(),
                }
            )
            for ordinal, role in enumerate(("applicant", "respondent")):
                id_cipher, id_index, id_masked, phone_cipher, address_cipher = rng.choice(secrets)
                parties.append(
                    {
                        "id": uuid.uuid4(),
                        "case_id": case_id,
                        "ordinal": ordinal,
                        "kind": "person",
                        "role": role,
                        "name": rng.choice(NAMES),
                        "is_representative": False,
                        "is_signer": False,
                        "id_number_status": "verified",
                        "id_unknown_reason": None,
                        "id_number_masked": id_masked,
                        "id_number_cipher": id_cipher,
                        "id_number_index": id_index,
                        "org_code": None,
                        "phone_kind": "mobile",
                        "phone_masked": "138****5678",
                        "phone_cipher": phone_cipher,
                        "address_masked": mask_address("柞水县乾佑街道仁和社区12号"),
                        "address_cipher": address_cipher,
                    }
                )
            for seq, (kind_name, from_status, to_status) in enumerate(template.events, start=1):
                events.append(
                    {
                        "id": uuid.uuid4(),
                        "case_id": case_id,
                        "seq": seq,
                        "kind": kind_name,
                        "at": registered_at,
                        "actor_id": None,
                        "actor_name": "村干部",
                        "reason": None,
                        "from_status": from_status,
                        "to_status": to_status,
                        "data": {},
                    }
                )
        async with context.db.write() as session:
            connection = await session.connection()
            await connection.execute(insert(CASES), cases)
            await connection.execute(insert(PARTIES), parties)
            await connection.execute(insert(EVENTS), events)
    async with context.db.write() as session:
        counters = [
            {"village_code": village, "year": year, "last_serial": serial}
            for (village, year), serial in serials.items()
        ]
        if counters:
            await (await session.connection()).execute(insert(CaseCounter.__table__), counters)
    return dict(by_status)


async def offset_statement(session, service: CaseService, principal: Principal, filters: CaseFilters, depth: int):
    # The very statement CaseService.list runs, paged by OFFSET instead of a cursor.
    return (await service.list_statement(session, principal, filters)).offset(depth).limit(PAGE + 1)


async def plan_summary(context: ServiceContext, statement) -> str:
    async with context.db.read() as session:
        plan = await query_plan(session, statement)
    if context.db.dialect == "sqlite":
        return "; ".join(plan)
    return "; ".join(line.strip().split("  (")[0] for line in plan if "Scan" in line)


async def bench_list(
    context: ServiceContext, people: People, settings: Settings, args: argparse.Namespace, results: Results
) -> None:
    started = time.perf_counter()
    by_status = await bulk_load(context, people, args.cases, context.cipher)
    await analyze(context)
    results.put("list.load", f"{args.cases:,} cases in {time.perf_counter() - started:.1f} s")
    status = "accepted"
    service = CaseService(context)
    county = people.county
    filters = CaseFilters(status=[status], region=TOWNSHIP)
    async with context.db.read() as session:
        matching = len(
            (await session.exec((await offset_statement(session, service, county, filters, 0)).limit(None))).all()
        )
    depth = max(0, min(args.depth, matching - PAGE - 1))
    results.put("list.matching", f"{matching:,} of {sum(by_status.values()):,} match; deep page at row {depth:,}")

    token = (await UserService(context).login("county", PASSWORD)).token
    app = create_app(settings, context=context)
    quiet()
    async with AsyncClient(
        transport=ASGITransport(app=app),
        base_url="http://bench.local/api/v1",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        params = {"status": status, "region": TOWNSHIP, "limit": PAGE}

        async def http_first_page() -> None:
            response = await client.get("/cases", params=params)
            assert response.status_code == 200, response.text
            assert len(response.json()["items"]) == min(PAGE, matching)

        async with context.db.read() as session:
            before = (await session.exec(await offset_statement(session, service, county, filters, depth - 1))).first()
        cursor = encode_cursor(before) if before is not None and depth else None

        async def keyset_deep_page() -> list[uuid.UUID]:
            rows, _ = await service.list(county, filters, cursor=cursor, limit=PAGE)
            return [row.id for row in rows]

        async def offset_deep_page() -> list[uuid.UUID]:
            async with context.db.read() as session:
                rows = (await session.exec(await offset_statement(session, service, county, filters, depth))).all()
            return [row.id for row in rows[:PAGE]]

        assert await keyset_deep_page() == await offset_deep_page(), "keyset and OFFSET pages differ"
        async with context.db.read() as session:
            first_page = (await service.list_statement(session, county, filters)).limit(PAGE + 1)
        results.notes.append(f"first-page plan: {await plan_summary(context, first_page)}")
        requests = args.requests
        first = await latencies(http_first_page, requests)
        keyset = await latencies(keyset_deep_page, requests)
        offset = await latencies(offset_deep_page, requests)
        await execute(context, f"DROP INDEX {PATH_INDEX}")
        await analyze(context)
        results.notes.append(f"first-page plan without {PATH_INDEX}: {await plan_summary(context, first_page)}")
        first_no_index = await latencies(http_first_page, requests)
        keyset_no_index = await latencies(keyset_deep_page, requests)

    def show(figures: tuple[float, float]) -> str:
        return f"{figures[0]:.1f} / {figures[1]:.1f} ms"

    results.put("list.http_first", show(first))
    results.put("list.keyset_deep", show(keyset))
    results.put("list.offset_deep", show(offset))
    results.put("list.offset_ratio", f"{offset[0] / keyset[0]:.1f}x keyset (p50)")
    results.put("list.http_first_noidx", show(first_no_index))
    results.put("list.keyset_deep_noidx", show(keyset_no_index))
    results.put(
        "list.noidx_ratio",
        f"first {first_no_index[0] / first[0]:.1f}x, deep {keyset_no_index[0] / keyset[0]:.1f}x (p50)",
    )


# ------------------------------------------------------------------ one backend


async def run_backend(name: str, args: argparse.Namespace) -> Results:
    results = Results(name)
    key = generate_key_text()
    temporary = None
    if name == "sqlite":
        temporary = tempfile.TemporaryDirectory(prefix="fq-bench-")
        url = f"sqlite+aiosqlite:///{Path(temporary.name) / 'bench.db'}"
    else:
        try:
            url = await create_postgres_database()
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            results.notes.append(f"PostgreSQL unavailable at {POSTGRES_URL}: {error}")
            return results
    context = None
    try:
        await asyncio.to_thread(upgrade, url)
        context = make_context(url, key)
        await context.reload_calendar()
        await bench_import(context, results)
        people = await seed_people(context)
        await bench_create(context, people, args.creates, results)
        await bench_list(context, people, context.settings, args, results)
    finally:
        if context is not None:
            await context.db.dispose()
        if temporary is not None:
            temporary.cleanup()
        elif name == "postgresql":
            await drop_database(url)
    return results


ROWS = [
    ("(c) import 陕西省 21,809 rows", None),
    ("  first import (service)", "import.first"),
    ("  re-import, nothing changed", "import.again"),
    ("  baseline: raw INSERT, same rows", "import.raw"),
    ("  ratio", "import.ratio"),
    ("(a) register cases, 1 writer", None),
    ("  CaseService.create", "create.service"),
    ("  baseline: raw INSERTs, same rows", "create.raw"),
    ("  ratio", "create.ratio"),
    ("(b) list 50 cases, p50 / p95", None),
    ("  bulk load (raw) + ANALYZE", "list.load"),
    ("  filter status+township", "list.matching"),
    ("  HTTP first page (keyset)", "list.http_first"),
    ("  service deep page (keyset)", "list.keyset_deep"),
    ("  baseline: same page by OFFSET", "list.offset_deep"),
    ("  OFFSET / keyset", "list.offset_ratio"),
    ("  HTTP first page, no path index", "list.http_first_noidx"),
    ("  deep page, no path index", "list.keyset_deep_noidx"),
    ("  no index / index", "list.noidx_ratio"),
]


def print_table(all_results: list[Results], args: argparse.Namespace) -> None:
    width = max(len(label) for label, _ in ROWS) + 2
    columns = [max(26, *(len(value) + 2 for value in r.figures.values())) for r in all_results]
    print()
    print(
        f"fengqiao API benchmark: {args.cases:,} cases listed, {args.creates:,} registered, "
        f"{args.requests} requests per latency figure"
    )
    header = "".ljust(width) + "".join(r.backend.ljust(c) for r, c in zip(all_results, columns, strict=True))
    print(header)
    print("-" * len(header))
    for label, key in ROWS:
        cells = (
            ""
            if key is None
            else "".join(r.figures.get(key, "n/a").ljust(c) for r, c in zip(all_results, columns, strict=True))
        )
        print(label.ljust(width) + cells)
    for r in all_results:
        for note in r.notes:
            print(f"{r.backend}: {note}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="cases in the list database")
    parser.add_argument("--creates", type=int, default=1_000, help="cases registered through the service")
    parser.add_argument("--requests", type=int, default=200, help="requests per latency figure")
    parser.add_argument("--depth", type=int, default=2_000, help="rows before the deep page")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.cases, args.creates, args.requests, args.depth = 3_000, 100, 20, 300
    return args


async def main_async(args: argparse.Namespace) -> None:
    all_results = []
    for name in [b for b in args.backends.split(",") if b]:
        print(f"running {name} …", file=sys.stderr, flush=True)
        all_results.append(await run_backend(name, args))
    print_table(all_results, args)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet()
    started = time.perf_counter()
    asyncio.run(main_async(args))
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
