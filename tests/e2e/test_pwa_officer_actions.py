"""An officer's generic actions in the field app, in Chromium against a real server: a town
officer accepts an escalated case, names its handler (指定承办人), starts handling it,
issues the 信访处理意见书 with an outcome, records that the petitioner is satisfied and
closes it (办结), every step through the action buttons the server's ``allowed_actions``
offer. The server's REST API then tells whether the case really moved."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.e2e.pwa_harness import DESKTOP, demo_server_fixture, escalated_case, launch, login, new_context

pytestmark = pytest.mark.e2e

TITLE = "办理测试：宅基地滴水檐纠纷"


server = demo_server_fixture(cases=10)


def test_should_let_a_town_officer_take_a_case_from_acceptance_through_reply_to_closing(server):
    reason = "邻里多次调解未果，村级无法处理，提请镇综治中心办理"
    case_id = escalated_case(server, reason, title=TITLE, category="homestead", kind="claim")
    officer = server.logins["乡镇综治中心干部"]
    handler = server.logins["乡镇负责人（审批延期）"]
    handler_id = str(uuid.UUID(server.query("SELECT id FROM app_user WHERE username = ?", handler)[0][0]))
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = new_context(browser, DESKTOP)
        page = context.new_page()
        login(page, server, officer)
        page.goto(f"{server.url}/#/case/{case_id}")
        page.get_by_role("heading", name=TITLE).wait_for()
        actions = page.get_by_role("group", name="办理操作")
        notice = page.get_by_role("status")

        actions.get_by_role("button", name="受理", exact=True).click()
        page.get_by_role("button", name="确认受理").click()
        expect(notice.filter(has_text="已受理")).to_be_visible()

        actions.get_by_role("button", name="指定承办人").click()
        form = page.get_by_role("form", name="指定承办人")
        form.get_by_label("承办人").select_option(handler_id)
        form.get_by_label("说明").fill("由镇分管负责人牵头承办")
        form.get_by_role("button", name="确认指定").click()
        expect(notice.filter(has_text="已指定承办人")).to_be_visible()

        # A reply is not offered before handling has started.
        expect(actions.get_by_role("button", name="出具信访处理意见书")).to_have_count(0)
        actions.get_by_role("button", name="开始办理").click()
        page.get_by_role("button", name="确认开始办理").click()
        expect(notice.filter(has_text="已开始办理")).to_be_visible()

        actions.get_by_role("button", name="出具信访处理意见书").click()
        form = page.get_by_role("form", name="出具信访处理意见书")
        form.get_by_label("信访请求").fill("请求拆除邻居新建房屋伸入本户宅基地的滴水檐")
        form.get_by_label("查明的事实和理由").fill("经实地测量，滴水檐伸入申请人宅基地约0.3米，有批准的宅基地界址为证")
        form.get_by_label("处理意见内容").fill("责成被申请人于30日内改建滴水檐，使雨水落入自家宅基地")
        form.get_by_label("依据").fill("《中华人民共和国民法典》第二百九十条")
        # Without the outcome the form stops before the server is asked.
        form.get_by_role("button", name="确认出具信访处理意见书").click()
        expect(form.get_by_text("请填写“处理意见”")).to_be_visible()
        form.get_by_role("combobox", name="处理意见").select_option("support")
        form.get_by_role("button", name="确认出具信访处理意见书").click()
        expect(notice.filter(has_text="已出具信访处理意见书")).to_be_visible()

        # Closing while the review window runs is refused until the petitioner is content;
        # the form shows the server's reason and the case stays replied.
        actions.get_by_role("button", name="办结", exact=True).click()
        page.get_by_role("form", name="办结").get_by_role("button", name="确认办结").click()
        expect(page.get_by_role("form", name="办结")).to_contain_text("信访人未表示满意前不能办结")
        expect(page.get_by_test_id("case-status")).to_have_text("已出具处理意见", timeout=20_000)

        actions.get_by_role("button", name="信访人评价").click()
        form = page.get_by_role("form", name="信访人评价")
        form.get_by_label("信访人评价").select_option("satisfied")
        form.get_by_role("button", name="确认信访人评价").click()
        expect(notice.filter(has_text="已记录信访人评价")).to_be_visible()

        actions.get_by_role("button", name="办结", exact=True).click()
        form = page.get_by_role("form", name="办结")
        form.get_by_label("办结情况").fill("被申请人已改建滴水檐，信访人表示满意")
        form.get_by_role("button", name="确认办结").click()
        expect(notice.filter(has_text="已办结")).to_be_visible()
        expect(page.get_by_test_id("case-status")).to_have_text("已办结", timeout=20_000)  # synced back
        expect(actions.get_by_role("button")).to_have_count(2)  # only 指定承办人 and 包案 remain
        context.close()
        browser.close()

    headers = server.headers(officer)
    read = httpx.get(f"{server.api}/cases/{case_id}", headers=headers).json()
    assert read["status"] == "closed"
    assert read["assigned_to"] == handler_id
    assert (read["reply_outcome"], read["evaluation"]) == ("support", "satisfied")
    timeline = httpx.get(f"{server.api}/cases/{case_id}/timeline", headers=headers).json()
    steps = [(entry["kind"], entry["to_status"]) for entry in timeline if entry["kind"] != "relight"]
    assert steps == [
        ("register", "registered"),
        ("escalate", "escalated"),
        ("accept", "accepted"),
        ("assign", "accepted"),
        ("start_handling", "in_handling"),
        ("reply", "replied"),
        ("evaluate", "replied"),
        ("close", "closed"),
    ], steps
    by_kind = {entry["kind"]: entry for entry in timeline}
    assert by_kind["reply"]["data"]["outcome"] == "support"
    assert by_kind["reply"]["data"]["legal_basis"] == "《中华人民共和国民法典》第二百九十条"
    assert by_kind["close"]["data"]["resolution"] == "被申请人已改建滴水檐，信访人表示满意"
    officer_name = server.query("SELECT display_name FROM app_user WHERE username = ?", officer)[0][0]
    assert {by_kind[kind]["actor_name"] for kind in ("accept", "reply", "close")} == {officer_name}
