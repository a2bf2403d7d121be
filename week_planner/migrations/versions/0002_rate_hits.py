"""rate_hits: subscription requests counted in the database, shared by every process

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rate_hits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_rate_hits_key_at', 'rate_hits', ['key', 'at'], unique=False)
    op.create_index('ix_rate_hits_at', 'rate_hits', ['at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_rate_hits_at', table_name='rate_hits')
    op.drop_index('ix_rate_hits_key_at', table_name='rate_hits')
    op.drop_table('rate_hits')
