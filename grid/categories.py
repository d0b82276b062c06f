"""Dispute categories: local, configurable and versioned.

A case records the category code and the version it was filed under, so publishing a new
list never rewrites history.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from grid.errors import IssueCollector
from grid.storage_types import UTCDateTime

# The common list of DOMAIN.md §3; a county publishes its own on top.
DEFAULT_CATEGORIES: list[tuple[str, str]] = [
    ("marriage_family", "婚姻家庭"),
    ("neighbourhood", "邻里纠纷"),
    ("homestead", "房屋宅基地"),
    ("land_forest", "山林土地"),
    ("contract", "合同纠纷"),
    ("damages", "损害赔偿"),
    ("wage_arrears", "劳动争议（欠薪）"),
    ("land_acquisition", "征地拆迁"),
    ("pollution", "环境污染"),
    ("medical", "医疗纠纷"),
    ("property_management", "物业纠纷"),
    ("traffic", "交通事故"),
    ("other", "其他"),
]


class CategoryVersion(SQLModel, table=True):
    __tablename__ = "category_version"

    version: int = Field(primary_key=True)
    published_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    note: str = Field(default="", max_length=200)


class Category(SQLModel, table=True):
    __tablename__ = "category"
    __table_args__ = (UniqueConstraint("version", "code", name="uq_category_version_code"),)

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(foreign_key="category_version.version", index=True)
    code: str = Field(max_length=40)
    name: str = Field(max_length=40)
    position: int = 0


def validate_category_list(items: list[tuple[str, str]]) -> None:
    issues = IssueCollector()
    if not items:
        issues.add("categories", "categories.empty", "分类目录不能为空")
    seen: set[str] = set()
    for index, (code, name) in enumerate(items):
        if not code or not code.replace("_", "").isalnum() or not code.isascii():
            issues.add(f"categories.{index}.code", "categories.code", "分类代码须为英文字母、数字或下划线")
        if code in seen:
            issues.add(f"categories.{index}.code", "categories.duplicate", f"分类代码 {code} 重复")
        seen.add(code)
        if not name.strip():
            issues.add(f"categories.{index}.name", "categories.name", "分类名称不能为空")
    issues.raise_if_any()
