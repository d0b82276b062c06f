"""Monthly statistics report benchmark: 柞水县 with 10,000 cases in the month.

    python -m bench.monthly_bench                    # 10,000 cases, SQLite and PostgreSQL
    python -m bench.monthly_bench --cases 2000       # a quick try
    python -m bench.monthly_bench --backends sqlite

Per backend, on a fresh database (a temporary SQLite file, a throwaway PostgreSQL
database; removed at the end) with 柞水县's divisions: ``--cases`` cases registered in
November 2026 are bulk-loaded (raw executemany INSERTs; not part of any figure). Their
lifecycle facts come from the domain itself (``grid.lifecycle.decide``), in ten kinds of
history — still registered, mediated to an oral or a written agreement, mediation failed,
handled and answered, still in handling, escalated and answered by the township, routed
to the courts, declined — with the timeline entries the statistics read (declines,
routes), 2% duplicates, 1% 越级 and a respondent organisation on one case in ten.

Figures, each the median of ``--runs`` runs (as of 1 December 2026, 00:30):

- **figures**: ``StatisticsService.compute`` of the county for 2026-11: the set queries
  and every indicator; its **baseline**, measured in the same run, is a naive loop that
  reads each case and its links with queries of its own (five per case), then computes
  the same indicators — both must give the same figures;
- **PDF**: the monthly report rendered (``render_statistics_pdf``, in this process), its
  size and page count; its baseline is the same report without its charts;
- **CSV / XLSX**: the files and their sizes;
- **total**: figures + PDF, what the monthly job spends per county.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import json
import random
import re
import statistics as stats
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from pypdf import PdfReader
from sqlalchemy import func, insert
from sqlmodel import col, select

from bench.county import COUNTY, migrated_county
from grid.calendar import CHINA_TZ
from grid.cases import Case, CaseEvent, HandlingLevel, Kind, Party, PartyKind, PartyRole, official_number
from grid.hierarchy import Level
from grid.lifecycle import Action, Actor, CaseFacts, Command, TimelineEntry, decide, register
from grid.people import Role
from grid.repeats import CaseDuplicate, CaseSkipLevel
from reports import statistics_report
from reports.spreadsheets import to_csv, to_xlsx
from reports.statistics import CaseRecord, compute, parse_period
from server.crypto import generate_key_text
from server.security import hash_password
from server.services.context import ServiceContext
from server.services.regions import in_subtree
from server.services.statistics import StatisticsService
from server.services.users import UserService
from tests.pg import POSTGRES_URL, create_database, drop_database

PERIOD = parse_period("2026-11")
AS_OF = datetime(2026, 12, 1, 0, 30, tzinfo=CHINA_TZ)
ACTOR = Actor(None, "干部")
LOAD_BATCH = 2_000
CATEGORIES = ("neighbourhood", "homestead", "land_forest", "marriage_family", "wage_arrears", "contract", "damages")
CHANNELS = ("door_to_door", "door_to_door", "visit", "phone", "letter", "online")
REPLY = {
    "outcome": "support",
    "request": "请求依法处理",
    "facts_and_reasons": "经调查核实，情况属实。",
    "decision": "责成相关单位整改。",
    "legal_basis": "《信访工作条例》第三十二条",
}
MEDIATE = (Action.START_MEDIATION, {"consenting_party_ids": ["p1", "p2"], "informed_of_rights": True})
# (kind, steps as (days after registration, action, data)).
HISTORIES: dict[str, tuple[Kind, list[tuple[float, Action, dict[str, Any]]]]] = {
    "registered": (Kind.CIVIL_DISPUTE, []),
    "oral_agreement": (
        Kind.CIVIL_DISPUTE,
        [
            (0.5, Action.ACCEPT, {}),
            (1, *MEDIATE),
            (2, Action.REACH_AGREEMENT, {"form": "oral", "content": "双方各自疏通排水沟。"}),
            (3, Action.CONFIRM_PERFORMANCE, {"summary": "回访确认已履行。"}),
            (3.5, Action.CLOSE, {"resolution": "调解成功"}),
        ],
    ),
    "written_agreement": (
        Kind.CIVIL_DISPUTE,
        [
            (0.5, Action.ACCEPT, {}),
            (1, *MEDIATE),
            (2, Action.REACH_AGREEMENT, {"form": "written", "content": "赔偿八百元。", "creates_obligations": True}),
            (
                2.5,
                Action.SIGN_AGREEMENT,
                {"party_ids": ["p1", "p2"], "mediator_signed": True, "committee_sealed": True},
            ),
            (4, Action.REQUEST_JUDICIAL_CONFIRMATION, {}),
        ],
    ),
    "mediation_failed": (
        Kind.CIVIL_DISPUTE,
        [(0.5, Action.ACCEPT, {}), (1, *MEDIATE), (3, Action.FAIL_MEDIATION, {"routes_told": ["litigation"]})],
    ),
    "answered": (
        Kind.CLAIM,
        [
            (1, Action.ACCEPT, {}),
            (2, Action.START_HANDLING, {}),
            (6, Action.REPLY, REPLY),
            (7, Action.EVALUATE, {"evaluation": "satisfied"}),
            (7.5, Action.CLOSE, {"resolution": "已答复"}),
        ],
    ),
    "in_handling": (Kind.CLAIM, [(1, Action.ACCEPT, {}), (2, Action.START_HANDLING, {})]),
    "township": (
        Kind.SUGGESTION,
        [
            (1, Action.ACCEPT, {}),
            (2, Action.ESCALATE, {}),
            (3, Action.ACCEPT, {}),
            (4, Action.START_HANDLING, {}),
            (8, Action.REPLY, REPLY | {"outcome": "explain"}),
        ],
    ),
    "routed": (Kind.CLAIM, [(1, Action.ACCEPT, {}), (2, Action.ROUTE, {"route": "litigation", "organ": "县人民法院"})]),
    "declined": (Kind.ACCUSATION, [(2, Action.DECLINE, {"basis": "不属于本机关职责"})]),
    "accepted": (Kind.CLAIM, [(1, Action.ACCEPT, {})]),
}
# Timeline entries the statistics read; the rest of a timeline is never read.
KEPT_ENTRIES = {Action.DECLINE.value, Action.ROUTE.value}


@dataclass(frozen=True)
class Template:
    kind: Kind
    lifecycle: dict[str, Any]
    status: str
    level: str
    registered_at: datetime
    entries: tuple[TimelineEntry, ...]


def make_template(context: ServiceContext, name: str, registered_at: datetime) -> Template | None:
    kind, steps = HISTORIES[name]
    decision = register(
        kind=kind,
        level=HandlingLevel.VILLAGE,
        party_ids=("p1", "p2"),
        involves_litigation=False,
        administrative_dispute=False,
        now=registered_at,
        actor=ACTOR,
    )
    entries = list(decision.entries)
    for days, action, data in steps:
        at = registered_at + timedelta(days=days)
        if at > AS_OF:
            break  # the history is as far as it got by the report's instant
        command = Command(action, "依法处理", data, assigned_number="N" if action is Action.ACCEPT else None)
        decision = decide(decision.facts, command, now=at, actor=ACTOR, calendar=context.calendar)
        entries += decision.entries
    facts = decision.facts
    return Template(kind, facts.to_json(), facts.status.value, facts.level.value, registered_at, tuple(entries))


@dataclass
class Place:
    code: str
    path: str
    township_code: str
    township_path: str


@dataclass
class Seed:
    villages: list[Place]
    creator: uuid.UUID
    templates: list[Template]
    rng: random.Random


async def prepare(url: str, key: str) -> tuple[ServiceContext, Seed]:
    context, regions, county = await migrated_county(url, key, AS_OF)
    townships = {region.code: region for region in await regions.subtree(county.path, level=Level.TOWNSHIP)}
    villages = [
        Place(v.code, v.path, str(v.parent_code), townships[str(v.parent_code)].path)
        for v in await regions.subtree(county.path, level=Level.VILLAGE)
    ]
    user = await UserService(context).create(
        username="county-bench",
        display_name="干部",
        role=Role.COUNTY_OFFICER,
        node_code=county.code,
        password_hash=hash_password("bench-password"),
    )
    rng = random.Random(2026)
    templates = []
    for day in range(30):
        for hour in (8, 11, 15):
            at = PERIOD.starts_at + timedelta(days=day, hours=hour, minutes=rng.randint(0, 59))
            templates += [t for name in HISTORIES if (t := make_template(context, name, at)) is not None]
    return context, Seed(villages, user.id, templates, rng)


def rows_for(seed: Seed, serials: dict[str, int], count: int, previous: list[uuid.UUID]) -> dict[str, list]:
    out: dict[str, list] = {"cases": [], "events": [], "parties": [], "duplicates": [], "skips": []}
    for _ in range(count):
        template = seed.rng.choice(seed.templates)
        village = seed.rng.choice(seed.villages)
        case_id = uuid.uuid4()
        lifecycle, number = template.lifecycle, None
        if lifecycle.get("number"):
            serials[village.code] = serials.get(village.code, 0) + 1
            number = official_number(village.code, 2026, serials[village.code])
            lifecycle = {**lifecycle, "number": number}
        handling = (
            (village.code, village.path)
            if template.level == "village"
            else (
                village.township_code,
                village.township_path,
            )
        )
        out["cases"].append(
            {
                "id": case_id,
                "number": number,
                "kind": template.kind.value,
                "category_code": seed.rng.choice(CATEGORIES),
                "category_version": 1,
                "channel": seed.rng.choice(CHANNELS),
                "title": "土地流转合同租金纠纷",
                "request": "要求合作社按合同支付土地流转租金",
                "facts": "双方多次协商未果。",
                "reasons": "",
                "risk": "low",
                "people_involved": 2,
                "is_collective": seed.rng.random() < 0.03,
                "involves_litigation": False,
                "administrative_dispute": False,
                "violence_risk": False,
                "cadres_involved": False,
                "multi_village": False,
                "village_code": village.code,
                "region_path": village.path,
                "level": template.level,
                "handling_node_code": handling[0],
                "handling_node_path": handling[1],
                "status": template.status,
                "lifecycle": lifecycle,
                "deadline_provisional": False,
                "created_by": seed.creator,
                "registered_at": template.registered_at,
                "updated_at": template.registered_at,
                "version": len(template.entries),
                "change_seq": 0,
                "intake_digest": hashlib.sha256(case_id.bytes).hexdigest(),
            }
        )
        for seq, entry in enumerate(template.entries, start=1):
            if entry.kind in KEPT_ENTRIES:
                out["events"].append(
                    {
                        "id": uuid.uuid4(),
                        "case_id": case_id,
                        "seq": seq,
                        "kind": entry.kind,
                        "at": entry.at,
                        "actor_id": None,
                        "actor_name": ACTOR.name,
                        "reason": entry.reason,
                        "from_status": entry.from_status.value if entry.from_status else None,
                        "to_status": entry.to_status.value if entry.to_status else None,
                        "data": entry.data,
                        "change_seq": 0,
                    }
                )
        if seed.rng.random() < 0.1:
            out["parties"].append(
                {
                    "id": uuid.uuid4(),
                    "case_id": case_id,
                    "ordinal": 1,
                    "kind": PartyKind.ORGANISATION.value,
                    "role": PartyRole.RESPONDENT.value,
                    "name": seed.rng.choice(["柞水县某建筑工程有限公司", "某农业合作社", "某物业公司"]),
                    "is_representative": False,
                    "is_signer": False,
                }
            )
        if previous and seed.rng.random() < 0.02:
            original = seed.rng.choice(previous)
            out["duplicates"].append(
                {
                    "case_id": case_id,
                    "original_id": original,
                    "matched_id": original,
                    "basis": "id_number",
                    "similarity": 0.6,
                    "original_status": "accepted",
                    "original_open": True,
                    "detected_at": template.registered_at,
                }
            )
        if seed.rng.random() < 0.01:
            out["skips"].append(
                {
                    "case_id": case_id,
                    "registered_level": "county",
                    "expected_level": "village",
                    "rule": "default.village",
                    "channel": "visit",
                    "detected_at": template.registered_at,
                }
            )
        previous.append(case_id)
    return out


async def load(context: ServiceContext, seed: Seed, count: int) -> float:
    started = time.perf_counter()
    serials: dict[str, int] = {}
    previous: list[uuid.UUID] = []
    tables = {
        "cases": Case.__table__,
        "events": CaseEvent.__table__,
        "parties": Party.__table__,
        "duplicates": CaseDuplicate.__table__,
        "skips": CaseSkipLevel.__table__,
    }
    for start in range(0, count, LOAD_BATCH):
        rows = rows_for(seed, serials, min(LOAD_BATCH, count - start), previous)
        async with context.db.write() as session:
            connection = await session.connection()
            for name, table in tables.items():
                if rows[name]:
                    await connection.execute(insert(table), rows[name])
    async with context.db.write() as session:
        await (await session.connection()).exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


# ------------------------------------------------------------------ the measured work


async def naive_figures(context: ServiceContext) -> dict[str, Any]:
    """The same figures with a query per case and per link (the baseline)."""
    service = StatisticsService(context)
    county = await service.region(COUNTY)
    inputs = await service.gather(county, PERIOD, AS_OF)
    records = []
    async with context.db.read() as session:
        ids = (
            await session.exec(
                select(Case.id)
                .where(
                    in_subtree(col(Case.region_path), county.path),
                    col(Case.registered_at) >= PERIOD.starts_at,
                    col(Case.registered_at) < PERIOD.ends_at,
                )
                .order_by(col(Case.registered_at), col(Case.id))
            )
        ).all()
        for case_id in ids:
            case = await session.get(Case, case_id)
            assert case is not None
            duplicate = await session.get(CaseDuplicate, case_id)
            skip = await session.get(CaseSkipLevel, case_id)
            declined = (
                await session.exec(
                    select(func.min(CaseEvent.at)).where(CaseEvent.case_id == case_id, CaseEvent.kind == "decline")
                )
            ).one()
            organisations = (
                await session.exec(
                    select(Party.name).where(
                        Party.case_id == case_id,
                        Party.kind == PartyKind.ORGANISATION.value,
                        Party.role == PartyRole.RESPONDENT.value,
                    )
                )
            ).all()
            records.append(
                CaseRecord(
                    id=str(case.id),
                    kind=Kind(case.kind),
                    category=case.category_code,
                    channel=case.channel,
                    is_collective=case.is_collective,
                    region_path=case.region_path,
                    registered_at=case.registered_at,
                    facts=CaseFacts.from_json(case.lifecycle),
                    duplicate=duplicate is not None,
                    skip_level=skip is not None,
                    declined_at=declined,
                    respondent_organisations=tuple(organisations),
                )
            )
    return compute(
        region_code=county.code,
        region_name=county.name,
        region_path=county.path,
        period=PERIOD,
        as_of=AS_OF,
        calendar=context.calendar,
        cases=records,
        activities=inputs.activities,
        screening=inputs.screening,
        categories=inputs.categories,
        children=inputs.children,
    ).to_json()


async def figures_of(context: ServiceContext) -> dict[str, Any]:
    service = StatisticsService(context)
    return (await service.compute(await service.region(COUNTY), PERIOD, AS_OF)).to_json()


async def median_seconds(runs: int, work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(runs):
        started = time.perf_counter()
        value = await work()
        times.append(time.perf_counter() - started)
    return stats.median(times), value


def without_charts(figures: dict[str, Any]) -> bytes:
    """The baseline report: the same document with its charts taken out."""
    html = re.sub(r"<figure>.*?</figure>", "", statistics_report.report_html(figures), flags=re.S)
    from reports.render import render_pdf

    return render_pdf(
        html,
        identifier=statistics_report.document_identifier(figures),
        title=statistics_report.report_title(figures),
        created=AS_OF,
    )


async def bench_backend(name: str, url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    key = generate_key_text()
    context, seed = await prepare(url, key)
    try:
        loaded = await load(context, seed, args.cases)
        print(f"  [{name}] loaded {args.cases} cases in {loaded:.1f} s", file=sys.stderr, flush=True)
        fast, figures = await median_seconds(args.runs, lambda: figures_of(context))
        slow, naive = await median_seconds(1, lambda: naive_figures(context))
        assert naive == figures, "the naive loop must find the same figures"
        assert figures["counts"]["registered"] == args.cases
        pdf_time, pdf = await median_seconds(
            args.runs, lambda: asyncio.to_thread(statistics_report.render_statistics_pdf, figures)
        )
        plain_time, plain = await median_seconds(args.runs, lambda: asyncio.to_thread(without_charts, figures))
        csv_time, csv_data = await median_seconds(args.runs, lambda: asyncio.to_thread(to_csv, figures))
        xlsx_time, xlsx_data = await median_seconds(args.runs, lambda: asyncio.to_thread(to_xlsx, figures))
        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        rows = [
            row(
                name, "figures (set queries + indicators)", fast, "s", f"naive per-case loop {slow:.2f} s", slow / fast
            ),
            row(
                name,
                "monthly report PDF: render",
                pdf_time,
                "s",
                f"without charts {plain_time:.2f} s",
                pdf_time / plain_time,
            ),
            row(
                name,
                "monthly report PDF: size",
                len(pdf) / 1024,
                "KB",
                f"without charts {len(plain) / 1024:.0f} KB",
                len(pdf) / len(plain),
            ),
            row(name, "monthly report PDF: pages", pages, "", "", None),
            row(
                name,
                "total for the county (figures + PDF)",
                fast + pdf_time,
                "s",
                f"naive {slow + pdf_time:.2f} s",
                (slow + pdf_time) / (fast + pdf_time),
            ),
            row(name, "CSV", csv_time * 1000, "ms", f"{len(csv_data) / 1024:.1f} KB", None),
            row(name, "XLSX", xlsx_time * 1000, "ms", f"{len(xlsx_data) / 1024:.1f} KB", None),
        ]
        print(f"  [{name}] resolution {json.dumps(figures['rates']['resolution'])}", file=sys.stderr, flush=True)
        return rows
    finally:
        await context.db.dispose()


def row(backend: str, measure: str, value: float, unit: str, baseline: str, ratio: float | None) -> dict[str, Any]:
    return {"backend": backend, "measure": measure, "value": value, "unit": unit, "baseline": baseline, "ratio": ratio}


async def run_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name in args.backends:
        if name == "sqlite":
            with tempfile.TemporaryDirectory(prefix="fq-monthly-") as folder:
                rows += await bench_backend(name, f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", args)
            continue
        try:
            url = await create_database("fq_bench")
        except (OSError, asyncpg.PostgresError) as error:
            rows.append(row(name, f"unavailable at {POSTGRES_URL}: {error}", float("nan"), "", "", None))
            continue
        try:
            rows += await bench_backend(name, url, args)
        finally:
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await drop_database(url)
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """The benchmark's rows (backend, measure, value, unit, baseline, ratio)."""
    return asyncio.run(run_async(parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    rows = run(argv)
    print(f"Monthly statistics report of 柞水县 ({COUNTY}), {PERIOD.key}:")
    print(f"{'backend':<11} {'measure':<40} {'value':>10} {'unit':<3}  {'baseline (same run)':<32} ratio")
    for item in rows:
        value = "—" if item["value"] != item["value"] else f"{item['value']:.2f}"
        ratio = "" if item["ratio"] is None else f"{item['ratio']:.1f}×"
        print(
            f"{item['backend']:<11} {item['measure']:<40} {value:>10} {item['unit']:<3}  {item['baseline']:<32} {ratio}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
