"""Bulk enrolment with the face analysis in worker processes and the store writes in this one.

:func:`engine.enrollment.enroll_folder` analyses one image after another in the calling
process. An LFW photo (250×250) is too little work to keep torch's threads busy: on a 2-core
machine one image takes about as long on two threads as on one, so two processes, each
analysing its own images on one thread, go nearly twice as far (``bench/enrol.py`` measures it).

:func:`enroll_folder_in_workers` runs that very ``enroll_folder`` — the same outcomes, the same
rules (main face, duplicates, refused names), the same ``Gallery.enroll`` for every face — with
a :class:`WorkerAnalysis` standing in for the pipeline. It reads the files ahead of the loop,
sends their bytes to a ``ProcessPoolExecutor`` (spawn: no torch state forked; each worker loads
its own ``FacePipeline`` once and runs torch on one thread), where decode → detect → landmarks
→ chip → embed happens, and answers each ``analyze(data)`` with the faces the workers found in
those bytes (matched by SHA-256). Everything that touches the gallery stays in this process.
Files ``enroll_folder`` skips before analysing (a refused folder name, an image already
enrolled for that person) are not sent.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections import OrderedDict
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, cast

import numpy as np

from engine.enrollment import (
    EnrollSource,
    EnrollSummary,
    ProgressCallback,
    _enrolled_for,  # the duplicate test enroll_folder applies before analysing
    _open_items,  # the files enroll_folder walks, in its order
    enroll_folder,
    image_sha256,
)
from engine.errors import InvalidImage
from engine.safe_zip import ArchiveLimits

if TYPE_CHECKING:
    from engine.faces.pipeline import Face, FacePipeline, PipelineOptions
    from store import Gallery

AHEAD_PER_WORKER = 8
"""Images sent ahead per worker: enough that none waits for the next, few enough that the
answers waiting for the store (a chip of 67.5 KB each) stay small."""

_worker_pipeline: FacePipeline | None = None


def _start_worker(device: str, options: PipelineOptions) -> None:
    """Runs once in each worker process: one torch thread, the models loaded once."""
    import torch

    from engine.faces.pipeline import FacePipeline

    torch.set_num_threads(1)  # the processes share the cores; threads would fight for them
    global _worker_pipeline
    _worker_pipeline = FacePipeline.load(device, options)


def _analyze_in_worker(data: bytes) -> list[Face]:
    assert _worker_pipeline is not None, "the worker's initializer did not run"
    return _worker_pipeline.analyze(data)


class WorkerAnalysis:
    """``pipeline.analyze`` for the files of ``source``, computed ahead in worker processes.

    Only what ``enroll_folder`` asks of a pipeline: ``model_id`` and ``analyze(data)``. Bytes
    it did not foresee are analysed here with ``pipeline`` itself, so an answer is always the
    analysis of exactly the bytes asked about. The workers load the base models with
    ``pipeline``'s options; a trained projection on ``pipeline`` is applied here, to their
    descriptors.
    """

    def __init__(
        self,
        pipeline: FacePipeline,
        gallery: Gallery,
        source: EnrollSource,
        workers: int,
        limits: ArchiveLimits | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._pipeline = pipeline
        self._gallery = gallery
        self._source = source
        self._limits = limits or ArchiveLimits()
        self._workers = workers
        self._pending: OrderedDict[int, tuple[str, concurrent.futures.Future[list[Face]]]] = (
            OrderedDict()
        )
        self._upcoming: Generator[tuple[int, str, bytes], None, None] | None = None
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    @property
    def model_id(self) -> str:
        return self._pipeline.model_id

    def __enter__(self) -> WorkerAnalysis:
        self._pool = concurrent.futures.ProcessPoolExecutor(
            self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(str(self._pipeline.embedder.device), self._pipeline.options),
        )
        self._upcoming = self._files_to_analyse()
        self._send_ahead()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._pending.clear()
        if self._upcoming is not None:
            self._upcoming.close()  # leaves _open_items: a zip is closed

    def analyze(self, data: bytes) -> list[Face]:
        """The faces in ``data``, as ``FacePipeline.analyze(data)`` finds them."""
        sha256 = image_sha256(data)
        found = self._claim(sha256)
        if found is None:
            return self._pipeline.analyze(data)
        faces = found.result()  # re-raises the worker's InvalidImage
        projection = self._pipeline.projection
        if projection is None or not faces:
            return faces
        from engine.faces.pipeline import Face

        embeddings = projection.project(np.stack([f.embedding for f in faces]))
        return [
            Face(f.box, f.score, f.landmarks, f.chip, e)
            for f, e in zip(faces, embeddings, strict=True)
        ]

    def _claim(self, sha256: str) -> concurrent.futures.Future[list[Face]] | None:
        """The pending analysis of these bytes, sending more files until it is among them.

        ``enroll_folder`` asks in file order, so files before the one claimed that were never
        asked about (skipped for a reason found only in the loop) never will be: dropped."""
        while True:
            position = next((p for p, (s, _) in self._pending.items() if s == sha256), None)
            if position is not None or not self._send_one():
                break
        if position is None:
            return None
        while True:
            first, (_, future) = self._pending.popitem(last=False)
            if first == position:
                break
            future.cancel()
        self._send_ahead()
        return future

    def _send_ahead(self) -> None:
        while len(self._pending) < AHEAD_PER_WORKER * self._workers and self._send_one():
            pass

    def _send_one(self) -> bool:
        assert self._pool is not None and self._upcoming is not None, "use it in a with block"
        upcoming = next(self._upcoming, None)
        if upcoming is None:
            return False
        position, sha256, data = upcoming
        self._pending[position] = (sha256, self._pool.submit(_analyze_in_worker, data))
        return True

    def _files_to_analyse(self) -> Generator[tuple[int, str, bytes], None, None]:
        """(position, SHA-256, bytes) of each file ``enroll_folder`` will analyse, in order."""
        from store import InvalidName
        from store.names import clean_name

        with _open_items(self._source, self._limits) as (items, _):
            for position, item in enumerate(items):
                try:
                    person = clean_name(item.person)
                    data = item.read()
                except (InvalidName, InvalidImage):
                    continue
                sha256 = image_sha256(data)
                if _enrolled_for(self._gallery, person, sha256) is None:
                    yield position, sha256, data


def enroll_folder_in_workers(
    pipeline: FacePipeline,
    gallery: Gallery,
    source: EnrollSource,
    *,
    workers: int = 2,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    limits: ArchiveLimits | None = None,
    take_main_face: bool = True,
) -> EnrollSummary:
    """:func:`engine.enrollment.enroll_folder` with the analysis in ``workers`` processes.

    Same arguments, same summary, same exceptions; the processes start on each call (a few
    seconds: torch and the models load in each) and stop before it returns.
    """
    with WorkerAnalysis(pipeline, gallery, source, workers, limits) as analysis:
        return enroll_folder(
            cast("FacePipeline", analysis),  # it answers all enroll_folder asks of a pipeline
            gallery,
            source,
            progress=progress,
            should_stop=should_stop,
            limits=limits,
            take_main_face=take_main_face,
        )
