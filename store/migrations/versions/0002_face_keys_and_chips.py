"""Chips and per-face keys in the database, for galleries on a database server.

A SQLite gallery keeps its chips as files and leaves both tables empty; on PostgreSQL every
face has a key (``face_keys``) and a sealed chip (``chips``), both removed with the face
(``store.sealing`` says why).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = sa.inspect(op.get_bind())
    for table, column in (("face_keys", "key"), ("chips", "png")):
        if existing.has_table(table):  # a gallery whose revision mark was lost (0001 stamped)
            continue
        op.create_table(
            table,
            sa.Column(
                "face_id",
                sa.Text(),
                sa.ForeignKey("faces.id", ondelete="CASCADE"),
                primary_key=True,
            ),
            sa.Column(column, sa.LargeBinary(), nullable=False),
        )


def downgrade() -> None:
    op.drop_table("chips")
    op.drop_table("face_keys")
