"""Items that need an answer or an acknowledgement (alerts, tasks, contact requests), with
their short ids for chat commands and their state; held deliveries for quiet hours.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("lms_user_id", sa.Integer, primary_key=True),
        sa.Column("item_key", sa.String(64), primary_key=True),
        sa.Column("short_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("created", sa.Integer, nullable=False),
        sa.Column("lms_id", sa.Integer),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("handled_at", sa.Integer),
        sa.UniqueConstraint("lms_user_id", "short_id", name="uq_items_short"),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("held_until", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("held_until")
    op.drop_table("items")
