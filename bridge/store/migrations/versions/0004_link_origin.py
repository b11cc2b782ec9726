"""Where and when each link was made, and the chat account a sign-in code is for.

``links.origin`` says how the link came about (the sign-in page and the client address,
a web code sent in chat, an operator's import); ``link_codes.account`` keeps the chat
account's name, handle, workspace and picture so the sign-in page can show whom the
Pluto messages will go to; ``link_codes.origin`` carries a web sign-in's origin to the
link made when its code is sent in chat.

Revision ID: 0004_link_origin
Revises: 0003_runtime
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_link_origin"
down_revision = "0003_runtime"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("links", sa.Column("origin", sa.Text, nullable=False, server_default=""))
    op.add_column("link_codes", sa.Column("account", sa.JSON))
    op.add_column("link_codes", sa.Column("origin", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("link_codes") as batch:
        batch.drop_column("origin")
        batch.drop_column("account")
    with op.batch_alter_table("links") as batch:
        batch.drop_column("origin")
