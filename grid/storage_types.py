"""Column types shared by the domain's table declarations."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import String
from sqlalchemy.types import DateTime, TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores instants in UTC and always returns aware datetimes.

    SQLite has no time zone type and hands back naive values; deadline code compares
    instants, so a naive value would be a bug waiting for the first comparison.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def byte_ordered_string(length: int | None = None) -> String:
    """A string column compared byte by byte on every backend.

    Subtree queries are range scans over materialised paths; PostgreSQL's default
    linguistic collation ignores the '/' separators and would break the ranges.
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")  # type: ignore[return-value]
