"""The face gallery: people and their enrolled faces, persisted behind one small API.

SQLite (metadata + a copy of each embedding), PNG chips on disk, and Chroma as the
nearest-neighbour index, one collection per embedding model. See ``store.gallery``.
"""

from store.errors import (
    AmbiguousPerson,
    CorruptStore,
    FaceNotFound,
    GalleryError,
    InvalidExport,
    InvalidName,
    ModelMismatch,
    NameTaken,
    PersonNotFound,
    StorageFull,
    StoreBusy,
    StoreFault,
    StoreUnavailable,
    StoreWriteFailed,
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
    "AmbiguousPerson",
    "CorruptStore",
    "EnrollResult",
    "FaceNotFound",
    "Gallery",
    "GalleryError",
    "ImportSummary",
    "InvalidExport",
    "InvalidName",
    "Match",
    "ModelMismatch",
    "NameTaken",
    "NewFace",
    "Person",
    "PersonNotFound",
    "ReconcileReport",
    "StorageFull",
    "StoreBusy",
    "StoreFault",
    "StoreUnavailable",
    "StoreWriteFailed",
    "StoredFace",
    "collection_name",
]
