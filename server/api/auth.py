"""Login, logout and the caller's own account."""

from __future__ import annotations

from datetime import datetime

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from pydantic import BaseModel, Field

from server.api.deps import bearer_token
from server.principal import Principal
from server.schemas.users import UserRead, user_read
from server.services.users import UserService


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class LoginResponse(BaseModel):
    token: str
    token_type: str = "bearer"
    expires_at: datetime
    user: UserRead


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/login", summary="用户名密码登录，返回访问令牌")
    async def login(self, data: JSONBody[LoginRequest], users: NamedDependency[UserService]) -> LoginResponse:
        issued = await users.login(data.username, data.password)
        return LoginResponse(token=issued.token, expires_at=issued.expires_at, user=user_read(issued.user))

    @post("/logout", status_code=204, summary="注销当前令牌")
    async def logout(self, request: Request, users: NamedDependency[UserService]) -> None:
        await users.revoke(bearer_token(request))

    @get("/me", summary="当前用户")
    async def me(self, principal: NamedDependency[Principal], users: NamedDependency[UserService]) -> UserRead:
        return user_read(await users.get_in_scope(principal, principal.user_id))
