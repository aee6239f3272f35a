"""The gallery's tables as every gallery before Alembic had them (schema version 1).

Revision ID: 0001
Revises:
Create Date: 2026-12-03
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
        "meta",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "collections",
        sa.Column("model_id", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("embedding_dim", sa.Integer(), nullable=False),
        sa.Column("created", sa.Text(), nullable=False),
    )
    op.create_table(
        "people",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_key", sa.Text(), nullable=False, unique=True),
        sa.Column("notes", sa.Text(), nullable=False, server_default=""),
        sa.Column("created", sa.Text(), nullable=False),
    )
    op.create_table(
        "faces",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column(
            "person_id",
            sa.Text(),
            sa.ForeignKey("people.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("model_id", sa.Text(), sa.ForeignKey("collections.model_id"), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("image_sha256", sa.Text(), nullable=False),
        sa.Column("box_left", sa.Float(), nullable=False),
        sa.Column("box_top", sa.Float(), nullable=False),
        sa.Column("box_right", sa.Float(), nullable=False),
        sa.Column("box_bottom", sa.Float(), nullable=False),
        sa.Column("landmarks", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("created", sa.Text(), nullable=False),
    )
    op.create_index("faces_by_person", "faces", ["person_id"])
    op.create_index("faces_by_image", "faces", ["model_id", "image_sha256"])


def downgrade() -> None:
    op.drop_table("faces")
    op.drop_table("people")
    op.drop_table("collections")
    op.drop_table("meta")
