"""Statistics of the demo county, on SQLite and PostgreSQL: the service's figures equal
figures computed here straight from the case rows and their timelines; the API serves
them as JSON, CSV, XLSX and PDF within the caller's jurisdiction; the monthly job stores
one report per region and month however often it runs; the CLI writes the files.

The demo county (`fengqiao demo`, server/demo.py) is seeded into a database of its own
per backend, plus February 2026 activity the demo does not make: a 越级 petition and its
duplicate, a 交办, a 督办 and 排查 reports, one on time and one late.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import pytest_asyncio
from httpx import ASGITransport, AsyncClient
from openpyxl import load_workbook
from sqlalchemy import delete, func
from sqlmodel import col, select

from grid import deadlines
from grid.calendar import CHINA_TZ, local_date
from grid.cases import Case, CaseEvent, Kind, PartyKind, PartyRole
from grid.cases import Party as CaseParty
from grid.hierarchy import Level, Region
from grid.lifecycle import PETITION_KINDS, Action, CaseFacts
from grid.people import User
from grid.repeats import CaseDuplicate, CaseSkipLevel
from grid.screening import ScreeningReport, period_on
from grid.supervision import Supervision
from reports.statistics import parse_period
from reports.statistics_tables import StatisticsReport
from server.app import create_app
from server.clock import FixedClock
from server.crypto import FieldCipher
from server.db import Database, create_engine
from server.demo import COUNTY_CODE, DEMO_PASSWORD, seed_demo
from server.migrate import upgrade
from server.schemas.cases import CaseCreate, TransitionRequest
from server.schemas.screening import ScreeningReportCreate
from server.services.cases import CaseService
from server.services.context import ServiceContext
from server.services.escalation import policy_in_force
from server.services.regions import in_subtree
from server.services.screening import ScreeningService
from server.services.statistics import StatisticsService, generate_monthly_reports
from server.services.supervision import open_supervision
from server.services.users import principal_of
from tests.conftest import BACKENDS, T0, TEST_KEY, _create_postgres_database, _drop_postgres_database, make_settings
from tests.factories import case_payload
from tests.reports.pdfcheck import text_of

FEBRUARY = "2026-02"
TOWN_A = "611026001000"  # 乾佑街道
TOWN_B = "611026101000"  # 营盘镇
GRID = "611026001001001"  # 仁和社区第一网格 (the demo's first village)
REPLY_ENTRIES = {Action.REPLY.value, Action.DECIDE_REVIEW.value, Action.DECIDE_REREVIEW.value}


def feb(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 2, day, hour, tzinfo=CHINA_TZ)


@dataclass
class Demo:
    backend: str
    url: str
    context: ServiceContext
    clock: FixedClock

    async def principal(self, username: str):
        async with self.context.db.read() as session:
            user = (await session.exec(select(User).where(User.username == username))).one()
        return principal_of(user)


async def add_february_activity(demo: Demo) -> None:
    clock, context = demo.clock, demo.context
    county, town = await demo.principal("county"), await demo.principal("town-001")
    cases = CaseService(context)
    petition = case_payload(
        GRID,
        kind="claim",
        category="wage_arrears",
        channel="visit",
        title="工地拖欠农民工工资",
        request="请求督促支付工资",
    )
    petition["parties"] = petition["parties"][:1]
    # Registered at the county for a matter of the village: 越级 (two levels up).
    clock.at = feb(10)
    first = await cases.create(county, CaseCreate.model_validate(petition))
    # The same petitioner and matter again: a duplicate.
    clock.at = feb(11)
    await cases.create(county, CaseCreate.model_validate(petition | {"id": str(uuid.uuid4())}))
    clock.at = feb(12)
    await cases.transition(
        county,
        first.case.id,
        TransitionRequest(action=Action.REFER_DOWN, reason="交由村级依法办理", data={"to_level": "village"}),
    )
    async with context.db.write() as session:
        await open_supervision(
            session,
            case_id=first.case.id,
            trigger_key=None,
            reason="请抓紧办理",
            opened_at=feb(13),
            reply_due_at=feb(21, 0),
            opened_by=town.user_id,
        )
    # 排查 reports of two grids for 1-15 February: one on time, one after its due day.
    policy = policy_in_force(context.settings)
    period = period_on(policy, Level.GRID, feb(1).date(), context.calendar)
    screening = ScreeningService(context)
    for grid, at in ((GRID, feb(16)), ("611026001001002", datetime(2026, 3, 1, 9, tzinfo=CHINA_TZ))):
        clock.at = at
        worker = await demo.principal(f"grid-{grid[6:]}")
        report = ScreeningReportCreate(
            id=uuid.uuid4(), region=grid, period_start=period.start, period_end=period.end, zero_report=True
        )
        await screening.file(worker, report)
    clock.at = T0


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=BACKENDS)
async def demo(request, tmp_path_factory) -> AsyncIterator[Demo]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('statistics') / 'demo.db'}"
    else:
        url = await _create_postgres_database()
    await asyncio.to_thread(upgrade, url)
    clock = FixedClock(T0)
    context = ServiceContext(
        settings=make_settings(url, tmp_path_factory.mktemp("files")),
        db=Database(create_engine(url)),
        clock=clock,
        cipher=FieldCipher.from_setting(TEST_KEY),
    )
    try:
        await seed_demo(context, case_count=88)
        demo = Demo(request.param, url, context, clock)
        await add_february_activity(demo)
        yield demo
    finally:
        await context.db.dispose()
        if request.param == "postgresql":
            await _drop_postgres_database(url)


@pytest_asyncio.fixture(loop_scope="session")
async def client(demo: Demo) -> AsyncIterator[AsyncClient]:
    demo.clock.at = T0
    app = create_app(demo.context.settings, context=demo.context)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver.local/api/v1") as test_client:
        yield test_client


async def login(client: AsyncClient, username: str) -> dict[str, str]:
    answer = await client.post("/auth/login", json={"username": username, "password": DEMO_PASSWORD})
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


# ---------------------------------------------------------------- the independent count


async def expected_figures(demo: Demo, region_code: str, start: datetime, end: datetime) -> dict:
    """The figures of DOCS/statistics.md, computed from the rows: each case's timeline for
    what happened and when, the case columns for what it is, the side tables for links."""
    context = demo.context
    as_of = context.clock.now()
    calendar = context.calendar
    async with context.db.read() as session:
        region = await session.get(Region, region_code)
        cases = (
            await session.exec(
                select(Case).where(
                    in_subtree(col(Case.region_path), region.path),
                    Case.registered_at >= start,
                    Case.registered_at < end,
                )
            )
        ).all()
        ids = [case.id for case in cases]
        events: dict[uuid.UUID, list[CaseEvent]] = {case_id: [] for case_id in ids}
        for event in (
            await session.exec(select(CaseEvent).where(col(CaseEvent.case_id).in_(ids)).order_by(CaseEvent.seq))
        ).all():
            events[event.case_id].append(event)
        duplicates = set((await session.exec(select(CaseDuplicate.case_id))).all()) & set(ids)
        skips = {
            row.case_id: row.channel for row in (await session.exec(select(CaseSkipLevel))).all() if row.case_id in ids
        }
        organisations = (
            await session.exec(
                select(CaseParty.case_id, CaseParty.name).where(
                    col(CaseParty.case_id).in_(ids),
                    CaseParty.kind == PartyKind.ORGANISATION.value,
                    CaseParty.role == PartyRole.RESPONDENT.value,
                )
            )
        ).all()
        all_in_region = select(Case.id).where(in_subtree(col(Case.region_path), region.path))
        activity = Counter(
            (
                await session.exec(
                    select(CaseEvent.kind).where(
                        col(CaseEvent.case_id).in_(all_in_region),
                        col(CaseEvent.kind).in_(["route", "refer_down"]),
                        CaseEvent.at >= start,
                        CaseEvent.at < end,
                    )
                )
            ).all()
        )
        supervisions = (
            await session.exec(
                select(func.count())
                .select_from(Supervision)
                .where(
                    col(Supervision.case_id).in_(all_in_region),
                    Supervision.opened_at >= start,
                    Supervision.opened_at < end,
                )
            )
        ).one()

    def first(case: Case, *kinds: str) -> datetime | None:
        return next((event.at for event in events[case.id] if event.kind in kinds), None)

    def agreement_effective(case: Case) -> datetime | None:
        found = None
        for event in events[case.id]:
            oral = event.kind == Action.REACH_AGREEMENT.value and event.data.get("form") == "oral"
            signed = event.kind == Action.SIGN_AGREEMENT.value and event.data.get("effective")
            if oral or signed:
                found = event.at
            if event.kind == Action.REACH_AGREEMENT.value and not oral:
                found = None  # a new written agreement starts over
        return found

    def unperformed(case: Case) -> bool:
        return any(event.kind == Action.REPORT_NONPERFORMANCE.value for event in events[case.id])

    def routed(case: Case) -> bool:
        kinds = [event.kind for event in events[case.id] if event.kind in ("route", "return_misrouted")]
        return bool(kinds) and kinds[-1] == "route"

    def resolved(case: Case) -> bool:
        kinds = [event.kind for event in events[case.id]]
        closed_after_reply = "close" in kinds and any(kind in REPLY_ENTRIES for kind in kinds)
        return closed_after_reply or (agreement_effective(case) is not None and not unperformed(case))

    def outcome(due: deadlines.Due, done: datetime | None) -> str:
        if done is not None:
            return "on_time" if done < due.ends_at else "late"
        return "late" if as_of >= due.ends_at else "pending"

    accepted = [case for case in cases if first(case, "accept")]
    handled = [case for case in accepted if not routed(case)]
    done = [case for case in handled if resolved(case)]
    acceptance = Counter(
        outcome(deadlines.notice_due(calendar, case.registered_at), first(case, "accept", "decline"))
        for case in cases
        if Kind(case.kind) in PETITION_KINDS
    )
    handling = Counter()
    for case in cases:
        started = first(case, "start_handling")
        if started is None:
            continue
        extension = next((e.data["days"] for e in events[case.id] if e.kind == "extend"), 0)
        ends = [
            at
            for at in (first(case, "reply", "route", "close"), agreement_effective(case))
            if at is not None and at >= started
        ]
        due = deadlines.handling_due(calendar, first(case, "accept"), extension)
        handling[outcome(due, min(ends) if ends else None)] += 1
    evaluable = [case for case in cases if first(case, *REPLY_ENTRIES) or agreement_effective(case)]
    evaluations = Counter(
        next(e.data["evaluation"] for e in reversed(events[case.id]) if e.kind == "evaluate")
        for case in evaluable
        if first(case, "evaluate") and CaseFacts.from_json(case.lifecycle).evaluation is not None
    )
    mediated = [case for case in cases if first(case, "start_mediation")]
    succeeded = [case for case in mediated if agreement_effective(case)]
    mediating = [
        case
        for case in mediated
        if not agreement_effective(case) and case.status in ("in_mediation", "agreement_pending")
    ]
    agreements = [case for case in cases if agreement_effective(case)]
    performed = [case for case in agreements if first(case, "confirm_performance") and not unperformed(case)]
    written = [case for case in agreements if CaseFacts.from_json(case.lifecycle).agreement_form == "written"]
    confirmed = [case for case in written if first(case, "request_judicial_confirmation")]

    def rate(numerator: int, denominator: int, pending: int = 0) -> dict:
        value = round(numerator / denominator, 4) if denominator else None
        return {"numerator": numerator, "denominator": denominator, "pending": pending, "rate": value}

    return {
        "registered": len(cases),
        "accepted": len(accepted),
        "routed_out": len(accepted) - len(handled),
        "resolved": len(done),
        "by_status": Counter(case.status for case in cases),
        "by_category": Counter(case.category_code for case in cases),
        "by_level": Counter(case.level for case in cases),
        "by_channel": Counter(case.channel for case in cases),
        # The child of the region on each case's path.
        "by_unit": Counter(case.region_path.split(f"/{region_code}/")[1].split("/")[0] for case in cases),
        "rates": {
            "resolution": rate(len(done), len(handled)),
            "resolved_in_village": rate(sum(case.level == "village" for case in done), len(done)),
            "resolved_in_township": rate(sum(case.level == "township" for case in done), len(done)),
            "timely_acceptance": rate(
                acceptance["on_time"], acceptance["on_time"] + acceptance["late"], acceptance["pending"]
            ),
            "on_time_handling": rate(handling["on_time"], handling["on_time"] + handling["late"], handling["pending"]),
            "satisfaction": rate(
                evaluations["satisfied"] + evaluations["basically_satisfied"], sum(evaluations.values())
            ),
            "participation": rate(sum(evaluations.values()), len(evaluable)),
            "repeat": rate(len(duplicates), len(cases)),
            "mediation_success": rate(len(succeeded), len(mediated) - len(mediating), len(mediating)),
            "agreement_performance": rate(
                len(performed),
                len(performed) + sum(unperformed(case) for case in agreements),
                len(agreements) - len(performed) - sum(unperformed(case) for case in agreements),
            ),
            "judicial_confirmation": rate(len(confirmed), len(written)),
        },
        "duplicates": len(duplicates),
        "skip_level": len(skips),
        "skip_level_visits": sum(channel == "visit" for channel in skips.values()),
        "collective": sum(case.is_collective for case in cases),
        "collective_visits": sum(case.is_collective and case.channel == "visit" for case in cases),
        "organisations": Counter(name for case_id, name in set(organisations)),
        "route": activity["route"],
        "refer_down": activity["refer_down"],
        "supervision": supervisions,
    }


def check(figures: dict, expected: dict) -> None:
    counts = figures["counts"]
    for key in (
        "registered",
        "accepted",
        "routed_out",
        "resolved",
        "duplicates",
        "skip_level",
        "skip_level_visits",
        "collective",
        "collective_visits",
    ):
        assert counts[key] == expected[key], key
    for key, want in expected["rates"].items():
        assert figures["rates"][key] == want, key
    breakdowns = figures["breakdowns"]
    assert {item["code"]: item["count"] for item in breakdowns["status"]} == dict(expected["by_status"])
    assert {i["code"]: i["count"] for i in breakdowns["category"] if i["count"]} == dict(expected["by_category"])
    assert {item["code"]: item["count"] for item in breakdowns["level"]} == dict(expected["by_level"])
    assert {item["code"]: item["count"] for item in breakdowns["channel"]} == dict(expected["by_channel"])
    assert {u["code"]: u["registered"] for u in figures["units"] if u["registered"]} == dict(expected["by_unit"])
    annual = figures["annual"]
    assert {item["name"]: item["count"] for item in annual["organs"]} == dict(expected["organisations"])
    assert (annual["activities"]["route"], annual["activities"]["refer_down"], annual["activities"]["supervision"]) == (
        expected["route"],
        expected["refer_down"],
        expected["supervision"],
    )


# ---------------------------------------------------------------- the figures


@pytest.mark.parametrize("period", [FEBRUARY, "2026-Q1", "2025"])
async def test_should_compute_the_figures_of_the_demo_county_as_an_independent_count_of_the_rows(demo, period):
    demo.clock.at = T0
    parsed = parse_period(period)
    service = StatisticsService(demo.context)
    county = await service.region(COUNTY_CODE)
    figures = (await service.compute(county, parsed, T0)).to_json()
    expected = await expected_figures(demo, COUNTY_CODE, parsed.starts_at, parsed.ends_at)
    assert expected["registered"] > 10, "the demo spreads its cases over these months"
    check(figures, expected)


async def test_should_show_the_february_activity_the_demo_adds(demo):
    service = StatisticsService(demo.context)
    figures = (await service.compute(await service.region(COUNTY_CODE), parse_period(FEBRUARY), T0)).to_json()
    counts, annual = figures["counts"], figures["annual"]["activities"]
    # The first petition is 越级; its duplicate is not (the matter already stands at the county).
    assert (counts["skip_level"], counts["skip_level_visits"], counts["duplicates"]) == (1, 1, 1)
    assert annual["refer_down"] == 1
    assert (annual["supervision"], annual["supervision_overdue"]) == (1, 1)
    # 排查: grids and villages owe two half-month reports in February, townships and the
    # county one monthly report; on 2 March only the first half-month is due (the second
    # half and the month are due two working days after 28 February).
    async with demo.context.db.read() as session:
        county = await session.get(Region, COUNTY_CODE)
        levels = Counter(
            (await session.exec(select(Region.level).where(in_subtree(col(Region.path), county.path)))).all()
        )
        filed = (await session.exec(select(func.count()).select_from(ScreeningReport))).one()
    small = levels["grid"] + levels["village"]
    assert filed == 2
    assert counts["screening_owed"] == 2 * small + levels["township"] + levels["county"]
    assert (counts["screening_on_time"], counts["screening_late"], counts["screening_missing"]) == (1, 1, small - 2)
    assert counts["screening_pending"] == small + levels["township"] + levels["county"]
    assert figures["rates"]["screening_timeliness"]["rate"] == round(1 / small, 4)


async def test_should_count_a_township_as_the_part_of_the_county_below_it(demo):
    service = StatisticsService(demo.context)
    period = parse_period("2026-Q1")
    county = (await service.compute(await service.region(COUNTY_CODE), period, T0)).to_json()
    town = (await service.compute(await service.region(TOWN_A), period, T0)).to_json()
    row = next(unit for unit in county["units"] if unit["code"] == TOWN_A)
    assert town["counts"]["registered"] == row["registered"] > 0
    assert town["rates"]["resolution"] == row["resolution"]
    check(town, await expected_figures(demo, TOWN_A, period.starts_at, period.ends_at))
    assert {unit["code"][:9] for unit in town["units"]} == {TOWN_A[:9]}  # its villages


# ---------------------------------------------------------------- the API


async def test_should_serve_the_same_figures_as_json_csv_xlsx_and_a_pdf_with_them_inside(demo, client):
    headers = await login(client, "county")
    params = {"region": COUNTY_CODE, "period": FEBRUARY}
    answer = await client.get("/statistics", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    figures = answer.json()
    assert figures["report"] is None and figures["period"]["label"] == "2026年2月"
    check(figures, await expected_figures(demo, COUNTY_CODE, feb(1, 0), datetime(2026, 3, 1, tzinfo=CHINA_TZ)))

    as_csv = await client.get("/statistics", params=params | {"format": "csv"}, headers=headers)
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert 'filename="statistics-611026000000-2026-02.csv"' in as_csv.headers["content-disposition"]
    rows = {line[1]: line for line in csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig")))}
    as_xlsx = await client.get("/statistics", params=params | {"format": "xlsx"}, headers=headers)
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    cells = {row[1]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    for key, rate in figures["rates"].items():
        numbers = (rate["rate"], rate["numerator"], rate["denominator"])
        assert tuple(cells[f"rates.{key}"][3:6]) == numbers, key
        assert rows[f"rates.{key}"][3:6] == ["" if v is None else str(v) for v in numbers], key
    for key, value in figures["counts"].items():
        if key != "suggestions":
            assert cells[f"counts.{key}"][3] == value and rows[f"counts.{key}"][3] == str(value), key

    as_pdf = await client.get("/statistics", params=params | {"format": "pdf"}, headers=headers)
    assert as_pdf.headers["content-type"] == "application/pdf"
    text = "".join(text_of(as_pdf.content).split())
    resolution = figures["rates"]["resolution"]["rate"]
    for expected in (
        "柞水县矛盾纠纷排查化解工作月报",
        "乾佑街道",
        "营盘镇",
        "各地登记件数",
        f"化解率{resolution * 100:.1f}%",
    ):
        assert expected in text, expected


async def test_should_keep_each_caller_to_their_own_jurisdiction(demo, client):
    town = await login(client, "town-001")
    mine = await client.get("/statistics", params={"region": TOWN_A, "period": FEBRUARY}, headers=town)
    assert mine.status_code == 200 and mine.json()["region"]["name"] == "乾佑街道"
    default = await client.get("/statistics", params={"period": FEBRUARY}, headers=town)
    assert default.json()["region"]["code"] == TOWN_A
    for region in (TOWN_B, COUNTY_CODE, "611025000000", "999999999999"):
        other = await client.get("/statistics", params={"region": region, "period": FEBRUARY}, headers=town)
        assert (other.status_code, other.json()["code"]) == (404, "auth.out_of_scope"), region
    anonymous = await client.get("/statistics", params={"period": FEBRUARY})
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("params", "code", "says"),
    [
        ({"period": "2026-13"}, "statistics.invalid_period", "月份应为 01-12"),
        ({"period": "二月"}, "statistics.invalid_period", "2026-11（月）、2026-Q4（季度）或 2026（年）"),
        ({"period": "2026-05"}, "statistics.period_not_started", "尚未开始"),
        ({"period": FEBRUARY, "format": "docx"}, "statistics.invalid_format", "json、csv、xlsx、pdf"),
    ],
)
async def test_should_refuse_a_bad_period_or_format_with_a_clear_code(demo, client, params, code, says):
    answer = await client.get("/statistics", params=params, headers=await login(client, "county"))
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == code and says in answer.json()["detail"]


# ---------------------------------------------------------------- the monthly job


async def stored_reports(demo: Demo) -> list[StatisticsReport]:
    async with demo.context.db.read() as session:
        return list((await session.exec(select(StatisticsReport).order_by(StatisticsReport.region_code))).all())


async def test_should_store_last_month_once_however_often_and_by_how_many_the_job_runs(demo, client):
    service = StatisticsService(demo.context)
    demo.clock.at = datetime(2026, 3, 1, 0, 30, tzinfo=CHINA_TZ)
    regions = await service.report_regions(parse_period(FEBRUARY))
    assert [region.code for region in regions][:2] == [COUNTY_CODE, TOWN_A]
    assert len(regions) == 10 and {region.level for region in regions[1:]} == {"township"}
    chosen = [regions[0], regions[1]]
    try:
        assert await generate_monthly_reports(demo.context, regions=chosen) == 2
        demo.clock.advance(hours=1)
        assert await generate_monthly_reports(demo.context, regions=chosen) == 0
        # Two processes at once (here two runs on one loop) on a month not yet stored.
        demo.clock.at = datetime(2026, 2, 1, 1, 0, tzinfo=CHINA_TZ)
        runs = await asyncio.gather(*(generate_monthly_reports(demo.context, regions=chosen[:1]) for _ in range(2)))
        assert sorted(runs) == [0, 1]
        reports = await stored_reports(demo)
        assert sorted((r.region_code, r.period) for r in reports) == [
            (COUNTY_CODE, "2026-01"),
            (COUNTY_CODE, FEBRUARY),
            (TOWN_A, FEBRUARY),
        ]
        february = next(r for r in reports if (r.region_code, r.period) == (COUNTY_CODE, FEBRUARY))
        assert february.source == "schedule" and february.figures["period"]["key"] == FEBRUARY
        assert local_date(february.as_of) == datetime(2026, 3, 1).date()
        assert "2026年2月" in text_of(february.pdf)

        # The API serves the report as issued; live=true counts again.
        demo.clock.at = T0
        headers = await login(client, "county")
        params = {"region": COUNTY_CODE, "period": FEBRUARY}
        issued = (await client.get("/statistics", params=params, headers=headers)).json()
        assert issued["report"]["id"] == str(february.id) and issued["as_of"] == february.figures["as_of"]
        pdf = await client.get("/statistics", params=params | {"format": "pdf"}, headers=headers)
        assert pdf.content == february.pdf
        live = (await client.get("/statistics", params=params | {"live": "true"}, headers=headers)).json()
        assert live["report"] is None and live["as_of"] != february.figures["as_of"]
    finally:
        async with demo.context.db.write() as session:
            await session.exec(delete(StatisticsReport))  # type: ignore[call-overload]
        demo.clock.at = T0


async def test_should_write_the_reports_from_the_command_line(demo, tmp_path):
    if demo.backend != "sqlite":
        pytest.skip("the command is the same on both backends; one run shows it")
    env = {**os.environ, "FENGQIAO_DATABASE_URL": demo.url, "FENGQIAO_DATA_KEY": TEST_KEY}
    fengqiao = str(Path(sys.executable).with_name("fengqiao"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([fengqiao, *args], env=env, capture_output=True, text=True, timeout=120)

    out = tmp_path / "feb.json"
    done = run("report", "monthly", "--region", COUNTY_CODE, "--month", FEBRUARY, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "柞水县2026年2月" in done.stdout
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["region"]["code"] == COUNTY_CODE and figures["period"]["key"] == FEBRUARY
    annual = tmp_path / "2025.pdf"
    assert run("report", "annual", "--region", COUNTY_CODE, "--year", "2025", "--out", str(annual)).returncode == 0
    assert "信访工作年度报告" in "".join(text_of(annual.read_bytes()).split())
    refused = run("report", "monthly", "--region", COUNTY_CODE, "--month", "2026-13")
    assert refused.returncode == 2 and "statistics.invalid_period" in refused.stderr
    unknown = run("report", "monthly", "--region", "611099000000", "--month", FEBRUARY)
    assert unknown.returncode == 2 and "不存在" in unknown.stderr
