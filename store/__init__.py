"""The face gallery: people and their enrolled faces, persisted behind one small API.

SQLite (metadata + a copy of each embedding), PNG chips on disk, and Chroma as the
nearest-neighbour index, one collection per embedding model. See ``store.gallery``.
"""

from store.errors import (
    CorruptStore,
    FaceNotFound,
    GalleryError,
    InvalidExport,
    ModelMismatch,
    NameTaken,
    PersonNotFound,
    StoreUnavailable,
)
from store.gallery import (
    DEFAULT_EMBEDDING_DIM,
    DEFAULT_MODEL_ID,
    EnrollResult,
    Gallery,
    ImportSummary,
    Match,
    NewFace,
    Person,
    ReconcileReport,
    StoredFace,
)
from store.index import HNSW_TUNED, collection_name

__all__ = [
    "DEFAULT_EMBEDDING_DIM",
    "DEFAULT_MODEL_ID",
    "HNSW_TUNED",
    "CorruptStore",
    "EnrollResult",
    "FaceNotFound",
    "Gallery",
    "GalleryError",
    "ImportSummary",
    "InvalidExport",
    "Match",
    "ModelMismatch",
    "NameTaken",
    "NewFace",
    "Person",
    "PersonNotFound",
    "ReconcileReport",
    "StoreUnavailable",
    "StoredFace",
    "collection_name",
]
