"""Bodies for users and regions."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from grid.hierarchy import Region
from grid.people import ROLE_NAMES_ZH, Role, User


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    display_name: str = Field(min_length=1, max_length=64)
    role: Role
    node_code: str = Field(min_length=1, max_length=20)
    password: str = Field(min_length=8, max_length=200)


class UserRead(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str
    role: Role
    role_name: str
    node_code: str
    active: bool
    created_at: datetime


def user_read(user: User) -> UserRead:
    return UserRead(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
        role_name=ROLE_NAMES_ZH[Role(user.role)],
        node_code=user.node_code,
        active=user.active,
        created_at=user.created_at,
    )


class RegionRead(BaseModel):
    code: str
    name: str
    level: str
    parent_code: str | None
    path: str


def region_read(region: Region) -> RegionRead:
    return RegionRead(
        code=region.code, name=region.name, level=region.level, parent_code=region.parent_code, path=region.path
    )


class GridCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)


class CategoryRead(BaseModel):
    code: str
    name: str


class CategoryList(BaseModel):
    version: int | None
    items: list[CategoryRead]


class CategoryPublish(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str = Field(default="", max_length=200)
    items: list[CategoryRead] = Field(min_length=1, max_length=200)
