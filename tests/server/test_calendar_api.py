import uuid
from datetime import datetime

from sqlmodel import select

from grid.calendar import CHINA_TZ
from grid.cases import Case
from tests.factories import case_payload, fresh_headers

NOTICE_2027 = """
year = 2027
source = "测试用：2027年部分节假日安排（虚构）"

[[holiday]]
name = "元旦"
days = ["2027-01-01", "2027-01-02", "2027-01-03"]

[[holiday]]
name = "春节"
days = ["2027-02-05", "2027-02-06", "2027-02-07", "2027-02-08",
        "2027-02-09", "2027-02-10", "2027-02-11", "2027-02-12"]
makeup_workdays = ["2027-01-31", "2027-02-13"]
"""


async def handled_case_accepted_on_10_december_2026(client, world, clock) -> str:
    clock.at = datetime(2026, 12, 10, 10, 0, tzinfo=CHINA_TZ)
    auth = await fresh_headers(client, "grid_worker", "leader", "town", "admin")
    created = await client.post("/cases", json=case_payload(world.grid_a, kind="claim"), headers=auth["grid_worker"])
    case_id = created.json()["id"]
    for who, action in (("leader", "accept"), ("town", "start_handling")):
        answer = await client.post(f"/cases/{case_id}/transitions", json={"action": action}, headers=auth[who])
        assert answer.status_code == 200, answer.text
    return case_id, auth


async def test_a_deadline_in_a_year_without_data_is_provisional_until_the_notice_is_loaded(client, world, clock, db):
    case_id, auth = await handled_case_accepted_on_10_december_2026(client, world, clock)
    before = (await client.get(f"/cases/{case_id}", headers=auth["town"])).json()["deadline"]
    # 60 days after 10 Dec 2026 is Monday 8 Feb 2027: a working day on weekends alone.
    assert (before["kind"], before["last_day"], before["provisional"]) == ("handling", "2027-02-08", True)

    loaded = await client.post("/calendar/notices", json={"text": NOTICE_2027}, headers=auth["admin"])
    assert loaded.status_code == 201, loaded.text
    assert loaded.json() == {"year": 2027, "source": "测试用：2027年部分节假日安排（虚构）"}

    after = (await client.get(f"/cases/{case_id}", headers=auth["town"])).json()["deadline"]
    # 8 Feb falls in the (test) Spring Festival; the first working day after is the
    # make-up Saturday 13 Feb.
    assert (after["last_day"], after["provisional"]) == ("2027-02-13", False)
    async with db.read() as session:
        stored = (await session.exec(select(Case).where(Case.id == uuid.UUID(case_id)))).one()
    assert stored.deadline_provisional is False
    assert stored.next_deadline_at == datetime(2027, 2, 14, 0, 0, tzinfo=CHINA_TZ)

    years = (await client.get("/calendar/years", headers=auth["town"])).json()
    assert {"year": 2027, "source": "notice"} in years
    assert {"year": 2026, "source": "library"} in years


async def test_should_refuse_a_notice_from_someone_who_is_not_an_admin(client, world):
    answer = await client.post("/calendar/notices", json={"text": NOTICE_2027}, headers=world.auth("county"))
    assert answer.status_code == 403
    assert answer.json()["code"] == "auth.forbidden"


async def test_should_refuse_a_notice_whose_makeup_day_is_a_weekday_and_name_the_entry(client, world):
    broken = NOTICE_2027.replace('"2027-01-31", ', '"2027-02-01", ')
    answer = await client.post("/calendar/notices", json={"text": broken}, headers=world.auth("admin"))
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "calendar.invalid_notice"
    assert "makeup_workdays" in body["detail"]
