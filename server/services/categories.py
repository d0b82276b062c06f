"""The versioned dispute category list."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import col, select

from grid.categories import DEFAULT_CATEGORIES, Category, CategoryVersion, validate_category_list
from server.errors import ServiceError
from server.principal import Principal
from server.services.context import ServiceContext


class CategoryService:
    def __init__(self, context: ServiceContext):
        self.context = context

    async def current(self) -> tuple[int | None, list[Category]]:
        async with self.context.db.read() as session:
            version = (await session.exec(select(func.max(CategoryVersion.version)))).one()
            if version is None:
                return None, []
            rows = await session.exec(
                select(Category).where(Category.version == version).order_by(col(Category.position))
            )
            return int(version), list(rows.all())

    async def publish(self, items: list[tuple[str, str]], *, note: str = "", by: Principal | None = None) -> int:
        """Publish a new version; cases keep the version they were filed under."""
        if by is not None and not by.is_admin:
            raise ServiceError("只有管理员可以发布分类目录", code="auth.forbidden")
        validate_category_list(items)
        async with self.context.db.write() as session:
            latest = (await session.exec(select(func.max(CategoryVersion.version)))).one()
            version = (latest or 0) + 1
            session.add(CategoryVersion(version=version, published_at=self.context.clock.now(), note=note))
            await session.flush()
            for position, (code, name) in enumerate(items):
                session.add(Category(version=version, code=code, name=name, position=position))
        return version

    async def ensure_default(self) -> int:
        version, _ = await self.current()
        if version is not None:
            return version
        return await self.publish(DEFAULT_CATEGORIES, note="默认分类目录")
