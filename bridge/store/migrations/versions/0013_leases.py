"""Replicas share one database: named leases (holder, expiry, fencing token), the live
replicas with their heartbeats, and which replica journalled an inbound event (so only a
dead replica's unfinished events are resumed by another).

Revision ID: 0013_leases
Revises: 0012_postgres_text
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_leases"
down_revision = "0012_postgres_text"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_table(
        "replicas",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("seen_at", sa.Float, nullable=False, index=True),
    )
    with op.batch_alter_table("processed_events") as batch:
        batch.add_column(sa.Column("replica", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("processed_events") as batch:
        batch.drop_column("replica")
    op.drop_table("replicas")
    op.drop_table("leases")
