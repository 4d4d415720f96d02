"""match runs: a heartbeat (runs a stopped process left are found and ended or taken over)
and at most one queued or running run per tenant and type (a partial unique index)

Before the index is made, the tenant's older unfinished runs of a type beside a newer one
(left by processes that stopped: earlier versions did not notice) are ended as failed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 17:50:00.000000
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

import allroads.store.schema

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

ACTIVE = "status IN ('queued', 'running')"
SUPERSEDED = ("interrupted: the process running it stopped (found when the database was "
              "upgraded, beside a newer run of the same type); start a new run")


def upgrade() -> None:
    with op.batch_alter_table('match_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at',
                                      allroads.store.schema.UTCDateTime(timezone=True),
                                      nullable=True))
    runs = sa.table('match_runs', sa.column('id', sa.Integer()),
                    sa.column('tenant_id', sa.Integer()),
                    sa.column('entity_type', sa.String()), sa.column('status', sa.String()),
                    sa.column('step', sa.String()), sa.column('error', sa.Text()),
                    sa.column('finished_at', allroads.store.schema.UTCDateTime(timezone=True)))
    newer = runs.alias('newer')
    older = sa.exists().where(newer.c.tenant_id == runs.c.tenant_id,
                              newer.c.entity_type == runs.c.entity_type,
                              newer.c.status.in_(('queued', 'running')),
                              newer.c.id > runs.c.id)
    op.get_bind().execute(runs.update().where(runs.c.status.in_(('queued', 'running')), older)
                          .values(status='failed', step='failed', error=SUPERSEDED,
                                  finished_at=dt.datetime.now(dt.UTC)))
    with op.batch_alter_table('match_runs', schema=None) as batch_op:
        batch_op.create_index('ix_match_runs_active', ['tenant_id', 'entity_type'], unique=True,
                              sqlite_where=sa.text(ACTIVE), postgresql_where=sa.text(ACTIVE))


def downgrade() -> None:
    with op.batch_alter_table('match_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_match_runs_active')
        batch_op.drop_column('heartbeat_at')
