"""Devices and the sync endpoint."""

from __future__ import annotations

import uuid
from datetime import datetime

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, ConfigDict, Field

from server.api.deps import bearer_token, context_of
from server.principal import Principal
from server.services.devices import DeviceService
from server.services.sync import SyncService
from sync.protocol import SyncRequest, SyncResponse
from sync.tables import Device


class DeviceEnroll(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    device_id: uuid.UUID = Field(description="设备自行生成的 UUID")
    name: str = Field(default="", max_length=100)


class DeviceRead(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    enrolled_at: datetime
    revoked_at: datetime | None
    last_seq: int
    last_seen_at: datetime | None
    app_version: str | None


class DeviceEnrolled(BaseModel):
    device: DeviceRead
    device_token: str


def device_read(device: Device) -> DeviceRead:
    return DeviceRead(
        id=device.id,
        user_id=device.user_id,
        name=device.name,
        enrolled_at=device.enrolled_at,
        revoked_at=device.revoked_at,
        last_seq=device.last_seq,
        last_seen_at=device.last_seen_at,
        app_version=device.app_version,
    )


class DeviceController(Controller):
    path = "/devices"
    tags = ["sync"]

    @post("/", summary="登记本机（返回设备凭证）")
    async def enroll(
        self, data: JSONBody[DeviceEnroll], principal: NamedDependency[Principal], state: State
    ) -> DeviceEnrolled:
        enrolled = await DeviceService(context_of(state)).enroll(principal, data.device_id, data.name)
        return DeviceEnrolled(device=device_read(enrolled.device), device_token=enrolled.token)

    @get("/", summary="本人的设备；上级可见辖区内用户的设备")
    async def list_devices(self, principal: NamedDependency[Principal], state: State) -> list[DeviceRead]:
        return [device_read(device) for device in await DeviceService(context_of(state)).list_visible(principal)]

    @post("/{device_id:uuid}/revoke", status_code=200, summary="停用设备（本人、上级或管理员）")
    async def revoke(
        self, device_id: FromPath[uuid.UUID], principal: NamedDependency[Principal], state: State
    ) -> DeviceRead:
        return device_read(await DeviceService(context_of(state)).revoke(principal, device_id))


class SyncController(Controller):
    path = "/sync"
    tags = ["sync"]

    @post("/", status_code=200, summary="同步：上传 outbox，逐条返回结果（请求与响应均可 gzip）")
    async def sync(self, request: Request, data: JSONBody[SyncRequest], state: State) -> SyncResponse:
        context = context_of(state)
        caller = await DeviceService(context).authenticate(bearer_token(request))
        return await SyncService(context).sync(caller, data)
