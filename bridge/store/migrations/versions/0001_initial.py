"""Initial tables: links, contacts, link codes, cursors, conversations, outbox, message map,
conversation threads, processed events, preferences.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "links",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("chat_user_id", sa.String(128), nullable=False),
        sa.Column("lms_user_id", sa.Integer, nullable=False, index=True),
        sa.Column("lms_username", sa.String(255), nullable=False),
        sa.Column("lms_fullname", sa.String(255), nullable=False),
        sa.Column("token_enc", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text, nullable=False),
        sa.Column("room", sa.String(255)),
        sa.Column("address", sa.JSON),
        sa.Column("current_conversation_id", sa.Integer),
        sa.Column("current_peer_id", sa.Integer),
        sa.Column("created_at", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Integer, nullable=False),
        sa.UniqueConstraint("platform", "workspace", "chat_user_id", name="uq_links_identity"),
    )
    op.create_table(
        "contacts",
        sa.Column("platform", sa.String(16), primary_key=True),
        sa.Column("workspace", sa.String(64), primary_key=True),
        sa.Column("chat_user_id", sa.String(128), primary_key=True),
        sa.Column("display_name", sa.String(255), nullable=False),
        sa.Column("room", sa.String(255)),
        sa.Column("address", sa.JSON),
        sa.Column("last_seen", sa.Integer, nullable=False),
    )
    op.create_table(
        "link_codes",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("platform", sa.String(16)),
        sa.Column("workspace", sa.String(64)),
        sa.Column("chat_user_id", sa.String(128)),
        sa.Column("token_enc", sa.Text),
        sa.Column("lms_user_id", sa.Integer),
        sa.Column("lms_username", sa.String(255)),
        sa.Column("lms_fullname", sa.String(255)),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.Integer, nullable=False),
        sa.Column("used_at", sa.Integer),
    )
    op.create_table(
        "cursors",
        sa.Column("lms_user_id", sa.Integer, primary_key=True),
        sa.Column("scope", sa.String(64), primary_key=True),
        sa.Column("watermark", sa.Integer, nullable=False),
        sa.Column("seen_ids", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.Integer, nullable=False),
    )
    op.create_table(
        "conversations",
        sa.Column("lms_user_id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, primary_key=True),
        sa.Column("type", sa.Integer, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("peer_id", sa.Integer),
        sa.Column("last_time", sa.Integer, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item_key", sa.String(64), nullable=False),
        sa.Column("link_id", sa.Integer, nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("lane", sa.String(255), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("refs", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("sent_at", sa.Float),
        sa.UniqueConstraint("item_key", "link_id", name="uq_outbox_item_link"),
    )
    op.create_index("ix_outbox_status_lane", "outbox", ["status", "lane", "id"])
    op.create_table(
        "message_map",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item_key", sa.String(64), nullable=False, index=True),
        sa.Column("link_id", sa.Integer, nullable=False),
        sa.Column("lms_user_id", sa.Integer, nullable=False),
        sa.Column("conversation_id", sa.Integer),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("room", sa.String(255), nullable=False),
        sa.Column("remote_id", sa.String(255), nullable=False),
        sa.Column("thread", sa.String(255)),
        sa.Column("part", sa.Integer, nullable=False),
        sa.UniqueConstraint("platform", "workspace", "room", "remote_id", name="uq_message_map_remote"),
    )
    op.create_table(
        "conversation_threads",
        sa.Column("link_id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, primary_key=True),
        sa.Column("thread", sa.String(255), nullable=False),
    )
    op.create_table(
        "processed_events",
        sa.Column("platform", sa.String(16), primary_key=True),
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("processed_at", sa.Integer, nullable=False, index=True),
    )
    op.create_table(
        "preferences",
        sa.Column("lms_user_id", sa.Integer, primary_key=True),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "preferences",
        "processed_events",
        "conversation_threads",
        "message_map",
        "outbox",
        "conversations",
        "cursors",
        "link_codes",
        "contacts",
        "links",
    ):
        op.drop_table(table)
