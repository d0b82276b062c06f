"""The escalation sweeper through the real case service, on both backends, with the clock
moved by hand (time travel) and the demo county's policy (grid/policies/zhashui.toml).

T0 is Monday 2 March 2026, 10:00 China time. An ordinary dispute at the village has 7
calendar days (last day Mon 9 March: it goes up at 24:00), the town 15 days from the
instant it received the case, the county 20 working days.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import text, update
from sqlmodel import col, select

from grid.calendar import CHINA_TZ
from grid.cases import Case, CaseEvent
from grid.supervision import Supervision
from server.escalation_tables import EscalationTrigger
from server.outbox import Notification
from server.services.escalation_sweep import EscalationSweeper, SweepReport
from tests.conftest import T0
from tests.factories import case_payload, fresh_headers, id_number, party
from tests.server.test_calendar_api import NOTICE_2027
from tests.server.test_cases_api import act, register

ENGINE = "系统（上报规则）"


def at(day: str, clock: str = "00:00") -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), tzinfo=CHINA_TZ)


async def sweep(context, when: datetime) -> SweepReport:
    return await EscalationSweeper(context).sweep(when)


async def stored(db, case_id: str) -> Case:
    async with db.read() as session:
        case = await session.get(Case, uuid.UUID(case_id))
        assert case is not None
        return case


async def timeline(db, case_id: str) -> list[CaseEvent]:
    async with db.read() as session:
        rows = await session.exec(
            select(CaseEvent).where(CaseEvent.case_id == uuid.UUID(case_id)).order_by(col(CaseEvent.seq))
        )
        return list(rows.all())


async def triggers(db, case_id: str) -> list[EscalationTrigger]:
    async with db.read() as session:
        rows = await session.exec(
            select(EscalationTrigger)
            .where(EscalationTrigger.case_id == uuid.UUID(case_id))
            .order_by(col(EscalationTrigger.at), col(EscalationTrigger.trigger_key))
        )
        return list(rows.all())


async def set_next_check(db, case_id: str, value: datetime | None) -> None:
    """Hide a case from the sweeper's index, or put it back (as if no sweep ran for it)."""
    async with db.write() as session:
        await session.exec(  # type: ignore[call-overload]
            update(Case).where(col(Case.id) == uuid.UUID(case_id)).values(next_check_at=value)
        )


def escalations(events: list[CaseEvent]) -> list[tuple[str, str, str | None]]:
    return [(e.data["from_level"], e.data["to_level"], e.data["rule"]) for e in events if e.kind == "escalate"]


def petitioners(n: int) -> list[dict[str, Any]]:
    """Other people for each case: the same petitioner twice would be a repeat petition."""
    return [
        party(name=f"王建{n}", id_number=id_number(order=f"{n:03d}"), phone=f"+86 139 {n:04d} 5678"),
        party(name=f"李秀{n}", role="respondent", id_number=id_number("19750505", f"{n:03d}"), phone=None),
    ]


_serial = iter(range(1, 1000))


async def dispute(client, world, **overrides: Any) -> dict:
    """An ordinary civil dispute registered in the village at the clock's time (contract: no
    category rule makes it simple or complex)."""
    return await register(client, world, category="contract", parties=petitioners(next(_serial)), **overrides)


async def accept(client, headers, case_id: str, reason: str = "受理") -> dict:
    response = await act(client, headers, case_id, "accept", reason)
    assert response.status_code == 200, response.text
    return response.json()


# ---------------------------------------------------------------- time triggers


async def test_a_dispute_goes_village_to_town_to_county_as_each_stage_runs_out(client, world, clock, context, db):
    created = await dispute(client, world)
    case_id = created["id"]
    await accept(client, world.auth("leader"), case_id)

    report = await sweep(context, at("2026-03-09", "23:59"))
    assert report.escalated == 0
    assert (await stored(db, case_id)).level == "village"

    report = await sweep(context, at("2026-03-10", "00:30"))
    assert report.escalated == 1
    case = await stored(db, case_id)
    assert (case.status, case.level, case.handling_node_code) == ("escalated", "township", world.town_a)
    [escalate] = [event for event in await timeline(db, case_id) if event.kind == "escalate"]
    assert (escalate.actor_id, escalate.actor_name) == (None, ENGINE)
    assert escalate.reason == "村级化解时限（一般，7日）已于2026-03-09届满，依规则 time.village.ordinary 由村级上报镇级"
    assert escalate.data["due_at"] == "2026-03-10T00:00:00+08:00"
    assert escalate.data["applied_at"] == "2026-03-10T00:30:00+08:00"
    assert (escalate.data["policy_id"], escalate.data["policy_version"]) == ("zhashui", 1)

    # The town takes it; its 15 days count from when the rule fired (Mar 10 00:00): Mar 25.
    clock.at = at("2026-03-10", "10:00")
    taken = await accept(client, world.auth("town"), case_id, "镇里接收")
    assert taken["status"] == "accepted"
    assert (await sweep(context, at("2026-03-25", "23:59"))).escalated == 0
    assert (await sweep(context, at("2026-03-26", "08:00"))).escalated == 1
    case = await stored(db, case_id)
    assert (case.status, case.level, case.handling_node_code) == ("escalated", "county", world.county)
    assert escalations(await timeline(db, case_id)) == [
        ("village", "township", "time.village.ordinary"),
        ("township", "county", "time.township.ordinary"),
    ]


async def test_a_five_working_day_target_rolls_over_national_day_2026(client, world, clock, context, db):
    # A petition (claim) at the village has 5 working days. From Tue 29 Sep: Wed 30 Sep (1),
    # Oct 1-7 off, Thu 8 (2), Fri 9 (3), the make-up Saturday 10 (4), Mon 12 (5).
    clock.at = at("2026-09-29", "10:00")
    headers = await fresh_headers(client, "grid_worker")
    body = {"kind": "claim", "category": "contract", "grid_code": world.grid_a}
    response = await client.post("/cases", json=case_payload(**body), headers=headers["grid_worker"])
    assert response.status_code == 201, response.text
    case_id = response.json()["id"]

    assert (await sweep(context, at("2026-10-12", "23:59"))).escalated == 0
    report = await sweep(context, at("2026-10-13", "00:05"))
    assert report.escalated == 1
    [escalate] = [event for event in await timeline(db, case_id) if event.kind == "escalate"]
    assert escalate.data["rule"] == "time.village.claim.ordinary"
    assert escalate.data["facts"]["last_day"] == "2026-10-12"
    assert escalate.data["due_at"] == "2026-10-13T00:00:00+08:00"


# ---------------------------------------------------------------- risk and failure triggers


async def test_a_risk_raised_to_high_through_the_api_is_due_at_once_and_sends_the_case_to_the_town(
    client, world, clock, context, db
):
    created = await dispute(client, world)
    case_id = created["id"]
    await accept(client, world.auth("leader"), case_id)
    assert (await stored(db, case_id)).next_check_at == at("2026-03-06", "09:00")  # the 3-day reminder

    clock.at = T0 + timedelta(hours=2)
    edited = await client.patch(f"/cases/{case_id}", json={"version": 2, "risk": "high"}, headers=world.auth("leader"))
    assert edited.status_code == 200, edited.text
    assert (await stored(db, case_id)).next_check_at == clock.at

    report = await sweep(context, clock.at + timedelta(minutes=1))
    assert report.escalated == 1
    case = await stored(db, case_id)
    assert (case.status, case.level) == ("escalated", "township")
    assert escalations(await timeline(db, case_id)) == [("village", "township", "risk.high_risk")]


async def test_a_possible_violent_turn_skips_the_town_because_its_rule_says_at_once(client, world, clock, context, db):
    created = await dispute(client, world)
    case_id = created["id"]
    clock.at = T0 + timedelta(hours=1)
    flags = {"violence_risk": True}
    edited = await client.patch(f"/cases/{case_id}", json={"version": 1, "flags": flags}, headers=world.auth("leader"))
    assert edited.status_code == 200, edited.text

    await sweep(context, clock.at)
    case = await stored(db, case_id)
    assert (case.status, case.level, case.handling_node_code) == ("escalated", "county", world.county)
    [escalate] = [event for event in await timeline(db, case_id) if event.kind == "escalate"]
    assert escalations([escalate]) == [("village", "county", "risk.violence_risk")]
    assert "越级直接上报县级" in escalate.reason


async def test_a_failed_mediation_at_the_village_goes_one_level_up(client, world, clock, context, db):
    created = await dispute(client, world)
    case_id = created["id"]
    await accept(client, world.auth("leader"), case_id)
    parties = [party["id"] for party in created["parties"]]
    clock.at = T0 + timedelta(days=1)
    started = await act(
        client,
        world.auth("mediator"),
        case_id,
        "start_mediation",
        consenting_party_ids=parties,
        informed_of_rights=True,
    )
    assert started.status_code == 200, started.text
    clock.at = T0 + timedelta(days=2)
    failed = await act(
        client, world.auth("mediator"), case_id, "fail_mediation", "双方分歧过大", routes_told=["litigation"]
    )
    assert failed.status_code == 200, failed.text
    assert (await stored(db, case_id)).next_check_at == clock.at

    assert (await sweep(context, clock.at)).escalated == 1
    case = await stored(db, case_id)
    assert (case.status, case.level) == ("escalated", "township")
    assert escalations(await timeline(db, case_id)) == [("village", "township", "failure.mediation_failed")]


# ---------------------------------------------------------------- lights and 督办


async def test_the_county_stage_turns_yellow_then_red_and_opens_supervision_after_two_working_days(
    client, world, context, db
):
    # Received at the county: 20 working days, last day Mon 30 March.
    created = await register(client, world, who="county", place=world.village_a, category="contract")
    case_id = created["id"]

    await sweep(context, at("2026-03-21", "12:00"))
    relights = [event for event in await timeline(db, case_id) if event.kind == "relight"]
    assert [(e.data["clock"], e.data["from"], e.data["to"]) for e in relights] == [("stage", "green", "yellow")]
    assert relights[0].data["due_at"] == "2026-03-21T11:20:00+08:00"

    await sweep(context, at("2026-03-31", "08:00"))
    relights = [event for event in await timeline(db, case_id) if event.kind == "relight"]
    assert [e.data["to"] for e in relights] == ["yellow", "red"]
    assert not [event for event in await timeline(db, case_id) if event.kind == "open_supervision"]
    async with db.read() as session:
        red = (await session.exec(select(Notification).where(Notification.event == "red"))).all()
    # notify.red names handler_leader: the county's officers, who hold the case.
    assert {row.recipient_id for row in red} == {world.principals["county"].user_id}

    # Red since Mar 31 00:00; two working days: Mar 31 and Apr 1.
    await sweep(context, at("2026-04-01", "23:59"))
    assert not [event for event in await timeline(db, case_id) if event.kind == "open_supervision"]
    await sweep(context, at("2026-04-02", "09:00"))
    [opened] = [event for event in await timeline(db, case_id) if event.kind == "open_supervision"]
    assert opened.data["due_at"] == "2026-04-02T00:00:00+08:00"
    assert opened.data["supervising_level"] == "county"
    assert "《信访工作条例》第四十条" in opened.reason
    async with db.read() as session:
        [item] = (await session.exec(select(Supervision).where(Supervision.case_id == uuid.UUID(case_id)))).all()
    assert item.trigger_key == "supervise:stage:2026-03-02T10:00:00+08:00:2026-03-30"
    # The written reply: 5 working days from when it was issued (Thu Apr 2): Apr 3, (Qingming
    # Apr 4-6 off), Apr 7, 8, 9, 10.
    assert item.reply_last_day == date(2026, 4, 10)
    keys = [row.trigger_key for row in await triggers(db, case_id)]
    assert "supervise:stage:2026-03-02T10:00:00+08:00:2026-03-30" in keys


async def test_a_case_the_town_has_not_taken_turns_red_and_is_supervised_by_the_county_not_sent_on(
    client, world, context, db
):
    created = await dispute(client, world)
    case_id = created["id"]
    await accept(client, world.auth("leader"), case_id)
    # Overdue by two stages: one escalation, then the town's stage (15 days from Mar 10)
    # runs out while nobody there has taken the case: red, then 督办 by the county.
    report = await sweep(context, at("2026-04-30", "12:00"))
    assert report.escalated == 1
    case = await stored(db, case_id)
    assert (case.status, case.level) == ("escalated", "township")
    events = await timeline(db, case_id)
    assert escalations(events) == [("village", "township", "time.village.ordinary")]
    [opened] = [event for event in events if event.kind == "open_supervision"]
    assert opened.data["supervising_level"] == "county"
    assert [e.data["to"] for e in events if e.kind == "relight" and e.data["from"] != "green"] == ["red"]


# ---------------------------------------------------------------- the sweeper's guarantees


async def test_sweeping_twice_at_the_same_instant_acts_once(client, world, context, db):
    created = await dispute(client, world)
    case_id = created["id"]
    when = at("2026-03-12", "09:00")
    first = await sweep(context, when)
    assert first.escalated == 1 and first.acted == 1
    before = (await timeline(db, case_id), await triggers(db, case_id), await stored(db, case_id))

    again = await sweep(context, when)
    assert (again.examined, again.acted) == (0, 0)
    # Even when the case is put back in front of the sweeper, its trigger keys stop it.
    await set_next_check(db, case_id, when)
    forced = await sweep(context, when)
    assert (forced.examined, forced.acted) == (1, 0)
    after = (await timeline(db, case_id), await triggers(db, case_id), await stored(db, case_id))
    assert [e.id for e in after[0]] == [e.id for e in before[0]]
    assert [t.trigger_key for t in after[1]] == [t.trigger_key for t in before[1]]
    assert (after[2].version, after[2].status, after[2].next_check_at) == (
        before[2].version,
        before[2].status,
        before[2].next_check_at,
    )


async def test_sweeping_at_t1_then_t2_leaves_a_case_as_one_sweep_at_t2_does(client, world, context, db):
    stepwise = (await dispute(client, world))["id"]
    once = (await dispute(client, world))["id"]
    for case_id in (stepwise, once):
        await accept(client, world.auth("leader"), case_id)
    hidden = (await stored(db, once)).next_check_at

    await set_next_check(db, once, None)
    for moment in (at("2026-03-07", "12:00"), at("2026-03-10", "08:00"), at("2026-03-27", "10:00")):
        await sweep(context, moment)
    await set_next_check(db, once, hidden)
    await sweep(context, at("2026-04-10", "10:00"))

    def outcome(case: Case, keys: list[EscalationTrigger], events: list[CaseEvent]):
        return (
            case.status,
            case.level,
            case.handling_node_code,
            case.lifecycle["level_entered_at"],
            case.next_check_at,
            sorted((row.trigger_key, row.at) for row in keys),
            [(event.kind, event.data.get("trigger_key")) for event in events],
        )

    results = [
        outcome(await stored(db, case_id), await triggers(db, case_id), await timeline(db, case_id))
        for case_id in (stepwise, once)
    ]
    assert results[0] == results[1]
    assert results[0][:2] == ("escalated", "township")


async def test_an_escalated_case_keeps_its_whole_timeline_and_the_village_still_reads_it(
    client, world, clock, context, db
):
    created = await dispute(client, world)
    case_id = created["id"]
    await accept(client, world.auth("leader"), case_id)
    clock.at = T0 + timedelta(days=1)
    note = await act(client, world.auth("leader"), case_id, "add_note", text="已约双方周五再谈")
    assert note.status_code == 200, note.text

    await sweep(context, at("2026-03-10", "06:00"))
    answer = await client.get(f"/cases/{case_id}/timeline", headers=world.auth("leader"))
    assert answer.status_code == 200, answer.text
    kinds = [entry["kind"] for entry in answer.json()]
    assert kinds == ["register", "accept", "add_note", "relight", "escalate"]
    assert [entry["seq"] for entry in answer.json()] == [1, 2, 3, 4, 5]
    # The village reads it, but it is the town's to decide on now.
    case = (await client.get(f"/cases/{case_id}", headers=world.auth("leader"))).json()
    assert "accept" not in case["allowed_actions"]


async def test_a_case_overdue_for_months_climbs_one_level_only_until_someone_takes_it(client, world, context, db):
    created = await dispute(client, world)
    case_id = created["id"]
    await sweep(context, at("2026-06-30", "10:00"))
    case = await stored(db, case_id)
    assert (case.status, case.level) == ("escalated", "township")
    assert escalations(await timeline(db, case_id)) == [("village", "township", "time.village.ordinary")]
    assert all(entry["to_level"] != "county" for entry in case.lifecycle["escalations"])


async def test_a_sweep_with_nothing_due_touches_no_case(client, world, context, db):
    ids = [(await dispute(client, world))["id"] for _ in range(3)]
    before = [(await stored(db, case_id)).model_dump() for case_id in ids]
    events = [len(await timeline(db, case_id)) for case_id in ids]

    report = await sweep(context, T0 + timedelta(minutes=1))

    assert (report.examined, report.acted, sum(report.decisions.values())) == (0, 0, 0)
    assert [(await stored(db, case_id)).model_dump() for case_id in ids] == before
    assert [len(await timeline(db, case_id)) for case_id in ids] == events
    async with db.read() as session:
        count = (await session.exec(text("SELECT count(*) FROM escalation_trigger"))).one()  # type: ignore[call-overload]
    assert count[0] == 0


async def test_a_person_changing_a_case_resets_when_it_is_next_checked(client, world, clock, context, db):
    created = await dispute(client, world)
    case_id = created["id"]
    assert (await stored(db, case_id)).next_check_at == at("2026-03-06", "09:00")
    await sweep(context, at("2026-03-06", "09:30"))
    # Reminded; next: the yellow light at two thirds of the week.
    assert (await stored(db, case_id)).next_check_at == at("2026-03-07", "11:20")

    clock.at = at("2026-03-06", "10:00")
    closed = await act(client, world.auth("leader"), case_id, "decline", "不属于受理范围", basis="不属于人民调解范围")
    assert closed.status_code == 200, closed.text
    # Declined: no stage runs any more, nothing can fall due until a person acts again.
    assert (await stored(db, case_id)).next_check_at is None


async def test_a_holiday_notice_loaded_later_moves_the_next_check_of_every_open_case(client, world, clock, context, db):
    # 20 working days at the county from Mon 28 Dec 2026 end in 2027: counted on weekends
    # alone until the year's notice is loaded (its 1-3 January are days off).
    clock.at = at("2026-12-28", "10:00")
    auth = await fresh_headers(client, "county", "admin")
    body = case_payload(village_code=world.village_a, category="contract")
    created = await client.post("/cases", json=body, headers=auth["county"])
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    assert (await stored(db, case_id)).next_check_at == at("2027-01-16", "11:20")  # yellow, provisional

    loaded = await client.post("/calendar/notices", json={"text": NOTICE_2027}, headers=auth["admin"])
    assert loaded.status_code == 201, loaded.text
    assert (await stored(db, case_id)).next_check_at == clock.at

    report = await sweep(context, clock.at)
    assert (report.examined, report.acted) == (1, 0)
    assert (await stored(db, case_id)).next_check_at == at("2027-01-17", "03:20")
