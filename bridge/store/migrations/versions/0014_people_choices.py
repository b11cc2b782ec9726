"""What find, to and msg remember per link: the last numbered list and a failed `to`
(bridge.store.people).

Revision ID: 0014_people_choices
Revises: 0013_leases
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_people_choices"
down_revision = "0013_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people_choices",
        sa.Column("link_id", sa.Integer, primary_key=True),
        sa.Column("choices", sa.JSON, nullable=False),
        sa.Column("failed_to", sa.Text),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("people_choices")
