"""Bulk messages from chat: each job and each recipient's state (bridge.store.bulk_jobs).

Revision ID: 0010_bulk_jobs
Revises: 0009_reason_prompts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_bulk_jobs"
down_revision = "0009_reason_prompts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bulk_jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("lms_user_id", sa.Integer, nullable=False),
        sa.Column("link_id", sa.Integer, nullable=False),
        sa.Column("course_id", sa.Integer, nullable=False),
        sa.Column("course_name", sa.String(255), nullable=False),
        sa.Column("audience", sa.String(255), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("reported", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_bulk_jobs_lms_user_id", "bulk_jobs", ["lms_user_id"])
    op.create_table(
        "bulk_recipients",
        sa.Column("job_id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("fullname", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("since", sa.Float),
    )


def downgrade() -> None:
    op.drop_table("bulk_recipients")
    op.drop_index("ix_bulk_jobs_lms_user_id", table_name="bulk_jobs")
    op.drop_table("bulk_jobs")
