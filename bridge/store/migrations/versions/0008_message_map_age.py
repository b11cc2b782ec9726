"""The message map records when each row was written, so rows older than
``store.message_map_retention_days`` can be pruned. Rows from before count from this
upgrade (their age is not known).

Revision ID: 0008_message_map_age
Revises: 0007_inbound_journal
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0008_message_map_age"
down_revision = "0007_inbound_journal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message_map") as batch:
        batch.add_column(sa.Column("created_at", sa.Float))
        batch.create_index("ix_message_map_created_at", ["created_at"])
    op.execute(sa.text("UPDATE message_map SET created_at = :now").bindparams(now=time.time()))


def downgrade() -> None:
    with op.batch_alter_table("message_map") as batch:
        batch.drop_index("ix_message_map_created_at")
        batch.drop_column("created_at")
