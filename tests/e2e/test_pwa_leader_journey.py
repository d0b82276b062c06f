"""Leaders in the same app, by role, in Chromium against a real server: a town officer
finds the case a village escalated in the inbox, accepts it, names a 包案 leader and
downloads its 受理告知书; the region's list filters with counts; the monthly statistics
draw their charts."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.e2e.pwa_harness import (
    DESKTOP,
    PHONE,
    demo_server_fixture,
    escalated_case,
    launch,
    login,
    nav,
    new_context,
    node_of,
    shoot,
)
from tests.factories import case_payload

pytestmark = pytest.mark.e2e

TITLE = "上报测试：跨村山林界线争议"


server = demo_server_fixture(cases=30)


def test_should_let_a_town_officer_accept_an_escalated_case_name_its_leader_and_download_the_notice(server, tmp_path):
    reason = "涉及两个村，村级调解未果，提请镇综治中心处理"
    case_id = escalated_case(server, reason, title=TITLE, category="land_forest")
    officer = server.logins["乡镇综治中心干部"]
    head = server.logins["乡镇负责人（审批延期）"]
    head_id, head_name = server.query("SELECT id, display_name FROM app_user WHERE username = ?", head)[0]
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = new_context(browser, DESKTOP, accept_downloads=True)
        page = context.new_page()
        login(page, server, officer)

        nav(page, "待办")
        queue = page.locator("[data-section=escalated_to_me]")
        expect(queue.get_by_role("link", name=TITLE)).to_be_visible()
        shoot(page, "inbox")
        queue.get_by_role("link", name=TITLE).click()
        page.get_by_role("heading", name=TITLE).wait_for()
        expect(page.get_by_test_id("case-status")).to_have_text("已上报待接收")

        actions = page.get_by_role("group", name="办理操作")
        actions.get_by_role("button", name="受理", exact=True).click()
        page.get_by_role("button", name="确认受理").click()
        expect(page.get_by_role("status").filter(has_text="已受理")).to_be_visible()
        expect(page.get_by_test_id("case-status")).to_have_text("已受理", timeout=20_000)  # synced back

        actions.get_by_role("button", name="包案").click()
        form = page.get_by_role("form", name="包案")
        form.get_by_label("包案领导").select_option(str(uuid.UUID(head_id)))
        form.get_by_label("包案措施").fill("实地勘界，召集两村两委和当事人座谈")
        form.get_by_label("办结时限").fill("2027-01-15")
        form.get_by_label("责任分工").fill("镇综治中心牵头，林业站配合")
        form.get_by_role("button", name="确认包案").click()
        expect(page.get_by_text(f"包案领导：{head_name}，办结时限")).to_be_visible()
        shoot(page, "case-officer-actions")

        page.get_by_label("查看理由（记入访问日志）").fill("核实信访人身份以便电话告知受理结果")
        page.get_by_role("button", name="查看身份信息").click()
        revealed = page.get_by_role("region", name="查看身份信息").get_by_role("listitem").first
        expect(revealed).to_contain_text("611026")
        expect(revealed).not_to_contain_text("*")

        with page.expect_download() as downloading:
            page.get_by_role("button", name="下载受理告知书").click()
        download = downloading.value
        assert "受理告知书" in download.suggested_filename
        saved = tmp_path / "notice.pdf"
        download.save_as(saved)
        assert saved.read_bytes().startswith(b"%PDF-")
        context.close()
        browser.close()

    read = httpx.get(f"{server.api}/cases/{case_id}", headers=server.headers(officer)).json()
    assert read["status"] == "accepted" and read["level"] == "township"
    lead = httpx.get(f"{server.api}/cases/{case_id}/lead", headers=server.headers(officer)).json()
    assert lead["current"]["leader_id"] == str(uuid.UUID(head_id))
    reveals = server.query("SELECT reason FROM identity_access WHERE case_id = ?", uuid.UUID(case_id).hex)
    assert reveals == [("核实信访人身份以便电话告知受理结果",)], "the reveal is logged with its reason"


def test_should_filter_the_regions_cases_with_counts_on_a_phone(server):
    officer = server.logins["乡镇综治中心干部"]
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = new_context(browser, PHONE)
        page = context.new_page()
        login(page, server, officer)
        nav(page, "辖区")
        total = int(page.get_by_test_id("region-count").inner_text())
        township = server.query(
            "SELECT r.path FROM region r JOIN app_user u ON u.node_code = r.code WHERE u.username = ?", officer
        )[0][0]
        under = "FROM case_file WHERE region_path LIKE ? || '%'"
        held = server.query(f"SELECT count(*) {under}", township)[0][0]
        assert total == held, "a town officer's phone holds every case of the township"
        status = page.get_by_label("状态", exact=True)
        option = status.locator("option", has_text="已受理")
        expected = int(option.inner_text().split("（")[1].rstrip("）"))
        status.select_option(label=option.inner_text())
        expect(page.get_by_test_id("region-count")).to_have_text(str(expected))
        assert expected == server.query(f"SELECT count(*) {under} AND status = 'accepted'", township)[0][0]
        expect(page.locator(".row").first).to_contain_text("已受理")
        shoot(page, "region-filters")
        context.close()
        browser.close()


def test_should_draw_the_monthly_statistics(server):
    officer = server.logins["乡镇综治中心干部"]
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = new_context(browser, DESKTOP)
        page = context.new_page()
        login(page, server, officer)
        nav(page, "统计")
        page.get_by_role("heading", name="统计").wait_for()
        page.get_by_label("统计期（如 2026-11、2026-Q4、2026）").fill("2026")
        expect(page.locator(".kpi").first).to_be_visible(timeout=20_000)
        expect(page.get_by_role("img", name="登记件数走势")).to_be_visible()
        expect(page.get_by_role("img", name="主要指标")).to_be_visible()
        shoot(page, "statistics")
        context.close()
        browser.close()


def test_should_let_the_head_approve_an_extension_the_officer_asked_for(server):
    """The officer asks for more time in the app; the township's head finds it in the
    inbox and approves it (信访工作条例 Art. 34)."""
    officer = server.logins["乡镇综治中心干部"]
    head = server.logins["乡镇负责人（审批延期）"]
    leader = server.logins["村两委干部"]
    village = node_of(server, leader)
    title = "延期测试：土地流转租金纠纷"
    body = case_payload(title=title, id=str(uuid.uuid4()), village_code=village, category="contract")
    case_id = httpx.post(f"{server.api}/cases", json=body, headers=server.headers(leader)).json()["id"]
    headers = server.headers(officer)
    for step in (
        {"action": "escalate", "reason": "涉及合作社，村级无法处理"},
        {"action": "accept"},
        {"action": "start_handling"},
    ):
        who = server.headers(leader) if step["action"] == "escalate" else headers
        answer = httpx.post(f"{server.api}/cases/{case_id}/transitions", json=step, headers=who)
        assert answer.status_code == 200, answer.text

    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = new_context(browser, DESKTOP)
        page = context.new_page()
        login(page, server, officer)
        page.goto(f"{server.url}/#/case/{case_id}")
        page.get_by_role("button", name="申请延期").click()
        page.get_by_label("延长天数（1-30）").fill("20")
        page.get_by_label("延期理由（将告知信访人）").fill("需等待县农业农村局对合同效力出具意见")
        page.get_by_role("button", name="提交申请").click()
        expect(page.get_by_role("status").filter(has_text="已申请延期")).to_be_visible()
        context.close()

        context = new_context(browser, PHONE)
        page = context.new_page()
        login(page, server, head)
        nav(page, "待办")
        page.get_by_role("region", name="待批延期").get_by_role("link", name=title).click()
        page.get_by_role("heading", name=title).wait_for()
        page.get_by_role("button", name="批准延期").click()
        expect(page.get_by_role("status").filter(has_text="已批准延期")).to_be_visible()
        context.close()
        browser.close()

    requests = httpx.get(f"{server.api}/cases/{case_id}/extension-requests", headers=headers).json()
    assert [(r["days"], r["status"]) for r in requests] == [(20, "approved")]
