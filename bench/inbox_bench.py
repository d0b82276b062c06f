"""Inbox benchmark: GET /inbox's service time against a case-list page of the same caller.

    python -m bench.inbox_bench              # 20,000 cases in 柞水县
    python -m bench.inbox_bench --quick      # 2,000 cases

The inbox lights every open case the caller answers for (``grid.escalation.case_lights``
under the policy in force: statutory clocks and the local stage target), so its cost grows
with those cases; a township's officer answers for the most (server/services/inbox.py).
Per backend (fresh SQLite file, fresh PostgreSQL database when reachable), cases
bulk-loaded as in ``bench.api_bench`` (60 % open over two years), ANALYZEd:

- ``InboxService.inbox`` for the officer of the biggest township (it answers for its 14
  villages' cases: the largest set any caller lights), one of its village leaders and the
  county officer (the county answers for what it holds), p50 / p95;
- baseline: ``CaseService.list`` first page of 50 for the same caller (one indexed query
  and a page of rows), in the same run; the ratio inbox / list.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import asyncpg

from bench.api_bench import DIVISIONS, TOWNSHIP, analyze, bulk_load, latencies, make_context, quiet, seed_people
from grid.hierarchy import parse_division_csv
from grid.people import Role
from server.crypto import generate_key_text
from server.migrate import upgrade
from server.services.cases import CaseFilters, CaseService
from server.services.inbox import InboxService
from server.services.regions import RegionService
from server.services.users import UserService, principal_of
from tests.pg import POSTGRES_URL, create_database, drop_database


async def run_backend(name: str, cases: int, samples: int) -> list[str]:
    lines = [f"[{name}]"]
    temporary = None
    if name == "sqlite":
        temporary = tempfile.TemporaryDirectory(prefix="fq-inbox-")
        url = f"sqlite+aiosqlite:///{Path(temporary.name) / 'bench.db'}"
    else:
        try:
            url = await create_database("fq_inbox_bench")
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            return [f"[{name}] unavailable at {POSTGRES_URL}: {error}"]
    context = None
    try:
        await asyncio.to_thread(upgrade, url)
        context = make_context(url, generate_key_text())
        await context.reload_calendar()
        text = (DIVISIONS / "zhashui.csv").read_text(encoding="utf-8")
        await RegionService(context).import_divisions(parse_division_csv(text), valid_from_year=2023)
        people = await seed_people(context)
        by_status = await bulk_load(context, people, cases, context.cipher)
        await analyze(context)
        inbox, listing = InboxService(context), CaseService(context)
        town = principal_of(
            await UserService(context).create(
                username="town", display_name="镇干部", role=Role.TOWN_OFFICER, node_code=TOWNSHIP, password="x" * 12
            )
        )
        village = next(leader for leader in people.leaders.values() if leader.node_code.startswith(TOWNSHIP[:9]))
        callers = (("town officer (14 villages)", town), ("village leader", village), ("county officer", people.county))
        for label, principal in callers:
            result = await inbox.inbox(principal, limit=20)
            inbox_p50, inbox_p95 = await latencies(lambda p=principal: inbox.inbox(p, limit=20), samples)
            list_p50, list_p95 = await latencies(
                lambda p=principal: listing.list(p, CaseFilters(), cursor=None, limit=50), samples
            )
            lines.append(
                f"  {label}: red {result.overdue.count}, yellow {result.due_soon.count}; "
                f"inbox {inbox_p50:.1f} / {inbox_p95:.1f} ms, baseline list page {list_p50:.1f} / {list_p95:.1f} ms, "
                f"ratio {inbox_p50 / list_p50:.1f}x"
            )
        lines.insert(1, f"  {cases} cases: " + ", ".join(f"{status} {n}" for status, n in sorted(by_status.items())))
    finally:
        if context is not None:
            await context.db.dispose()
        if temporary is not None:
            temporary.cleanup()
        elif name == "postgresql":
            await drop_database(url)
    return lines


async def main_async(args: argparse.Namespace) -> None:
    quiet()
    for backend in ("sqlite", "postgresql"):
        for line in await run_backend(backend, args.cases, args.samples):
            print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="2,000 cases, 5 samples")
    args = parser.parse_args(argv)
    if args.quick:
        args.cases, args.samples = 2_000, 5
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
