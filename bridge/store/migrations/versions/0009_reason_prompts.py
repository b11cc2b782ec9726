"""Open reason prompts (a decision waiting for the reason its person types) are kept in
the store, so a reason typed after a restart still decides (bridge.store.prompts).

Revision ID: 0009_reason_prompts
Revises: 0008_message_map_age
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_reason_prompts"
down_revision = "0008_message_map_age"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reason_prompts",
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("room", sa.String(255), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("workspace", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("action_id", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("answered_at", sa.Float),
        sa.PrimaryKeyConstraint("platform", "room", "message_id"),
    )


def downgrade() -> None:
    op.drop_table("reason_prompts")
