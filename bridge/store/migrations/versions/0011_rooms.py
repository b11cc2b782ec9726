"""Group rooms: room links, the LMS messages the bridge sent from each room, who is in a
room, and when a person was last told something about a room (bridge.store.rooms).

Revision ID: 0011_rooms
Revises: 0010_bulk_jobs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_rooms"
down_revision = "0010_bulk_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room_links",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False, server_default=""),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("service_url", sa.Text, nullable=False, server_default=""),
        sa.Column("room_name", sa.String(255), nullable=False, server_default=""),
        sa.Column("conversation_id", sa.Integer),
        sa.Column("conversation_name", sa.String(255), nullable=False, server_default=""),
        sa.Column("linker_lms_user_id", sa.Integer, nullable=False),
        sa.Column("linker_chat_user_id", sa.String(128), nullable=False),
        sa.Column("reader_lms_user_id", sa.Integer),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("paused_at", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("watermark", sa.Integer, nullable=False, server_default="0"),
        sa.Column("seen_ids", sa.JSON, nullable=False),
        sa.UniqueConstraint("platform", "workspace", "room_id", name="uq_room_links_room"),
    )
    op.create_index("ix_room_links_conversation_id", "room_links", ["conversation_id"])
    op.create_table(
        "room_echoes",
        sa.Column("lms_message_id", sa.Integer, primary_key=True),
        sa.Column("room_link_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False, index=True),
    )
    op.create_table(
        "room_members",
        sa.Column("room_link_id", sa.Integer, primary_key=True),
        sa.Column("chat_user_id", sa.String(128), primary_key=True),
        sa.Column("present", sa.Integer, nullable=False),
        sa.Column("display_name", sa.String(255), nullable=False, server_default=""),
        sa.Column("seen_at", sa.Float, nullable=False),
    )
    op.create_table(
        "room_told",
        sa.Column("who", sa.String(255), primary_key=True),
        sa.Column("topic", sa.String(64), primary_key=True),
        sa.Column("told_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("room_told")
    op.drop_table("room_members")
    op.drop_table("room_echoes")
    op.drop_index("ix_room_links_conversation_id", table_name="room_links")
    op.drop_table("room_links")
