"""Enrolling, authenticating and revoking field devices."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlmodel import col, select

from grid.people import Role, User
from server.errors import ServiceError
from server.principal import Principal
from server.security import new_token, token_digest
from server.services.context import ServiceContext
from server.services.regions import in_subtree
from server.services.users import principal_of
from sync.tables import Device

# Roles that may revoke the devices of the users below them ("the user's leader").
DEVICE_SUPERVISORS = frozenset({Role.VILLAGE_LEADER, Role.TOWN_OFFICER, Role.COUNTY_OFFICER, Role.ADMIN})
# 72 bits: 12 characters on the wire (each byte is paid 288 times a day), still unguessable.
BEACON_BYTES = 9


@dataclass(frozen=True)
class EnrolledDevice:
    device: Device
    token: str


@dataclass(frozen=True)
class DeviceCaller:
    device: Device
    principal: Principal


class DeviceService:
    def __init__(self, context: ServiceContext):
        self.context = context

    async def enroll(self, principal: Principal, device_id: uuid.UUID, name: str) -> EnrolledDevice:
        """A logged-in user enrolls a phone. Enrolling the same phone again (a reinstall)
        replaces its token; a revoked phone stays revoked."""
        now = self.context.clock.now()
        token = new_token()
        async with self.context.db.write() as session:
            device = await session.get(Device, device_id)
            if device is not None and device.user_id != principal.user_id:
                raise ServiceError("该设备已登记在其他用户名下", code="sync.device_taken")
            if device is not None and device.revoked_at is not None:
                raise ServiceError("该设备已被停用，不能重新登记", code="sync.device_revoked")
            if device is None:
                device = Device(id=device_id, user_id=principal.user_id, token_hash="", enrolled_at=now)
            device.name = name
            device.token_hash = token_digest(token)
            device.beacon = secrets.token_urlsafe(BEACON_BYTES)
            session.add(device)
        return EnrolledDevice(device, token)

    async def authenticate(self, token: str) -> DeviceCaller:
        async with self.context.db.read() as session:
            found = (
                await session.exec(
                    select(Device, User)
                    .join(User, col(User.id) == col(Device.user_id))
                    .where(Device.token_hash == token_digest(token))
                )
            ).first()
        device, user = found if found is not None else (None, None)
        if device is None or user is None:
            raise ServiceError("设备凭证无效，请重新登记设备", code="sync.device_unknown")
        if device.revoked_at is not None or not user.active:
            # The device must stop syncing and keep its data for a supervisor to collect.
            raise ServiceError("该设备已被停用", code="sync.device_revoked", data={"action": "stop"})
        return DeviceCaller(device, principal_of(user))

    async def by_beacon(self, beacon: str) -> DeviceCaller | None:
        """The active device with this beacon, or None (unknown, revoked, user disabled)."""
        async with self.context.db.read() as session:
            device = (await session.exec(select(Device).where(Device.beacon == beacon))).first()
            user = await session.get(User, device.user_id) if device is not None else None
        if device is None or user is None or device.revoked_at is not None or not user.active:
            return None
        return DeviceCaller(device, principal_of(user))

    async def list_visible(self, principal: Principal) -> list[Device]:
        async with self.context.db.read() as session:
            statement = select(Device).join(User, col(User.id) == col(Device.user_id))
            if principal.role in DEVICE_SUPERVISORS:
                statement = statement.where(in_subtree(col(User.node_path), principal.node_path))
            else:
                statement = statement.where(Device.user_id == principal.user_id)
            return list((await session.exec(statement.order_by(col(Device.enrolled_at)))).all())

    async def revoke(self, principal: Principal, device_id: uuid.UUID) -> Device:
        async with self.context.db.write() as session:
            device = await session.get(Device, device_id)
            owner = await session.get(User, device.user_id) if device is not None else None
            if device is None or owner is None:
                raise ServiceError("设备不存在或不在您的管辖范围内", code="auth.out_of_scope")
            own = owner.id == principal.user_id
            supervises = principal.role in DEVICE_SUPERVISORS and principal.covers(owner.node_path)
            if not (own or supervises):
                raise ServiceError("设备不存在或不在您的管辖范围内", code="auth.out_of_scope")
            if device.revoked_at is None:
                device.revoked_at = self.context.clock.now()
                device.revoked_by = principal.user_id
                session.add(device)
            return device
