"""Records a field worker keeps on existing cases and on the sweep, in Chromium against a
real server: the periodic 排查 report (a 零报告) filed offline, a mediation session
recorded offline, and the search of my cases; the login done with the keyboard alone."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.e2e.pwa_harness import (
    PASSWORD,
    PHONE,
    demo_server_fixture,
    launch,
    login,
    nav,
    new_context,
    node_of,
    shoot,
    wait_synced,
)
from tests.factories import case_payload

pytestmark = pytest.mark.e2e


server = demo_server_fixture(cases=12)


def test_should_file_a_zero_report_offline_and_find_cases_by_search(server):
    worker = server.logins["网格员"]
    grid = node_of(server, worker)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = new_context(browser, PHONE)
        page = context.new_page()
        page.goto(server.url + "/")
        # The keyboard alone: the first field has focus after one Tab, Enter submits.
        page.get_by_label("用户名").wait_for()
        page.keyboard.press("Tab")
        expect(page.get_by_label("用户名")).to_be_focused()
        page.keyboard.type(worker)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_function("navigator.serviceWorker && navigator.serviceWorker.controller !== null")
        wait_synced(page)

        nav(page, "排查")
        page.get_by_role("table").wait_for()  # the periods, fetched once while online
        context.set_offline(True)
        page.reload()
        nav(page, "排查")
        period = page.get_by_label("报告期")
        choice = period.locator("option").nth(1)
        start, end = choice.get_attribute("value").split("/")
        period.select_option(value=f"{start}/{end}")
        page.get_by_label("零报告（本期未发现矛盾纠纷）").check()
        page.get_by_role("button", name="报送零报告").click()
        expect(page.get_by_text("零报告已保存，联网后自动报送。")).to_be_visible()
        expect(page.get_by_role("row").filter(has_text=start)).to_contain_text("已填报，待同步")
        shoot(page, "screening")
        context.set_offline(False)
        wait_synced(page)

        nav(page, "案件")
        page.get_by_label("只看未办结").uncheck()
        total = page.locator(".row").count()
        title = page.locator(".row-title").first.inner_text()
        page.get_by_label("搜索（编号、标题、当事人）").fill(title[:4])
        expect(page.locator(".row").first).to_contain_text(title[:4])
        assert 1 <= page.locator(".row").count() <= total
        page.get_by_label("搜索（编号、标题、当事人）").fill("没有这样的案件标题")
        expect(page.get_by_text("没有符合条件的案件。")).to_be_visible()
        context.close()
        browser.close()

    reports = server.query(
        "SELECT period_start, period_end, zero_report, found_count FROM screening_report WHERE region_code = ?", grid
    )
    assert reports == [(start, end, 1, 0)]


def test_should_record_a_mediation_session_offline(server):
    leader = server.logins["村两委干部"]
    mediator = server.logins["村人民调解员"]
    village = node_of(server, leader)
    headers = server.headers(leader)
    body = case_payload(title="调解测试：院墙滴水纠纷", id=str(uuid.uuid4()), village_code=village)
    case = httpx.post(f"{server.api}/cases", json=body, headers=headers).json()
    parties = [party["id"] for party in case["parties"]]
    for step in (
        {"action": "accept"},
        {"action": "start_mediation", "data": {"consenting_party_ids": parties, "informed_of_rights": True}},
    ):
        answer = httpx.post(f"{server.api}/cases/{case['id']}/transitions", json=step, headers=headers)
        assert answer.status_code == 200, answer.text

    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = new_context(browser, PHONE)
        page = context.new_page()
        login(page, server, mediator)
        context.set_offline(True)
        page.goto(f"{server.url}/#/case/{case['id']}")
        page.get_by_role("link", name="记录调解").click()
        page.get_by_label("调解情况").fill("双方到场，约定下周共同勘查院墙位置")
        page.get_by_label("调解地点").fill("村委会调解室")
        page.get_by_label("参加人员（用逗号分隔）").fill("王建国，李秀英")
        page.get_by_role("button", name="保存").click()
        timeline = page.get_by_role("list", name="办理时间线")
        expect(timeline.locator(".tl-pending")).to_contain_text("调解记录")
        context.set_offline(False)
        wait_synced(page)
        expect(timeline.locator(".tl-pending")).to_have_count(0)
        expect(timeline).to_contain_text("双方到场，约定下周共同勘查院墙位置")
        shoot(page, "case-detail")
        context.close()
        browser.close()

    sessions = server.query(
        "SELECT data FROM case_event WHERE kind = 'record_session' AND case_id = ?", uuid.UUID(case["id"]).hex
    )
    assert [json.loads(data) for (data,) in sessions] == [
        {
            "summary": "双方到场，约定下周共同勘查院墙位置",
            "place": "村委会调解室",
            "participants": ["王建国", "李秀英"],
            "violence_risk": False,
        }
    ]
