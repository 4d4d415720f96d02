"""matching: match settings, match runs, match candidates (the review queue)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 17:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import Text

import allroads.store.schema

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')
UTC = allroads.store.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('match_settings',
    sa.Column('tenant_id', ID, nullable=False),
    sa.Column('entity_type', sa.String(length=16), nullable=False),
    sa.Column('parameters', JSON, nullable=True),
    sa.Column('link_threshold', sa.Float(), nullable=False),
    sa.Column('review_threshold', sa.Float(), nullable=False),
    sa.Column('trained_at', UTC, nullable=True),
    sa.Column('updated_at', UTC, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_match_settings_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', 'entity_type', name=op.f('pk_match_settings'))
    )
    op.create_table('match_runs',
    sa.Column('id', ID, nullable=False),
    sa.Column('tenant_id', ID, nullable=False),
    sa.Column('public_id', sa.String(length=40), nullable=False),
    sa.Column('entity_type', sa.String(length=16), nullable=False),
    sa.Column('engine', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('step', sa.String(length=32), server_default='', nullable=False),
    sa.Column('progress', sa.Float(), server_default='0', nullable=False),
    sa.Column('counts', JSON, nullable=False),
    sa.Column('timings', JSON, nullable=False),
    sa.Column('training', JSON, nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('started_at', UTC, nullable=True),
    sa.Column('finished_at', UTC, nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_match_runs_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_match_runs')),
    sa.UniqueConstraint('public_id', name=op.f('uq_match_runs_public_id'))
    )
    with op.batch_alter_table('match_runs', schema=None) as batch_op:
        batch_op.create_index('ix_match_runs_tenant_created', ['tenant_id', 'created_at'], unique=False)

    op.create_table('match_candidates',
    sa.Column('id', ID, nullable=False),
    sa.Column('tenant_id', ID, nullable=False),
    sa.Column('public_id', sa.String(length=40), nullable=False),
    sa.Column('entity_type', sa.String(length=16), nullable=False),
    sa.Column('entity_a', ID, nullable=False),
    sa.Column('entity_b', ID, nullable=False),
    sa.Column('record_a', ID, nullable=False),
    sa.Column('record_b', ID, nullable=False),
    sa.Column('probability', sa.Float(), nullable=False),
    sa.Column('match_weight', sa.Float(), nullable=False),
    sa.Column('breakdown', JSON, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('run_id', ID, nullable=True),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('decided_at', UTC, nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_match_candidates_tenant_id_tenants')),
    sa.ForeignKeyConstraint(['entity_a'], ['entities.id'], name=op.f('fk_match_candidates_entity_a_entities')),
    sa.ForeignKeyConstraint(['entity_b'], ['entities.id'], name=op.f('fk_match_candidates_entity_b_entities')),
    sa.ForeignKeyConstraint(['record_a'], ['records.id'], name=op.f('fk_match_candidates_record_a_records')),
    sa.ForeignKeyConstraint(['record_b'], ['records.id'], name=op.f('fk_match_candidates_record_b_records')),
    sa.ForeignKeyConstraint(['run_id'], ['match_runs.id'], name=op.f('fk_match_candidates_run_id_match_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_match_candidates')),
    sa.UniqueConstraint('public_id', name=op.f('uq_match_candidates_public_id'))
    )
    with op.batch_alter_table('match_candidates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_match_candidates_entity_a'), ['entity_a'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_candidates_entity_b'), ['entity_b'], unique=False)
        batch_op.create_index('ix_match_candidates_tenant_status', ['tenant_id', 'status', 'id'], unique=False)
        batch_op.create_index('ix_match_candidates_open_pair', ['tenant_id', 'entity_a', 'entity_b'],
                              unique=True, sqlite_where=sa.text("status = 'open'"),
                              postgresql_where=sa.text("status = 'open'"))


def downgrade() -> None:
    with op.batch_alter_table('match_candidates', schema=None) as batch_op:
        batch_op.drop_index('ix_match_candidates_open_pair')
        batch_op.drop_index('ix_match_candidates_tenant_status')
        batch_op.drop_index(batch_op.f('ix_match_candidates_entity_b'))
        batch_op.drop_index(batch_op.f('ix_match_candidates_entity_a'))

    op.drop_table('match_candidates')
    with op.batch_alter_table('match_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_match_runs_tenant_created')

    op.drop_table('match_runs')
    op.drop_table('match_settings')
