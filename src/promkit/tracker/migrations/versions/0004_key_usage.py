"""Durable ingestion counts per API key (accepted and rejected samples).

Written behind by the series store with the series deltas, so they survive restarts and add
up across instances; ``last_used_at`` (present since 0001) is now kept up to date too.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("samples_accepted", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("samples_rejected", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("samples_rejected")
        batch_op.drop_column("samples_accepted")
