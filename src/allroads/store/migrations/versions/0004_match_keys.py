"""match keys: the blocking keys of the incremental matcher, per record; an index on
entities.merged_into (protection follows merges backwards on every fuzzy link)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('match_keys',
    sa.Column('tenant_id', ID, nullable=False),
    sa.Column('entity_type', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('record_id', ID, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_match_keys_tenant_id_tenants')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_match_keys_record_id_records'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'entity_type', 'key', 'record_id', name=op.f('pk_match_keys'))
    )
    with op.batch_alter_table('match_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_match_keys_record_id'), ['record_id'], unique=False)
    op.create_index('ix_entities_merged_into', 'entities', ['merged_into'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_entities_merged_into', table_name='entities')
    with op.batch_alter_table('match_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_match_keys_record_id'))
    op.drop_table('match_keys')
