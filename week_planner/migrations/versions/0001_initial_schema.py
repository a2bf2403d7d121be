"""initial schema: event revisions and changes, feed programmes, subscribers, reminder outbox

Revision ID: 0001
Revises: 
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('event_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.String(length=200), nullable=False),
    sa.Column('occurrence_key', sa.String(length=250), nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('snapshot', sa.Text(), nullable=False),
    sa.Column('previous', sa.Text(), nullable=True),
    sa.Column('changed_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('programme_id', 'occurrence_key', 'sequence', name='uq_event_changes_sequence')
    )
    with op.batch_alter_table('event_changes', schema=None) as batch_op:
        batch_op.create_index('ix_event_changes_programme', ['programme_id', 'changed_at'], unique=False)

    op.create_table('event_revisions',
    sa.Column('programme_id', sa.String(length=200), nullable=False),
    sa.Column('occurrence_key', sa.String(length=250), nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('snapshot', sa.Text(), nullable=False),
    sa.Column('removed', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('modified_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('programme_id', 'occurrence_key')
    )
    op.create_table('feed_programmes',
    sa.Column('programme_id', sa.String(length=200), nullable=False),
    sa.Column('snapshot', sa.Text(), nullable=False),
    sa.Column('version', sa.String(length=128), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('removed_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('programme_id')
    )
    op.create_table('reminder_occurrences',
    sa.Column('programme_id', sa.String(length=200), nullable=False),
    sa.Column('occurrence_key', sa.String(length=250), nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('programme_id', 'occurrence_key')
    )
    op.create_table('reminder_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('programme_id', sa.String(length=200), nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('occurrence_key', sa.String(length=250), nullable=False),
    sa.Column('occurrence_start', sa.DateTime(), nullable=False),
    sa.Column('offset_seconds', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=40), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('sent_by', sa.String(length=100), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('reminder_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_reminder_outbox_programme', ['programme_id', 'status'], unique=False)
        batch_op.create_index('ix_reminder_outbox_status_next', ['status', 'next_attempt_at'], unique=False)

    op.create_table('subscribers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.String(length=200), nullable=False),
    sa.Column('scope', sa.String(length=250), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('code_hash', sa.String(length=128), nullable=True),
    sa.Column('code_attempts', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('programme_id', 'scope', 'channel', 'address', name='uq_subscribers_scope_address')
    )


def downgrade() -> None:
    op.drop_table('subscribers')
    with op.batch_alter_table('reminder_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_reminder_outbox_status_next')
        batch_op.drop_index('ix_reminder_outbox_programme')

    op.drop_table('reminder_outbox')
    op.drop_table('reminder_occurrences')
    op.drop_table('feed_programmes')
    op.drop_table('event_revisions')
    with op.batch_alter_table('event_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_event_changes_programme')

    op.drop_table('event_changes')
