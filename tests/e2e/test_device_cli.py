"""The reference device client's commands against a real server process: enroll, capture
offline, sync, status."""

from __future__ import annotations

import os
import re

import pytest

from tests.conftest import TEST_KEY
from tests.e2e.processes import run, serving

pytestmark = pytest.mark.e2e


def test_a_grid_worker_enrolls_captures_offline_and_syncs_with_the_cli(tmp_path):
    env = {
        **os.environ,
        "FENGQIAO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'server.db'}",
        "FENGQIAO_DATA_KEY": TEST_KEY,
    }
    run(["migrate"], env)
    printed = run(["demo", "--cases", "5"], env)
    worker = re.search(r"grid-(\d+)", printed)
    assert worker, printed
    username, grid = worker.group(0), "611026" + worker.group(1)

    with serving(env) as base:
        store = str(tmp_path / "phone.db")
        credentials = ["--username", username, "--password", "fengqiao-demo"]
        assert "已登记" in run(["device", "enroll", "--server", base, *credentials, "--store", store], env)
        case = ["--grid", grid, "--kind", "civil_dispute", "--category", "neighbourhood", "--title", "排水沟纠纷"]
        for number in range(3):
            run(
                [
                    "device",
                    "capture",
                    "--store",
                    store,
                    *case,
                    "--request",
                    f"疏通{number}",
                    "--id-unknown-reason",
                    "未带证件",
                ],
                env,
            )
        assert "待同步 3 条" in run(["device", "status", "--store", store], env)
        synced = run(["device", "sync", "--store", store], env)
        assert "成功 3" in synced, synced
        status = run(["device", "status", "--store", store], env)
        assert "待同步 0 条" in status and "从未同步" not in status
        assert "成功 0，重复 0" in run(["device", "sync", "--store", store], env)
