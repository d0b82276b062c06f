"""A new user's first minutes, on real processes: migrate, seed the demo county, serve,
log in with a printed demo login and list the cases of one village over real HTTP."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKENDS, TEST_KEY, _create_postgres_database, _drop_postgres_database
from tests.e2e.processes import run, serving

pytestmark = pytest.mark.e2e
FENGQIAO = str(Path(sys.executable).with_name("fengqiao"))
VILLAGE = "611026001001"  # 仁和社区, the village of the printed demo logins


@pytest.fixture(params=BACKENDS)
async def database_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"
        return
    url = await _create_postgres_database()
    try:
        yield url
    finally:
        await _drop_postgres_database(url)


async def test_a_new_user_logs_in_with_a_printed_demo_login_and_lists_a_village(database_url, tmp_path):
    env = {**os.environ, "FENGQIAO_DATABASE_URL": database_url, "FENGQIAO_DATA_KEY": TEST_KEY}
    run(["migrate"], env)
    printed = run(["demo", "--cases", "40"], env)
    assert "leader-001001" in printed and "fengqiao-demo" in printed
    assert "不再生成" in run(["demo"], env)  # a second run leaves the data alone

    with serving(env) as base:
        anonymous = httpx.get(f"{base}/cases")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"].startswith("application/problem+json")
        assert anonymous.json()["code"] == "auth.unauthenticated"

        login = httpx.post(f"{base}/auth/login", json={"username": "leader-001001", "password": "fengqiao-demo"})
        assert login.status_code == 201, login.text
        headers = {"Authorization": f"Bearer {login.json()['token']}", "Accept-Encoding": "gzip"}
        page = httpx.get(f"{base}/cases", params={"region": VILLAGE, "limit": 100}, headers=headers)
        assert page.status_code == 200
        items = page.json()["items"]
        assert items, "the demo puts cases in the first village"
        assert {item["village_code"] for item in items} == {VILLAGE}

        town = httpx.get(f"{base}/cases", params={"region": "611026101001"}, headers=headers)
        assert town.status_code == 404 and town.json()["code"] == "auth.out_of_scope"
        schema = httpx.get(base.removesuffix("/api/v1") + "/schema/openapi.json")
        assert "/api/v1/cases" in schema.json()["paths"]
