"""Group conversations each person muted in Pluto (bridge.store.mutes), kept in the store
so every replica and every later process knows them.

Revision ID: 0015_group_mutes
Revises: 0014_people_choices
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_group_mutes"
down_revision = "0014_people_choices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "group_mutes",
        sa.Column("lms_user_id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("group_mutes")
