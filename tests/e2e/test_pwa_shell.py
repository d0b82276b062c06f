"""The app shell: served by the server with the right caching and compression, installable,
and once visited it opens with no network (service worker precache)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.e2e.pwa_harness import DESKTOP, PHONE, demo_server_fixture, launch, login, nav, new_context, shoot

pytestmark = pytest.mark.e2e


server = demo_server_fixture(cases=20)


def test_should_serve_the_shell_revalidated_and_the_bundles_immutable_and_precompressed(server):
    index = httpx.get(server.url + "/", headers={"Accept-Encoding": "br, gzip"})
    assert index.status_code == 200
    assert index.headers["cache-control"] == "no-cache"
    assert index.headers["content-encoding"] == "br"
    assert "default-src 'self'" in index.headers["content-security-policy"]
    html = index.text  # httpx decodes br
    bundle = html.split('<script type="module" src="')[1].split('"')[0]
    assert bundle.startswith("/assets/app-")

    script = httpx.get(server.url + bundle, headers={"Accept-Encoding": "gzip"})
    assert script.status_code == 200
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert script.headers["content-encoding"] == "gzip"
    assert script.headers["content-type"].startswith("text/javascript")
    plain = httpx.get(server.url + bundle, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.num_bytes_downloaded > 2 * script.num_bytes_downloaded, "sent compressed"

    again = httpx.get(server.url + "/", headers={"If-None-Match": index.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    worker = httpx.get(server.url + "/sw.js")
    assert worker.headers["cache-control"] == "no-cache"
    assert "index.html" in worker.text  # the precache manifest was injected

    manifest = httpx.get(server.url + "/manifest.webmanifest").json()
    assert manifest["lang"] == "zh-CN" and manifest["display"] == "standalone"
    for icon in manifest["icons"]:
        answer = httpx.get(server.url + icon["src"])
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"

    missing = httpx.get(server.url + "/assets/nothing-ABCDEFGH.js")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert httpx.get(server.url + "/assets/..%2F..%2Fserver.db").status_code == 404
    # The API keeps its own answers.
    assert httpx.get(server.api + "/no-such-thing").json()["code"] == "not_found"
    assert httpx.get(server.api + "/health").status_code == 200


def test_should_log_in_register_the_service_worker_and_reopen_offline(server):
    worker = server.logins["网格员"]
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = new_context(browser, PHONE)
        page = context.new_page()
        page.goto(server.url + "/")
        page.get_by_role("heading", name="枫桥 · 矛盾纠纷排查调处").wait_for()
        shoot(page, "login")
        login(page, server, worker)
        page.get_by_role("heading", name="我的案件").wait_for()
        assert page.locator(".row").count() > 0, "the first sync brought the grid's cases"
        shoot(page, "my-cases")

        context.set_offline(True)
        page.reload()
        page.get_by_role("heading", name="我的案件").wait_for()
        assert page.locator(".row").count() > 0, "the cases are read from the phone's store"
        badge = page.get_by_test_id("sync-badge")
        assert "离线" in badge.inner_text()
        # A view loaded on demand (the statistics chunk is precached too) and the manifest.
        assert page.evaluate("navigator.serviceWorker.controller.scriptURL").endswith("/sw.js")
        context.set_offline(False)
        context.close()

        desktop = new_context(browser, DESKTOP)
        page = desktop.new_page()
        login(page, server, server.logins["乡镇综治中心干部"])
        nav(page, "辖区")
        page.get_by_role("heading", name="辖区案件").wait_for()
        shoot(page, "region-desktop")
        desktop.close()
        browser.close()
