"""Errors of face clustering, as sentences a page or the CLI can show as they are."""

from __future__ import annotations

from engine.errors import VisionLabError


class ClusteringCancelled(VisionLabError):
    """``should_stop`` asked to stop while faces were being grouped; nothing was changed.

    (Stopping while a collection's photos are being read raises
    ``engine.evaluation.embedding.EmbeddingCancelled`` instead: the faces found so far are in
    the cache, so starting again resumes.)
    """


class UnknownMethod(VisionLabError):
    """A clustering method name that ``engine.clustering.methods`` does not know."""


class InvalidClusterOptions(VisionLabError, ValueError):
    """A threshold, k or smallest cluster size out of range (the message says which)."""
