"""The gallery's tables, declared once for every database it runs on (SQLAlchemy Core).

SQLite (the embedded default) and PostgreSQL get the same tables from this one declaration:
SQLAlchemy writes each dialect's DDL (an embedding is a ``BLOB`` in SQLite, a ``bytea`` in
PostgreSQL). Galleries made before this module existed have exactly these tables, created by
hand-written DDL: ``create_all`` finds them and leaves them as they are.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

collections = Table(
    "collections",
    metadata,
    Column("model_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("embedding_dim", Integer, nullable=False),
    Column("created", Text, nullable=False),
)

people = Table(
    "people",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("name_key", Text, nullable=False, unique=True),
    Column("notes", Text, nullable=False, server_default=""),
    Column("created", Text, nullable=False),
)

faces = Table(
    "faces",
    metadata,
    Column("id", Text, primary_key=True),
    Column("person_id", Text, ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
    Column("model_id", Text, ForeignKey("collections.model_id"), nullable=False),
    Column("embedding", LargeBinary, nullable=False),
    Column("image_sha256", Text, nullable=False),
    Column("box_left", Float, nullable=False),
    Column("box_top", Float, nullable=False),
    Column("box_right", Float, nullable=False),
    Column("box_bottom", Float, nullable=False),
    Column("landmarks", Text, nullable=False),
    Column("score", Float, nullable=False),
    Column("created", Text, nullable=False),
)
Index("faces_by_person", faces.c.person_id)
Index("faces_by_image", faces.c.model_id, faces.c.image_sha256)

face_keys = Table(
    "face_keys",
    metadata,
    Column("face_id", Text, ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True),
    Column("key", LargeBinary, nullable=False),
)
"""On a database server: each face's key, which opens its sealed embedding and chip
(``store.sealing``). Empty in a SQLite gallery."""

chips = Table(
    "chips",
    metadata,
    Column("face_id", Text, ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True),
    Column("png", LargeBinary, nullable=False),
)
"""On a database server: each face's chip PNG, sealed. A SQLite gallery keeps chips as files."""
