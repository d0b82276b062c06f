"""Sync over a bad link, in Chromium against a real server.

- The network drops in the middle of a sync: once before the server sees the request,
  once after it applied the outbox but before the answer arrives, and once in the middle
  of a photo upload. When it comes back, nothing is lost and nothing is doubled.
- A visit on a case that was closed meanwhile is refused by the server: the worker sees it
  with the server's reason, and the records behind it still go through.
"""

from __future__ import annotations

import io
import json
import time
import uuid

import httpx
import pytest
from PIL import Image
from playwright.sync_api import expect, sync_playwright

from tests.e2e.pwa_harness import (
    PHONE,
    demo_server_fixture,
    launch,
    login,
    nav,
    new_context,
    node_of,
    outbox,
    shoot,
    wait_synced,
)
from tests.factories import case_payload

pytestmark = pytest.mark.e2e


server = demo_server_fixture(cases=12)


def register_case(server, username: str, grid: str, title: str) -> str:
    """A case registered over REST by the village leader, in the worker's grid."""
    body = case_payload(grid, title=title, id=str(uuid.uuid4()))
    answer = httpx.post(f"{server.api}/cases", json=body, headers=server.headers(username))
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def record_visit(page, case_id: str, summary: str) -> None:
    page.goto(page.url.split("#")[0] + f"#/case/{case_id}/visit")
    page.get_by_label("走访情况").fill(summary)
    page.get_by_role("button", name="保存").click()
    page.get_by_role("heading", name="办理时间线").wait_for()


def capture(page, title: str, photo: bytes | None = None) -> None:
    nav(page, "采集")
    page.get_by_label("纠纷类别").select_option("contract")
    page.get_by_label("标题").fill(title)
    page.get_by_label("诉求").fill("要求支付土地流转租金")
    page.get_by_label("姓名").fill("李秀英")
    page.get_by_label("身份证号不详", exact=True).check()
    page.get_by_label("无法提供身份证号的原因").fill("老人记不清")
    if photo is not None:
        page.locator("#photos").set_input_files(
            files=[{"name": "contract.jpg", "mimeType": "image/jpeg", "buffer": photo}]
        )
        expect(page.get_by_role("img", name="照片 contract.jpg")).to_be_visible(timeout=15_000)
    page.get_by_role("button", name="保存").click()
    page.get_by_role("heading", name=title).wait_for()


def until(page, predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(100)


def jpeg(size=(1200, 900)) -> bytes:
    buffer = io.BytesIO()
    image = Image.effect_noise(size, 80).convert("RGB")  # noise: does not compress, needs several chunks
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def test_should_lose_nothing_and_double_nothing_when_the_link_drops_mid_sync(server):
    worker = server.logins["网格员"]
    leader = server.logins["村两委干部"]
    existing = register_case(server, leader, node_of(server, worker), "断网测试：已有案件")
    titles = ["断网测试：新案件一", "断网测试：新案件二（附照片）"]
    with sync_playwright() as playwright:
        browser = launch(playwright)
        # page.route does not see requests a service worker handles: this test needs no
        # offline reload, so the worker is kept out of the way.
        context = new_context(browser, PHONE, service_workers="block")
        page = context.new_page()
        login(page, server, worker, service_worker=False)

        context.set_offline(True)
        capture(page, titles[0])
        record_visit(page, existing, "断网测试：入户走访，双方同意调解")
        capture(page, titles[1], photo=jpeg())

        attempts = {"sync": 0, "patch": 0}

        def sync_route(route):
            attempts["sync"] += 1
            if attempts["sync"] == 1:
                route.abort("internetdisconnected")  # lost before the server saw it
                return
            if attempts["sync"] == 2:
                answer = route.fetch()  # the server applies the outbox...
                assert answer.status == 200
                assert [r["status"] for r in answer.json()["results"]] == ["applied"] * 4
                route.abort("connectionreset")  # ...and the answer never arrives
                return
            route.continue_()

        def files_route(route):
            if route.request.method == "PATCH":
                attempts["patch"] += 1
                if attempts["patch"] == 1:
                    route.fetch()  # the first chunk reaches the server and is kept
                    route.abort("connectionreset")
                    return
            route.continue_()

        page.route("**/api/v1/sync", sync_route)
        page.route("**/api/v1/files/**", files_route)
        context.set_offline(False)  # going online starts a sync: it is cut
        nav(page, "同步")
        expect(page.get_by_role("alert").filter(has_text="网络中断")).to_be_visible(timeout=20_000)
        expect(page.get_by_test_id("pending-count")).to_have_text("4 条")
        shoot(page, "sync-error")
        page.get_by_role("button", name="立即同步").click()  # cut after the server applied it
        until(page, lambda: attempts["sync"] == 2)
        expect(page.get_by_role("button", name="立即同步")).to_be_enabled()  # that sync is over
        expect(page.get_by_role("alert").filter(has_text="网络中断")).to_be_visible()
        expect(page.get_by_test_id("pending-count")).to_have_text("4 条")
        page.get_by_role("button", name="立即同步").click()  # the link is good again
        wait_synced(page)
        expect(page.get_by_test_id("pending-count")).to_have_text("0 条")
        page.wait_for_function(
            "() => document.querySelector('[data-testid=sync-facts]').textContent.includes('待上传照片0 张')",
            timeout=30_000,
        )
        rows = [[row["type"], row["state"], row["status"]] for row in outbox(page)]
        assert rows == [["create_case", "acknowledged", "applied"]] * 1 + [
            ["transition", "acknowledged", "applied"],
            ["create_case", "acknowledged", "applied"],
            ["attach_file", "acknowledged", "applied"],
        ], "the replay came back duplicate; the phone shows what the first delivery came to"
        assert attempts["patch"] >= 2, "the upload resumed after the cut"
        context.close()
        browser.close()

    assert sorted(
        t for (t,) in server.query("SELECT title FROM case_file WHERE title LIKE '断网测试：新案件%'")
    ) == sorted(titles)
    visits = server.query(
        "SELECT data FROM case_event WHERE kind = 'record_visit' AND case_id = ?", uuid.UUID(existing).hex
    )
    assert [json.loads(data)["summary"] for (data,) in visits] == ["断网测试：入户走访，双方同意调解"]
    assert server.query("SELECT count(*) FROM sync_mutation") == [(4,)]
    blobs = server.query(
        "SELECT count(*) FROM file_blob b JOIN case_attachment a ON a.sha256 = b.sha256 "
        "JOIN case_file c ON c.id = a.case_id WHERE c.title = ?",
        titles[1],
    )
    assert blobs == [(1,)]


def test_should_show_a_refused_visit_with_the_servers_reason_and_send_the_records_behind_it(server):
    worker = server.logins["网格员"]
    leader = server.logins["村两委干部"]
    grid = node_of(server, worker)
    doomed = register_case(server, leader, grid, "拒绝测试：将被办结的案件")
    other = register_case(server, leader, grid, "拒绝测试：另一件案件")
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = new_context(browser, PHONE)
        page = context.new_page()
        login(page, server, worker)

        context.set_offline(True)
        record_visit(page, doomed, "拒绝测试：走访时案件已被办结")
        record_visit(page, other, "拒绝测试：这条记录在被拒绝的记录之后")

        # Meanwhile the village leader declines the first case and closes it.
        headers = server.headers(leader)
        for body in (
            {"action": "decline", "reason": "不属于受理范围", "data": {"basis": "《信访工作条例》第二十二条"}},
            {"action": "close", "data": {"resolution": "已告知不予受理"}},
        ):
            answer = httpx.post(f"{server.api}/cases/{doomed}/transitions", json=body, headers=headers)
            assert answer.status_code == 200, answer.text

        context.set_offline(False)
        wait_synced(page)
        nav(page, "同步")
        problem = page.locator(".problem")
        expect(problem).to_have_count(1)
        expect(problem).to_contain_text("走访记录")
        expect(problem).to_contain_text("拒绝测试：将被办结的案件")
        expect(problem).to_contain_text("当前状态为“已办结”，不能执行“走访记录”")
        expect(problem).to_have_attribute("data-code", "case.invalid_transition")
        expect(page.get_by_test_id("pending-count")).to_have_text("0 条")
        expect(page.get_by_test_id("sync-badge")).to_contain_text("1")
        shoot(page, "sync-rejected")

        page.goto(page.url.split("#")[0] + f"#/case/{doomed}")
        expect(page.get_by_role("alert").filter(has_text="未被服务器接受")).to_contain_text("已办结")
        expect(page.get_by_test_id("case-status")).to_have_text("已办结")
        page.goto(page.url.split("#")[0] + f"#/case/{other}")
        timeline = page.get_by_role("list", name="办理时间线")
        expect(timeline).to_contain_text("拒绝测试：这条记录在被拒绝的记录之后")
        expect(timeline).not_to_contain_text("待同步")
        context.close()
        browser.close()

    refused = server.query(
        "SELECT status, code FROM sync_mutation WHERE case_id = ? AND type = 'transition'", uuid.UUID(doomed).hex
    )
    assert refused == [("rejected", "case.invalid_transition")], "kept on the server for review"
    applied = server.query(
        "SELECT count(*) FROM case_event WHERE kind = 'record_visit' AND case_id = ?", uuid.UUID(other).hex
    )
    assert applied == [(1,)]


def test_should_repair_a_phone_that_lost_a_case_without_pulling_everything_again(server):
    """The scope digest of the last page differs from the phone's own ids: the phone asks
    for the ids in scope and refetches only what it lacks (docs/sync-protocol.md)."""
    worker = server.logins["网格员"]
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = new_context(browser, PHONE, service_workers="block")
        page = context.new_page()
        login(page, server, worker, service_worker=False)
        page.get_by_label("只看未办结").uncheck()
        held = int(page.get_by_test_id("case-count").inner_text())
        lost = page.evaluate(
            """async () => {
              const db = await new Promise((ok) => {
                const o = indexedDB.open('fengqiao');
                o.onsuccess = () => ok(o.result);
              });
              const ids = await new Promise((ok) => {
                const r = db.transaction('cases').objectStore('cases').getAllKeys(); r.onsuccess = () => ok(r.result);
              });
              await new Promise((ok) => {
                const tx = db.transaction('cases', 'readwrite');
                tx.objectStore('cases').delete(ids[0]);
                tx.oncomplete = ok;
              });
              return ids[0];
            }"""
        )
        page.reload()
        page.get_by_label("只看未办结").uncheck()
        expect(page.get_by_test_id("case-count")).to_have_text(str(held - 1))
        bodies = []
        page.on("request", lambda request: request.url.endswith("/api/v1/sync") and bodies.append(request))
        nav(page, "同步")
        page.get_by_role("button", name="立即同步").click()
        wait_synced(page)
        expect(page.get_by_role("button", name="立即同步")).to_be_enabled()
        nav(page, "案件")
        page.get_by_label("只看未办结").uncheck()
        expect(page.get_by_test_id("case-count")).to_have_text(str(held))
        page.goto(f"{server.url}/#/case/{lost}")
        expect(page.get_by_role("heading", name="办理时间线")).to_be_visible()  # the lost case is back
        assert len(bodies) == 4, "a pull, the scope ids, one refetch, a pull whose digest agrees"
        context.close()
        browser.close()


def test_should_show_an_edit_that_collided_with_anothers_as_held_for_review(server):
    """Conflicts are surfaced, never silently overwritten: the worker's offline edit of a
    field the village leader changed meanwhile is held, and the worker is told why."""
    worker = server.logins["网格员"]
    leader = server.logins["村两委干部"]
    title = "冲突测试：鱼塘承包纠纷"
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = new_context(browser, PHONE)
        page = context.new_page()
        login(page, server, worker)
        capture(page, title)
        wait_synced(page)
        case_id = page.url.split("#/case/")[1]
        expect(page.get_by_text("本案件保存在本机，尚未上传。")).to_have_count(0)

        context.set_offline(True)
        page.get_by_role("link", name="修改案件信息").click()
        page.get_by_label("事实经过").fill("承包期满后对方仍占用鱼塘")
        page.get_by_role("button", name="保存修改").click()
        page.get_by_role("heading", name=title).wait_for()

        answer = httpx.patch(
            f"{server.api}/cases/{case_id}",
            json={"version": 1, "facts": "双方对承包期限的起算日有争议"},
            headers=server.headers(leader),
        )
        assert answer.status_code == 200, answer.text

        context.set_offline(False)
        wait_synced(page)
        nav(page, "同步")
        problem = page.locator(".problem").filter(has_text=title)
        expect(problem).to_contain_text("冲突，待审核")
        expect(problem).to_have_attribute("data-code", "sync.edit_conflict")
        page.goto(f"{server.url}/#/case/{case_id}")
        expect(page.get_by_text("双方对承包期限的起算日有争议")).to_be_visible()  # the server's value stands
        expect(page.get_by_role("alert").filter(has_text="与他人的修改冲突")).to_be_visible()
        context.close()
        browser.close()

    held = server.query(
        "SELECT status, code FROM sync_mutation WHERE case_id = ? AND type = 'edit_case'", uuid.UUID(case_id).hex
    )
    assert held == [("conflict", "sync.edit_conflict")]
