"""Dependencies shared by the controllers: the services and the caller."""

from __future__ import annotations

from litestar import Request
from litestar.datastructures import State

from server.errors import ServiceError
from server.principal import Principal
from server.services.cases import CaseService
from server.services.categories import CategoryService
from server.services.context import ServiceContext
from server.services.regions import RegionService
from server.services.users import UserService


def context_of(state: State) -> ServiceContext:
    return state.context


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ServiceError("请先登录", code="auth.unauthenticated")
    return token.strip()


async def provide_principal(request: Request, state: State) -> Principal:
    return await UserService(context_of(state)).authenticate(bearer_token(request))


def provide_cases(state: State) -> CaseService:
    return CaseService(context_of(state))


def provide_users(state: State) -> UserService:
    return UserService(context_of(state))


def provide_regions(state: State) -> RegionService:
    return RegionService(context_of(state))


def provide_categories(state: State) -> CategoryService:
    return CategoryService(context_of(state))
