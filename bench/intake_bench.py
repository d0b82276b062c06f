"""Intake benchmark: what the repeat-petition screening (finality, duplicates, 越级) costs.

    python -m bench.intake_bench                 # SQLite and PostgreSQL, 5 rounds of 100 cases
    python -m bench.intake_bench --rounds 9 --backends sqlite

Registers cases through ``CaseService.create`` (one write transaction each, as
``POST /cases``) on a fresh migrated database seeded with 商洛市's divisions, and prints
the median cases per second of three scenarios, run in interleaved rounds in one process:

- baseline: the screening replaced by a no-op (what intake cost before it);
- new petitioners: every case a different person (the usual intake: one index lookup);
- persistent petitioner: one person who already has ``--history`` cases of the same
  category in the county, each case another statement (the worst case the bound
  ``MAX_PRIORS`` allows: every earlier case is loaded and compared).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import server.services.cases as case_module
from grid.calendar import CHINA_TZ
from server.clock import FixedClock
from server.crypto import FieldCipher, generate_key_text
from server.db import Database, create_engine
from server.migrate import upgrade
from server.schemas.cases import CaseCreate
from server.services.cases import CaseService
from server.services.context import ServiceContext
from tests.conftest import T0, make_settings, seed_world
from tests.factories import case_payload, id_number, party
from tests.pg import create_database, drop_database

KEY = generate_key_text()
WORDS = "排水沟菜地院墙宅基地山林界线工资租金庄稼玉米三轮车物业水井猪圈粪污噪音树木围墙道路"


def statement(index: int) -> str:
    # A different matter each time: two characters of the list per digit of the index.
    picks = [WORDS[(index * 7 + step * 3) % len(WORDS)] for step in range(12)]
    return "要求对方处理" + "".join(picks)


def body(index: int, *, same_person: bool, grid: str) -> CaseCreate:
    if same_person:
        applicant = party(name="张满仓", id_number=id_number("19660412", "357"), phone="13991234567")
    else:
        area = f"6110{index // 1000 + 10:02d}"
        number = id_number("19700101", f"{index % 1000:03d}", area=area)
        applicant = party(name=f"村民{index}", id_number=number, phone=f"139{index:08d}")
    data = case_payload(
        grid, category="contract", title=f"合同纠纷{index}", request=statement(index), parties=[applicant]
    )
    return CaseCreate.model_validate(data)


async def timed(service: CaseService, principal, bodies: list[CaseCreate], clock: FixedClock) -> float:
    started = time.perf_counter()
    for item in bodies:
        clock.advance(minutes=1)
        await service.create(principal, item)
    return len(bodies) / (time.perf_counter() - started)


async def run(url: str, cases: int, history: int, rounds: int) -> dict[str, float]:
    """Median cases per second of each scenario over ``rounds`` interleaved rounds (the
    machine may be shared: interleaving spreads its load over both sides alike)."""
    await asyncio.to_thread(upgrade, url)
    database = Database(create_engine(url, pool_size=2))
    clock = FixedClock(T0)
    context = ServiceContext(
        settings=make_settings(url, Path(tempfile.mkdtemp())),
        db=database,
        clock=clock,
        cipher=FieldCipher.from_setting(KEY),
    )
    real = case_module.screen_new_case

    async def no_screening(*_args, **_kwargs):
        return ()

    try:
        world = await seed_world(context)
        service = CaseService(context)
        principal = world.principals["admin"]
        grid = world.grid_a
        # The persistent petitioner's history first.
        await timed(service, principal, [body(10_000 + i, same_person=True, grid=grid) for i in range(history)], clock)
        rates: dict[str, list[float]] = {}
        serial = 0
        for _ in range(rounds):
            for name, screened, same_person in (
                ("baseline (no screening)", False, False),
                ("new petitioners", True, False),
                (f"persistent petitioner ({history} earlier cases)", True, True),
            ):
                offset = 20_000 if same_person else 0
                bodies = [body(offset + serial + i, same_person=same_person, grid=grid) for i in range(cases)]
                serial += cases
                case_module.screen_new_case = real if screened else no_screening
                try:
                    rates.setdefault(name, []).append(await timed(service, principal, bodies, clock))
                finally:
                    case_module.screen_new_case = real
        return {name: statistics.median(values) for name, values in rates.items()}
    finally:
        await database.dispose()


async def main(args: argparse.Namespace) -> None:
    print(
        f"intake benchmark: median of {args.rounds} rounds of {args.cases} cases, "
        f"from {T0.astimezone(CHINA_TZ):%Y-%m-%d}"
    )
    for backend in args.backends.split(","):
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'intake.db'}"
        else:
            try:
                url = await create_database("fq_bench")
            except OSError as error:
                print(f"{backend}: unreachable ({error})")
                continue
        try:
            figures = await run(url, args.cases, args.history, args.rounds)
        finally:
            if backend == "postgresql":
                await drop_database(url)
        baseline = figures["baseline (no screening)"]
        print(f"\n{backend}")
        for name, rate in figures.items():
            print(f"  {name:<42} {rate:8.1f} cases/s   {rate / baseline:5.2f}× baseline")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100, help="cases registered in each measured run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (the median is printed)")
    parser.add_argument("--history", type=int, default=200, help="earlier cases of the persistent petitioner")
    parser.add_argument("--backends", default="sqlite,postgresql")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
