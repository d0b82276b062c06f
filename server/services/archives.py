"""Archive packages of closed cases: build, store write-once, record, hand out (docs/archive.md).

Closing a case writes no package: rendering a case file takes a second or more and must
not hold the closing transaction. The work is driven from rows instead: a closed case with
no ``archive_package`` row is due, and the archive job (server/scheduler.py) builds what is
due. Building twice, or in two processes at once, stores one file and records one row:

- the package is a pure function of the stored case, so two builders make the same bytes;
- the file is written to a private temporary name (O_EXCL) and then hard-linked to its
  final name, which fails if the name exists: a file, once there, is never replaced,
  and nobody ever sees half a file under the final name;
- the row's primary key is the case id (INSERT … ON CONFLICT DO NOTHING), and the row
  always describes the bytes on disk, whoever wrote them.

The package holds the case exactly as GET /cases/{id} and …/timeline return it, gathered
as the documents service gathers it for the case file (server/services/documents.py).

A package is verified (the four checks of DA/T 70, reports/verify.py) before it is stored:
a package that fails is never stored, and the failure is logged with its code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from grid.cases import Case
from grid.lifecycle import Status
from grid.people import Role
from reports.archive import ArchiveDescription, describe, digests, render_package
from reports.archive_tables import ArchivePackage
from reports.documents import CaseData
from reports.verify import verify_bytes
from server.db import Database
from server.errors import ServiceError
from server.principal import Principal
from server.services.cases import CaseService
from server.services.changes import CLOCK as CHANGE_CLOCK
from server.services.context import ServiceContext
from server.services.documents import DocumentService
from server.services.upsert import upsert_statement
from server.settings import Settings
from sync.tables import ChangeClock

log = logging.getLogger(__name__)

# How far each database's closed cases are known to have packages (or to be retried from):
# an optimisation only, so it lives in memory and a new process starts from 0.
_WATERMARKS: weakref.WeakKeyDictionary[Database, int] = weakref.WeakKeyDictionary()
# Cases whose build failed, and when: left out of the batches for RETRY_AFTER, so a few
# cases that keep failing cannot fill every batch and starve the rest.
_FAILURES: weakref.WeakKeyDictionary[Database, dict[uuid.UUID, tuple[datetime, int]]] = weakref.WeakKeyDictionary()
RETRY_AFTER = timedelta(minutes=30)

# Cases built per run of the job: a run stays short, and the next one takes the rest.
BATCH = 20
# The reader of the archived case: nobody in particular, so it offers no actions.
ARCHIVE_READER = Principal(uuid.UUID(int=0), "archive", "归档", Role.ADMIN, "", "/")


@dataclass(frozen=True)
class StoredPackage:
    row: ArchivePackage
    path: Path

    @property
    def filename(self) -> str:
        return f"案卷归档包-{self.row.number or self.row.case_id}.zip"


@dataclass(frozen=True)
class BuildReport:
    built: list[uuid.UUID]
    failed: dict[uuid.UUID, str]

    def summary_zh(self) -> str:
        return f"生成归档信息包 {len(self.built)} 个，失败 {len(self.failed)} 个"


def not_built(case: Case) -> ServiceError:
    if case.status != Status.CLOSED.value:
        return ServiceError("案件尚未办结，没有归档信息包", code="archive.not_built", data={"status": case.status})
    return ServiceError(
        "案件已办结，归档信息包正在生成，请稍后再试", code="archive.not_built", data={"status": case.status}
    )


class ArchiveService:
    def __init__(self, context: ServiceContext, run: Callable[..., Any] | None = None):
        self.context = context
        self._run = run or context.off_loop

    @property
    def root(self) -> Path:
        return Path(self.context.settings.archive_dir)

    # ------------------------------------------------------------ reads

    async def package_for(self, principal: Principal, case_id: uuid.UUID) -> StoredPackage:
        """The stored package of a case the caller may read (as GET /cases/{id})."""
        bundle = await CaseService(self.context).get(principal, case_id)
        async with self.context.db.read() as session:
            row = await session.get(ArchivePackage, case_id)
        if row is None:
            raise not_built(bundle.case)
        path = self.root / row.path
        if not path.is_file():
            log.error("archive package of case %s is recorded but missing at %s", case_id, path)
            raise ServiceError("归档信息包文件缺失，请联系管理员", code="archive.missing")
        return StoredPackage(row, path)

    # ------------------------------------------------------------ building

    async def due(self, limit: int = BATCH) -> list[uuid.UUID]:
        """Closed cases without a package (past this process's watermark), in change order."""
        rows, _ = await self._due(limit)
        return [case_id for case_id, _ in rows]

    async def _due(self, limit: int) -> tuple[list[tuple[uuid.UUID, int]], int]:
        after = _WATERMARKS.get(self.context.db, 0)
        async with self.context.db.read() as session:
            # The clock first: every change up to it has committed (commit order,
            # server/services/changes.py), so the query below sees all of them.
            clock = (await session.exec(select(ChangeClock.value).where(ChangeClock.name == CHANGE_CLOCK))).first() or 0
            statement = due_statement(after, self._resting(), limit)
            rows = [(case_id, int(seq)) for case_id, seq in (await session.exec(statement)).all()]
        return rows, int(clock)

    def _resting(self) -> list[uuid.UUID]:
        now = self.context.clock.now()
        failures = _FAILURES.get(self.context.db, {})
        return [case_id for case_id, (at, _) in failures.items() if now - at < RETRY_AFTER]

    async def build_due(self, limit: int = BATCH) -> BuildReport:
        """Build the packages that are due. Every closed case past the watermark is looked
        at; the watermark (per process and database, in memory) then moves past what is
        done, so a run with nothing due reads only the changes since the last one. A
        restart starts from 0: one full look, then small ones again."""
        rows, clock = await self._due(limit)
        built: list[uuid.UUID] = []
        failed: dict[uuid.UUID, str] = {}
        for case_id, seq in rows:
            try:
                await self.build(case_id)
                built.append(case_id)
                _FAILURES.get(self.context.db, {}).pop(case_id, None)
            except Exception as error:
                # The next runs try again (after RETRY_AFTER); one broken case must not stop
                # the others.
                if isinstance(error, ServiceError):
                    log.error("archive package of case %s not built: %s %s", case_id, error.code, error.message)
                    failed[case_id] = f"{error.code}：{error.message}"
                else:
                    log.exception("archive package of case %s not built", case_id)
                    failed[case_id] = f"internal：{type(error).__name__}: {error}"
                _FAILURES.setdefault(self.context.db, {})[case_id] = (self.context.clock.now(), seq)
        db = self.context.db
        full = len(rows) == limit
        # A full batch may have cut a transaction's cases in two: look at its seq again.
        mark = rows[-1][1] - 1 if full else clock
        failures = _FAILURES.get(db, {})
        resting = set(self._resting())
        # Never past a case that is resting after a failure: it is looked at again after.
        mark = min([mark, *(seq - 1 for case_id, (_, seq) in failures.items() if case_id in resting)])
        if not full:
            # A failed case that has rested and was not due any more got its package elsewhere.
            looked_at = {case_id for case_id, _ in rows}
            for case_id in [case_id for case_id in failures if case_id not in resting | looked_at]:
                del failures[case_id]
        _WATERMARKS[db] = max(_WATERMARKS.get(db, 0), mark)
        return BuildReport(built, failed)

    async def build(self, case_id: uuid.UUID) -> StoredPackage:
        """Build, verify, store and record the package of a closed case; a case that has one
        gets it back unchanged (a package is never built over)."""
        existing = await self._recorded(case_id)
        if existing is not None:
            return existing
        data = await self.case_data(case_id)
        description = describe(data)
        package = await self._run(render_package, data)
        report = await self._run(verify_bytes, package)
        if not report.ok:
            failure = report.first_failure
            assert failure is not None
            raise ServiceError(
                f"归档信息包未通过检测，未予保存：{failure.message}",
                code="archive.invalid",
                data={"check": failure.code, "member": failure.member},
            )
        stored = await asyncio.to_thread(store_write_once, self.root, description.location, package)
        if stored != package:
            # Another builder stored first: the file on disk is the package, if it holds.
            report = await self._run(verify_bytes, stored)
            if not report.ok:
                raise ServiceError(
                    f"已存在的归档信息包 {description.location} 与本次生成的不同且未通过检测，未覆盖",
                    code="archive.conflict",
                )
        return await self._record(case_id, description, stored)

    async def _recorded(self, case_id: uuid.UUID) -> StoredPackage | None:
        async with self.context.db.read() as session:
            row = await session.get(ArchivePackage, case_id)
        return StoredPackage(row, self.root / row.path) if row is not None else None

    async def _record(self, case_id: uuid.UUID, description: ArchiveDescription, package: bytes) -> StoredPackage:
        values = digests(package)
        row = {
            "case_id": case_id,
            "number": description.number,
            "path": description.location,
            "size": len(package),
            "sha256": values["sha256"],
            "sm3": values["sm3"],
            "closed_at": description.closed_at,
            "created_at": self.context.clock.now(),
        }
        async with self.context.db.write() as session:
            table = ArchivePackage.__table__
            await session.exec(upsert_statement(session.bind.dialect.name, table, ["case_id"], None).values(**row))  # type: ignore[call-overload]
            recorded = await session.get(ArchivePackage, case_id)
        assert recorded is not None
        return StoredPackage(recorded, self.root / recorded.path)

    async def case_data(self, case_id: uuid.UUID) -> CaseData:
        """The closed case as its documents see it (server/services/documents.py), read by
        the archive: identity masked, no actions offered."""
        try:
            data = await DocumentService(self.context).case_data(ARCHIVE_READER, case_id)
        except ServiceError as error:
            if error.code == "auth.out_of_scope":
                raise ServiceError("案件不存在", code="not_found") from None
            raise
        status = data.case["status"]
        if status != Status.CLOSED.value:
            raise ServiceError("案件尚未办结，不能归档", code="archive.not_closed", data={"status": status})
        return replace(data, case={**data.case, "allowed_actions": []})


def due_statement(after: int, resting: list[uuid.UUID], limit: int):
    """Closed cases changed after ``after`` that have no package, in change order."""
    return (
        select(Case.id, Case.change_seq)
        .outerjoin(ArchivePackage, col(ArchivePackage.case_id) == col(Case.id))
        # `|| ''` keeps the planner off the status index, which would walk every closed
        # case ever; the change_seq index walks only the changes since the watermark
        # (2 ms instead of 1.1 s over 900,000 closed cases on SQLite).
        .where(col(Case.status).op("||")("") == Status.CLOSED.value)
        .where(col(Case.change_seq) > after, col(ArchivePackage.case_id).is_(None))
        .where(col(Case.id).not_in(resting))
        .order_by(col(Case.change_seq), col(Case.id))
        .limit(limit)
    )


def store_write_once(root: Path, relative: str, data: bytes) -> bytes:
    """Put ``data`` at ``root/relative`` unless a file is there already; return the bytes
    that are there afterwards (``data``, or the earlier file's, which is never replaced).

    The bytes go to a private temporary file created with O_EXCL, are flushed to disk and
    made read-only, and the file is then hard-linked to its final name: link() fails if the
    name exists, so the final name only ever holds a complete file and is never overwritten.
    """
    final = root / relative
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        return final.read_bytes()
    temporary = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
            os.fsync(descriptor)
            os.fchmod(descriptor, 0o444)
        finally:
            os.close(descriptor)
        try:
            os.link(temporary, final)
        except FileExistsError:
            return final.read_bytes()
        _sync_directory(final.parent)
        return data
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _sync_directory(folder: Path) -> None:
    # The new name is durable only once its directory is flushed too.
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


async def archive_job(context: ServiceContext) -> BuildReport:
    """The scheduler's job: build the packages of closed cases that have none."""
    return await ArchiveService(context).build_due()


def archive_interval(settings: Settings) -> float:
    return settings.archive_interval_seconds
