"""screening reports (排查)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import grid.storage_types


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('screening_report',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('level', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('cadence', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('sensitive', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('zero_report', sa.Boolean(), nullable=False),
    sa.Column('found_count', sa.Integer(), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('case_ids', sa.JSON(), nullable=False),
    sa.Column('submitted_by', sa.Uuid(), nullable=False),
    sa.Column('submitted_at', grid.storage_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('captured_at', grid.storage_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['region_code'], ['region.code'], ),
    sa.ForeignKeyConstraint(['submitted_by'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('region_code', 'period_start', name='uq_screening_report_region_period')
    )
    with op.batch_alter_table('screening_report', schema=None) as batch_op:
        batch_op.create_index('ix_screening_report_period', ['period_start', 'period_end'], unique=False)
        batch_op.create_index('ix_screening_report_submitted', ['submitted_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_screening_report_submitted_by'), ['submitted_by'], unique=False)

    op.create_table('screening_reminder',
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('remind_at', grid.storage_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('sent_at', grid.storage_types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['region_code'], ['region.code'], ),
    sa.PrimaryKeyConstraint('region_code', 'period_start', 'remind_at')
    )


def downgrade() -> None:
    op.drop_table('screening_reminder')
    with op.batch_alter_table('screening_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_screening_report_submitted_by'))
        batch_op.drop_index('ix_screening_report_submitted')
        batch_op.drop_index('ix_screening_report_period')

    op.drop_table('screening_report')
