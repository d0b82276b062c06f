"""The ``fengqiao`` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

from grid.errors import DomainError
from grid.hierarchy import parse_division_csv
from grid.people import ROLE_NAMES_ZH, Role
from server.clock import SystemClock
from server.crypto import FieldCipher, generate_key_text
from server.db import Database, create_engine
from server.services.context import ServiceContext
from server.settings import Settings


class Progress:
    """One updating line on a terminal, plain lines elsewhere (CI logs stay readable)."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self.tty = sys.stderr.isatty()

    def __call__(self, label: str, done: int, total: int) -> None:
        now = time.monotonic()
        finished = done >= total
        if not finished and now - self.last.get(label, 0) < (0.1 if self.tty else 2.0):
            return
        self.last[label] = now
        line = f"{label}: {done}/{total} ({100 * done // max(total, 1)}%)"
        if self.tty:
            sys.stderr.write("\r" + line + ("\n" if finished else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def ensure_key(settings: Settings) -> None:
    if settings.data_key or settings.data_key_file.exists():
        return
    settings.data_key_file.parent.mkdir(parents=True, exist_ok=True)
    settings.data_key_file.write_text(generate_key_text() + "\n")
    settings.data_key_file.chmod(0o600)
    print(f"已生成数据加密密钥 {settings.data_key_file}（请妥善备份，丢失后无法解密身份信息）")


async def with_context(settings: Settings, work: Callable[[ServiceContext], Awaitable[object]]) -> object:
    db = Database(create_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms))
    context = ServiceContext(
        settings=settings,
        db=db,
        clock=SystemClock(),
        cipher=FieldCipher.from_setting(settings.resolved_data_key()),
    )
    try:
        await context.reload_calendar()
        return await work(context)
    finally:
        await db.dispose()


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> None:
    from server.migrate import upgrade

    upgrade(settings.database_url)
    print("数据库已迁移到最新版本")


def cmd_keygen(settings: Settings, args: argparse.Namespace) -> None:
    if args.print:
        print(generate_key_text())
        return
    ensure_key(settings)


def cmd_regions_import(settings: Settings, args: argparse.Namespace) -> None:
    from server.services.regions import RegionService

    rows = parse_division_csv(Path(args.path).read_text(encoding="utf-8"))
    started = time.perf_counter()

    async def work(context: ServiceContext):
        return await RegionService(context).import_divisions(
            rows, valid_from_year=args.year, progress=lambda done, total: progress("区划", done, total)
        )

    progress = Progress()
    result = asyncio.run(with_context(settings, work))
    elapsed = time.perf_counter() - started
    print(f"已导入 {result.rows} 条区划（新增 {result.inserted}，更新 {result.updated}），用时 {elapsed:.1f} 秒")


def cmd_users_create(settings: Settings, args: argparse.Namespace) -> None:
    from server.services.users import UserService

    async def work(context: ServiceContext):
        return await UserService(context).create(
            username=args.username,
            display_name=args.name,
            role=Role(args.role),
            node_code=args.node,
            password=args.password,
        )

    user = asyncio.run(with_context(settings, work))
    print(f"已创建用户 {user.username}（{ROLE_NAMES_ZH[Role(user.role)]}，{user.node_code}）")


def cmd_calendar_load(settings: Settings, args: argparse.Namespace) -> None:
    from server.services.calendar import CalendarService

    text = Path(args.path).read_text(encoding="utf-8")

    async def work(context: ServiceContext):
        return await CalendarService(context).load_notice(text)

    notice = asyncio.run(with_context(settings, work))
    print(f"已载入 {notice.year} 年节假日安排：{notice.source}")


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    from server.demo import DEMO_PASSWORD, database_is_empty, demo_logins, seed_demo

    async def work(context: ServiceContext):
        if not await database_is_empty(context):
            print("数据库中已有数据，不再生成演示数据")
            try:
                return await demo_logins(context)
            except DomainError:
                return []
        logins = await seed_demo(context, divisions=Path(args.divisions), case_count=args.cases, progress=Progress())
        print("演示数据已生成（柞水县）")
        return logins

    logins = asyncio.run(with_context(settings, work))
    if not logins:
        return
    print(f"演示账号（密码均为 {DEMO_PASSWORD}）：")
    for login in logins:
        print(f"  {login.username:<22} {login.role:<10} {login.place}")


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant with its offset (a bare local time would be read in the machine's zone)."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"时间格式有误：{text}（应为 ISO 8601，如 2026-10-09T00:00:00+08:00）") from None
    if at.tzinfo is None:
        raise ValueError(f"时间须带时区：{text}（如 2026-10-09T00:00:00+08:00）")
    return at


def cmd_escalate(settings: Settings, args: argparse.Namespace) -> None:
    from server.services.escalation import recheck_open_cases
    from server.services.escalation_sweep import EscalationSweeper

    async def work(context: ServiceContext):
        if args.recheck:
            marked = await recheck_open_cases(context)
            print(f"已将 {marked} 件未办结案件标记为待重新检查（下次检查时按现行规则重算）")
            return
        now = args.at or context.clock.now()
        sweeper = EscalationSweeper(context)
        if args.apply:
            # Entries dated after the real clock would put the timeline out of order.
            if now > context.clock.now():
                raise ValueError("不能按未来的时间执行（去掉 --apply 可预览）")
            report = await sweeper.sweep(now)
            print(f"已按 {now.isoformat()} 执行：{report.summary_zh()}")
            for case_id, error in report.failed.items():
                print(f"  案件 {case_id} 未能处理：{error}")
            return
        await print_preview(sweeper, now)

    asyncio.run(with_context(settings, work))


async def print_preview(sweeper, now: datetime) -> None:
    from grid.escalation import describe
    from server.services.escalation_sweep import DECISION_NAMES_ZH

    print(f"按 {now.isoformat()} 预览（不作任何更改）：")
    cases = decisions = 0
    async for preview in sweeper.preview(now):
        if not preview.decisions:
            continue
        cases += 1
        decisions += len(preview.decisions)
        print(f"案件 {preview.number or '（未编号）'} {preview.title}（{preview.case_id}）")
        for decision in preview.decisions:
            item = describe(decision)
            recipients = f"（通知：{'、'.join(item['recipients'])}）" if item.get("recipients") else ""
            kind = DECISION_NAMES_ZH[item["type"]]
            print(f"  {item['at']} {kind} {item['rule_id']}：{item['reason_zh']}{recipients}")
    print(f"共 {cases} 件案件有到期事项，{decisions} 项决定；未作任何更改（加 --apply 执行）")


def cmd_report(settings: Settings, args: argparse.Namespace) -> None:
    """`fengqiao report monthly|annual`: the statistics of a region, computed now, to a file
    whose extension picks the format (.pdf, .csv, .xlsx, .json); docs/statistics.md."""
    import json

    from reports.spreadsheets import to_csv, to_xlsx
    from reports.statistics import check_started, parse_period
    from reports.statistics_report import render_statistics_pdf
    from server.services.statistics import StatisticsService

    period = parse_period(args.month if args.report_command == "monthly" else str(args.year))
    out = Path(args.out or f"statistics-{args.region}-{period.key}.pdf")
    writers = {
        ".pdf": render_statistics_pdf,
        ".csv": to_csv,
        ".xlsx": to_xlsx,
        ".json": lambda figures: json.dumps(figures, ensure_ascii=False, indent=2).encode(),
    }
    if out.suffix.lower() not in writers:
        raise ValueError(f"不支持的文件类型 {out.suffix or '（无扩展名）'}：请用 .pdf、.csv、.xlsx 或 .json")

    async def work(context: ServiceContext):
        check_started(period, context.clock.now())
        service = StatisticsService(context)
        region = await service.region(args.region)
        return (await service.result(region, period, live=True)).figures

    figures = asyncio.run(with_context(settings, work))
    out.write_bytes(writers[out.suffix.lower()](figures))
    rate = figures["rates"]["resolution"]["rate"]
    print(
        f"已生成{figures['region']['name']}{figures['period']['label']}统计：{out}（{out.stat().st_size} 字节）；"
        f"登记 {figures['counts']['registered']} 件，化解率 {'—' if rate is None else f'{rate * 100:.1f}%'}"
    )


def add_report_commands(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="统计报表：月报、年度报告").add_subparsers(
        dest="report_command", required=True
    )
    monthly = report.add_parser("monthly", help="某区域某月的统计月报（按当前数据统计）")
    monthly.add_argument("--region", required=True, help="区划代码，如 611026000000")
    monthly.add_argument("--month", required=True, help="统计月份，如 2026-11")
    monthly.add_argument("--out", help="输出文件（.pdf、.csv、.xlsx 或 .json；默认 statistics-区划-月份.pdf）")
    monthly.set_defaults(run=cmd_report)
    annual = report.add_parser("annual", help="某区域某年的信访工作年度报告（《信访工作条例》第四十一条）")
    annual.add_argument("--region", required=True, help="区划代码，如 611026000000")
    annual.add_argument("--year", required=True, type=int, help="统计年份，如 2026")
    annual.add_argument("--out", help="输出文件（.pdf、.csv、.xlsx 或 .json；默认 statistics-区划-年份.pdf）")
    annual.set_defaults(run=cmd_report)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from server.app import create_app

    # No Server or Date header: an idle device's check (GET /b/…) is a few dozen bytes,
    # and those two would double it.
    # The UDP idle check listens on the same host as HTTP.
    settings = settings.model_copy(update={"host": args.host or settings.host})
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=args.port or settings.port,
        server_header=False,
        date_header=False,
    )


def cmd_archive_verify(_settings: Settings, args: argparse.Namespace) -> int:
    """The four checks of DA/T 70 on a package file (docs/archive.md): exit 0 when all
    pass, 1 naming the first failure and its code."""
    from reports.archive import digests
    from reports.verify import verify_package

    path = Path(args.path)
    report = verify_package(path)
    for line in report.lines_zh():
        print(line)
    if args.sha256 and digests(path.read_bytes())["sha256"] != args.sha256.lower():
        print(
            f"未通过（archive.authenticity）：{path.name} 的 SHA-256 与登记的不符，整个信息包已被替换或改动",
            file=sys.stderr,
        )
        return 1
    failure = report.first_failure
    if failure is not None:
        print(f"未通过（{failure.code}）：{failure.message}", file=sys.stderr)
        return 1
    print(f"{path}：四性检测全部通过")
    return 0


def cmd_archive_build(settings: Settings, args: argparse.Namespace) -> int:
    import uuid

    from server.services.archives import ArchiveService

    async def work(context: ServiceContext):
        service = ArchiveService(context)
        if args.pending:
            return await service.build_due(limit=args.limit)
        return await service.build(uuid.UUID(args.case))

    result = asyncio.run(with_context(settings, work))
    if args.pending:
        print(result.summary_zh())
        for case_id, error in result.failed.items():
            print(f"  案件 {case_id} 未能归档：{error}", file=sys.stderr)
        return 1 if result.failed else 0
    print(f"归档信息包：{result.path}（{result.row.size} 字节，SHA-256 {result.row.sha256}，SM3 {result.row.sm3}）")
    return 0


def add_archive_commands(commands: argparse._SubParsersAction) -> None:
    archive = commands.add_parser("archive", help="归档信息包：生成与四性检测").add_subparsers(
        dest="archive_command", required=True
    )
    verify = archive.add_parser("verify", help="对归档信息包做四性检测（DA/T 70）")
    verify.add_argument("path", help="归档信息包（.zip）")
    verify.add_argument("--sha256", help="登记的整个信息包的 SHA-256（见 archive_package 表），一并核对")
    # Verifying a file needs no database and no key.
    verify.set_defaults(run=cmd_archive_verify, offline=True)
    build = archive.add_parser("build", help="为已办结案件生成归档信息包（已有的不重新生成）")
    which = build.add_mutually_exclusive_group(required=True)
    which.add_argument("--case", help="案件 ID")
    which.add_argument("--pending", action="store_true", help="所有已办结但尚无归档信息包的案件")
    build.add_argument("--limit", type=int, default=1000, help="与 --pending 同用：本次最多生成几个")
    build.set_defaults(run=cmd_archive_build)


DEFAULT_DEVICE_STORE = "var/device.db"


def device_of(args: argparse.Namespace):
    from sync.client import Device, DeviceStore

    return Device(DeviceStore(args.store))


def cmd_device_enroll(_settings: Settings, args: argparse.Namespace) -> None:
    device = device_of(args)
    device_id = asyncio.run(device.enroll(args.server, args.username, args.password, args.name))
    print(f"本机已登记：设备编号 {device_id}，数据保存在 {args.store}")


def cmd_device_capture(_settings: Settings, args: argparse.Namespace) -> None:
    if not args.id_number and not args.id_unknown_reason:
        raise ValueError("请提供 --id-number，或用 --id-unknown-reason 说明无法提供身份证号的原因")
    applicant: dict[str, object] = {"name": args.applicant, "role": "applicant"}
    if args.id_number:
        applicant["id_number"] = args.id_number
    else:
        applicant["id_unknown_reason"] = args.id_unknown_reason
    if args.phone:
        applicant["phone"] = args.phone
    body: dict[str, object] = {
        "kind": args.kind,
        "category": args.category,
        "channel": args.channel,
        "title": args.title,
        "request": args.request,
        "facts": args.facts,
        "risk": args.risk,
        "grid_code": args.grid,
        "captured_at": datetime.now().astimezone().isoformat(),
        "parties": [applicant],
    }
    device = device_of(args)
    case_id = device.capture_case(body)
    print(f"已在本机登记案件 {case_id}（待同步 {device.store.pending_count()} 条）")


def cmd_device_sync(_settings: Settings, args: argparse.Namespace) -> None:
    from sync.client import SyncError

    device = device_of(args)
    try:
        summary = asyncio.run(device.sync(page_size=args.page_size))
    except SyncError as error:
        hint = "（可稍后重试，未同步的记录仍保存在本机）" if error.retryable else ""
        raise RuntimeError(f"同步失败（{error.code}）：{error.message}{hint}") from None
    print(
        f"同步完成：成功 {summary.applied}，重复 {summary.duplicate}，被拒 {summary.rejected}，"
        f"冲突 {summary.conflict}；收到 {summary.changes} 个案件更新，共 {summary.pages} 页；"
        f"上传 {summary.bytes_sent} 字节，下载 {summary.bytes_received} 字节"
    )
    if summary.drift_repaired:
        print("本机案件与服务器不一致，已重新下载全部案件")
    if summary.rejected or summary.conflict:
        print("有未能提交的记录，请执行 device status 查看原因")


def cmd_device_status(_settings: Settings, args: argparse.Namespace) -> None:
    status = device_of(args).status()
    if not status.enrolled:
        print(f"本机尚未登记（{args.store}），请先执行 fengqiao device enroll")
    else:
        print(f"设备 {status.device_id}，服务器 {status.server_url}")
    if status.revoked:
        print("本设备已被停用：已停止同步，本机数据仍保留")
    print(f"待同步 {status.pending} 条；本机案件 {status.cases} 件；上次同步 {status.last_sync_at or '从未同步'}")
    labels = {"rejected": "被拒", "conflict": "冲突"}
    for item in status.problems:
        label = labels.get(item.status or "", item.status)
        print(f"  第 {item.seq} 条（{item.type}，案件 {item.case_id}）{label}：{item.code} {item.message or ''}")


def add_device_commands(commands: argparse._SubParsersAction) -> None:
    device = commands.add_parser("device", help="参考设备端：离线登记与同步").add_subparsers(
        dest="device_command", required=True
    )

    def with_store(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--store", default=DEFAULT_DEVICE_STORE, help="本机数据文件")
        return parser

    enroll = with_store(device.add_parser("enroll", help="登录并登记本机"))
    enroll.add_argument("--server", required=True, help="服务器地址，如 http://127.0.0.1:8000")
    enroll.add_argument("--username", required=True)
    enroll.add_argument("--password", required=True)
    enroll.add_argument("--name", default="fengqiao 设备端", help="设备名称")
    enroll.set_defaults(run=cmd_device_enroll)

    capture = with_store(device.add_parser("capture", help="离线登记一件案件（不联网）"))
    capture.add_argument("--grid", required=True, help="网格代码")
    capture.add_argument("--kind", required=True)
    capture.add_argument("--category", required=True)
    capture.add_argument("--channel", default="door_to_door")
    capture.add_argument("--title", required=True)
    capture.add_argument("--request", required=True)
    capture.add_argument("--facts", default="")
    capture.add_argument("--risk", default="low", choices=["low", "medium", "high"])
    capture.add_argument("--applicant", default="匿名申请人", help="申请人姓名")
    capture.add_argument("--id-number")
    capture.add_argument("--id-unknown-reason")
    capture.add_argument("--phone")
    capture.set_defaults(run=cmd_device_capture)

    sync = with_store(device.add_parser("sync", help="与服务器同步"))
    sync.add_argument("--page-size", type=int, default=100)
    sync.set_defaults(run=cmd_device_sync)

    with_store(device.add_parser("status", help="本机同步状态")).set_defaults(run=cmd_device_status)


def build_parser() -> argparse.ArgumentParser:
    from server.demo import DEMO_DIVISIONS

    parser = argparse.ArgumentParser(prog="fengqiao", description="网格化矛盾纠纷调解与信访办理平台")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="启动服务")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(run=cmd_serve)

    commands.add_parser("migrate", help="迁移数据库到最新版本").set_defaults(run=cmd_migrate)

    keygen = commands.add_parser("keygen", help="生成数据加密密钥（已有则不覆盖）")
    keygen.add_argument("--print", action="store_true", help="只打印新密钥，不写文件")
    keygen.set_defaults(run=cmd_keygen)

    regions = commands.add_parser("regions", help="区划").add_subparsers(dest="regions_command", required=True)
    region_import = regions.add_parser("import", help="导入统计用区划代码 CSV")
    region_import.add_argument("path")
    region_import.add_argument("--year", type=int, default=2023, help="区划代码的年份")
    region_import.set_defaults(run=cmd_regions_import)

    users = commands.add_parser("users", help="用户").add_subparsers(dest="users_command", required=True)
    create = users.add_parser("create", help="创建用户")
    create.add_argument("--username", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--node", required=True, help="所属区划或网格代码")
    create.add_argument("--password", required=True)
    create.set_defaults(run=cmd_users_create)

    calendar = commands.add_parser("calendar", help="法定节假日").add_subparsers(dest="calendar_command", required=True)
    load = calendar.add_parser("load", help="载入国务院年度节假日安排（TOML）")
    load.add_argument("path")
    load.set_defaults(run=cmd_calendar_load)

    demo = commands.add_parser("demo", help="数据库为空时生成柞水县演示数据")
    demo.add_argument("--divisions", default=str(DEMO_DIVISIONS))
    demo.add_argument("--cases", type=int, default=300)
    demo.set_defaults(run=cmd_demo)

    escalate = commands.add_parser("escalate", help="按上报规则检查到期案件：预览，或加 --apply 执行")
    escalate.add_argument("--at", type=parse_instant, help="按此时间检查（ISO 8601，带时区；默认现在）")
    escalate.add_argument("--apply", action="store_true", help="执行上报、预警、督办和通知（默认只预览）")
    escalate.add_argument("--recheck", action="store_true", help="更换规则文件后：所有未办结案件下次检查时重算")
    escalate.set_defaults(run=cmd_escalate)

    add_report_commands(commands)
    add_device_commands(commands)
    add_archive_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    try:
        if args.command not in ("keygen", "device") and not getattr(args, "offline", False):
            ensure_key(settings)
        # A command may answer with an exit status (archive verify: 1 when a check fails).
        status = args.run(settings, args)
    except DomainError as error:
        print(f"错误（{error.code}）：{error.message}", file=sys.stderr)
        return 2
    except (RuntimeError, ValueError, FileNotFoundError) as error:
        print(f"错误：{error}", file=sys.stderr)
        return 2
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
