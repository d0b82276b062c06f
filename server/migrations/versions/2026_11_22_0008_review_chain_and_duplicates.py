"""review chain and duplicates

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 12:00:00

A blind index of each party's phone (with the name: "same petitioner" without an ID
number), the duplicate link of a repeat petition (信访工作条例 Art. 19 ¶3) and the 越级
record (Art. 20 ¶1). The review holders live in the case's lifecycle JSON: no column.

Parties stored before this revision have no phone index (computing one needs the data
key, which migrations do not hold): they are found by ID number only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import grid.storage_types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_party", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone_index", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_case_party_phone_index"), ["phone_index"], unique=False)

    op.create_table(
        "case_duplicate",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("original_id", sa.Uuid(), nullable=False),
        sa.Column("matched_id", sa.Uuid(), nullable=False),
        sa.Column("basis", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("original_status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("original_open", sa.Boolean(), nullable=False),
        sa.Column("detected_at", grid.storage_types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
        ),
        sa.ForeignKeyConstraint(
            ["matched_id"],
            ["case_file.id"],
        ),
        sa.ForeignKeyConstraint(
            ["original_id"],
            ["case_file.id"],
        ),
        sa.PrimaryKeyConstraint("case_id"),
    )
    with op.batch_alter_table("case_duplicate", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_duplicate_original_id"), ["original_id"], unique=False)

    op.create_table(
        "case_skip_level",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("registered_level", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("expected_level", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("rule", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("detected_at", grid.storage_types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
        ),
        sa.PrimaryKeyConstraint("case_id"),
    )


def downgrade() -> None:
    op.drop_table("case_skip_level")
    with op.batch_alter_table("case_duplicate", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_duplicate_original_id"))

    op.drop_table("case_duplicate")
    with op.batch_alter_table("case_party", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_party_phone_index"))
        batch_op.drop_column("phone_index")
