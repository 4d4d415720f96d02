"""match features: each record's comparison features, stored with its blocking keys (a
fuzzy look-up reads its candidates' features instead of re-parsing their names)

Existing records get theirs when next written, or for all records at once with
`allroads match index --type person|account`; until then a look-up works them out from the
record as before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 02:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('match_features',
    sa.Column('record_id', ID, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('features', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'],
                            name=op.f('fk_match_features_record_id_records'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_match_features'))
    )


def downgrade() -> None:
    op.drop_table('match_features')
