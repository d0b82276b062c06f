"""Accounts, login and bearer tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select

from grid.hierarchy import Level, Region
from grid.people import ROLE_LEVELS, ROLE_NAMES_ZH, Role, User, role_allowed_at
from server.errors import ServiceError
from server.principal import Principal
from server.security import hash_password, new_token, token_digest, verify_password
from server.services.context import ServiceContext
from server.services.regions import in_subtree
from server.tables import AuthToken


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    user: User


def principal_of(user: User) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
        node_code=user.node_code,
        node_path=user.node_path,
    )


class UserService:
    def __init__(self, context: ServiceContext):
        self.context = context

    async def create(
        self,
        *,
        username: str,
        display_name: str,
        role: Role,
        node_code: str,
        password: str | None = None,
        password_hash: str | None = None,
        by: Principal | None = None,
    ) -> User:
        """Create an account; ``by`` is None only for the CLI and the demo seed."""
        if by is not None and not by.is_admin:
            raise ServiceError("只有管理员可以创建账号", code="auth.forbidden")
        async with self.context.db.write() as session:
            node = await session.get(Region, node_code)
            if node is None:
                raise ServiceError("所属区划不存在", code="region.not_found", data={"node_code": node_code})
            if by is not None and not by.covers(node.path):
                raise ServiceError("区划不在您的管辖范围内", code="auth.out_of_scope")
            if not role_allowed_at(role, Level(node.level)):
                levels = "、".join(sorted(level.value for level in ROLE_LEVELS[role]))
                raise ServiceError(
                    f"{ROLE_NAMES_ZH[role]}只能设在以下层级：{levels}",
                    code="user.role_level_mismatch",
                    data={"role": role.value, "level": node.level},
                )
            taken = (await session.exec(select(User.id).where(User.username == username))).first()
            if taken is not None:
                raise ServiceError("用户名已被使用", code="user.username_taken")
            user = User(
                username=username,
                display_name=display_name,
                role=role.value,
                node_code=node.code,
                node_path=node.path,
                password_hash=password_hash or hash_password(password or ""),
                created_at=self.context.clock.now(),
            )
            session.add(user)
        return user

    async def list_in_scope(self, principal: Principal, *, role: Role | None = None) -> list[User]:
        async with self.context.db.read() as session:
            statement = select(User).where(in_subtree(col(User.node_path), principal.node_path))
            if role is not None:
                statement = statement.where(User.role == role.value)
            return list((await session.exec(statement.order_by(User.username))).all())

    async def get_in_scope(self, principal: Principal, user_id: uuid.UUID) -> User:
        async with self.context.db.read() as session:
            user = await session.get(User, user_id)
        if user is None or not principal.covers(user.node_path):
            # Out of scope looks exactly like missing: the answer must not confirm existence.
            raise ServiceError("用户不存在或不在您的管辖范围内", code="auth.out_of_scope")
        return user

    async def login(self, username: str, password: str) -> IssuedToken:
        async with self.context.db.read() as session:
            user = (await session.exec(select(User).where(User.username == username))).first()
        if not verify_password(user.password_hash if user else None, password) or user is None:
            raise ServiceError("用户名或密码错误", code="auth.invalid_credentials")
        if not user.active:
            raise ServiceError("账号已停用", code="auth.invalid_credentials")
        now = self.context.clock.now()
        token = new_token()
        expires_at = now + timedelta(hours=self.context.settings.token_ttl_hours)
        async with self.context.db.write() as session:
            session.add(
                AuthToken(token_hash=token_digest(token), user_id=user.id, issued_at=now, expires_at=expires_at)
            )
        return IssuedToken(token, expires_at, user)

    async def authenticate(self, token: str) -> Principal:
        async with self.context.db.read() as session:
            row = await session.get(AuthToken, token_digest(token))
            user = await session.get(User, row.user_id) if row is not None else None
        if row is None or user is None or not user.active:
            raise ServiceError("登录凭证无效，请重新登录", code="auth.unauthenticated")
        if row.revoked_at is not None:
            raise ServiceError("登录凭证已注销，请重新登录", code="auth.token_revoked")
        if self.context.clock.now() >= row.expires_at:
            raise ServiceError("登录已过期，请重新登录", code="auth.token_expired")
        return principal_of(user)

    async def revoke(self, token: str) -> None:
        async with self.context.db.write() as session:
            row = await session.get(AuthToken, token_digest(token))
            if row is not None and row.revoked_at is None:
                row.revoked_at = self.context.clock.now()
                session.add(row)
