"""case leads, extension requests and recusals

Organ heads (organ_head), extension requests of the handling period (extension_request,
信访工作条例 Art. 34) and recusals (case_recusal, Art. 28). 包案 (case_lead) is in 0006.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import grid.storage_types

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('organ_head',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('node_code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('designated_at', grid.storage_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('designated_by', sa.Uuid(), nullable=True),
    sa.Column('revoked_at', grid.storage_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['designated_by'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['node_code'], ['region.code'], ),
    sa.ForeignKeyConstraint(['revoked_by'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('organ_head', schema=None) as batch_op:
        batch_op.create_index('ix_organ_head_node_revoked', ['node_code', 'revoked_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_organ_head_user_id'), ['user_id'], unique=False)

    op.create_table('extension_request',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('organ_node_code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('requested_by', sa.Uuid(), nullable=False),
    sa.Column('requested_by_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('requested_at', grid.storage_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('decided_by', sa.Uuid(), nullable=True),
    sa.Column('decided_by_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('decided_at', grid.storage_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], ),
    sa.ForeignKeyConstraint(['decided_by'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['organ_node_code'], ['region.code'], ),
    sa.ForeignKeyConstraint(['requested_by'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('extension_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_extension_request_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_extension_request_organ_status', ['organ_node_code', 'status'], unique=False)

    op.create_table('case_recusal',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('user_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('party_id', sa.Uuid(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('recorded_by', sa.Uuid(), nullable=False),
    sa.Column('recorded_by_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('recorded_at', grid.storage_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lifted_at', grid.storage_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lifted_by', sa.Uuid(), nullable=True),
    sa.Column('lifted_by_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('lift_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], ),
    sa.ForeignKeyConstraint(['lifted_by'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['party_id'], ['case_party.id'], ),
    sa.ForeignKeyConstraint(['recorded_by'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('case_recusal', schema=None) as batch_op:
        batch_op.create_index('ix_case_recusal_case_user', ['case_id', 'user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_recusal_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case_recusal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_recusal_user_id'))
        batch_op.drop_index('ix_case_recusal_case_user')

    op.drop_table('case_recusal')
    with op.batch_alter_table('extension_request', schema=None) as batch_op:
        batch_op.drop_index('ix_extension_request_organ_status')
        batch_op.drop_index(batch_op.f('ix_extension_request_case_id'))

    op.drop_table('extension_request')
    with op.batch_alter_table('organ_head', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organ_head_user_id'))
        batch_op.drop_index('ix_organ_head_node_revoked')

    op.drop_table('organ_head')
