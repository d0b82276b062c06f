"""Who may call what: every endpoint × every seeded person (and nobody) × in/out of scope.

The table below is the specification. Jurisdiction is the caller's node subtree (plus cases
they registered or are assigned); "in" targets a place or person inside it, "out" the
nearest one outside it (a sibling grid, a neighbouring village or town, the other county).
A new endpoint fails ``test_should_describe_every_endpoint_of_the_api_in_the_matrix``
until a row for it is added here.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlmodel import select

from grid.cases import Case
from grid.people import User
from server.app import create_app
from server.outbox import Notification
from server.settings import Settings
from sync.attachments import encode_upload_metadata
from tests.conftest import PEOPLE, TEST_KEY, TEST_PASSWORD, World
from tests.factories import case_payload, id_number

ANONYMOUS = "anonymous"
CALLERS = [*PEOPLE, ANONYMOUS]
SCOPES = ("in", "out")

# A place inside each caller's jurisdiction, and the nearest place outside it.
HOME = {
    "grid_worker": "grid_a",
    "grid_worker_b": "grid_b",
    "mediator": "grid_a",
    "leader": "grid_a",
    "leader_b": "grid_b",
    "town": "grid_a",
    "town_b": "grid_b",
    "county": "grid_a",
    "admin": "grid_a",
    "other_county": "other_grid",
    "other_grid_worker": "other_grid",
    ANONYMOUS: "grid_a",
}
AWAY = {
    "grid_worker": "grid_a2",  # the next grid of the same village
    "grid_worker_b": "grid_a",  # another village's grid
    "mediator": "village_a2",  # the next village of the same town
    "leader": "village_a2",
    "leader_b": "grid_a",
    "town": "grid_b",  # another town of the same county
    "town_b": "grid_a",
    "county": "other_grid",  # another county
    "admin": "other_grid",
    "other_county": "grid_a",
    "other_grid_worker": "grid_a",
    ANONYMOUS: "other_grid",
}
# A user inside each caller's jurisdiction, and one just outside it.
USER_HOME = {
    "grid_worker": "grid_worker",  # alone in the grid
    "grid_worker_b": "grid_worker_b",
    "mediator": "grid_worker",
    "leader": "mediator",  # same node
    "leader_b": "grid_worker_b",
    "town": "leader",
    "town_b": "leader_b",
    "county": "town",
    "admin": "county",
    "other_county": "other_grid_worker",
    "other_grid_worker": "other_grid_worker",
    ANONYMOUS: "grid_worker",
}
USER_AWAY = {
    "grid_worker": "mediator",  # above them
    "grid_worker_b": "grid_worker",
    "mediator": "grid_worker_b",
    "leader": "leader_b",
    "leader_b": "leader",
    "town": "town_b",
    "town_b": "town",
    "county": "other_county",
    "admin": "other_county",
    "other_county": "county",
    "other_grid_worker": "grid_worker",
    ANONYMOUS: "other_grid_worker",
}

# Who holds which right (written out here, not read from grid.people: this is the spec).
EVERYONE = frozenset(PEOPLE)
GRID_WORKERS = frozenset({"grid_worker", "grid_worker_b", "other_grid_worker"})
ADMINS = frozenset({"admin"})
DECIDERS = frozenset({"leader", "leader_b", "town", "town_b", "county", "admin", "other_county"})
GRID_MANAGERS = DECIDERS
IDENTITY_READERS = EVERYONE - GRID_WORKERS
EDITORS = EVERYONE - GRID_WORKERS  # grid workers edit only what they registered
AUDITORS = frozenset({"county", "admin", "other_county"})

# The ID numbers of the parties of every case registered here (tests.factories defaults).
RAW_ID_NUMBERS = (id_number(), id_number("19750505", "246"))

HOLIDAY_NOTICE = """\
year = 2027
source = "国务院办公厅关于2027年部分节假日安排的通知（测试）"

[[holiday]]
name = "元旦"
days = ["2027-01-01"]
"""


@dataclass(frozen=True)
class Outcome:
    status: int
    code: str | None = None  # the problem's code
    rule: str | None = None  # for validation.failed: a rule one of its errors must name

    def __str__(self) -> str:
        return " ".join(str(part) for part in (self.status, self.code, self.rule) if part)


UNAUTHENTICATED = Outcome(401, "auth.unauthenticated")
FORBIDDEN = Outcome(403, "auth.forbidden")
OUT_OF_SCOPE = Outcome(404, "auth.out_of_scope")


@dataclass
class Call:
    """One request, with what its answer must and must not show."""

    method: str
    path: str
    json: Any = None
    params: dict[str, str] | None = None
    shown: str | None = None  # must be in a successful answer
    secret: str | None = None  # must never be in the answer (out-of-scope content)
    reveals: bool = False  # the one kind of answer that may carry identity in clear
    headers: dict[str, str] | None = None  # instead of the caller's login (device tokens)


@dataclass
class Env:
    client: AsyncClient
    world: World
    places: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.places = {name: getattr(self.world, name) for name in set(HOME.values()) | set(AWAY.values())}

    def place(self, caller: str, scope: str) -> str:
        return self.places[(HOME if scope == "in" else AWAY)[caller]]

    def village_of(self, code: str) -> str:
        region = self.world.regions[code]
        return code if region.level == "village" else str(region.parent_code)

    def user(self, caller: str, scope: str) -> str:
        return (USER_HOME if scope == "in" else USER_AWAY)[caller]

    def payload_at(self, code: str, **overrides: Any) -> dict[str, Any]:
        key = "grid_code" if self.world.regions[code].level == "grid" else "village_code"
        return case_payload(**{key: code}, **overrides)

    async def case_at(self, code: str) -> tuple[str, str]:
        """Register a case at ``code`` as someone who may (not the caller): its id and title."""
        title = f"矩阵案件{uuid.uuid4().hex[:12]}"
        registrar = "other_county" if code.startswith(self.world.other_county[:6]) else "admin"
        response = await self.client.post(
            "/cases", json=self.payload_at(code, title=title), headers=self.world.auth(registrar)
        )
        assert response.status_code == 201, response.text
        return response.json()["id"], title

    async def case_for(self, caller: str, scope: str) -> tuple[str, str]:
        return await self.case_at(self.place(caller, scope))


Builder = Callable[[Env, str, str], Awaitable[Call]]
Expectation = Callable[[str, str], Outcome]


@dataclass(frozen=True)
class Endpoint:
    method: str
    route: str  # as the app spells it, e.g. /api/v1/cases/{case_id:uuid}
    build: Builder
    expect: Expectation
    variant: str = ""
    scoped: bool = True  # False: the endpoint has no jurisdiction; only "in" is tried

    @property
    def id(self) -> str:
        return f"{self.method} {self.route.removeprefix('/api/v1')}" + (f" [{self.variant}]" if self.variant else "")


def public(ok: int) -> Expectation:
    return lambda caller, scope: Outcome(ok)


def signed_in(ok: int) -> Expectation:
    return lambda caller, scope: UNAUTHENTICATED if caller == ANONYMOUS else Outcome(ok)


def scope_first(allowed: frozenset[str], ok: int, *, out: Outcome = OUT_OF_SCOPE) -> Expectation:
    """The target is looked up in scope first (404 outside), then the role is checked (403)."""

    def expect(caller: str, scope: str) -> Outcome:
        if caller == ANONYMOUS:
            return UNAUTHENTICATED
        if scope == "out":
            return out
        return Outcome(ok) if caller in allowed else FORBIDDEN

    return expect


def role_first(allowed: frozenset[str], ok: int) -> Expectation:
    """A role that may never do this is told so (403) wherever the target is."""

    def expect(caller: str, scope: str) -> Outcome:
        if caller == ANONYMOUS:
            return UNAUTHENTICATED
        if caller not in allowed:
            return FORBIDDEN
        return Outcome(ok) if scope == "in" else OUT_OF_SCOPE

    return expect


# ------------------------------------------------------------------ request builders


async def login(env: Env, caller: str, scope: str) -> Call:
    username = "nobody_here" if caller == ANONYMOUS else caller
    return Call("POST", "/auth/login", json={"username": username, "password": TEST_PASSWORD})


def fixed(method: str, path: str, body: Any = None) -> Builder:
    async def build(env: Env, caller: str, scope: str) -> Call:
        return Call(method, path, json=body)

    return build


async def list_regions(env: Env, caller: str, scope: str) -> Call:
    parent = env.world.principals[caller].node_code if scope == "in" and caller in PEOPLE else env.place(caller, scope)
    return Call("GET", "/regions", params={"parent": parent})


async def get_region(env: Env, caller: str, scope: str) -> Call:
    return Call("GET", f"/regions/{env.place(caller, scope)}")


async def create_grid(env: Env, caller: str, scope: str) -> Call:
    village = env.village_of(env.place(caller, scope))
    return Call("POST", f"/regions/{village}/grids", json={"name": "矩阵网格"})


async def list_users(env: Env, caller: str, scope: str) -> Call:
    target = str(env.world.principals[env.user(caller, scope)].user_id)
    return Call("GET", "/users", **({"shown": target} if scope == "in" else {"secret": target}))


async def create_user(env: Env, caller: str, scope: str) -> Call:
    body = {
        "username": f"m_{uuid.uuid4().hex[:10]}",
        "display_name": "矩阵调解员",
        "role": "village_mediator",
        "node_code": env.village_of(env.place(caller, scope)),
        "password": "a long enough password",
    }
    return Call("POST", "/users", json=body)


async def get_user(env: Env, caller: str, scope: str) -> Call:
    target = env.world.principals[env.user(caller, scope)]
    marker = {"shown": str(target.user_id)} if scope == "in" else {"secret": target.display_name}
    return Call("GET", f"/users/{target.user_id}", **marker)


async def create_case(env: Env, caller: str, scope: str) -> Call:
    title = f"矩阵登记{uuid.uuid4().hex[:12]}"
    body = env.payload_at(env.place(caller, scope), title=title)
    return Call("POST", "/cases", json=body, **({"shown": title} if scope == "in" else {"secret": title}))


async def list_cases(env: Env, caller: str, scope: str) -> Call:
    _, title = await env.case_for(caller, scope)
    return Call("GET", "/cases", **({"shown": title} if scope == "in" else {"secret": title}))


def on_case(method: str, suffix: str = "", body: Any = None, *, reveals: bool = False) -> Builder:
    async def build(env: Env, caller: str, scope: str) -> Call:
        case_id, title = await env.case_for(caller, scope)
        secret = title if scope == "out" else None
        return Call(method, f"/cases/{case_id}{suffix}", json=body, secret=secret, reveals=reveals and scope == "in")

    return build


async def get_case(env: Env, caller: str, scope: str) -> Call:
    case_id, title = await env.case_for(caller, scope)
    return Call("GET", f"/cases/{case_id}", **({"shown": title} if scope == "in" else {"secret": title}))


async def repeat_counts(env: Env, caller: str, scope: str) -> Call:
    params = {"since": "2026-03-01", "until": "2026-03-31", "region": env.place(caller, scope)}
    return Call("GET", "/stats/repeats", params=params)


async def statistics_of(env: Env, caller: str, scope: str) -> Call:
    code = env.place(caller, scope)
    return Call(
        "GET", "/statistics", params={"period": "2026-03", "region": code}, **({"shown": code} if scope == "in" else {})
    )


async def enroll_device(env: Env, owner: str) -> tuple[str, str]:
    """A device of ``owner``, enrolled with their own login: its id and device token."""
    device_id = str(uuid.uuid4())
    response = await env.client.post("/devices", json={"device_id": device_id}, headers=env.world.auth(owner))
    assert response.status_code == 201, response.text
    return device_id, response.json()["device_token"]


async def enroll(env: Env, caller: str, scope: str) -> Call:
    return Call("POST", "/devices", json={"device_id": str(uuid.uuid4()), "name": "矩阵手机"})


async def revoke_device(env: Env, caller: str, scope: str) -> Call:
    owner = caller if scope == "in" or caller == ANONYMOUS else env.user(caller, scope)
    device_id, _ = await enroll_device(env, owner if owner != ANONYMOUS else "grid_worker")
    return Call("POST", f"/devices/{device_id}/revoke")


async def sync_as_device(env: Env, caller: str, scope: str) -> Call:
    body = {"protocol": 1, "app_version": "test", "device_id": str(uuid.uuid4()), "outbox": []}
    if caller == ANONYMOUS:
        return Call("POST", "/sync", json=body)
    device_id, token = await enroll_device(env, caller)
    # Out of scope here means another device's id under this device's token.
    body["device_id"] = device_id if scope == "in" else str(uuid.uuid4())
    return Call("POST", "/sync", json=body, headers={"Authorization": f"Bearer {token}"})


async def rejected_mutation_on_case(env: Env, caller: str, scope: str) -> tuple[str, str, str]:
    """A mutation refused on a case at the caller's place (or just outside it), sent from
    the phone of someone outside the caller's jurisdiction, so that only the case can make
    it visible: its device id, its case id and a marker only its payload carries."""
    case_id, _ = await env.case_for(caller, scope)
    device_id, token = await enroll_device(env, env.user(caller, "out"))
    marker = f"矩阵变更{uuid.uuid4().hex[:12]}"
    refused = {"action": "return_misrouted", "reason": marker, "data": {}}
    outbox = [{"seq": 1, "id": str(uuid.uuid4()), "type": "transition", "case_id": case_id, "data": refused}]
    body = {"protocol": 1, "app_version": "test", "device_id": device_id, "outbox": outbox}
    answer = await env.client.post("/sync", json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.json()["results"][0]["status"] == "rejected", answer.text
    return device_id, case_id, marker


async def list_sync_mutations(env: Env, caller: str, scope: str) -> Call:
    _, case_id, marker = await rejected_mutation_on_case(env, caller, scope)
    visible = {"shown": marker} if scope == "in" else {"secret": marker}
    return Call("GET", "/sync/mutations", params={"case": case_id}, **visible)


async def review_sync_mutation(env: Env, caller: str, scope: str) -> Call:
    device_id, _, _ = await rejected_mutation_on_case(env, caller, scope)
    return Call("POST", f"/sync/mutations/{device_id}/1/review", json={"decision": "dismiss", "note": "矩阵审核"})


async def idle_beacon(env: Env, caller: str, scope: str) -> Call:
    beacon = "no-such-beacon"
    if caller != ANONYMOUS:
        answer = await env.client.post(
            "/devices", json={"device_id": str(uuid.uuid4())}, headers=env.world.auth(caller)
        )
        beacon = answer.json()["beacon"]
    # Outside /api/v1, and far ahead of every change: nothing new.
    return Call("GET", f"http://testserver.local/b/{beacon}/{10**12}")


def tus_headers(env: Env, caller: str, **more: str) -> dict[str, str]:
    login = env.world.auth(caller) if caller != ANONYMOUS else {}
    return {"Tus-Resumable": "1.0.0", **login, **more}


def unsent_file_metadata() -> str:
    return encode_upload_metadata({"sha256": uuid.uuid4().hex * 2, "filetype": "image/jpeg"})


async def create_upload(env: Env, caller: str, scope: str) -> Call:
    headers = tus_headers(env, caller, **{"Upload-Length": "1000", "Upload-Metadata": unsent_file_metadata()})
    return Call("POST", "/files", headers=headers)


def on_upload(method: str) -> Builder:
    """An upload begun by the caller ("in") or by someone else ("out"), then touched by the caller."""

    async def build(env: Env, caller: str, scope: str) -> Call:
        owner = "grid_worker" if caller == ANONYMOUS else caller if scope == "in" else env.user(caller, "out")
        headers = tus_headers(env, owner, **{"Upload-Length": "1000", "Upload-Metadata": unsent_file_metadata()})
        created = await env.client.post("/files", headers=headers)
        assert created.status_code == 201, created.text
        upload = created.headers["location"].rsplit("/", 1)[-1]
        probe = {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"} if method == "PATCH" else {}
        return Call(method, f"/files/{upload}", headers=tus_headers(env, caller, **probe))

    return build


def owner_only(ok: int) -> Expectation:
    def expect(caller: str, scope: str) -> Outcome:
        if caller == ANONYMOUS:
            return UNAUTHENTICATED
        return Outcome(ok) if scope == "in" else Outcome(404, "upload.not_found")

    return expect


async def download_cited_file(env: Env, caller: str, scope: str) -> Call:
    """A file cited by a case at the caller's place (or just outside it); its bytes were never sent."""
    case_id, _ = await env.case_for(caller, scope)
    code = env.place(caller, scope)
    registrar = "other_county" if code.startswith(env.world.other_county[:6]) else "admin"
    device_id, token = await enroll_device(env, registrar)
    content = uuid.uuid4().hex * 2
    data = {"id": str(uuid.uuid4()), "sha256": content, "size": 1000, "type": "image/jpeg", "name": "矩阵照片.jpg"}
    outbox = [{"seq": 1, "id": str(uuid.uuid4()), "type": "attach_file", "case_id": case_id, "data": data}]
    body = {"protocol": 1, "app_version": "test", "device_id": device_id, "outbox": outbox}
    answer = await env.client.post("/sync", json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.json()["results"][0]["status"] == "applied", answer.text
    return Call("GET", f"/files/{content}")


def cited_file(caller: str, scope: str) -> Outcome:
    # In scope the caller learns the file has not arrived yet; outside, nothing at all.
    if caller == ANONYMOUS:
        return UNAUTHENTICATED
    return Outcome(404, "file.not_uploaded") if scope == "in" else OUT_OF_SCOPE


def device_sync(caller: str, scope: str) -> Outcome:
    if caller == ANONYMOUS:
        return UNAUTHENTICATED
    return Outcome(200) if scope == "in" else Outcome(403, "sync.device_mismatch")


# 督办, 包案 and notifications. The officer over each place, who may lead a case there.
SUPERIOR = {"grid_a": "town", "grid_a2": "town", "village_a2": "town", "grid_b": "town_b", "other_grid": "other_county"}
# Organs above the one holding a new case: the village (the other county registers its
# cases itself, so they are held at its county, which nobody here is above).
SUPERVISORS = frozenset({"town", "town_b", "county"})
# The organ holding a new case, which owes the written reply.
REPLIERS = frozenset({"leader", "leader_b", "other_county"})
LEAD_DECIDERS = DECIDERS - ADMINS


def _superior(env: Env, caller: str, scope: str) -> str:
    return SUPERIOR[(HOME if scope == "in" else AWAY)[caller]]


async def open_supervision_call(env: Env, caller: str, scope: str) -> Call:
    case_id, title = await env.case_for(caller, scope)
    return Call(
        "POST", f"/cases/{case_id}/supervisions", json={"reason": "矩阵督办"}, secret=title if scope == "out" else None
    )


async def reply_supervision(env: Env, caller: str, scope: str) -> Call:
    """A 督办 opened by a rule (as the sweeper does) on a case at the caller's place."""
    from server.services.supervision import open_supervision

    case_id, title = await env.case_for(caller, scope)
    context = env.client._transport.app.state.context  # type: ignore[attr-defined]
    now = context.clock.now()
    async with context.db.write() as session:
        item = await open_supervision(
            session,
            case_id=uuid.UUID(case_id),
            trigger_key=f"matrix:{uuid.uuid4()}",
            reason="矩阵督办",
            opened_at=now,
            reply_due_at=now + timedelta(days=7),
        )
    path = f"/cases/{case_id}/supervisions/{item.id}/reply"
    return Call("POST", path, json={"text": "已按要求办理"}, secret=title if scope == "out" else None)


def _lead_body(env: Env, caller: str, scope: str) -> dict[str, Any]:
    leader = env.world.principals[_superior(env, caller, scope)].user_id
    return {"leader_id": str(leader), "measures": "矩阵措施", "target_date": "2026-04-01", "responsibility": "矩阵责任"}


async def assign_lead(env: Env, caller: str, scope: str) -> Call:
    case_id, title = await env.case_for(caller, scope)
    body = _lead_body(env, caller, scope)
    return Call("PUT", f"/cases/{case_id}/lead", json=body, secret=title if scope == "out" else None)


async def end_lead(env: Env, caller: str, scope: str) -> Call:
    case_id, title = await env.case_for(caller, scope)
    assigned = await env.client.put(
        f"/cases/{case_id}/lead",
        json=_lead_body(env, caller, scope),
        headers=env.world.auth(_superior(env, caller, scope)),
    )
    assert assigned.status_code == 200, assigned.text
    return Call(
        "POST", f"/cases/{case_id}/lead/end", json={"reason": "矩阵结束"}, secret=title if scope == "out" else None
    )


async def notification_for(env: Env, caller: str, scope: str) -> tuple[str, str]:
    """A notification for the caller ("in") or for someone just outside them ("out")."""
    from server.services.notifications import enqueue

    owner = "grid_worker" if caller == ANONYMOUS else caller if scope == "in" else env.user(caller, "out")
    title = f"矩阵通知{uuid.uuid4().hex[:12]}"
    context = env.client._transport.app.state.context  # type: ignore[attr-defined]
    async with context.db.write() as session:
        await enqueue(
            session,
            dedupe_key=title,
            event="matrix",
            case_id=None,
            recipients=[env.world.principals[owner].user_id],
            title=title,
            body="矩阵",
            payload={},
            created_at=context.clock.now(),
        )
        row = (await session.exec(select(Notification).where(Notification.dedupe_key == title))).one()
    return str(row.id), title


async def list_notifications(env: Env, caller: str, scope: str) -> Call:
    _, title = await notification_for(env, caller, scope)
    return Call("GET", "/notifications", **({"shown": title} if scope == "in" else {"secret": title}))


async def read_notification(env: Env, caller: str, scope: str) -> Call:
    notification_id, title = await notification_for(env, caller, scope)
    return Call("POST", f"/notifications/{notification_id}/read", secret=title if scope == "out" else None)


def own_notification(caller: str, scope: str) -> Outcome:
    if caller == ANONYMOUS:
        return UNAUTHENTICATED
    return Outcome(200) if scope == "in" else Outcome(404, "notification.not_found")


# 排查 reports: each node's own filer files its report (DOMAIN §7); anyone reads in their area.
SCREENING_FILERS = GRID_WORKERS | frozenset({"leader", "leader_b", "town", "town_b", "county", "other_county"})
GRID_WORKER_AT = {"grid_a": "grid_worker", "grid_b": "grid_worker_b", "other_grid": "other_grid_worker"}


async def screening_period(env: Env, code: str) -> tuple[str, str]:
    """The report period of ``code`` on the test clock's day, as the server computes it."""
    viewer = "other_county" if code.startswith(env.world.other_county[:6]) else "admin"
    day = {"region": code, "from": "2026-03-02", "to": "2026-03-02"}
    answer = await env.client.get("/screening/periods", params=day, headers=env.world.auth(viewer))
    assert answer.status_code == 200, answer.text
    [period] = answer.json()["periods"]
    return period["start"], period["end"]


async def screening_report_body(env: Env, code: str, marker: str) -> dict[str, Any]:
    start, end = await screening_period(env, code)
    return {
        "id": str(uuid.uuid4()),
        "region": code,
        "period_start": start,
        "period_end": end,
        "zero_report": False,
        "found_count": 1,
        "items": [marker],
    }


async def file_screening_report(env: Env, caller: str, scope: str) -> Call:
    own = env.world.principals[caller].node_code if caller in PEOPLE else env.world.grid_a
    code = own if scope == "in" else env.place(caller, scope)
    marker = f"矩阵排查{uuid.uuid4().hex[:12]}"
    body = await screening_report_body(env, code, marker)
    return Call("POST", "/screening/reports", json=body, **({"shown": marker} if scope == "in" else {}))


async def screening_marker_at(env: Env, place: str) -> str | None:
    """A report at a grid with a worker (filed once per test): the text only it carries."""
    worker = GRID_WORKER_AT.get(place)
    if worker is None:
        return None
    marker = f"矩阵排查{place}"
    body = await screening_report_body(env, env.places[place], marker)
    answer = await env.client.post("/screening/reports", json=body, headers=env.world.auth(worker))
    assert answer.status_code == 201 or answer.json()["code"] == "screening.already_reported", answer.text
    return marker


async def list_screening_reports(env: Env, caller: str, scope: str) -> Call:
    place = (HOME if scope == "in" else AWAY)[caller]
    marker = await screening_marker_at(env, place)
    visible = {"shown": marker} if scope == "in" else {"secret": marker}
    return Call("GET", "/screening/reports", params={"region": env.places[place]}, **visible)


def on_screening(path: str) -> Builder:
    async def build(env: Env, caller: str, scope: str) -> Call:
        code = env.place(caller, scope)
        return Call("GET", path, params={"region": code}, **({"shown": code} if scope == "in" else {}))

    return build


# Extensions (Art. 34), recusals (Art. 28), the handler, organ heads. "town", "town_b",
# "county" and "other_county" head their organs (tests/conftest.py HEADS); a case at a grid
# is held by its village, whose organ is the township.
ORGAN_HANDLERS = frozenset({"town", "town_b", "county", "admin", "other_county"})
ASSIGNERS = DECIDERS
HEAD_OF = {"grid_a": "town", "grid_b": "town_b", "other_grid": "other_county"}


def _registrar(env: Env, caller: str, scope: str) -> str:
    return "other_county" if env.place(caller, scope).startswith(env.world.other_county[:6]) else "admin"


async def handled_case_for(env: Env, caller: str, scope: str) -> tuple[str, str]:
    """A case at the caller's place (or just outside) in handling, by someone who may."""
    case_id, title = await env.case_for(caller, scope)
    registrar = env.world.auth(_registrar(env, caller, scope))
    for action in ("accept", "start_handling"):
        body = {"action": action, "reason": "矩阵办理"}
        answer = await env.client.post(f"/cases/{case_id}/transitions", json=body, headers=registrar)
        assert answer.status_code == 200, answer.text
    return case_id, title


async def request_extension(env: Env, caller: str, scope: str) -> Call:
    case_id, title = await handled_case_for(env, caller, scope)
    body = {"days": 10, "reason": "矩阵延期理由"}
    return Call("POST", f"/cases/{case_id}/extension-requests", json=body, secret=title if scope == "out" else None)


async def decide_extension(env: Env, caller: str, scope: str) -> Call:
    case_id, title = await handled_case_for(env, caller, scope)
    asked = await env.client.post(
        f"/cases/{case_id}/extension-requests",
        json={"days": 10, "reason": "矩阵延期理由"},
        headers=env.world.auth(_registrar(env, caller, scope)),
    )
    assert asked.status_code == 201, asked.text
    path = f"/cases/{case_id}/extension-requests/{asked.json()['id']}/decision"
    return Call("POST", path, json={"decision": "approve"}, secret=title if scope == "out" else None)


def extension_decider(caller: str, scope: str) -> Outcome:
    if caller == ANONYMOUS:
        return UNAUTHENTICATED
    if scope == "out":
        return OUT_OF_SCOPE
    if caller not in ORGAN_HANDLERS:
        return FORBIDDEN
    if caller == "other_county":
        # The other county's only officer asked too: a second head must approve.
        return Outcome(403, "extension.self_approval")
    return Outcome(200) if caller == HEAD_OF[HOME[caller]] else Outcome(403, "organ.not_head")


async def lift_recusal(env: Env, caller: str, scope: str) -> Call:
    case_id, title = await env.case_for(caller, scope)
    other = env.place(caller, scope).startswith(env.world.other_county[:6])
    # Someone other than the caller and the registrar (the other county has two people).
    target = "other_grid_worker" if other else "grid_worker" if caller == "mediator" else "mediator"
    body = {"user_id": str(env.world.principals[target].user_id), "source": "leader", "reason": "矩阵回避"}
    recorded = await env.client.post(
        f"/cases/{case_id}/recusals", json=body, headers=env.world.auth(_registrar(env, caller, scope))
    )
    assert recorded.status_code == 201, recorded.text
    path = f"/cases/{case_id}/recusals/{recorded.json()['id']}/lift"
    return Call("POST", path, json={"reason": "矩阵撤销"}, secret=title if scope == "out" else None)


def recusal_lifter(caller: str, scope: str) -> Outcome:
    if caller == ANONYMOUS:
        return UNAUTHENTICATED
    if scope == "out":
        return OUT_OF_SCOPE
    if caller == "other_grid_worker":
        return Outcome(403, "case.recused")  # the one withdrawn (see lift_recusal)
    return Outcome(200) if caller == HEAD_OF.get(HOME[caller]) else Outcome(403, "organ.not_head")


async def assign_handler(env: Env, caller: str, scope: str) -> Call:
    case_id, title = await env.case_for(caller, scope)
    me = env.world.principals[caller if caller != ANONYMOUS else "grid_worker"].user_id
    return Call(
        "POST", f"/cases/{case_id}/assignment", json={"user_id": str(me)}, secret=title if scope == "out" else None
    )


def _county_of(env: Env, caller: str, scope: str) -> str:
    """The caller's own county ("in"), or the other one ("out")."""
    theirs = env.world.other_county if caller in ("other_county", "other_grid_worker") else env.world.county
    if scope == "in":
        return theirs
    return env.world.county if theirs == env.world.other_county else env.world.other_county


async def list_heads(env: Env, caller: str, scope: str) -> Call:
    county = _county_of(env, caller, scope)
    head = "other_county" if county == env.world.other_county else "county"
    visible = {"shown": f"测试{head}"} if scope == "in" else {"secret": f"测试{head}"}
    return Call("GET", f"/organs/{county}/heads", **visible)


async def fresh_town_officer(env: Env) -> str:
    body = {
        "username": f"h_{uuid.uuid4().hex[:10]}",
        "display_name": "矩阵镇长",
        "role": "town_officer",
        "node_code": env.world.town_a,
        "password": "a long enough password",
    }
    created = await env.client.post("/users", json=body, headers=env.world.auth("admin"))
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def designate_head(env: Env, caller: str, scope: str) -> Call:
    if scope == "out":
        other = str(env.world.principals["other_county"].user_id)
        return Call("POST", f"/organs/{env.world.other_county}/heads", json={"user_id": other})
    return Call("POST", f"/organs/{env.world.town_a}/heads", json={"user_id": await fresh_town_officer(env)})


async def revoke_head(env: Env, caller: str, scope: str) -> Call:
    if scope == "out":
        other = env.world.principals["other_county"].user_id
        return Call("DELETE", f"/organs/{env.world.other_county}/heads/{other}")
    user_id = await fresh_town_officer(env)
    made = await env.client.post(
        f"/organs/{env.world.town_a}/heads", json={"user_id": user_id}, headers=env.world.auth("admin")
    )
    assert made.status_code == 201, made.text
    return Call("DELETE", f"/organs/{env.world.town_a}/heads/{user_id}")


def archive_not_built(caller: str, scope: str) -> Outcome:
    # Whoever may read the case learns its package is not built yet; nobody else anything.
    if caller == ANONYMOUS:
        return UNAUTHENTICATED
    return Outcome(404, "archive.not_built") if scope == "in" else OUT_OF_SCOPE


CASE = "/api/v1/cases/{case_id:uuid}"
ENDPOINTS: list[Endpoint] = [
    # auth and system
    Endpoint(
        "POST",
        "/api/v1/auth/login",
        login,
        lambda caller, scope: Outcome(401, "auth.invalid_credentials") if caller == ANONYMOUS else Outcome(201),
        scoped=False,
    ),
    Endpoint("POST", "/api/v1/auth/logout", fixed("POST", "/auth/logout"), signed_in(204), scoped=False),
    Endpoint("GET", "/api/v1/auth/me", fixed("GET", "/auth/me"), signed_in(200), scoped=False),
    Endpoint("GET", "/api/v1/health", fixed("GET", "/health"), public(200), scoped=False),
    Endpoint("GET", "/api/v1/calendar/years", fixed("GET", "/calendar/years"), signed_in(200), scoped=False),
    Endpoint(
        "POST",
        "/api/v1/calendar/notices",
        fixed("POST", "/calendar/notices", {"text": HOLIDAY_NOTICE}),
        role_first(ADMINS, 201),
        scoped=False,
    ),
    # directory
    Endpoint("GET", "/api/v1/regions", list_regions, scope_first(EVERYONE, 200)),
    Endpoint("GET", "/api/v1/regions/{code:str}", get_region, scope_first(EVERYONE, 200)),
    Endpoint("POST", "/api/v1/regions/{code:str}/grids", create_grid, role_first(GRID_MANAGERS, 201)),
    Endpoint("GET", "/api/v1/users", list_users, signed_in(200)),
    Endpoint("POST", "/api/v1/users", create_user, role_first(ADMINS, 201)),
    Endpoint("GET", "/api/v1/users/{user_id:uuid}", get_user, scope_first(EVERYONE, 200)),
    Endpoint("GET", "/api/v1/categories", fixed("GET", "/categories"), signed_in(200), scoped=False),
    Endpoint(
        "POST",
        "/api/v1/categories",
        fixed("POST", "/categories", {"note": "矩阵", "items": [{"code": "neighbourhood", "name": "邻里纠纷"}]}),
        role_first(ADMINS, 201),
        scoped=False,
    ),
    # cases
    Endpoint(
        "POST",
        "/api/v1/cases",
        create_case,
        # The place is a field of the body: outside the caller's area it is a field error.
        scope_first(EVERYONE, 201, out=Outcome(422, "validation.failed", "auth.out_of_scope")),
    ),
    Endpoint("GET", "/api/v1/cases", list_cases, signed_in(200)),
    Endpoint("GET", CASE, get_case, scope_first(EVERYONE, 200)),
    Endpoint("PATCH", CASE, on_case("PATCH", body={"version": 1, "title": "矩阵改名"}), scope_first(EDITORS, 200)),
    Endpoint(
        "POST",
        CASE + "/transitions",
        on_case("POST", "/transitions", {"action": "accept", "reason": "符合受理条件"}),
        scope_first(DECIDERS, 200),
        variant="accept",
    ),
    Endpoint(
        "POST",
        CASE + "/transitions",
        on_case("POST", "/transitions", {"action": "record_visit", "data": {"summary": "上门走访"}}),
        scope_first(EVERYONE, 200),
        variant="record_visit",
    ),
    Endpoint("GET", CASE + "/timeline", on_case("GET", "/timeline"), scope_first(EVERYONE, 200)),
    Endpoint(
        "POST",
        CASE + "/identity",
        on_case("POST", "/identity", {"reason": "核实身份以便回访"}, reveals=True),
        scope_first(IDENTITY_READERS, 200),
    ),
    Endpoint("GET", CASE + "/identity-accesses", on_case("GET", "/identity-accesses"), role_first(AUDITORS, 200)),
    # a case's matter: where its 复查/复核 went, its duplicates; repeat and 越级 counts
    Endpoint("GET", CASE + "/review-chain", on_case("GET", "/review-chain"), scope_first(EVERYONE, 200)),
    Endpoint("GET", CASE + "/duplicates", on_case("GET", "/duplicates"), scope_first(EVERYONE, 200)),
    Endpoint("GET", "/api/v1/stats/repeats", repeat_counts, scope_first(EVERYONE, 200)),
    Endpoint("GET", "/api/v1/statistics", statistics_of, scope_first(EVERYONE, 200)),
    # 督办 and 包案
    Endpoint("GET", CASE + "/supervisions", on_case("GET", "/supervisions"), scope_first(EVERYONE, 200)),
    Endpoint("POST", CASE + "/supervisions", open_supervision_call, scope_first(SUPERVISORS, 201)),
    Endpoint(
        "POST",
        CASE + "/supervisions/{supervision_id:uuid}/reply",
        reply_supervision,
        scope_first(REPLIERS, 200),
    ),
    Endpoint("GET", CASE + "/lead", on_case("GET", "/lead"), scope_first(EVERYONE, 200)),
    Endpoint("PUT", CASE + "/lead", assign_lead, scope_first(LEAD_DECIDERS, 200)),
    Endpoint("POST", CASE + "/lead/end", end_lead, scope_first(LEAD_DECIDERS, 200)),
    # notifications (each person's own)
    Endpoint("GET", "/api/v1/notifications", list_notifications, signed_in(200)),
    Endpoint("POST", "/api/v1/notifications/{notification_id:uuid}/read", read_notification, own_notification),
    # devices and sync
    Endpoint("POST", "/api/v1/devices", enroll, signed_in(201), scoped=False),
    Endpoint("GET", "/api/v1/devices", fixed("GET", "/devices"), signed_in(200), scoped=False),
    Endpoint("POST", "/api/v1/devices/{device_id:uuid}/revoke", revoke_device, scope_first(EVERYONE, 200)),
    Endpoint("POST", "/api/v1/sync", sync_as_device, device_sync),
    Endpoint("GET", "/api/v1/sync/mutations", list_sync_mutations, signed_in(200)),
    Endpoint(
        "GET",
        "/b/{beacon:str}/{after:int}",
        idle_beacon,
        # No token: the beacon itself names the device, and an unknown one is not found.
        lambda caller, scope: Outcome(404, "sync.beacon_unknown") if caller == ANONYMOUS else Outcome(204),
        scoped=False,
    ),
    Endpoint(
        "POST",
        "/api/v1/sync/mutations/{device_id:uuid}/{seq:int}/review",
        review_sync_mutation,
        role_first(EVERYONE - GRID_WORKERS, 200),
    ),
    # attachment files (tus); HEAD and OPTIONS are not listed here (see served_endpoints)
    Endpoint("POST", "/api/v1/files", create_upload, signed_in(201), scoped=False),
    Endpoint("PATCH", "/api/v1/files/{key:str}", on_upload("PATCH"), owner_only(204)),
    Endpoint("DELETE", "/api/v1/files/{key:str}", on_upload("DELETE"), owner_only(204)),
    Endpoint("GET", "/api/v1/files/{key:str}", download_cited_file, cited_file),
    # 排查 reports
    Endpoint("POST", "/api/v1/screening/reports", file_screening_report, scope_first(SCREENING_FILERS, 201)),
    Endpoint("GET", "/api/v1/screening/reports", list_screening_reports, scope_first(EVERYONE, 200)),
    Endpoint("GET", "/api/v1/screening/periods", on_screening("/screening/periods"), scope_first(EVERYONE, 200)),
    Endpoint(
        "GET", "/api/v1/screening/completeness", on_screening("/screening/completeness"), scope_first(EVERYONE, 200)
    ),
    # extensions (Art. 34), recusals (Art. 28), the handler, organ heads, the inbox
    Endpoint("POST", CASE + "/extension-requests", request_extension, scope_first(ORGAN_HANDLERS, 201)),
    Endpoint("GET", CASE + "/extension-requests", on_case("GET", "/extension-requests"), scope_first(EVERYONE, 200)),
    Endpoint("POST", CASE + "/extension-requests/{request_id:uuid}/decision", decide_extension, extension_decider),
    Endpoint(
        "POST",
        CASE + "/recusals",
        on_case("POST", "/recusals", {"reason": "矩阵回避", "source": "declared"}),
        scope_first(EVERYONE, 201),
    ),
    Endpoint("GET", CASE + "/recusals", on_case("GET", "/recusals"), scope_first(EVERYONE, 200)),
    Endpoint("POST", CASE + "/recusals/{recusal_id:uuid}/lift", lift_recusal, recusal_lifter),
    Endpoint("POST", CASE + "/assignment", assign_handler, scope_first(ASSIGNERS, 200)),
    Endpoint("GET", "/api/v1/organs/{code:str}/heads", list_heads, scope_first(EVERYONE, 200)),
    Endpoint("POST", "/api/v1/organs/{code:str}/heads", designate_head, role_first(ADMINS, 201)),
    Endpoint("DELETE", "/api/v1/organs/{code:str}/heads/{user_id:uuid}", revoke_head, role_first(ADMINS, 204)),
    Endpoint("GET", "/api/v1/inbox", fixed("GET", "/inbox"), signed_in(200), scoped=False),
    # the archive package: a new case has none yet (its 200 is in tests/server/test_archives.py)
    Endpoint("GET", CASE + "/archive", on_case("GET", "/archive"), archive_not_built),
    # documents and the case file (PDF/A; what they say: tests/server/test_documents_api.py)
    Endpoint("GET", CASE + "/documents", on_case("GET", "/documents"), scope_first(EVERYONE, 200)),
    Endpoint(
        "GET",
        CASE + "/documents/{kind:str}",
        on_case("GET", "/documents/registration_form"),
        scope_first(EVERYONE, 200),
    ),
    Endpoint(
        "POST",
        CASE + "/documents/{kind:str}/for-party",
        on_case("POST", "/documents/registration_form/for-party", {"reason": "送达当事人签收"}, reveals=True),
        # A reveal: the roles of POST …/identity, logged the same way.
        scope_first(IDENTITY_READERS, 200),
    ),
    Endpoint("GET", CASE + "/case-file", on_case("GET", "/case-file"), scope_first(EVERYONE, 200)),
    # The field app's static files (server/pwa_static.py): public; the shell answers even
    # before `make setup` built it (a page saying so), a missing bundle is not found.
    Endpoint("GET", "/", fixed("GET", "http://testserver.local/"), public(200), scoped=False),
    Endpoint("GET", "/{name:str}", fixed("GET", "http://testserver.local/index.html"), public(200), scoped=False),
    Endpoint(
        "GET",
        "/assets/{name:str}",
        fixed("GET", "http://testserver.local/assets/missing-ABCDEFGH.js"),
        lambda caller, scope: Outcome(404, "not_found"),
        scoped=False,
    ),
    Endpoint(
        "GET",
        "/icons/{name:str}",
        fixed("GET", "http://testserver.local/icons/missing.png"),
        lambda caller, scope: Outcome(404, "not_found"),
        scoped=False,
    ),
]


def served_endpoints() -> set[tuple[str, str]]:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///unused.db", data_key=TEST_KEY))
    return {
        (method, route.path)
        for route in app.routes
        if not route.path.startswith("/schema")
        for method in route.methods - {"OPTIONS", "HEAD"}
    }


def test_should_describe_every_endpoint_of_the_api_in_the_matrix():
    described = {(endpoint.method, endpoint.route) for endpoint in ENDPOINTS}
    served = served_endpoints()
    assert sorted(served - described) == [], "endpoints missing from the auth matrix: add a row for each"
    assert sorted(described - served) == [], "matrix rows for endpoints the app no longer serves"


def _mismatches(call: Call, response, want: Outcome) -> list[str]:
    problems: list[str] = []
    body = response.text
    code = None
    if response.status_code >= 400:
        if not response.headers.get("content-type", "").startswith("application/problem+json"):
            problems.append(f"content-type {response.headers.get('content-type')!r}, want application/problem+json")
        code = response.json().get("code")
    got = f"{response.status_code} {code or ''}".strip()
    if response.status_code != want.status or (want.code and code != want.code):
        problems.append(f"got {got}, want {want}")
    elif want.rule and want.rule not in {error.get("rule") for error in response.json().get("errors", [])}:
        problems.append(f"got {got} without an error of rule {want.rule}: {body[:200]}")
    if call.secret and call.secret in body:
        problems.append(f"answer leaks {call.secret!r}")
    if call.shown and response.status_code < 300 and call.shown not in body:
        problems.append(f"answer lacks {call.shown!r}")
    if not (call.reveals and response.status_code == 200) and any(raw in body for raw in RAW_ID_NUMBERS):
        problems.append("answer carries an ID number in clear")
    return problems


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda endpoint: endpoint.id)
async def test_should_answer_each_role_in_and_out_of_scope_as_the_matrix_says(client, world, endpoint):
    env = Env(client, world)
    mismatches: list[str] = []
    for caller in CALLERS:
        for scope in SCOPES if endpoint.scoped else ("in",):
            call = await endpoint.build(env, caller, scope)
            headers = call.headers or (world.auth(caller) if caller != ANONYMOUS else {})
            response = await client.request(call.method, call.path, json=call.json, params=call.params, headers=headers)
            want = endpoint.expect(caller, scope)
            mismatches += [f"{caller:>17} {scope:<3} {problem}" for problem in _mismatches(call, response, want)]
    assert not mismatches, f"{endpoint.id}:\n" + "\n".join(mismatches)


async def test_should_extend_jurisdiction_to_cases_the_user_registered_or_is_assigned(client, world, db):
    async def register(who: str, code: str, title: str) -> str:
        response = await client.post("/cases", json=case_payload(code, title=title), headers=world.auth(who))
        assert response.status_code == 201, response.text
        return response.json()["id"]

    own = await register("grid_worker", world.grid_a, "本人登记的案件")
    neighbours = await register("leader", world.grid_a, "原网格的其他案件")
    assigned = await register("leader_b", world.grid_b, "分派给本人的案件")
    # The grid worker moves to the next grid and is assigned a case of another village.
    worker = world.principals["grid_worker"]
    async with db.write() as session:
        user = await session.get(User, worker.user_id)
        user.node_code, user.node_path = world.grid_a2, world.regions[world.grid_a2].path
        session.add(user)
        case = await session.get(Case, uuid.UUID(assigned))
        case.assigned_to = worker.user_id
        session.add(case)

    headers = world.auth("grid_worker")
    listed = await client.get("/cases", headers=headers)
    assert {item["id"] for item in listed.json()["items"]} == {own, assigned}
    assert "原网格的其他案件" not in listed.text
    for case_id in (own, assigned):
        assert (await client.get(f"/cases/{case_id}", headers=headers)).status_code == 200
        visit = {"action": "record_visit", "data": {"summary": "回访"}}
        assert (await client.post(f"/cases/{case_id}/transitions", json=visit, headers=headers)).status_code == 200
    gone = await client.get(f"/cases/{neighbours}", headers=headers)
    assert (gone.status_code, gone.json()["code"]) == (404, "auth.out_of_scope")
    assert "原网格的其他案件" not in gone.text
    mine = await client.get("/cases", params={"mine": "true"}, headers=headers)
    assert [item["id"] for item in mine.json()["items"]] == [own]
    to_me = await client.get("/cases", params={"assigned": "true"}, headers=headers)
    assert [item["id"] for item in to_me.json()["items"]] == [assigned]
