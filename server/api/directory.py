"""Regions, grids, users and categories."""

from __future__ import annotations

import uuid

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter

from grid.people import Role
from server.principal import Principal
from server.schemas.users import (
    CategoryList,
    CategoryPublish,
    CategoryRead,
    GridCreate,
    RegionRead,
    UserCreate,
    UserRead,
    region_read,
    user_read,
)
from server.services.categories import CategoryService
from server.services.regions import RegionService
from server.services.users import UserService


class RegionController(Controller):
    path = "/regions"
    tags = ["regions"]

    @get("/", summary="下级区划（默认为本人所在节点的下级）")
    async def children(
        self,
        principal: NamedDependency[Principal],
        regions: NamedDependency[RegionService],
        parent: str | None = Parameter(default=None, max_length=20),
    ) -> list[RegionRead]:
        return [region_read(region) for region in await regions.children(principal, parent)]

    @get("/{code:str}", summary="区划详情")
    async def get_region(
        self, code: FromPath[str], principal: NamedDependency[Principal], regions: NamedDependency[RegionService]
    ) -> RegionRead:
        return region_read(await regions.get_in_scope(principal, code))

    @post("/{code:str}/grids", summary="在村（社区）下设立网格")
    async def create_grid(
        self,
        code: FromPath[str],
        data: JSONBody[GridCreate],
        principal: NamedDependency[Principal],
        regions: NamedDependency[RegionService],
    ) -> RegionRead:
        return region_read(await regions.create_grid(principal, code, data.name))


class UserController(Controller):
    path = "/users"
    tags = ["users"]

    @get("/", summary="管辖范围内的用户")
    async def list_users(
        self,
        principal: NamedDependency[Principal],
        users: NamedDependency[UserService],
        role: FromQuery[Role | None] = None,
    ) -> list[UserRead]:
        return [user_read(user) for user in await users.list_in_scope(principal, role=role)]

    @post("/", summary="创建用户（管理员）")
    async def create_user(
        self, data: JSONBody[UserCreate], principal: NamedDependency[Principal], users: NamedDependency[UserService]
    ) -> UserRead:
        user = await users.create(
            username=data.username,
            display_name=data.display_name,
            role=data.role,
            node_code=data.node_code,
            password=data.password,
            by=principal,
        )
        return user_read(user)

    @get("/{user_id:uuid}", summary="用户详情")
    async def get_user(
        self, user_id: FromPath[uuid.UUID], principal: NamedDependency[Principal], users: NamedDependency[UserService]
    ) -> UserRead:
        return user_read(await users.get_in_scope(principal, user_id))


class CategoryController(Controller):
    path = "/categories"
    tags = ["categories"]

    @get("/", summary="现行纠纷分类目录")
    async def current(
        self, principal: NamedDependency[Principal], categories: NamedDependency[CategoryService]
    ) -> CategoryList:
        version, items = await categories.current()
        return CategoryList(version=version, items=[CategoryRead(code=item.code, name=item.name) for item in items])

    @post("/", summary="发布新版分类目录（管理员）")
    async def publish(
        self,
        data: JSONBody[CategoryPublish],
        principal: NamedDependency[Principal],
        categories: NamedDependency[CategoryService],
    ) -> CategoryList:
        await categories.publish([(item.code, item.name) for item in data.items], note=data.note, by=principal)
        version, items = await categories.current()
        return CategoryList(version=version, items=[CategoryRead(code=item.code, name=item.name) for item in items])
