"""The same outbox delivered several times at once (a retry racing the original, a proxy
that duplicates requests) to a real server process: each mutation applies exactly once."""

from __future__ import annotations

import asyncio
import os
import uuid

import httpx
import pytest

from tests.conftest import BACKENDS, TEST_KEY, _create_postgres_database, _drop_postgres_database
from tests.e2e.processes import run, serving
from tests.factories import case_payload

pytestmark = pytest.mark.e2e
GRID = "611026001001001"  # the first grid of the demo county


@pytest.fixture(params=BACKENDS)
async def server(request, tmp_path):
    if request.param == "sqlite":
        url, drop = f"sqlite+aiosqlite:///{tmp_path / 'races.db'}", None
    else:
        url = drop = await _create_postgres_database()
    env = {**os.environ, "FENGQIAO_DATABASE_URL": url, "FENGQIAO_DATA_KEY": TEST_KEY}
    try:
        run(["migrate"], env)
        run(["demo", "--cases", "0"], env)
        with serving(env) as base:
            yield base
    finally:
        if drop:
            await _drop_postgres_database(drop)


async def test_an_outbox_delivered_five_times_at_once_applies_each_mutation_once(server):
    async with httpx.AsyncClient(base_url=server, timeout=60) as http:
        login = await http.post("/auth/login", json={"username": "grid-001001001", "password": "fengqiao-demo"})
        user = {"Authorization": f"Bearer {login.json()['token']}"}
        device_id = str(uuid.uuid4())
        enrolled = await http.post("/devices", json={"device_id": device_id}, headers=user)
        device = {"Authorization": f"Bearer {enrolled.json()['device_token']}"}
        case_ids = [str(uuid.uuid4()) for _ in range(20)]
        outbox = []
        for seq, case_id in enumerate(case_ids, start=1):
            data = case_payload(GRID)
            data.pop("id")
            outbox.append(
                {"seq": seq, "id": str(uuid.uuid4()), "type": "create_case", "case_id": case_id, "data": data}
            )
        request = {"protocol": 1, "app_version": "race", "device_id": device_id, "outbox": outbox}

        answers = await asyncio.gather(*(http.post("/sync", json=request, headers=device) for _ in range(5)))

        assert [answer.status_code for answer in answers] == [200] * 5
        statuses = [[result["status"] for result in answer.json()["results"]] for answer in answers]
        for seq in range(20):
            column = sorted(row[seq] for row in statuses)
            assert column == ["applied"] + ["duplicate"] * 4, f"seq {seq + 1}: {column}"
        mine = await http.get("/cases", params={"mine": "true", "limit": 100}, headers=user)
        assert sorted(item["id"] for item in mine.json()["items"]) == sorted(case_ids)
        for case_id in case_ids[:3]:
            timeline = await http.get(f"/cases/{case_id}/timeline", headers=user)
            kinds = [entry["kind"] for entry in timeline.json()]
            # Once each (the same capture twenty times is also flagged as a repeat of the first).
            assert kinds[0] == "register" and len(kinds) == len(set(kinds))
