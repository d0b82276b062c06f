"""archive packages

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import grid.storage_types


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A package is written once (docs/archive.md): the database refuses to change or delete
# its record, as the file itself is never replaced (fengqiao_append_only() comes from 0001).
WRITE_ONCE_TABLES = ("archive_package",)


def _make_write_once(tables: Sequence[str]) -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in tables:
        if postgresql:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION fengqiao_append_only()"
            )
            continue
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def _drop_write_once(tables: Sequence[str]) -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in tables:
        if postgresql:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def upgrade() -> None:
    op.create_table('archive_package',
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('path', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('sm3', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('closed_at', grid.storage_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', grid.storage_types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], ),
    sa.PrimaryKeyConstraint('case_id'),
    sa.UniqueConstraint('path')
    )
    _make_write_once(WRITE_ONCE_TABLES)


def downgrade() -> None:
    _drop_write_once(WRITE_ONCE_TABLES)
    op.drop_table('archive_package')
