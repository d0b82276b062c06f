"""escalation sweeps

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import grid.storage_types


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_check_at', grid.storage_types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_case_file_next_check', ['next_check_at', 'id'], unique=False)
    # Cases stored before the sweeper existed: due for a first evaluation, which stores
    # their real next check (and acts on whatever is already overdue).
    op.execute("UPDATE case_file SET next_check_at = registered_at WHERE status <> 'closed'")

    op.create_table('escalation_trigger',
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('trigger_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('rule_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('policy_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('policy_version', sa.Integer(), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('at', grid.storage_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('applied_at', grid.storage_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], ),
    sa.PrimaryKeyConstraint('case_id', 'trigger_key')
    )
    op.create_table('scheduler_lease',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('holder', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('expires_at', grid.storage_types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('scheduler_lease')
    op.drop_table('escalation_trigger')
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.drop_index('ix_case_file_next_check')
        batch_op.drop_column('next_check_at')
