"""Field app benchmark: what a phone downloads on its first visit, and how long a list of
5,000 cases takes to render on a slow CPU.

    python -m bench.pwa_bench            # 3 runs of each render
    python -m bench.pwa_bench --runs 5

Against a real `fengqiao serve` (demo county) serving ``pwa/dist``, in Debian's Chromium:

- **First load**: a fresh browser profile opens the app; every response until the service
  worker has installed (and so precached the whole app, the statistics chunk and icons
  included) is counted with its headers, as Chromium's network stack reports them
  (Playwright ``request.sizes()``). Target: ≤ 300 KB. Baseline in the same run: the same
  responses' bodies uncompressed (what a server that does not compress would send).
- **5,000 cases**: 5,000 case snapshots are put in the phone's IndexedDB; with the CPU
  throttled 4× (CDP ``Emulation.setCPUThrottlingRate``, a cheap Android phone), the time
  from opening the region's list (filters and counts over every case) until its rows are
  painted. Target: ≤ 1 s. Baseline in the same run: the same view rendering every row
  instead of the window in view (the app's diagnostic switch, localStorage
  ``fengqiao.render = all``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from urllib.parse import urlparse

from playwright.sync_api import sync_playwright

from tests.e2e.pwa_harness import DIST, PHONE, demo_server, launch, login, new_context

TARGET_FIRST_LOAD = 300 * 1024
TARGET_RENDER_S = 1.0
CASES = 5_000

# 5,000 snapshots as the sync protocol delivers them (docs/sync-protocol.md, Snapshot),
# with deadlines spread so every light occurs.
INJECT = """async (count) => {
  const db = await new Promise((ok, no) => {
    const opening = indexedDB.open('fengqiao');
    opening.onsuccess = () => ok(opening.result);
    opening.onerror = no;
  });
  const statuses = ['registered', 'accepted', 'in_mediation', 'in_handling', 'replied', 'closed', 'escalated'];
  const categories = ['neighbourhood', 'homestead', 'land_forest', 'contract', 'wage_arrears', 'damages'];
  const villages = ['611026001001', '611026001002', '611026001003', '611026001004'];
  const now = Date.now();
  const tx = db.transaction('cases', 'readwrite');
  for (let i = 0; i < count; i++) {
    const id = `00000000-0000-7000-8000-${String(i).padStart(12, '0')}`;
    const from = new Date(now - (i % 60) * 86400000).toISOString();
    const end = new Date(now + ((i % 90) - 30) * 86400000).toISOString();
    tx.objectStore('cases').put({
      id, v: 1, no: `611026001001-2026-${String(i).padStart(5, '0')}`, st: statuses[i % statuses.length],
      lv: ['village', 'township', 'county'][i % 3], kind: 'civil_dispute', cat: categories[i % categories.length],
      ch: 'door_to_door', title: `第${i}号 邻里排水沟纠纷`, req: '要求对方疏通排水沟', facts: '雨水漫入菜地', why: '',
      risk: 'low', loc: null, vil: villages[i % villages.length], grid: null, node: '611026001000', by: null,
      at: from, due: i % 5 === 0 ? null : { k: 'handling', from, last: end.slice(0, 10), end, prov: false },
      parties: [{ id: 'p' + i, k: 'person', r: 'applicant', n: '王建国', idn: null, tel: null, addr: null,
                  rep: false, sig: false }],
      tl: [], att: [],
    });
  }
  await new Promise((ok) => { tx.oncomplete = ok; });
  return count;
}"""

# From opening the list until its rows are painted: the count shown, then two frames.
RENDER = """async (count) => {
  const start = performance.now();
  location.hash = '#/region';
  await new Promise((ok) => {
    const check = () => {
      const shown = document.querySelector('[data-testid=region-count]');
      if (shown && Number(shown.textContent) >= count && document.querySelector('.row')) ok();
      else setTimeout(check, 5);
    };
    check();
  });
  await new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)));
  return { ms: performance.now() - start, rows: document.querySelectorAll('.row').length };
}"""


def first_load(browser, url: str) -> dict[str, int]:
    context = new_context(browser, PHONE)
    finished = []
    context.on("requestfinished", lambda request: finished.append(request))
    page = context.new_page()
    page.goto(url + "/")
    page.get_by_label("用户名").wait_for()
    page.wait_for_function("navigator.serviceWorker && navigator.serviceWorker.controller !== null", timeout=30_000)
    page.wait_for_timeout(500)  # the last precache responses settle
    transferred = uncompressed = 0
    files = 0
    for request in finished:
        sizes = request.sizes()
        transferred += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        path = urlparse(request.url).path
        local = DIST / ("index.html" if path == "/" else path.lstrip("/"))
        body = local.stat().st_size if local.is_file() else sizes["responseBodySize"]
        uncompressed += body + sizes["responseHeadersSize"]
        files += 1
    context.close()
    return {"transferred": transferred, "uncompressed": uncompressed, "requests": files}


def render_times(browser, server, runs: int, render_all: bool) -> tuple[list[float], int]:
    context = new_context(browser, PHONE)
    page = context.new_page()
    login(page, server, server.logins["乡镇综治中心干部"])
    # The bench's cases are not in the server's scope: keep sync from repairing them away.
    page.route("**/api/v1/sync", lambda route: route.abort())
    page.route("**/b/**", lambda route: route.abort())
    page.evaluate(INJECT, CASES)
    if render_all:
        page.evaluate("localStorage.setItem('fengqiao.render', 'all')")
    cdp = context.new_cdp_session(page)
    times: list[float] = []
    rows = 0
    for _ in range(runs):
        # A fresh start of the app each run (from the service worker's cache), on a view
        # that reads no case, so the measure starts from the list being opened.
        page.goto(server.url + "/#/sync")
        page.reload()
        page.get_by_role("heading", name="同步", exact=True).wait_for()
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
        result = page.evaluate(RENDER, CASES)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
        times.append(result["ms"] / 1000)
        rows = result["rows"]
    context.close()
    return times, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with demo_server(cases=20) as server, sync_playwright() as playwright:
        browser = launch(playwright)
        load = first_load(browser, server.url)
        windowed, windowed_rows = render_times(browser, server, args.runs, render_all=False)
        naive, naive_rows = render_times(browser, server, args.runs, render_all=True)
        browser.close()
    kib = 1024
    print("[first load: every response until the service worker has precached the app]")
    verdict = "met" if load["transferred"] <= TARGET_FIRST_LOAD else "MISSED"
    print(
        f"  transferred        {load['transferred'] / kib:8.1f} KiB in {load['requests']} responses"
        f"  (target ≤ {TARGET_FIRST_LOAD / kib:.0f} KiB: {verdict})"
    )
    ratio = load["uncompressed"] / load["transferred"]
    print(f"  baseline: uncompressed {load['uncompressed'] / kib:6.1f} KiB   ratio {ratio:.1f}×")
    median_windowed, median_naive = statistics.median(windowed), statistics.median(naive)
    print(f"[render {CASES:,} cases in the region list, CPU throttled 4×; median of {args.runs}]")
    print(
        f"  windowed list      {median_windowed:8.3f} s  ({windowed_rows} rows in the DOM)"
        f"  (target ≤ {TARGET_RENDER_S:.1f} s: {'met' if median_windowed <= TARGET_RENDER_S else 'MISSED'})"
        f"  runs {', '.join(f'{t:.3f}' for t in windowed)}"
    )
    print(
        f"  baseline: every row {median_naive:7.3f} s  ({naive_rows} rows in the DOM)"
        f"  ratio {median_naive / median_windowed:.1f}×  runs {', '.join(f'{t:.3f}' for t in naive)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
