"""Discover the people of a collection and enrol them: what the Discover page and ``cli.py
cluster`` both run, so neither repeats the other's steps.

    found = discover(pipeline, "holiday.zip", gallery=gallery, settings=settings)
    found = regroup(found, threshold=0.45, min_size=2)          # the page's slider
    result = enrol_cluster(gallery, found.faces_of(found.clustering.clusters[0]), "Ada", model)

The steps are the clustering package's: ``collect_faces`` (every face of every photo, cached),
``collection_threshold`` for the collection's size (unless one is given), ``cluster_embeddings``
with a ``PersonMatcher`` built from the gallery at Recognize's open-set threshold
(``recognize_threshold``), so each cluster says which enrolled person it is.

Enrolling a cluster goes through ``gallery.enroll`` face by face, as the Enrol page does: the
same duplicate rule (the photo's SHA-256 and an overlapping box: a face already stored is
reported, not stored twice), the same name rules (``store.names``), the same atomic writes and
erasure, and the same permission check (``Action.ENROL``, in ``store.guarded``). Clustering
itself changes nothing and reads only what the caller may read: its own upload, a folder it
was allowed (``engine.data_sources``), or the gallery's faces (everyone's reads).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.clustering.batch import cluster_embeddings
from engine.clustering.collection import (
    MAX_FACES,
    CollectedFace,
    FaceCollection,
    TooManyFaces,
    collect_faces,
)
from engine.clustering.edits import merge_clusters, move_out
from engine.clustering.matching import PersonMatcher
from engine.clustering.options import ClusterOptions, collection_threshold
from engine.clustering.results import Cluster, Clustering, summarise
from engine.clustering.sources import CollectionSource
from engine.faces.types import Box
from engine.verification import Threshold

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.faces.pipeline import FacePipeline
    from store.records import Person

Progress = Callable[[int, int], None]
GALLERY_SOURCE = "gallery"
"""The source name (CLI) for the gallery's own enrolled faces."""


@dataclass(frozen=True)
class Discovery:
    """A collection's faces, how they are grouped now, and what grouping them again needs."""

    collection: FaceCollection
    clustering: Clustering
    default_threshold: Threshold
    """``collection_threshold`` for this many faces: the slider's start, with its reason."""
    matcher: PersonMatcher | None

    def faces_of(self, cluster: Cluster) -> list[CollectedFace]:
        return [self.collection.faces[row] for row in cluster.members]

    def cluster(self, label: int) -> Cluster:
        """The cluster (or singleton) with ``label``; ``KeyError`` when an edit removed it."""
        for group in (*self.clustering.clusters, *self.clustering.singletons):
            if group.label == label:
                return group
        raise KeyError(label)


def person_matcher(gallery: Any, settings: Settings, model_id: str) -> PersonMatcher | None:
    """The gallery's faces as a matcher at Recognize's open-set threshold, or None when the
    gallery is empty (``gallery``: a ``Gallery`` or the session's ``GuardedGallery``)."""
    from engine.evaluation.gallery import gallery_faces
    from engine.open_set import recognize_threshold

    enrolled = gallery_faces(gallery)
    if not enrolled.face_ids:
        return None
    threshold = recognize_threshold(settings, model_id, gallery.count_people())
    return PersonMatcher.from_arrays(enrolled.embeddings, enrolled.people, threshold.value)


def group(
    collection: FaceCollection,
    *,
    matcher: PersonMatcher | None = None,
    threshold: float | None = None,
    min_size: int = 2,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Discovery:
    """Cluster a collected set of faces at ``threshold`` (default: ``collection_threshold``
    for its size)."""
    default = collection_threshold(len(collection.faces), collection.model_id)
    options = ClusterOptions(
        threshold=default.value if threshold is None else float(threshold), min_size=min_size
    )
    clustering = cluster_embeddings(
        collection.embeddings,
        collection.face_ids,
        options,
        matcher=matcher,
        progress=progress,
        should_stop=should_stop,
    )
    return Discovery(collection, clustering, default, matcher)


def discover(
    pipeline: FacePipeline,
    source: CollectionSource,
    *,
    gallery: Any = None,
    settings: Settings | None = None,
    cache_dir: Any = None,
    threshold: float | None = None,
    min_size: int = 2,
    keep_chips: bool = True,
    max_faces: int = MAX_FACES,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Discovery:
    """Every face of ``source`` (folder, zip, uploads), grouped, each group matched against
    ``gallery`` when one and ``settings`` are given. ``progress(done, total)`` counts photos;
    ``should_stop`` raises ``EmbeddingCancelled`` (reading) or ``ClusteringCancelled``;
    ``TooManyFaces`` past ``max_faces``."""
    matcher = None
    if gallery is not None and settings is not None:
        matcher = person_matcher(gallery, settings, pipeline.model_id)
    collection = collect_faces(
        pipeline,
        source,
        cache_dir=cache_dir,
        keep_chips=keep_chips,
        max_faces=max_faces,
        progress=progress,
        should_stop=should_stop,
    )
    return group(
        collection,
        matcher=matcher,
        threshold=threshold,
        min_size=min_size,
        should_stop=should_stop,
    )


def gallery_collection(gallery: Any, max_faces: int = MAX_FACES) -> FaceCollection:
    """The gallery's enrolled faces as a collection (each face's "photo" is its person's
    name), to find one person enrolled under two names. Chips are read from their files;
    ``TooManyFaces``, before any is read, when the gallery holds more than ``max_faces``."""
    if gallery.count_faces() > max_faces:
        raise TooManyFaces(
            f"the gallery holds {gallery.count_faces():,} faces, more than one clustering here "
            f"takes ({max_faces:,})"
        )
    faces: list[CollectedFace] = []
    for person in gallery.people():
        stored = gallery.faces_of(person.id)
        vectors = gallery.person_embeddings(person.id)
        for face, vector in zip(stored, vectors, strict=True):
            faces.append(
                CollectedFace(
                    face_id=face.id,
                    photo=person.name,
                    image_sha256=face.image_sha256,
                    box=Box(*face.box),
                    score=face.score,
                    landmarks=np.asarray(face.landmarks, np.float64),
                    embedding=np.asarray(vector, np.float32),
                    chip=gallery.chip_rgb(face.id),
                )
            )
    return FaceCollection(tuple(faces), len(faces), (), (), (), gallery.model_id)


def regroup(found: Discovery, threshold: float, min_size: int) -> Discovery:
    """The same faces grouped again at another threshold or smallest size (edits are lost)."""
    regrouped = group(
        found.collection, matcher=found.matcher, threshold=threshold, min_size=min_size
    )
    return replace(regrouped, default_threshold=found.default_threshold)


def merged(found: Discovery, keep: int, absorb: int) -> Discovery:
    """Cluster ``absorb`` joins cluster ``keep`` (labels)."""
    clustering = merge_clusters(
        found.clustering, found.collection.embeddings, keep, absorb, found.matcher
    )
    return replace(found, clustering=clustering)


def moved_out(found: Discovery, rows: Sequence[int], *, together: bool = False) -> Discovery:
    """Faces ``rows`` leave their cluster: each alone ("not this person"), or ``together`` as
    a new cluster (a split)."""
    clustering = move_out(
        found.clustering,
        found.collection.embeddings,
        rows,
        together=together,
        matcher=found.matcher,
    )
    return replace(found, clustering=clustering)


def rematched(found: Discovery, gallery: Any, settings: Settings) -> Discovery:
    """The same groups, matched again against the gallery (after an enrolment changed it)."""
    matcher = person_matcher(gallery, settings, found.collection.model_id)
    c = found.clustering
    clustering = summarise(c.labels, found.collection.embeddings, c.face_ids, c.options, matcher)
    return replace(found, clustering=clustering, matcher=matcher)


@dataclass(frozen=True)
class ClusterEnrolment:
    """What enrolling one cluster did."""

    person: Person | None
    """Who received the faces; None when every face was already enrolled."""
    enrolled: tuple[str, ...]
    """Face ids (the collection's) stored now."""
    duplicates: tuple[tuple[str, str], ...]
    """(face id, name of the person it was already enrolled for): nothing written."""
    skipped: tuple[str, ...] = ()
    """Faces without a chip (a gallery face whose chip file is missing): not enrolled."""

    def as_dict(self) -> dict:
        return {
            "person": None if self.person is None else self.person.name,
            "person_id": None if self.person is None else self.person.id,
            "enrolled": len(self.enrolled),
            "duplicates": len(self.duplicates),
            "skipped": len(self.skipped),
        }


def enrol_cluster(
    gallery: Any,
    faces: Sequence[CollectedFace],
    person: str | Person,
    model_id: str,
) -> ClusterEnrolment:
    """Enrol ``faces`` as one person: an existing ``Person``, or a name (a new person, or the
    one of that name, ignoring case, as Enrol does). Face by face through ``gallery.enroll``
    (see the module docstring); a refusal (name, permission, store) raises after the faces
    before it were stored."""
    enrolled: list[str] = []
    duplicates: list[tuple[str, str]] = []
    skipped: list[str] = []
    target: str | Person = person
    received: Person | None = None
    from store.records import NewFace

    for face in faces:
        if face.chip is None:
            skipped.append(face.face_id)
            continue
        new_face = NewFace.from_face(face.as_face(), face.image_sha256, model_id)
        result = gallery.enroll(target, new_face, create=True)
        if result.status == "duplicate":
            duplicates.append((face.face_id, result.person.name))
        else:
            enrolled.append(face.face_id)
            received = target = result.person  # a new name is created once, then by id
    return ClusterEnrolment(received, tuple(enrolled), tuple(duplicates), tuple(skipped))


def enrol_matched(gallery: Any, found: Discovery) -> list[tuple[Cluster, ClusterEnrolment]]:
    """Each cluster (not the singletons) that matches an enrolled person, enrolled into that
    person: what ``cli.py cluster --enrol`` does."""
    done = []
    for cluster in found.clustering.clusters:
        if cluster.person is None:
            continue
        person = gallery.find_person(cluster.person.name)
        if person is None:  # deleted since the match: nobody to enrol into
            continue
        result = enrol_cluster(gallery, found.faces_of(cluster), person, found.collection.model_id)
        done.append((cluster, result))
    return done
