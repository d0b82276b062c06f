"""排查 reports over HTTP and sync (both backends, fixed clock at Monday 2 March 2026 10:00,
inside 全国两会: grids, villages and towns report weekly, 2-8 March is due Tuesday 10 March,
reminded Monday 9 March at 9:00)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlmodel import col, func, select

from grid.calendar import CHINA_TZ
from grid.people import Role
from grid.screening import ScreeningReminder, ScreeningReport
from server.outbox import Notification
from server.scheduler import JOBS, Scheduler
from server.schemas.screening import ScreeningReportCreate
from server.services.screening import REMINDER_EVENT, ScreeningService, screening_reminder_job
from server.services.users import UserService, principal_of
from tests.factories import case_payload

WEEK = ("2026-03-02", "2026-03-08")


def report(period: tuple[str, str] = WEEK, **overrides) -> dict:
    body = {"id": str(uuid.uuid4()), "period_start": period[0], "period_end": period[1], "zero_report": True}
    body.update(overrides)
    return body


def findings(**overrides) -> dict:
    body = {"zero_report": False, "found_count": 2, "items": ["宅基地界址争议", "务工人员欠薪"], **overrides}
    return report(**body)


async def rows(db, model, *where) -> list:
    async with db.read() as session:
        return list((await session.exec(select(model).where(*where))).all())


async def worker_at(context, world, code: str, username: str):
    """A grid worker for a grid that has none in the seeded world."""
    user = await UserService(context).create(
        username=username, display_name=f"测试{username}", role=Role.GRID_WORKER, node_code=code, password_hash="x"
    )
    return principal_of(user)


async def test_a_grid_worker_files_what_the_sweep_found_for_the_current_week(client, world):
    case = await client.post("/cases", json=case_payload(world.grid_a), headers=world.auth("grid_worker"))
    body = findings(case_ids=[case.json()["id"]], captured_at="2026-03-02T09:58:00+08:00")
    answer = await client.post("/screening/reports", json=body, headers=world.auth("grid_worker"))
    assert answer.status_code == 201, answer.text
    filed = answer.json()
    assert (filed["id"], filed["region"], filed["level"]) == (body["id"], world.grid_a, "grid")
    assert (filed["cadence"], filed["sensitive"], filed["due_on"]) == ("weekly", "全国两会", "2026-03-10")
    assert (filed["status"], filed["zero_report"], filed["found_count"]) == ("on_time", False, 2)
    assert filed["items"] == ["宅基地界址争议", "务工人员欠薪"]
    assert filed["case_ids"] == [case.json()["id"]]
    assert filed["submitted_at"].startswith("2026-03-02T02:00:00")  # server time, in UTC
    assert datetime.fromisoformat(filed["captured_at"]) == datetime(2026, 3, 2, 9, 58, tzinfo=CHINA_TZ)

    listed = await client.get("/screening/reports", params={"region": world.village_a}, headers=world.auth("town"))
    assert [item["id"] for item in listed.json()["items"]] == [body["id"]]


async def test_a_zero_report_counts_as_the_period_s_report(client, world):
    answer = await client.post("/screening/reports", json=report(), headers=world.auth("grid_worker"))
    assert answer.status_code == 201, answer.text
    assert (answer.json()["zero_report"], answer.json()["found_count"], answer.json()["items"]) == (True, 0, [])
    periods = await client.get(
        "/screening/periods",
        params={"region": world.grid_a, "from": "2026-02-16", "to": "2026-03-08"},
        headers=world.auth("grid_worker"),
    )
    assert [(p["start"], p["end"], p["due_on"], p["status"]) for p in periods.json()["periods"]] == [
        ("2026-02-16", "2026-02-28", "2026-03-03", "pending"),
        ("2026-03-01", "2026-03-01", "2026-03-03", "pending"),
        ("2026-03-02", "2026-03-08", "2026-03-10", "on_time"),
    ]
    assert periods.json()["periods"][2]["report_id"] == answer.json()["id"]
    reminders = [datetime.fromisoformat(at) for at in periods.json()["periods"][2]["reminders"]]
    assert reminders == [datetime(2026, 3, 9, 9, tzinfo=CHINA_TZ)]
    completeness = await client.get(
        "/screening/completeness", params={"region": world.village_a, "level": "grid"}, headers=world.auth("leader")
    )
    [grid_a, grid_a2] = completeness.json()["children"]
    assert (grid_a["region"], grid_a["received"], grid_a["on_time"]) == (world.grid_a, 1, 1)
    assert (grid_a2["region"], grid_a2["received"], grid_a2["pending"]) == (world.grid_a2, 0, 1)


async def test_a_retry_of_the_same_report_is_acknowledged_and_another_report_for_the_week_conflicts(client, world, db):
    headers = world.auth("grid_worker")
    body = findings()
    first = await client.post("/screening/reports", json=body, headers=headers)
    # The answer was lost; the phone sends the very same report again (device clock moved).
    again = await client.post(
        "/screening/reports", json={**body, "captured_at": "2026-03-02T10:05:00+08:00"}, headers=headers
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert len(await rows(db, ScreeningReport, ScreeningReport.region_code == world.grid_a)) == 1

    second = await client.post("/screening/reports", json=report(), headers=headers)
    assert second.status_code == 409, second.text
    assert (second.json()["code"], second.json()["report_id"]) == ("screening.already_reported", body["id"])
    changed = await client.post("/screening/reports", json={**body, "found_count": 3}, headers=headers)
    assert (changed.status_code, changed.json()["code"]) == (409, "screening.duplicate_id")
    assert len(await rows(db, ScreeningReport, ScreeningReport.region_code == world.grid_a)) == 1


async def test_a_report_for_a_period_the_policy_does_not_have_or_that_has_not_begun_is_refused(client, world):
    headers = world.auth("grid_worker")
    # Half-months are suspended during 全国两会: the first of March is its own period.
    wrong = await client.post("/screening/reports", json=report(("2026-03-01", "2026-03-15")), headers=headers)
    assert (wrong.status_code, wrong.json()["code"]) == (422, "screening.invalid_period")
    assert (wrong.json()["expected_start"], wrong.json()["expected_end"]) == ("2026-03-01", "2026-03-01")
    early = await client.post("/screening/reports", json=report(("2026-03-09", "2026-03-15")), headers=headers)
    assert (early.status_code, early.json()["code"]) == (422, "screening.period_not_started")
    late = await client.post("/screening/reports", json=report(("2026-02-16", "2026-02-28")), headers=headers)
    assert (late.status_code, late.json()["cadence"]) == (201, "half_month")


async def test_a_zero_report_with_findings_or_an_unknown_case_is_refused_field_by_field(client, world):
    headers = world.auth("grid_worker")
    mixed = await client.post("/screening/reports", json=report(found_count=1, items=["纠纷"]), headers=headers)
    assert mixed.status_code == 422
    assert [(e["field"], e["rule"]) for e in mixed.json()["errors"]] == [
        ("zero_report", "screening.zero_report_with_findings")
    ]
    stranger = await client.post("/cases", json=case_payload(world.grid_b), headers=world.auth("grid_worker_b"))
    unknown = await client.post("/screening/reports", json=findings(case_ids=[stranger.json()["id"]]), headers=headers)
    assert [(e["field"], e["rule"]) for e in unknown.json()["errors"]] == [("case_ids.0", "screening.case_unknown")]
    empty_item = await client.post("/screening/reports", json=findings(items=["  "]), headers=headers)
    assert (empty_item.status_code, empty_item.json()["code"]) == (422, "validation.failed")
    # A device time without its offset could be any time of that day: refused, not guessed.
    naive = await client.post("/screening/reports", json=report(captured_at="2026-03-02T09:00:00"), headers=headers)
    assert [(e["field"], e["rule"]) for e in naive.json()["errors"]] == [("captured_at", "timezone_aware")]


async def test_the_village_leader_files_the_village_s_own_report_and_nobody_files_for_another_node(client, world):
    leader = world.auth("leader")
    village = await client.post("/screening/reports", json=report(region=world.village_a), headers=leader)
    assert (village.status_code, village.json()["level"]) == (201, "village")
    for who, region, status, code in [
        ("leader", world.grid_a, 403, "auth.forbidden"),  # a grid's report is its worker's
        ("mediator", world.village_a, 403, "auth.forbidden"),
        ("admin", world.county, 403, "auth.forbidden"),
        ("town", world.village_a, 403, "auth.forbidden"),
        ("grid_worker", world.grid_a2, 404, "auth.out_of_scope"),
        ("grid_worker", world.grid_b, 404, "auth.out_of_scope"),
        ("leader_b", world.village_a, 404, "auth.out_of_scope"),
    ]:
        answer = await client.post("/screening/reports", json=report(region=region), headers=world.auth(who))
        assert (who, answer.status_code, answer.json()["code"]) == (who, status, code)


async def test_reads_outside_the_caller_s_area_are_refused(client, world):
    for path, params in [
        ("/screening/reports", {"region": world.grid_b}),
        ("/screening/periods", {"region": world.grid_a2}),
        ("/screening/completeness", {"region": world.town_a}),
        ("/screening/completeness", {"region": world.other_county}),
    ]:
        answer = await client.get(path, params=params, headers=world.auth("grid_worker"))
        assert (path, answer.status_code, answer.json()["code"]) == (path, 404, "auth.out_of_scope")
    city = await client.get("/screening/periods", params={"region": "611000000000"}, headers=world.auth("admin"))
    assert city.status_code == 404  # above the admin's county


async def test_completeness_of_a_town_counts_every_grid_village_and_the_town_itself(client, world, context, clock):
    # 乾佑街道: 8 villages, 仁和社区 (village_a) with two grids; all report weekly during 全国两会.
    await client.post("/screening/reports", json=findings(), headers=world.auth("grid_worker"))
    await client.post("/screening/reports", json=report(region=world.village_a), headers=world.auth("leader"))
    before = await client.get("/screening/completeness", params={"region": world.town_a}, headers=world.auth("town"))
    assert before.status_code == 200, before.text
    summary = before.json()
    assert [(p["level"], p["start"], p["end"], p["due_on"]) for p in summary["periods"]] == [
        ("township", "2026-03-02", "2026-03-08", "2026-03-10"),
        ("village", "2026-03-02", "2026-03-08", "2026-03-10"),
        ("grid", "2026-03-02", "2026-03-08", "2026-03-10"),
    ]
    total = summary["total"]
    assert (total["due"], total["received"], total["on_time"], total["pending"], total["timely_rate"]) == (
        11,
        2,
        2,
        9,
        1.0,  # nothing is late yet: the rate so far
    )

    # Wednesday 11 March: the second grid's new worker files a day after the due day.
    clock.at = datetime(2026, 3, 11, 8, 0, tzinfo=CHINA_TZ)
    worker = await worker_at(context, world, world.grid_a2, "grid_worker_a2")
    await ScreeningService(context).file(
        worker, ScreeningReportCreate.model_validate({**report(), "region": world.grid_a2})
    )
    after = await client.get(
        "/screening/completeness", params={"region": world.town_a, "period": "2026-03-05"}, headers=world.auth("town")
    )
    summary = after.json()
    assert (summary["region"], summary["day"]) == (world.town_a, "2026-03-05")
    rows_by_code = {row["region"]: row for row in summary["children"]}
    assert len(rows_by_code) == 8
    village_a = rows_by_code[world.village_a]
    assert (village_a["due"], village_a["received"], village_a["on_time"], village_a["late"], village_a["missing"]) == (
        3,
        3,
        2,
        1,
        0,
    )
    assert village_a["timely_rate"] == 0.6667
    assert village_a["outstanding"] == []
    village_a2 = rows_by_code[world.village_a2]
    assert (village_a2["due"], village_a2["missing"], village_a2["timely_rate"]) == (1, 1, 0.0)
    assert [(unit["region"], unit["status"]) for unit in village_a2["outstanding"]] == [(world.village_a2, "missing")]
    own = summary["own"]
    assert (own["region"], own["level"], own["due"], own["missing"]) == (world.town_a, "township", 1, 1)
    total = summary["total"]
    assert (total["due"], total["received"], total["on_time"], total["late"], total["missing"], total["pending"]) == (
        11,
        3,
        2,
        1,
        8,
        0,
    )
    assert total["timely_rate"] == round(2 / 11, 4)
    assert total["received_rate"] == round(3 / 11, 4)


async def test_reminders_reach_each_node_whose_report_is_not_in_once_even_if_the_job_runs_twice(
    client, world, context, clock, db
):
    await client.post("/screening/reports", json=report(), headers=world.auth("grid_worker"))
    clock.at = datetime(2026, 3, 9, 8, 59, tzinfo=CHINA_TZ)
    assert await screening_reminder_job(context) == 0  # not yet 9:00

    clock.at = datetime(2026, 3, 9, 9, 30, tzinfo=CHINA_TZ)
    assert await screening_reminder_job(context) == 6
    assert await screening_reminder_job(context) == 0
    sent = await rows(db, Notification, Notification.event == REMINDER_EVENT)
    by_user = {row.recipient_id: row for row in sent}
    names = {principal.user_id: name for name, principal in world.principals.items()}
    # Not the grid worker who filed, nor mediators, admins, or the county (monthly, due in April).
    assert sorted(names[user_id] for user_id in by_user) == [
        "grid_worker_b",
        "leader",
        "leader_b",
        "other_grid_worker",
        "town",
        "town_b",
    ]
    note = by_user[world.principals["grid_worker_b"].user_id]
    assert note.title == "排查报告提醒"
    assert "3月10日前" in note.body and "3月2日至3月8日" in note.body and "零报告" in note.body
    assert note.payload == {
        "region": world.grid_b,
        "period_start": "2026-03-02",
        "period_end": "2026-03-08",
        "due_on": "2026-03-10",
        "remind_at": "2026-03-09T09:00:00+08:00",
    }
    claims = await rows(db, ScreeningReminder, col(ScreeningReminder.period_start) == date(2026, 3, 2))
    assert len(claims) == 6 and all(claim.due_on == date(2026, 3, 10) for claim in claims)

    # A report filed after the reminder stops nothing already sent; once due, nothing more is sent.
    clock.at = datetime(2026, 3, 11, 9, 30, tzinfo=CHINA_TZ)
    assert await screening_reminder_job(context) == 0
    async with db.read() as session:
        count = (await session.exec(select(func.count()).where(Notification.event == REMINDER_EVENT))).one()
    assert count == 6


async def test_the_server_runs_the_reminder_job_every_five_minutes(context):
    assert ("screening_reminders", 300.0) in [(job.name, interval) for job, interval in Scheduler(context, JOBS).jobs]


async def test_a_phone_files_a_report_offline_and_its_retries_are_acknowledged_not_doubled(client, world, db):
    device_id = str(uuid.uuid4())
    enrolled = await client.post(
        "/devices", json={"device_id": device_id, "name": "测试手机"}, headers=world.auth("grid_worker")
    )
    auth = {"Authorization": f"Bearer {enrolled.json()['device_token']}"}
    report_id = str(uuid.uuid4())
    data = {"period_start": WEEK[0], "period_end": WEEK[1], "zero_report": True}

    def mutation(seq: int, subject: str, body: dict) -> dict:
        return {
            "seq": seq,
            "id": str(uuid.uuid4()),
            "type": "file_screening_report",
            "case_id": subject,
            "data": body,
            "device_time": "2026-03-01T21:00:00+08:00",
        }

    outbox = [
        mutation(1, report_id, data),
        # The worker tapped "send" twice: the same report again under a new mutation.
        mutation(2, report_id, data),
        # A second report for the same week from the same phone.
        mutation(3, str(uuid.uuid4()), data),
        mutation(4, str(uuid.uuid4()), {**data, "period_end": "2026-03-15"}),
        mutation(5, str(uuid.uuid4()), {**data, "zero_report": False}),
    ]
    sync = {"protocol": 1, "app_version": "0.1.0", "device_id": device_id, "outbox": outbox}
    answer = await client.post("/sync", json=sync, headers=auth)
    assert answer.status_code == 200, answer.text
    assert [(r["seq"], r["status"], r["code"]) for r in answer.json()["results"]] == [
        (1, "applied", None),
        (2, "applied", "screening.duplicate"),
        (3, "rejected", "screening.already_reported"),
        (4, "rejected", "screening.invalid_period"),
        (5, "rejected", "validation.failed"),
    ]
    assert all(r["message"] for r in answer.json()["results"][2:])
    # The answer was lost: the whole outbox again is answered from the record.
    replay = await client.post("/sync", json=sync, headers=auth)
    assert [(r["status"], r["original_status"]) for r in replay.json()["results"]][:3] == [
        ("duplicate", "applied"),
        ("duplicate", "applied"),
        ("duplicate", "rejected"),
    ]
    # Nothing is lost: the refused reports wait, as sent, for the worker's leader to look at.
    review = await client.get("/sync/mutations", params={"status": "rejected"}, headers=world.auth("leader"))
    kept = [(m["seq"], m["type"], m["code"]) for m in review.json() if m["device_id"] == device_id]
    assert kept == [
        (3, "file_screening_report", "screening.already_reported"),
        (4, "file_screening_report", "screening.invalid_period"),
        (5, "file_screening_report", "validation.failed"),
    ]
    [stored] = await rows(db, ScreeningReport, ScreeningReport.region_code == world.grid_a)
    assert str(stored.id) == report_id
    assert stored.captured_at == datetime(2026, 3, 1, 21, 0, tzinfo=CHINA_TZ)
    assert stored.submitted_by == world.principals["grid_worker"].user_id
    listed = await client.get("/screening/reports", headers=world.auth("grid_worker"))
    assert [item["id"] for item in listed.json()["items"]] == [report_id]


async def test_the_report_list_pages_newest_first(client, world, clock):
    headers = world.auth("grid_worker")
    first = await client.post("/screening/reports", json=report(("2026-02-16", "2026-02-28")), headers=headers)
    clock.advance(minutes=5)
    second = await client.post("/screening/reports", json=report(("2026-03-01", "2026-03-01")), headers=headers)
    clock.advance(minutes=5)
    third = await client.post("/screening/reports", json=report(), headers=headers)
    page = await client.get("/screening/reports", params={"limit": 2}, headers=headers)
    assert [item["id"] for item in page.json()["items"]] == [third.json()["id"], second.json()["id"]]
    rest = await client.get(
        "/screening/reports", params={"limit": 2, "cursor": page.json()["next_cursor"]}, headers=headers
    )
    assert [item["id"] for item in rest.json()["items"]] == [first.json()["id"]]
    assert rest.json()["next_cursor"] is None
    march = await client.get("/screening/reports", params={"from": "2026-03-01"}, headers=headers)
    assert [item["id"] for item in march.json()["items"]] == [third.json()["id"], second.json()["id"]]
