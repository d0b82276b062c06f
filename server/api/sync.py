"""Devices and the sync endpoint."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter, QueryParameter
from pydantic import BaseModel, ConfigDict, Field

from server.api.deps import bearer_token, context_of
from server.errors import ServiceError
from server.principal import Principal
from server.services.devices import DeviceService
from server.services.sync import SyncService
from server.services.sync_review import Decision, ReviewFilters, ReviewItem, SyncReviewService
from sync.beacon import BeaconAnswer
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
    beacon: str = Field(description="空闲检查用：GET /b/{beacon}/{cursor 的变更序号}，204 表示无新变更")
    beacon_udp_port: int | None = Field(
        default=None, description="空闲检查的 UDP 端口（同一主机）；为空则只用 HTTP（docs/sync-protocol.md）"
    )


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
        return DeviceEnrolled(
            device=device_read(enrolled.device),
            device_token=enrolled.token,
            beacon=enrolled.device.beacon or "",
            beacon_udp_port=context_of(state).settings.beacon_udp_port,
        )

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


class ReviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decision: Decision = Field(
        description="冲突：keep_server 保留服务器值 / apply_device 采用设备值；被拒：dismiss 已处理"
    )
    note: str = Field(min_length=2, max_length=1000, description="审核意见")


class ReviewRead(BaseModel):
    decision: Decision
    note: str
    reviewed_by: uuid.UUID
    reviewed_at: datetime
    case_version: int | None


class MutationRecordRead(BaseModel):
    device_id: uuid.UUID
    seq: int
    id: uuid.UUID
    sender_id: uuid.UUID
    sender_name: str
    type: str
    case_id: uuid.UUID
    status: str
    code: str | None
    message: str | None
    data: dict[str, Any] = Field(description="设备提交的内容")
    base_version: int | None
    held: dict[str, Any] | None = Field(description="冲突字段：各自的设备值与服务器值")
    device_time: datetime | None
    received_at: datetime
    review: ReviewRead | None


def mutation_record(item: ReviewItem) -> MutationRecordRead:
    mutation, review = item.mutation, item.review
    return MutationRecordRead(
        device_id=mutation.device_id,
        seq=mutation.seq,
        id=mutation.mutation_id,
        sender_id=item.sender.id,
        sender_name=item.sender.display_name,
        type=mutation.type,
        case_id=mutation.case_id,
        status=mutation.status,
        code=mutation.code,
        message=mutation.message,
        data=mutation.payload.get("data", {}),
        base_version=mutation.payload.get("base_version"),
        held=mutation.conflict,
        device_time=mutation.device_time,
        received_at=mutation.received_at,
        review=None
        if review is None
        else ReviewRead(
            decision=Decision(review.decision),
            note=review.note,
            reviewed_by=review.reviewed_by,
            reviewed_at=review.reviewed_at,
            case_version=review.case_version,
        ),
    )


class SyncReviewController(Controller):
    path = "/sync/mutations"
    tags = ["sync"]

    @get("/", summary="待审核的同步变更：冲突与被拒（管辖范围内，或本人设备）")
    async def list_mutations(
        self,
        principal: NamedDependency[Principal],
        state: State,
        status: list[Literal["conflict", "rejected"]] | None = Parameter(default=None),
        open_only: Annotated[bool, QueryParameter(name="open", description="只看未审核的")] = True,
        case: uuid.UUID | None = Parameter(default=None),
        device: uuid.UUID | None = Parameter(default=None),
        limit: int = Parameter(default=100, ge=1, le=500),
    ) -> list[MutationRecordRead]:
        filters = ReviewFilters(
            status=list(status or ["conflict", "rejected"]), open_only=open_only, case_id=case, device_id=device
        )
        items = await SyncReviewService(context_of(state)).list(principal, filters, limit)
        return [mutation_record(item) for item in items]

    @post("/{device_id:uuid}/{seq:int}/review", status_code=200, summary="审核一条冲突或被拒的变更")
    async def review(
        self,
        device_id: FromPath[uuid.UUID],
        seq: FromPath[int],
        data: JSONBody[ReviewCreate],
        principal: NamedDependency[Principal],
        state: State,
    ) -> MutationRecordRead:
        item = await SyncReviewService(context_of(state)).review(principal, device_id, seq, data.decision, data.note)
        return mutation_record(item)


@get(
    "/b/{beacon:str}/{after:int}",
    summary="空闲检查：范围内是否有新变更（204 无；200 请同步；404 请完整同步）",
    tags=["sync"],
)
async def beacon(beacon: FromPath[str], after: FromPath[int], state: State) -> Response[bytes]:
    """The idle check of a device with nothing to send, as small as HTTP allows: a phone
    that looks every five minutes must spend a few kilobytes a day, not hundreds.

    Outside /api/v1 and without a token on purpose: every byte counts, and the answer is
    one bit about one device's scope. 404 sends the device to a full sync, which tells it
    why (revoked, unknown)."""
    answer = await SyncService(context_of(state)).beacon_answer(beacon, after)
    if answer is BeaconAnswer.UNKNOWN:
        raise ServiceError("未知的空闲检查标识，请完整同步", code="sync.beacon_unknown")
    return Response(b"", status_code=200 if answer is BeaconAnswer.NEWS else 204)
