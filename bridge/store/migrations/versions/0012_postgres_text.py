"""PostgreSQL: every string column becomes TEXT, as SQLite has always treated them.

SQLite ignores a VARCHAR's length, so the declared lengths were never checked; PostgreSQL
enforces them and would refuse a value SQLite stores (a Teams conversation id in a lane,
a long Moodle group name in a bulk audience). TEXT has no length and costs PostgreSQL the
same. Alembic's own version column too: a later revision id over its 32 characters would
stop PostgreSQL only. On SQLite nothing changes.

Revision ID: 0012_postgres_text
Revises: 0011_rooms
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_postgres_text"
down_revision = "0011_rooms"
branch_labels = None
depends_on = None


def _varchar_columns() -> list[tuple[str, str, int | None]]:
    """(table, column, declared length) of every VARCHAR column of the schema."""
    inspector = sa.inspect(op.get_bind())
    return [
        (table, column["name"], column["type"].length)
        for table in inspector.get_table_names()
        for column in inspector.get_columns(table)
        if isinstance(column["type"], sa.String) and not isinstance(column["type"], sa.Text)
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, _length in _varchar_columns():
        op.alter_column(table, column, type_=sa.Text())


def downgrade() -> None:
    # The lengths are not restored: a value longer than the old length would not fit.
    return
