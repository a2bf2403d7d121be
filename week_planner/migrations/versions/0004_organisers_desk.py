"""organisers' desk: organisers, their programmes, sign-in links, sessions, versions

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('organisers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('all_programmes', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email')
    )
    op.create_table('organiser_programmes',
    sa.Column('organiser_id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['organiser_id'], ['organisers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organiser_id', 'programme_id')
    )
    op.create_table('organiser_links',
    sa.Column('key_digest', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('key_digest')
    )
    op.create_index('ix_organiser_links_expires', 'organiser_links', ['expires_at'],
                    unique=False)
    op.create_table('organiser_sessions',
    sa.Column('key_digest', sa.String(length=64), nullable=False),
    sa.Column('organiser_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organiser_id'], ['organisers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key_digest')
    )
    op.create_table('programme_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('published_by', sa.String(length=320), nullable=True),
    sa.Column('published_at', sa.DateTime(), nullable=False),
    sa.Column('restored_from', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_programme_versions_programme', 'programme_versions',
                    ['programme_id', 'published_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_programme_versions_programme', table_name='programme_versions')
    op.drop_table('programme_versions')
    op.drop_table('organiser_sessions')
    op.drop_index('ix_organiser_links_expires', table_name='organiser_links')
    op.drop_table('organiser_links')
    op.drop_table('organiser_programmes')
    op.drop_table('organisers')
