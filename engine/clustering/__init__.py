"""Discover the people of an unlabelled photo collection: face clustering.

    collection = collect_faces(pipeline, "photos.zip", cache_dir=cache)     # every face
    clustering = cluster_embeddings(collection.embeddings, collection.face_ids,
                                    ClusterOptions(threshold=0.5), matcher=matcher)
    later = extend_clustering(clustering, collection.embeddings, new.embeddings, new.face_ids)

One module per step: ``sources`` (folder / zip / uploads, bounded), ``collection`` (faces through
the pipeline, cached by ``face_cache``), ``neighbours`` (exact k-NN graph, O(N·k) memory),
``methods`` (the algorithms by name; ``chinese_whispers`` is ours), ``batch`` and
``incremental`` (run them), ``results`` (clusters, spread, singletons), ``edits`` (merge, move
faces out), ``matching`` (the enrolled person a cluster is), ``metrics`` (BCubed and pairwise
scores, for ``bench.cluster``).
"""

from engine.clustering.batch import cluster_embeddings, cluster_labels
from engine.clustering.collection import (
    CollectedFace,
    FaceCollection,
    TooManyFaces,
    collect_faces,
)
from engine.clustering.edits import merge_clusters, move_out
from engine.clustering.errors import ClusteringCancelled, InvalidClusterOptions, UnknownMethod
from engine.clustering.incremental import extend_clustering
from engine.clustering.matching import PersonMatch, PersonMatcher
from engine.clustering.methods import DEFAULT_METHOD, METHODS
from engine.clustering.metrics import ClusterScores, cluster_scores
from engine.clustering.options import DEFAULT_THRESHOLD, ClusterOptions
from engine.clustering.results import Cluster, Clustering

__all__ = [
    "DEFAULT_METHOD",
    "DEFAULT_THRESHOLD",
    "METHODS",
    "Cluster",
    "ClusterOptions",
    "ClusterScores",
    "Clustering",
    "ClusteringCancelled",
    "CollectedFace",
    "FaceCollection",
    "InvalidClusterOptions",
    "PersonMatch",
    "PersonMatcher",
    "TooManyFaces",
    "UnknownMethod",
    "cluster_embeddings",
    "cluster_labels",
    "cluster_scores",
    "collect_faces",
    "extend_clustering",
    "merge_clusters",
    "move_out",
]
