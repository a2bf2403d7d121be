"""subscribers.link_key: unsubscribe links name a subscription by a random key, not its id

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('link_key', sa.String(length=64), nullable=True))
    # Every subscription there is gets its key now, so that the next reminder it is sent
    # carries the new kind of link (the links in mails already sent keep working).
    subscribers = sa.table('subscribers', sa.column('id', sa.Integer),
                           sa.column('link_key', sa.String))
    connection = op.get_bind()
    ids = [row.id for row in connection.execute(sa.select(subscribers.c.id))]
    for subscriber_id in ids:
        connection.execute(sa.update(subscribers).where(subscribers.c.id == subscriber_id)
                           .values(link_key=secrets.token_urlsafe(24)))
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.create_index('ix_subscribers_link_key', ['link_key'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.drop_index('ix_subscribers_link_key')
        batch_op.drop_column('link_key')
