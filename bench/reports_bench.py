"""Documents benchmark: case files (案卷) as PDF/A-3b, time, size and a worker's memory.

    python -m bench.reports_bench            # 3 timed renders of each size
    python -m bench.reports_bench --quick    # 1 timed render of each size

Case files of 柞水县 cases of two sizes (issue 5's targets):

- a 4-page case file (cover, 卷内目录, 登记表, the timeline): ≤ 0.5 s;
- a 60-page case file (a long mediation: a session record per visit, agreement, follow-ups,
  and their timeline, in varied Chinese text): ≤ 4 s;
- the size of each: ≤ 350 KB up to 60 pages;
- the peak RSS of a render worker (a RenderPool process, spawned as the server spawns it)
  after rendering both, and a render through the pool (pickling and the process hop).

Baseline, in the same run: the same layout written with WeasyPrint's own font subsets
(``compact_fonts=False``: HarfBuzz with RETAIN_GIDS, which keeps every glyph id up to the
highest used, i.e. tens of thousands of empty CJK glyphs per face); the ratio is ours over
WeasyPrint's. Layout and writing are timed apart, so the cost of the font compaction shows.

At the end, ``bench.monthly_bench.run()``: the monthly statistics report (``--no-monthly`` skips it).
"""

from __future__ import annotations

import argparse
import copy
import io
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from pypdf import PdfReader

from bench import monthly_bench
from reports.casefile import casefile_html, render_casefile
from reports.documents import CaseData, stylesheet_path
from reports.render import RenderPool, layout, write_pdf
from tests.reports.samples import APPLICANT_ID, RESPONDENT_ID, at, entry, mediated_case

TARGET_SMALL_S = 0.5
TARGET_LARGE_S = 4.0
TARGET_SIZE_KB = 350

# What a mediator writes after a visit: varied text, so the fonts hold a realistic number of
# distinct characters (a long file of one repeated sentence would flatter the size).
SENTENCES = [
    "调解员再次到双方家中走访，了解排水沟堵塞的原因和近期降雨对菜地的影响。",
    "申请人表示，去年秋季以来雨水多次漫入其承包的菜地，造成白菜、萝卜减产约三成。",
    "被申请人称排水沟系上世纪八十年代两家共同开挖，其搭建柴棚时并未注意到堵塞问题。",
    "调解员向双方讲解了《中华人民共和国民法典》关于相邻关系的规定，强调应当按照有利生产、方便生活、团结互助、公平合理的原则处理。",
    "双方对排水沟的走向、宽度和疏通费用的分担仍有分歧，调解员建议请村组干部现场丈量。",
    "网格员陪同村民小组长、老党员一同到现场查看，拍摄照片三张，绘制了简易示意图。",
    "申请人情绪较为激动，调解员耐心疏导，告知其可以依法通过仲裁、行政、司法等途径维护权利。",
    "被申请人同意先行清理柴棚下的淤泥，但要求申请人分担部分材料费用，申请人未当场同意。",
    "调解员提出折中方案：由被申请人负责拆除柴棚并疏通，申请人提供水泥两袋，双方均表示考虑。",
    "本次调解持续约两个小时，双方态度较前次有所缓和，约定下周三在社区调解室继续协商。",
    "鉴于雨季将至，调解员提醒双方注意防范汛期风险，避免矛盾激化，并将情况报告社区党支部。",
    "经过多次沟通，双方就疏通时间、费用分担和今后维护责任基本达成一致意见。",
    "村民代表刘德福、赵秀兰列席旁听，对调解过程没有异议，认为处理方式公道。",
    "调解员核对了双方提供的宅基地使用证和一九九二年的分户协议，确认排水沟位于公共通道内。",
    "被申请人的儿子从西安返乡，参与协商，表示愿意配合调解，尽快恢复排水沟畅通。",
]


def long_mediation(sessions: int, follow_ups: int) -> CaseData:
    """The mediated sample case with ``sessions`` session records and ``follow_ups`` visits."""
    base = mediated_case()
    case = copy.deepcopy(dict(base.case))
    case["village_code"] = "611026001001"
    timeline: list[dict[str, Any]] = [dict(item) for item in base.timeline[:3]]
    seq = len(timeline)
    day = 2.0
    for index in range(sessions):
        seq += 1
        day += 0.5
        summary = "\n".join(SENTENCES[(index + offset) % len(SENTENCES)] for offset in range(6))
        timeline.append(
            entry(
                seq,
                "record_session",
                at(day),
                summary=summary,
                place="仁和社区调解室" if index % 2 else "申请人家中",
                participants=["王堃", "李喆", "张调解", "刘德福"],
                violence_risk=index % 7 == 3,
            )
        )
    for item in base.timeline[4:6]:  # the written agreement and its signatures
        seq += 1
        day += 0.5
        timeline.append({**item, "seq": seq, "at": at(day)})
    for index in range(follow_ups):
        seq += 1
        day += 3
        timeline.append(entry(seq, "follow_up", at(day), summary=SENTENCES[(index * 4) % len(SENTENCES)]))
    seq += 1
    timeline.append(entry(seq, "confirm_performance", at(day + 1), summary="双方确认协议已履行完毕。"))
    seq += 1
    timeline.append(entry(seq, "close", at(day + 2), resolution="协议履行完毕"))
    case["updated_at"] = at(day + 2)
    case["parties"][0]["id"], case["parties"][1]["id"] = APPLICANT_ID, RESPONDENT_ID
    return replace(base, case=case, timeline=timeline)


def registered_only() -> CaseData:
    """A case just registered: cover, 卷内目录, 登记表 and the timeline."""
    base = mediated_case()
    case = copy.deepcopy(dict(base.case))
    case["status"], case["status_name"] = "registered", "已登记"
    return replace(base, case=case, timeline=list(base.timeline[:1]))


def pages_of(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def sized_case(pages: int) -> CaseData:
    """The long mediation whose case file has ``pages`` pages, or the shortest found above
    it: the targets are for files up to that length, so the bench never measures a shorter one."""
    sessions = max(1, pages - 12)
    seen: dict[int, int] = {}  # sessions -> pages

    def count(sessions: int) -> int:
        if sessions not in seen:
            seen[sessions] = pages_of(render_casefile(long_mediation(sessions, follow_ups=sessions // 2)))
        return seen[sessions]

    for _ in range(4):  # coarse: a session record is about a page
        got = count(sessions)
        if got == pages:
            break
        sessions = max(1, sessions + (pages - got) * 2 // 3 or (1 if got < pages else -1))
    # Fine: one session at a time, to the fewest sessions whose file reaches ``pages``.
    while count(sessions) < pages:
        sessions += 1
    while sessions > 1 and count(sessions - 1) >= pages:
        sessions -= 1
    return long_mediation(sessions, follow_ups=sessions // 2)


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time over ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def measure(data: CaseData, repeat: int) -> dict[str, Any]:
    """Ours (render_casefile: layout, then write with compact fonts) and the baseline (the
    same layout written with WeasyPrint's own subsets), interleaved run by run so that load
    from other processes falls on both alike; medians of wall and CPU time."""
    html = casefile_html(data)
    stylesheets = [stylesheet_path()]
    moment = datetime.fromisoformat(data.case["registered_at"])
    samples: dict[str, list[float]] = {key: [] for key in ("total", "cpu", "layout", "write", "plain_write")}
    pdf = plain = b""
    pages = 0
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        pdf = render_casefile(data)
        samples["total"].append(time.perf_counter() - start)
        samples["cpu"].append(time.process_time() - start_cpu)
        start = time.perf_counter()
        document = layout(html, stylesheets=stylesheets)
        samples["layout"].append(time.perf_counter() - start)
        pages = len(document.pages)
        start = time.perf_counter()
        write_pdf(document, identifier="b", title="b", created=moment)
        samples["write"].append(time.perf_counter() - start)
        document = layout(html, stylesheets=stylesheets)
        start = time.perf_counter()
        plain = write_pdf(document, identifier="b", title="b", created=moment, compact_fonts=False)
        samples["plain_write"].append(time.perf_counter() - start)
    median = {key: statistics.median(values) for key, values in samples.items()}
    return {
        "pages": pages,
        "total_s": median["total"],
        "cpu_s": median["cpu"],
        "layout_s": median["layout"],
        "write_s": median["write"],
        "plain_total_s": median["layout"] + median["plain_write"],
        "plain_write_s": median["plain_write"],
        "kb": len(pdf) / 1024,
        "plain_kb": len(plain) / 1024,
    }


def worker_memory_kb() -> tuple[int, int]:
    """This process's peak and current resident set in KiB (a pool worker's).

    From /proc (VmHWM, VmRSS): getrusage's ru_maxrss of a spawned process also counts the
    parent's resident set at the fork before exec, i.e. this benchmark's own."""
    fields = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return int(fields["VmHWM"].split()[0]), int(fields["VmRSS"].split()[0])


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one timed render of each size")
    parser.add_argument("--no-monthly", action="store_true", help="case files only, not bench.monthly_bench")
    args = parser.parse_args()
    repeat = 1 if args.quick else 3

    small_case = registered_only()
    render_casefile(small_case)  # load fontconfig and the faces once, as a warm worker has
    print("preparing a 60-page case file …", flush=True)
    large_case = sized_case(60)

    small = measure(small_case, repeat=max(repeat, 3))
    large = measure(large_case, repeat)

    pool = RenderPool(1)
    try:
        # Baseline: a worker that has only started (interpreter, WeasyPrint, its warm-up).
        fresh_kb, _ = pool.submit(worker_memory_kb).result()
        pool.submit(render_casefile, small_case).result()  # the worker's first render
        pool_s, _ = timed(lambda: pool.submit(render_casefile, small_case).result(), max(repeat, 3))
        after_small_kb, _ = pool.submit(worker_memory_kb).result()
        pool.submit(render_casefile, large_case).result()
        peak_kb, current_kb = pool.submit(worker_memory_kb).result()
    finally:
        pool.close()

    print()
    print(f"{'figure':<44} {'ours':>10} {'WeasyPrint':>11} {'ratio':>7} {'target':>9}  verdict")
    rows = [
        (f"{small['pages']}-page case file: time (s)", small["total_s"], small["plain_total_s"], TARGET_SMALL_S),
        (f"{small['pages']}-page case file: size (KB)", small["kb"], small["plain_kb"], TARGET_SIZE_KB),
        (f"{large['pages']}-page case file: time (s)", large["total_s"], large["plain_total_s"], TARGET_LARGE_S),
        (f"{large['pages']}-page case file: size (KB)", large["kb"], large["plain_kb"], TARGET_SIZE_KB),
    ]
    for name, ours, baseline, target in rows:
        print(
            f"{name:<44} {ours:>10.2f} {baseline:>11.2f} {ours / baseline:>7.2f} {target:>9}  {verdict(ours <= target)}"
        )
    for figures in (small, large):
        print(
            f"  {figures['pages']}-page split: layout {figures['layout_s']:.2f} s, write {figures['write_s']:.2f} s "
            f"(WeasyPrint's own subsets: write {figures['plain_write_s']:.2f} s)"
        )
    # Wall time counts whatever else the machine runs; CPU time is this render's own.
    for figures, target in ((small, TARGET_SMALL_S), (large, TARGET_LARGE_S)):
        pages, cpu, wall = figures["pages"], figures["cpu_s"], figures["total_s"]
        ok = verdict(cpu <= target)
        print(f"  {pages}-page case file: CPU time {cpu:.2f} s (wall {wall:.2f} s), target {target} s: {ok}")
    print(f"{small['pages']}-page case file through the RenderPool (s)   {pool_s:>10.2f}")
    print(f"render worker RSS, peak of a fresh worker (MiB) {fresh_kb / 1024:>18.1f}")
    print(f"render worker RSS, peak after the {small['pages']}-page file (MiB) {after_small_kb / 1024:>7.1f}")
    peak, now = peak_kb / 1024, current_kb / 1024
    print(f"render worker RSS, peak after the {large['pages']}-page file (MiB) {peak:>6.1f}  (now {now:.1f})")
    print(
        f"size per page, {large['pages']} pages: {large['kb'] / large['pages']:.1f} KB "
        f"(WeasyPrint's own subsets: {large['plain_kb'] / large['pages']:.1f} KB)"
    )

    if args.no_monthly:
        return
    argv = ["--cases", "2000", "--runs", "1"] if args.quick else []
    print(f"\nmonthly report of 柞水县 (bench.monthly_bench {' '.join(argv) or '10,000 cases'}):")
    for row in monthly_bench.run(argv):
        if isinstance(row, dict):
            value = "—" if row["value"] != row["value"] else f"{row['value']:.2f}"
            ratio = "" if row.get("ratio") is None else f"{row['ratio']:.1f}×"
            print(
                f"  {row['backend']:<11} {row['measure']:<40} {value:>10} {row['unit']:<3}  {row['baseline']} {ratio}"
            )
        else:
            print("  " + "  ".join(str(cell) for cell in row))


if __name__ == "__main__":
    sys.exit(main())
