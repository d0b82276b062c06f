"""Archive packages of closed cases: the job builds them once, the API hands them out in
jurisdiction, the file is written once, and `fengqiao archive verify` checks one."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import stat
import threading
import uuid
import zipfile

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from reports.archive import CASE_JSON, CASEFILE, MANIFEST, TIMELINE_JSON, describe, render_package
from reports.archive_tables import ArchivePackage
from reports.verify import verify_bytes
from server.cli import main
from server.db import query_plan
from server.errors import ServiceError
from server.scheduler import JOBS, Scheduler
from server.services.archives import BATCH, ArchiveService, archive_job, due_statement, store_write_once
from tests.conftest import make_settings
from tests.factories import case_payload


@pytest.fixture
def settings(backend, tmp_path):
    # Packages land in the test's own folder, never in the checkout's var/archive.
    return make_settings(backend.url, tmp_path / "files").model_copy(update={"archive_dir": tmp_path / "archive"})


async def act(client, headers, case_id, action, reason=None, **data):
    body = {"action": action, "data": data, **({"reason": reason} if reason else {})}
    response = await client.post(f"/cases/{case_id}/transitions", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def registered(client, world, **overrides) -> dict:
    response = await client.post(
        "/cases", json=case_payload(world.grid_a, kind="claim", **overrides), headers=world.auth("grid_worker")
    )
    assert response.status_code == 201, response.text
    return response.json()


async def closed_case(client, world, **overrides) -> dict:
    """A claim accepted by the village, routed to the court, and closed."""
    case = await registered(client, world, **overrides)
    leader = world.auth("leader")
    await act(client, leader, case["id"], "accept", "属于本村受理范围")
    await act(client, leader, case["id"], "route", route="litigation", organ="柞水县人民法院")
    return await act(client, leader, case["id"], "close", "已告知通过诉讼解决", resolution="转人民法院")


def members_of(package: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


async def test_should_build_a_verified_package_for_a_closed_case_and_serve_it_in_jurisdiction(client, world, context):
    case = await closed_case(client, world, title="宅基地界址纠纷")
    report = await archive_job(context)
    assert report.built == [uuid.UUID(case["id"])] and not report.failed

    answer = await client.get(f"/cases/{case['id']}/archive", headers=world.auth("leader"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    assert answer.headers["content-disposition"].endswith(f"-{case['number']}.zip")
    package = answer.content
    digest = base64.b64encode(hashlib.sha256(package).digest()).decode()
    assert answer.headers["repr-digest"] == f"sha-256=:{digest}:"
    assert verify_bytes(package).ok

    # The case and its timeline exactly as the API returns them (read by nobody: no actions).
    members = members_of(package)
    shown = (await client.get(f"/cases/{case['id']}", headers=world.auth("leader"))).json()
    timeline = (await client.get(f"/cases/{case['id']}/timeline", headers=world.auth("leader"))).json()
    assert json.loads(members[CASE_JSON]) == {**shown, "allowed_actions": []}
    assert json.loads(members[TIMELINE_JSON]) == timeline
    assert [entry["kind"] for entry in timeline][-1] == "close"

    out = await client.get(f"/cases/{case['id']}/archive", headers=world.auth("leader_b"))
    assert (out.status_code, out.json()["code"]) == (404, "auth.out_of_scope")
    assert "宅基地界址纠纷" not in out.text


async def test_should_say_not_built_until_the_case_is_closed_and_its_package_stored(client, world, context):
    open_case = await registered(client, world)
    answer = await client.get(f"/cases/{open_case['id']}/archive", headers=world.auth("leader"))
    assert (answer.status_code, answer.json()["code"], answer.json()["archive_status"]) == (
        404,
        "archive.not_built",
        "registered",
    )
    case = await closed_case(client, world)
    waiting = await client.get(f"/cases/{case['id']}/archive", headers=world.auth("leader"))
    assert (waiting.status_code, waiting.json()["code"]) == (404, "archive.not_built")
    assert "正在生成" in waiting.json()["detail"]
    # Only the closed case is due; the open one waits.
    assert await ArchiveService(context).due() == [uuid.UUID(case["id"])]


async def test_should_store_the_package_read_only_and_never_build_it_again(client, world, context, settings):
    case = await closed_case(client, world)
    service = ArchiveService(context)
    first = await service.build(uuid.UUID(case["id"]))
    path = first.path
    assert path.is_relative_to(settings.archive_dir)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o444
    before = os.stat(path)
    assert (first.row.sha256, first.row.size) == (hashlib.sha256(path.read_bytes()).hexdigest(), before.st_size)
    again = await service.build(uuid.UUID(case["id"]))
    assert again.row == first.row
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert await service.due() == []
    assert (await archive_job(context)).built == []


async def test_should_render_the_same_package_again_from_the_same_case(client, world, context):
    case = await closed_case(client, world)
    stored = await ArchiveService(context).build(uuid.UUID(case["id"]))
    data = await ArchiveService(context).case_data(uuid.UUID(case["id"]))
    assert render_package(data) == stored.path.read_bytes()


async def test_should_record_a_package_file_that_another_builder_stored_first(client, world, context, settings):
    # A builder that stored the file and stopped before recording it: the next one records
    # that file instead of writing another.
    case = await closed_case(client, world)
    service = ArchiveService(context)
    data = await service.case_data(uuid.UUID(case["id"]))
    earlier = render_package(data)
    store_write_once(settings.archive_dir, describe(data).location, earlier)
    stored = await service.build(uuid.UUID(case["id"]))
    assert stored.row.sha256 == hashlib.sha256(earlier).hexdigest()
    assert stored.path.read_bytes() == earlier


def test_should_keep_the_first_file_when_two_writers_store_at_once(tmp_path):
    results: dict[int, bytes] = {}
    start = threading.Barrier(8)

    def write(index: int) -> None:
        start.wait()
        results[index] = store_write_once(tmp_path, "611026/2026/x.zip", f"writer {index}".encode() * 1000)

    threads = [threading.Thread(target=write, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    on_disk = (tmp_path / "611026/2026/x.zip").read_bytes()
    assert set(results.values()) == {on_disk}
    assert sorted(path.name for path in (tmp_path / "611026/2026").iterdir()) == ["x.zip"]


async def test_should_refuse_to_change_or_delete_an_archive_record(client, world, context, db):
    case = await closed_case(client, world)
    await ArchiveService(context).build(uuid.UUID(case["id"]))
    for statement in ("UPDATE archive_package SET size = 1", "DELETE FROM archive_package"):
        with pytest.raises((IntegrityError, DBAPIError), match="append-only"):
            async with db.write() as session:
                await session.exec(text(statement))  # type: ignore[call-overload]
    async with db.read() as session:
        assert (await session.get(ArchivePackage, uuid.UUID(case["id"]))) is not None


async def test_should_run_the_archive_job_from_the_scheduler_unless_switched_off(context):
    assert "archive_packages" in [job.name for job, _ in Scheduler(context, JOBS).jobs]
    context.settings = context.settings.model_copy(update={"archive_interval_seconds": 0})
    assert "archive_packages" not in [job.name for job, _ in Scheduler(context, JOBS).jobs]


async def test_should_verify_a_package_from_the_command_line_and_name_the_first_failure(
    client, world, context, tmp_path, capsys
):
    case = await closed_case(client, world)
    stored = await ArchiveService(context).build(uuid.UUID(case["id"]))
    assert await asyncio.to_thread(main, ["archive", "verify", str(stored.path)]) == 0
    assert "四性检测全部通过" in capsys.readouterr().out

    members = members_of(stored.path.read_bytes())
    changed = bytearray(members[CASEFILE])
    changed[len(changed) // 2] ^= 1
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, bytes(changed) if name == CASEFILE else data)
    assert await asyncio.to_thread(main, ["archive", "verify", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "archive.authenticity" in err and CASEFILE in err

    without = tmp_path / "without.zip"
    with zipfile.ZipFile(without, "w") as archive:
        for name, data in members.items():
            if name != MANIFEST:
                archive.writestr(name, data)
    assert await asyncio.to_thread(main, ["archive", "verify", str(without)]) == 1
    assert "archive.authenticity" in capsys.readouterr().err

    wrong = await asyncio.to_thread(main, ["archive", "verify", str(stored.path), "--sha256", "0" * 64])
    assert wrong == 1


async def test_should_find_cases_closed_after_an_empty_run(client, world, context):
    # A run with nothing due moves the watermark to the change clock; what closes later
    # is still found.
    first = await closed_case(client, world)
    assert (await archive_job(context)).built == [uuid.UUID(first["id"])]
    assert (await archive_job(context)).built == []
    later = await closed_case(client, world)
    assert (await archive_job(context)).built == [uuid.UUID(later["id"])]


async def test_should_look_only_at_changes_since_the_watermark(context, db):
    async with db.read() as session:
        plan = " ".join(await query_plan(session, due_statement(10**6, [uuid.uuid4()], BATCH)))
    if db.dialect == "sqlite":
        assert plan.startswith("SEARCH case_file USING INDEX ix_case_file_change_seq (change_seq>?)"), plan


async def test_should_keep_building_the_others_while_one_case_keeps_failing(client, world, context):
    broken = await closed_case(client, world, title="渲染失败的案件")
    fine = [await closed_case(client, world) for _ in range(2)]

    async def run(fn, *args):
        # A worker that dies on one case (fault injection); every other render is real.
        if fn is render_package and args[0].case["id"] == broken["id"]:
            raise RuntimeError("render worker died")
        return await asyncio.to_thread(fn, *args)

    report = await ArchiveService(context, run=run).build_due(limit=2)
    assert list(report.failed) == [uuid.UUID(broken["id"])]
    assert report.built == [uuid.UUID(fine[0]["id"])]
    # The failed case rests; the next run takes the others instead of failing again.
    report = await ArchiveService(context, run=run).build_due(limit=2)
    assert (report.built, report.failed) == ([uuid.UUID(fine[1]["id"])], {})
    # Once rested it is tried again (and the watermark never passed it).
    context.clock.advance(minutes=31)
    report = await ArchiveService(context).build_due(limit=2)
    assert report.built == [uuid.UUID(broken["id"])]


async def test_should_refuse_to_build_the_package_of_an_open_case(client, world, context):
    case = await registered(client, world)
    with pytest.raises(ServiceError) as refused:
        await ArchiveService(context).build(uuid.UUID(case["id"]))
    assert refused.value.code == "archive.not_closed"
    assert not context.settings.archive_dir.exists() or not any(context.settings.archive_dir.rglob("*.zip"))


async def test_should_say_so_when_a_recorded_package_file_has_gone(client, world, context):
    case = await closed_case(client, world)
    stored = await ArchiveService(context).build(uuid.UUID(case["id"]))
    stored.path.unlink()
    answer = await client.get(f"/cases/{case['id']}/archive", headers=world.auth("leader"))
    assert (answer.status_code, answer.json()["code"]) == (500, "archive.missing")
