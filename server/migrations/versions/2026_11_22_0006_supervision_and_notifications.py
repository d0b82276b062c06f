"""supervision and notifications

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import grid.storage_types


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The 包案 history is a record: an assignment is replaced or ended by a new row, and the
# database refuses to change or delete one (fengqiao_append_only() comes from 0001).
APPEND_ONLY_TABLES = ("case_lead",)


def _make_append_only(tables: Sequence[str]) -> None:
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


def _drop_append_only(tables: Sequence[str]) -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in tables:
        if postgresql:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def upgrade() -> None:
    op.create_table('case_lead',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('leader_id', sa.Uuid(), nullable=True),
    sa.Column('leader_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('measures', sa.Text(), nullable=True),
    sa.Column('target_date', sa.Date(), nullable=True),
    sa.Column('responsibility', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('at', grid.storage_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('by_id', sa.Uuid(), nullable=False),
    sa.Column('by_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['by_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], ),
    sa.ForeignKeyConstraint(['leader_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'seq', name='uq_case_lead_case_seq')
    )
    with op.batch_alter_table('case_lead', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_lead_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_lead_leader_id'), ['leader_id'], unique=False)

    op.create_table('case_supervision',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('trigger_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('supervising_level', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('supervised_level', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('supervised_node_code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('opened_at', grid.storage_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('opened_by', sa.Uuid(), nullable=True),
    sa.Column('reply_due_at', grid.storage_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reply_last_day', sa.Date(), nullable=False),
    sa.Column('reply_text', sa.Text(), nullable=True),
    sa.Column('replied_at', grid.storage_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('replied_by', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], ),
    sa.ForeignKeyConstraint(['opened_by'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['replied_by'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['supervised_node_code'], ['region.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'trigger_key', name='uq_case_supervision_case_trigger')
    )
    with op.batch_alter_table('case_supervision', schema=None) as batch_op:
        batch_op.create_index('ix_case_supervision_case_opened', ['case_id', 'opened_at'], unique=False)
        batch_op.create_index('ix_case_supervision_open_due', ['replied_at', 'reply_due_at'], unique=False)

    op.create_table('notification',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('dedupe_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=True),
    sa.Column('recipient_id', sa.Uuid(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', grid.storage_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', grid.storage_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', grid.storage_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('claim_token', sa.Uuid(), nullable=True),
    sa.Column('claimed_until', grid.storage_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('read_at', grid.storage_types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], ),
    sa.ForeignKeyConstraint(['recipient_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key', 'recipient_id', name='uq_notification_dedupe_recipient')
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_notification_due', ['delivered_at', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_notification_recipient_created', ['recipient_id', 'created_at', 'id'], unique=False)

    _make_append_only(APPEND_ONLY_TABLES)


def downgrade() -> None:
    _drop_append_only(APPEND_ONLY_TABLES)
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_recipient_created')
        batch_op.drop_index('ix_notification_due')
        batch_op.drop_index(batch_op.f('ix_notification_case_id'))

    op.drop_table('notification')
    with op.batch_alter_table('case_supervision', schema=None) as batch_op:
        batch_op.drop_index('ix_case_supervision_open_due')
        batch_op.drop_index('ix_case_supervision_case_opened')

    op.drop_table('case_supervision')
    with op.batch_alter_table('case_lead', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_lead_leader_id'))
        batch_op.drop_index(batch_op.f('ix_case_lead_case_id'))

    op.drop_table('case_lead')
