"""Send Message API: hashed API keys, jobs (with their Idempotency-Key) and per-recipient
outcomes.

Revision ID: 0006_api
Revises: 0005_push_devices
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_api"
down_revision = "0005_push_devices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("sender_user_id", sa.Integer, nullable=False),
        sa.Column("sender_username", sa.String(255), nullable=False),
        sa.Column("sender_fullname", sa.String(255), nullable=False, server_default=""),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("rate_per_minute", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Integer, nullable=False),
        sa.Column("last_used_at", sa.Integer),
        sa.Column("revoked_at", sa.Integer),
    )
    op.create_table(
        "api_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("key_id", sa.Integer, nullable=False),
        sa.Column("idempotency_key", sa.String(255)),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.UniqueConstraint("key_id", "idempotency_key", name="uq_api_jobs_idempotency"),
    )
    op.create_table(
        "api_recipients",
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("lms_user_id", sa.Integer),
        sa.Column("fullname", sa.String(255), nullable=False, server_default=""),
        sa.Column("chat", sa.String(16), nullable=False, server_default=""),
        sa.Column("chat_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("chat_after", sa.Float),
        sa.Column("pluto", sa.String(16), nullable=False, server_default=""),
        sa.Column("pluto_reason", sa.Text, nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("api_recipients")
    op.drop_table("api_jobs")
    op.drop_table("api_keys")
