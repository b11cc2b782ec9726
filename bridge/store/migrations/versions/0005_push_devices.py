"""Push devices: one per link, mapping the push id the LMS names back to the link.

Revision ID: 0005_push_devices
Revises: 0004_link_origin
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_push_devices"
down_revision = "0004_link_origin"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_devices",
        sa.Column("link_id", sa.Integer, primary_key=True),
        sa.Column("lms_user_id", sa.Integer, nullable=False),
        sa.Column("push_id", sa.String(64), nullable=False),
        sa.Column("uuid", sa.String(64), nullable=False),
        sa.Column("appid", sa.String(255), nullable=False),
        sa.Column("added_at", sa.Integer),
        sa.Column("site_registered_at", sa.Integer),
        sa.Column("created_at", sa.Integer, nullable=False),
        sa.UniqueConstraint("push_id", name="uq_push_devices_push_id"),
    )
    op.create_index("ix_push_devices_lms_user_id", "push_devices", ["lms_user_id"])


def downgrade() -> None:
    op.drop_index("ix_push_devices_lms_user_id", table_name="push_devices")
    op.drop_table("push_devices")
