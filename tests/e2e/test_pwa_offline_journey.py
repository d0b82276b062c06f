"""A grid worker's day with no signal, in Chromium against a real server: log in, lose
the network, capture three cases door to door (one with a photo, resized on the phone),
close and reopen the app still offline, get the network back, and sync. The server then
holds exactly those three cases and the photo, each once."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

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
    shoot,
    wait_synced,
)
from tests.factories import id_number

pytestmark = pytest.mark.e2e

ID_NUMBER = re.compile(r"^\s*身份证号\s*$")  # not the checkbox "身份证号不详"
TITLES = ["离线采集：排水沟堵塞", "离线采集：宅基地界址", "离线采集：山林界线（附照片）"]


server = demo_server_fixture(cases=12)


def camera_photo(path: Path) -> Path:
    """A 3000×2000 JPEG, as a phone camera makes (the app must shrink it)."""
    image = Image.new("RGB", (3000, 2000))
    pixels = image.load()
    for x in range(0, 3000, 4):
        for y in range(0, 2000, 4):
            pixels[x, y] = (x % 256, y % 256, (x * y) % 256)
    image.save(path, "JPEG", quality=95)
    return path


def capture(page, title: str, *, unknown_id: bool = False, photo: Path | None = None, locate: bool = False) -> None:
    nav(page, "采集")
    page.get_by_role("heading", name="采集案件").wait_for()
    page.get_by_label("纠纷类别").select_option("neighbourhood")
    page.get_by_label("标题").fill(title)
    page.get_by_label("诉求").fill("要求对方疏通排水沟")
    page.get_by_label("姓名").fill("王建国")
    if unknown_id:
        page.get_by_label("身份证号不详", exact=True).check()
        page.get_by_label("无法提供身份证号的原因").fill("未带证件")
    else:
        page.get_by_label(ID_NUMBER).fill(id_number())
    page.get_by_label("联系电话").fill("138 1234 5678")
    if locate:
        page.get_by_role("button", name="获取当前位置").click()
        expect(page.get_by_text("纬度 33.68120，经度 109.11230")).to_be_visible()
    if photo is not None:
        page.locator("#photos").set_input_files(str(photo))
        expect(page.get_by_role("img", name="照片 camera.jpg")).to_be_visible(timeout=15_000)
    page.get_by_role("button", name="保存").click()
    page.get_by_role("heading", name=title).wait_for()
    expect(page.get_by_text("本案件保存在本机，尚未上传。")).to_be_visible()


def test_should_keep_three_cases_captured_offline_through_a_reload_and_sync_them_once(server, tmp_path):
    photo = camera_photo(tmp_path / "camera.jpg")
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = new_context(
            browser, PHONE, geolocation={"latitude": 33.6812, "longitude": 109.1123}, permissions=["geolocation"]
        )
        page = context.new_page()
        login(page, server, server.logins["网格员"])
        held_before = int(page.get_by_test_id("case-count").inner_text())

        context.set_offline(True)
        # A mistyped ID number is caught at the door, with the server's own rule.
        nav(page, "采集")
        page.get_by_label("纠纷类别").select_option("neighbourhood")
        page.get_by_label("标题").fill(TITLES[0])
        page.get_by_label("诉求").fill("要求对方疏通排水沟")
        page.get_by_label("姓名").fill("王建国")
        good = id_number()
        page.get_by_label(ID_NUMBER).fill(good[:-1] + ("1" if good[-1] != "1" else "2"))
        page.get_by_role("button", name="保存").click()
        expect(page.get_by_text("身份证号校验位不正确，请核对是否有数字录错")).to_be_visible()
        expect(page.get_by_label(ID_NUMBER)).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_label(ID_NUMBER)).to_be_focused()
        shoot(page, "capture-validation")

        capture(page, TITLES[0], locate=True)
        capture(page, TITLES[1], unknown_id=True)
        capture(page, TITLES[2], photo=photo)
        shoot(page, "case-detail-pending")
        expect(page.get_by_test_id("sync-badge")).to_contain_text("待同步 4")  # 3 cases and 1 photo record

        page.reload()  # the app is closed and opened again, still without signal
        nav(page, "案件")
        page.get_by_role("heading", name="我的案件").wait_for()
        for title in TITLES:
            expect(page.get_by_role("listitem").filter(has_text=title)).to_contain_text("待同步")
        expect(page.get_by_test_id("case-count")).to_have_text(str(held_before + 3))
        shoot(page, "offline-cases")

        context.set_offline(False)  # the app syncs when the network returns
        wait_synced(page)
        nav(page, "同步")
        expect(page.get_by_test_id("pending-count")).to_have_text("0 条")
        expect(page.get_by_text("待上传照片")).to_be_visible()
        page.wait_for_function(
            "() => document.querySelector('[data-testid=sync-facts]').textContent.includes('待上传照片0 张')",
            timeout=30_000,
        )
        shoot(page, "sync-state")
        nav(page, "案件")
        for title in TITLES:
            expect(page.get_by_role("listitem").filter(has_text=title)).not_to_contain_text("待同步")
        context.close()
        browser.close()

    rows = server.query("SELECT id, title FROM case_file WHERE title IN (?, ?, ?) ORDER BY title", *TITLES)
    assert sorted(title for _, title in rows) == sorted(TITLES), "each case exactly once"
    located = server.query("SELECT latitude, longitude FROM case_file WHERE title = ?", TITLES[0])
    assert located == [(33.6812, 109.1123)], "the phone's GPS fix"
    unknown = server.query(
        "SELECT p.id_number_status, p.id_unknown_reason FROM case_party p JOIN case_file c ON c.id = p.case_id "
        "WHERE c.title = ?",
        TITLES[1],
    )
    assert unknown == [("unknown", "未带证件")]
    attachments = server.query(
        "SELECT a.sha256, a.size, a.media_type FROM case_attachment a JOIN case_file c ON c.id = a.case_id "
        "WHERE c.title IN (?, ?, ?)",
        *TITLES,
    )
    assert len(attachments) == 1, "the photo's record, once"
    sha256, size, media_type = attachments[0]
    assert media_type == "image/jpeg"
    assert size < photo.stat().st_size / 4, "resized on the phone before it was queued"
    blobs = server.query("SELECT sha256, size FROM file_blob WHERE sha256 = ?", sha256)
    assert blobs == [(sha256, size)], "the bytes, once"
    stored = Path(server.env["FENGQIAO_FILES_DIR"]) / "blobs" / sha256[:2] / sha256
    data = stored.read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha256
    with Image.open(io.BytesIO(data)) as image:
        assert max(image.size) == 1600, "the long side shrunk to 1600 px"
    statuses = server.query("SELECT type, status FROM sync_mutation ORDER BY seq")
    assert statuses == [
        ("create_case", "applied"),
        ("create_case", "applied"),
        ("create_case", "applied"),
        ("attach_file", "applied"),
    ]
