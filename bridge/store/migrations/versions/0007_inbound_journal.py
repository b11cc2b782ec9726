"""Inbound events are journalled before the platform is acknowledged (their content and
whether handling finished); a delivery records when its send began ("sending") and since
when it has been failing (transient failures are retried for a time, not a count).

Revision ID: 0007_inbound_journal
Revises: 0006_api
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_inbound_journal"
down_revision = "0006_api"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("processed_events") as batch:
        # Rows from before were handled to the end: "done".
        batch.add_column(sa.Column("status", sa.String(8), nullable=False, server_default="done"))
        batch.add_column(sa.Column("event", sa.JSON))
        batch.add_column(sa.Column("received_at", sa.Float))
        batch.create_index("ix_processed_events_status", ["status"])
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("sending_at", sa.Float))
        batch.add_column(sa.Column("failing_since", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("failing_since")
        batch.drop_column("sending_at")
    with op.batch_alter_table("processed_events") as batch:
        batch.drop_index("ix_processed_events_status")
        batch.drop_column("received_at")
        batch.drop_column("event")
        batch.drop_column("status")
