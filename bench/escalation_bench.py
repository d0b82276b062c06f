"""Escalation sweep benchmark: SQLite and PostgreSQL side by side, against a naive sweep.

    python -m bench.escalation_bench                  # 1,000,000 cases, 1% of them due
    python -m bench.escalation_bench --cases 20000    # a quick try

Per backend, on fresh databases (a temporary SQLite file, a throwaway PostgreSQL database;
removed at the end), with 柞水县's divisions and a leader or officer for every node:

- Cases are bulk-loaded with raw executemany INSERTs (timed and printed, not part of any
  figure). Their lifecycle facts and stored ``next_check_at`` come from the domain itself
  (``grid.lifecycle`` and ``grid.escalation.next_check_at``), as the case service would
  store them: 40% closed (nothing to check), the open ones registered in the last three
  days (their next check is ahead), and the due ones: ordinary disputes accepted by a
  village 10-19 days before the sweep, whose 7-day stage has run out, so each goes up to
  its town (with its lights, reminders and notifications).
- **Nothing due**: ``EscalationSweeper.sweep`` when no case is due, at 10,000 cases and at
  ``--cases`` (median of ``--empty-runs``): one indexed range read that finds nothing.
- **The sweep**: ``--cases`` cases of which ``--due-share`` are due, swept once; time and
  due cases per second. Target on SQLite: at most 30 s for 1,000,000 cases (10,000 due).
- **Baseline**, measured in the same run on its own database of ``--baseline-cases``
  cases with the same mix: a naive sweep that reads every open case, evaluates it with the
  engine and then acts on those with decisions through the same code path; and the same
  naive pass again when nothing is due. The indexed sweep is run on an identical database
  of that size for the ratio.

PostgreSQL: ``FENGQIAO_TEST_POSTGRES_URL`` (default the local server's ``test`` database)
names a server where throwaway databases are created; when unreachable its column says so.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import insert
from sqlmodel import col, select

from bench.api_bench import Results, analyze, quiet
from bench.county import migrated_county
from grid.calendar import CHINA_TZ, local_date
from grid.cases import Case, CaseEvent, HandlingLevel, Kind, official_number
from grid.escalation import CaseView, evaluate, next_check_at
from grid.hierarchy import Level
from grid.lifecycle import Action, Actor, Command, Decision, TimelineEntry, decide, register
from grid.people import Role
from server.crypto import generate_key_text
from server.security import hash_password
from server.services import escalation_sweep
from server.services.context import ServiceContext
from server.services.escalation import fired_keys, policy_in_force, view_of
from server.services.escalation_sweep import EscalationSweeper, SweepReport
from server.services.users import UserService
from tests.pg import POSTGRES_URL, create_database, drop_database

# Monday 16 November 2026, 10:00 in China: every stage involved lies in 2026 (official data).
NOW = datetime(2026, 11, 16, 10, 0, tzinfo=CHINA_TZ)
CASES, EVENTS = Case.__table__, CaseEvent.__table__
CLOSED_SHARE = 0.40
LOAD_BATCH = 5_000
EMPTY_AT = 10_000
ACTOR = Actor(None, "村干部")


# ------------------------------------------------------------------ case templates


@dataclass(frozen=True)
class Template:
    """One kind of stored case: its facts as the domain decided them, and its next check."""

    lifecycle: dict[str, Any]
    status: str
    registered_at: datetime
    next_check_at: datetime | None
    accepted: bool
    events: tuple[tuple[str, str | None, str | None], ...]


def _template(context: ServiceContext, at: datetime, actions: list[tuple[Action, dict[str, Any]]]) -> Template:
    calendar, policy = context.calendar, policy_in_force(context.settings)
    decision: Decision = register(
        kind=Kind.CIVIL_DISPUTE,
        level=HandlingLevel.VILLAGE,
        party_ids=("p1", "p2"),
        involves_litigation=False,
        administrative_dispute=False,
        now=at,
        actor=ACTOR,
    )
    entries: list[TimelineEntry] = list(decision.entries)
    for action, data in actions:
        command = Command(action, "依法处理", data, assigned_number="N" if action is Action.ACCEPT else None)
        decision = decide(decision.facts, command, now=at, actor=ACTOR, calendar=calendar)
        entries += decision.entries
    facts = decision.facts
    view = CaseView.build(facts, calendar, case_id="template", changed_at=at, category="contract")
    return Template(
        lifecycle=facts.to_json(),
        status=facts.status.value,
        registered_at=at,
        next_check_at=next_check_at(view, policy, calendar),
        accepted=facts.number is not None,
        events=tuple(
            (str(e.kind), e.from_status.value if e.from_status else None, e.to_status.value if e.to_status else None)
            for e in entries
        ),
    )


def templates(context: ServiceContext) -> dict[str, list[Template]]:
    accept = [(Action.ACCEPT, {})]
    due = [
        _template(context, (NOW - timedelta(days=days)).replace(hour=hour, minute=0), accept)
        for days in range(10, 20)
        for hour in range(8, 18)
    ]
    ahead = [
        _template(context, NOW - timedelta(hours=hours, minutes=17), accept if hours % 2 else [])
        for hours in range(1, 72)
    ]
    closed = [
        _template(
            context,
            NOW - timedelta(days=days, hours=3),
            [(Action.DECLINE, {"basis": "不属于受理范围"}), (Action.CLOSE, {"resolution": "已告知"})],
        )
        for days in range(1, 60)
    ]
    assert all(t.next_check_at is not None and t.next_check_at <= NOW for t in due)
    assert all(t.next_check_at is not None and t.next_check_at > NOW for t in ahead)
    assert all(t.next_check_at is None for t in closed)
    return {"due": due, "ahead": ahead, "closed": closed}


# ------------------------------------------------------------------ the database


@dataclass
class Place:
    code: str
    path: str


@dataclass
class Seed:
    villages: list[Place]
    creator: uuid.UUID
    templates: dict[str, list[Template]]
    rng: random.Random
    serials: dict[tuple[str, int], int]
    loaded: int = 0


async def prepare(url: str, key: str) -> tuple[ServiceContext, Seed]:
    context, regions, county = await migrated_county(url, key, NOW)
    users = UserService(context)
    password_hash = hash_password("bench-password")
    roles = {Level.VILLAGE: Role.VILLAGE_LEADER, Level.TOWNSHIP: Role.TOWN_OFFICER, Level.COUNTY: Role.COUNTY_OFFICER}
    villages, creator = [], None
    for level, role in roles.items():
        nodes = [county] if level is Level.COUNTY else await regions.subtree(county.path, level=level)
        for node in nodes:
            user = await users.create(
                username=f"{role.value}-{node.code}",
                display_name="干部",
                role=role,
                node_code=node.code,
                password_hash=password_hash,
            )
            if level is Level.VILLAGE:
                villages.append(Place(node.code, node.path))
                creator = creator or user.id
    assert creator is not None
    return context, Seed(villages, creator, templates(context), random.Random(2026), {})


def case_row(seed: Seed, template: Template) -> dict[str, Any]:
    case_id = uuid.uuid4()
    village = seed.rng.choice(seed.villages)
    lifecycle, number = template.lifecycle, None
    if template.accepted:
        year = local_date(template.registered_at).year
        seed.serials[(village.code, year)] = serial = seed.serials.get((village.code, year), 0) + 1
        number = official_number(village.code, year, serial)
        lifecycle = {**lifecycle, "number": number}
    return {
        "id": case_id,
        "number": number,
        "kind": "civil_dispute",
        "category_code": "contract",
        "category_version": 1,
        "channel": "door_to_door",
        "title": "土地流转合同租金纠纷",
        "request": "要求合作社按合同支付土地流转租金",
        "facts": "双方多次协商未果，申请村调委会调解。",
        "reasons": "",
        "risk": "low",
        "people_involved": 2,
        "is_collective": False,
        "involves_litigation": False,
        "administrative_dispute": False,
        "violence_risk": False,
        "cadres_involved": False,
        "multi_village": False,
        "village_code": village.code,
        "region_path": village.path,
        "level": "village",
        "handling_node_code": village.code,
        "handling_node_path": village.path,
        "status": template.status,
        "lifecycle": lifecycle,
        "next_check_at": template.next_check_at,
        "deadline_provisional": False,
        "created_by": seed.creator,
        "registered_at": template.registered_at,
        "updated_at": template.registered_at,
        "version": len(template.events),
        "change_seq": 0,
        "intake_digest": hashlib.sha256(case_id.bytes).hexdigest(),
    }


def event_rows(case: dict[str, Any], template: Template) -> list[dict[str, Any]]:
    return [
        {
            "id": uuid.uuid4(),
            "case_id": case["id"],
            "seq": seq,
            "kind": kind,
            "at": template.registered_at,
            "actor_id": None,
            "actor_name": ACTOR.name,
            "reason": None,
            "from_status": from_status,
            "to_status": to_status,
            "data": {},
            "change_seq": 0,
        }
        for seq, (kind, from_status, to_status) in enumerate(template.events, start=1)
    ]


async def load(context: ServiceContext, seed: Seed, count: int, due: int) -> float:
    """Add ``count`` cases of which ``due`` are due; returns the seconds it took."""
    started = time.perf_counter()
    kinds = ["due"] * due + ["closed"] * round((count - due) * CLOSED_SHARE)
    kinds += ["ahead"] * (count - len(kinds))
    seed.rng.shuffle(kinds)
    for start in range(0, count, LOAD_BATCH):
        cases, events = [], []
        for kind in kinds[start : start + LOAD_BATCH]:
            template = seed.rng.choice(seed.templates[kind])
            case = case_row(seed, template)
            cases.append(case)
            # Only the cases the sweep will touch get their timeline: the rest is never read.
            if kind == "due":
                events += event_rows(case, template)
        async with context.db.write() as session:
            connection = await session.connection()
            await connection.execute(insert(CASES), cases)
            if events:
                await connection.execute(insert(EVENTS), events)
    seed.loaded += count
    await analyze(context)
    return time.perf_counter() - started


# ------------------------------------------------------------------ sweeps


@contextlib.contextmanager
def enqueue_timer() -> Iterator[list[float]]:
    """Seconds spent in ``notifications.enqueue`` (the outbox, another module's cost), so
    the figure can be split between the sweep's own work and the notifications it writes."""
    spent = [0.0]
    original = escalation_sweep.enqueue

    async def timed_enqueue(*args: Any, **kwargs: Any) -> int:
        started = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    escalation_sweep.enqueue = timed_enqueue  # type: ignore[assignment]
    try:
        yield spent
    finally:
        escalation_sweep.enqueue = original


async def timed(run: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = await run()
    return time.perf_counter() - started, value


async def empty_sweep_ms(context: ServiceContext, runs: int) -> float:
    sweeper = EscalationSweeper(context)
    samples = []
    for _ in range(runs + 2):
        seconds, report = await timed(lambda: sweeper.sweep(NOW))
        assert report.examined == 0, report
        samples.append(seconds * 1000)
    return statistics.median(samples[2:])  # the first two warm the pool and caches


async def naive_sweep(context: ServiceContext) -> tuple[int, SweepReport]:
    """The baseline: no index. Every open case is read and evaluated; those with decisions
    are acted on through the sweeper's own per-case path (so only the finding differs)."""
    sweeper = EscalationSweeper(context)
    calendar, policy = context.calendar, sweeper.policy
    due, evaluated, after = [], 0, None
    while True:
        async with context.db.read() as session:
            statement = select(Case).where(col(Case.status) != "closed").order_by(col(Case.id)).limit(1_000)
            if after is not None:
                statement = statement.where(col(Case.id) > after)
            page = (await session.exec(statement)).all()
            for case in page:
                evaluated += 1
                if evaluate(view_of(case, calendar, await fired_keys(session, case.id)), NOW, policy, calendar):
                    due.append(case.id)
        if len(page) < 1_000:
            break
        after = page[-1].id
    report = SweepReport(NOW)
    for start in range(0, len(due), sweeper.batch_size):
        await sweeper._sweep_batch(due[start : start + sweeper.batch_size], NOW, report)
    return evaluated, report


# ------------------------------------------------------------------ one backend


async def new_database(name: str, holder: list[Any]) -> str:
    if name == "sqlite":
        temporary = tempfile.TemporaryDirectory(prefix="fq-escalation-bench-")
        holder.append(temporary)
        return f"sqlite+aiosqlite:///{Path(temporary.name) / 'bench.db'}"
    url = await create_database("fq_bench")
    holder.append(url)
    return url


async def bench_baseline(name: str, args: argparse.Namespace, key: str, results: Results, holder: list[Any]) -> None:
    size, due = args.baseline_cases, round(args.baseline_cases * args.due_share)
    naive_context, naive_seed = await prepare(await new_database(name, holder), key)
    indexed_context, indexed_seed = await prepare(await new_database(name, holder), key)
    try:
        await load(naive_context, naive_seed, size, due)
        await load(indexed_context, indexed_seed, size, due)
        naive_s, (evaluated, naive_report) = await timed(lambda: naive_sweep(naive_context))
        naive_empty_s, (_, empty_report) = await timed(lambda: naive_sweep(naive_context))
        indexed_s, indexed_report = await timed(lambda: EscalationSweeper(indexed_context).sweep(NOW))
        indexed_empty_ms = await empty_sweep_ms(indexed_context, args.empty_runs)
    finally:
        await naive_context.db.dispose()
        await indexed_context.db.dispose()
    assert naive_report.escalated == indexed_report.escalated == due, (naive_report, indexed_report)
    assert empty_report.examined == 0
    results.put("base.size", f"{size:,} cases, {due:,} due, {evaluated:,} open")
    results.put("base.naive", f"{naive_s:.2f} s")
    results.put("base.indexed", f"{indexed_s:.2f} s ({naive_s / indexed_s:.1f}x faster)")
    results.put("base.naive_empty", f"{naive_empty_s * 1000:,.0f} ms")
    results.put("base.indexed_empty", f"{indexed_empty_ms:.2f} ms ({naive_empty_s * 1000 / indexed_empty_ms:,.0f}x)")
    per_case = naive_empty_s / evaluated
    open_share = 1 - CLOSED_SHARE
    results.put("base.projected", f"{per_case * args.cases * open_share:,.0f} s to find nothing at {args.cases:,}")


async def bench_main(name: str, args: argparse.Namespace, key: str, results: Results, holder: list[Any]) -> None:
    context, seed = await prepare(await new_database(name, holder), key)
    try:
        due = round(args.cases * args.due_share)
        first = min(EMPTY_AT, args.cases - due)
        seconds = await load(context, seed, first, 0)
        results.put("empty.small", f"{await empty_sweep_ms(context, args.empty_runs):.2f} ms at {first:,} cases")
        seconds += await load(context, seed, args.cases - first, due)
        results.put("load", f"{args.cases:,} cases in {seconds:.1f} s ({args.cases / seconds:,.0f}/s)")
        with enqueue_timer() as outbox:
            sweep_s, report = await timed(lambda: EscalationSweeper(context).sweep(NOW))
        assert report.escalated == due and not report.failed, report
        results.put("sweep", f"{sweep_s:.2f} s for {due:,} due ({due / sweep_s:,.0f} cases/s)")
        own = sweep_s - outbox[0]
        results.put("sweep.outbox", f"{outbox[0]:.2f} s ({outbox[0] / sweep_s:.0%}) in notifications.enqueue")
        results.put("sweep.own", f"{own:.2f} s ({due / own:,.0f} cases/s) for the rest")
        acted = sum(report.decisions.values())
        results.put("sweep.decisions", f"{acted:,} decisions, {report.notifications:,} notices")
        target = "met" if sweep_s <= 30 * args.cases / 1_000_000 else "MISSED"
        results.put("sweep.target", f"{target} (≤ 30 s per 1M cases with 1% due)")
        results.put("empty.large", f"{await empty_sweep_ms(context, args.empty_runs):.2f} ms at {args.cases:,} cases")
    finally:
        await context.db.dispose()


async def run_backend(name: str, args: argparse.Namespace) -> Results:
    results = Results(name)
    key = generate_key_text()
    holder: list[Any] = []
    try:
        await bench_main(name, args, key, results, holder)
        await bench_baseline(name, args, key, results, holder)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        if name != "postgresql":
            raise
        results.notes.append(f"PostgreSQL unavailable at {POSTGRES_URL}: {error}")
    finally:
        for item in holder:
            if isinstance(item, str):
                await drop_database(item)
            else:
                item.cleanup()
    return results


ROWS = [
    ("indexed sweep (next_check_at <= now)", None),
    ("  bulk load (not measured)", "load"),
    ("  sweep, 1% due", "sweep"),
    ("  decisions acted on", "sweep.decisions"),
    ("  of which writing the outbox", "sweep.outbox"),
    ("  of which evaluating and applying", "sweep.own"),
    ("  target", "sweep.target"),
    ("  nothing due, small", "empty.small"),
    ("  nothing due, full size", "empty.large"),
    ("baseline: naive sweep of every open case", None),
    ("  database", "base.size"),
    ("  naive sweep", "base.naive"),
    ("  indexed sweep, same database", "base.indexed"),
    ("  naive, nothing due", "base.naive_empty"),
    ("  indexed, nothing due", "base.indexed_empty"),
    ("  naive, projected", "base.projected"),
]


def print_table(all_results: list[Results], args: argparse.Namespace) -> None:
    width = max(len(label) for label, _ in ROWS) + 2
    columns = [max(26, *(len(value) + 2 for value in r.figures.values()), 26) for r in all_results]
    print()
    print(
        f"fengqiao escalation sweep: {args.cases:,} cases, {args.due_share:.0%} due; "
        f"baseline on {args.baseline_cases:,}; nothing-due figures are medians of {args.empty_runs}"
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
    parser.add_argument("--cases", type=int, default=1_000_000, help="cases in the swept database")
    parser.add_argument("--due-share", type=float, default=0.01, help="share of the cases due at the sweep")
    parser.add_argument("--baseline-cases", type=int, default=20_000, help="cases for the naive baseline")
    parser.add_argument("--empty-runs", type=int, default=20, help="runs per nothing-due figure")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    args.baseline_cases = min(args.baseline_cases, args.cases)
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
