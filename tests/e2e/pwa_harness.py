"""What the browser tests of the field app share: a real `fengqiao serve` with a migrated,
seeded demo county serving ``pwa/dist``, Debian's Chromium driven by Playwright (launch
arguments of DESIGN.md §2a), and helpers to log in and to read the server's database.

Screenshots of the main screens go to ``docs/screenshots/`` (docs/pwa.md shows them).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_KEY
from tests.e2e.processes import run, serving
from tests.factories import case_payload

ROOT = Path(__file__).resolve().parents[2]
PWA = ROOT / "pwa"
DIST = PWA / "dist"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "fengqiao-demo"
PHONE = {"width": 360, "height": 640}
DESKTOP = {"width": 1280, "height": 800}


def ensure_built() -> None:
    """`make setup` builds the app; a bare `pytest` after a source change builds it here."""
    sources = [path for folder in ("src", "public") for path in (PWA / folder).rglob("*") if path.is_file()]
    sources += [PWA / "build.mjs", PWA / "package-lock.json"]
    index = DIST / "index.html"
    if index.exists() and index.stat().st_mtime >= max(path.stat().st_mtime for path in sources):
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("pwa/dist is missing or stale and npm is not installed: run `make setup`")
    if not (PWA / "node_modules" / ".package-lock.json").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PWA, check=True, capture_output=True, timeout=600)
    subprocess.run([npm, "run", "build"], cwd=PWA, check=True, capture_output=True, timeout=300)


@dataclass
class Server:
    url: str  # the origin, e.g. http://127.0.0.1:8123
    api: str  # url + /api/v1
    db_path: Path
    logins: dict[str, str]  # role label -> username, as `fengqiao demo` printed them
    env: dict[str, str]

    def token(self, username: str) -> str:
        answer = httpx.post(f"{self.api}/auth/login", json={"username": username, "password": PASSWORD})
        assert answer.status_code == 201, answer.text
        return answer.json()["token"]

    def headers(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(username)}"}

    def query(self, sql: str, *params: object) -> list[tuple]:
        with contextlib.closing(sqlite3.connect(self.db_path)) as db:
            return db.execute(sql, params).fetchall()


@contextlib.contextmanager
def demo_server(cases: int = 30) -> Iterator[Server]:
    ensure_built()
    with tempfile.TemporaryDirectory() as folder:
        db_path = Path(folder) / "server.db"
        env = {
            **os.environ,
            "FENGQIAO_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
            "FENGQIAO_DATA_KEY": TEST_KEY,
            "FENGQIAO_FILES_DIR": str(Path(folder) / "files"),
            "FENGQIAO_PWA_DIR": str(DIST),
        }
        run(["migrate"], env)
        printed = run(["demo", "--cases", str(cases)], env)
        logins = {}
        for line in printed.splitlines():
            match = re.match(r"\s+([a-z0-9-]+)\s+(\S+)", line)
            if match and match.group(1) not in logins.values():
                logins.setdefault(match.group(2), match.group(1))
        with serving(env, log=Path(folder) / "server.log") as api:
            yield Server(api.removesuffix("/api/v1"), api, db_path, logins, env)


def demo_server_fixture(cases: int):
    """The module-scoped ``server`` fixture of a browser test module: one demo county with
    ``cases`` cases, shared by the module's tests (a server per test would cost seconds)."""

    @pytest.fixture(scope="module")
    def server() -> Iterator[Server]:
        needs_chromium()
        with demo_server(cases=cases) as running:
            yield running

    return server


def node_of(server: Server, username: str) -> str:
    """The hierarchy node (grid or village code) the user belongs to."""
    return server.query("SELECT node_code FROM app_user WHERE username = ?", username)[0][0]


def escalated_case(server: Server, reason: str, **case: object) -> str:
    """A village leader registers a case (``case`` overrides the factory's payload) and
    escalates it to the township."""
    leader = server.logins["村两委干部"]
    headers = server.headers(leader)
    body = case_payload(id=str(uuid.uuid4()), village_code=node_of(server, leader), **case)
    created = httpx.post(f"{server.api}/cases", json=body, headers=headers)
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    escalate = {"action": "escalate", "reason": reason}
    answer = httpx.post(f"{server.api}/cases/{case_id}/transitions", json=escalate, headers=headers)
    assert answer.status_code == 200 and answer.json()["status"] == "escalated", answer.text
    return case_id


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def new_context(browser, viewport=PHONE, **options):
    """Chinese locale; the page's CSP is bypassed only so Playwright can evaluate its
    helpers (test_pwa_shell.py checks the header itself)."""
    return browser.new_context(viewport=viewport, locale="zh-CN", bypass_csp=True, **options)


def login(page, server: Server, username: str, *, service_worker: bool = True) -> None:
    """Open the app, log in, and wait until the service worker controls the page (DESIGN
    §2a: only then does a reload work offline) and the first sync has finished."""
    page.goto(server.url + "/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    if service_worker:
        page.wait_for_function("navigator.serviceWorker && navigator.serviceWorker.controller !== null", timeout=20_000)
    wait_synced(page)


def wait_synced(page, timeout: float = 30_000) -> None:
    """Until the badge says everything went through (or what is left cannot go)."""
    page.wait_for_function(
        """() => {
          const badge = document.querySelector('[data-testid=sync-badge]');
          return badge && /已同步/.test(badge.textContent);
        }""",
        timeout=timeout,
    )


OUTBOX_JS = """async () => {
  const db = await new Promise((ok, no) => {
    const opening = indexedDB.open('fengqiao');
    opening.onsuccess = () => ok(opening.result);
    opening.onerror = no;
  });
  return await new Promise((ok) => {
    const reading = db.transaction('outbox').objectStore('outbox').getAll();
    reading.onsuccess = () => ok(reading.result);
  });
}"""


def outbox(page) -> list[dict]:
    """The phone's outbox rows, as IndexedDB holds them."""
    return page.evaluate(OUTBOX_JS)


def nav(page, name: str) -> None:
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name=name, exact=True).click()


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def needs_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for the browser tests: scripts/ensure-system-packages test")
