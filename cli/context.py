"""What every command runs against: the settings (the environment's, over the ``--data`` folder
when one is given) and what the app builds from them — the face pipeline with the model in use,
the gallery seen as the operator, images read within the pixel cap."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from engine.permissions import OPERATOR

if TYPE_CHECKING:  # the heavy modules load inside the commands that need them
    import numpy as np

    from engine.config import Settings
    from engine.faces.pipeline import FacePipeline
    from store.guarded import GuardedGallery


@dataclass
class CommandContext:
    data_dir: Path | None = None
    """``--data``: this folder instead of ``VISIONLAB_DATA``'s, for this run only."""

    @cached_property
    def settings(self) -> Settings:
        """Read when a command first asks, so one that needs none (``hash-password``) never
        fails on a variable it does not use."""
        from engine.config import Settings

        settings = Settings.from_env()
        return settings if self.data_dir is None else settings.with_data_dir(self.data_dir)

    @property
    def cache_dir(self) -> Path:
        """Where embeddings of evaluated and training images are kept between runs."""
        return self.settings.data_dir / "cache"

    def pipeline(self, base: bool = False) -> FacePipeline:
        """The pipeline configured as the app configures it (same detection size, pixel cap and
        model: the trained model chosen with ``use-model``, unless ``base``); a chosen model
        that cannot load is reported on stderr and the pretrained one used, as the app does."""
        from engine.faces.pipeline import FacePipeline
        from engine.training.models import pipeline_in_use

        pipeline = FacePipeline.from_settings(self.settings)
        if base:
            return pipeline
        in_use, problem = pipeline_in_use(pipeline, self.settings.data_dir)
        _warn(problem, in_use.model_id)
        return in_use

    def model_id_in_use(self) -> str:
        """The id of the model chosen with ``use-model``, without loading the face models (the
        gallery commands need only the id); a problem is reported as ``pipeline`` reports it."""
        from engine.faces.weights import FACE_RESNET_V1
        from engine.training.models import load_active_projection

        active = load_active_projection(self.settings.data_dir, FACE_RESNET_V1.model_id)
        _warn(active.problem, active.model_id)
        return active.model_id

    @contextmanager
    def gallery(self, model_id: str | None = None) -> Iterator[GuardedGallery]:
        """The gallery's view for ``model_id`` (default: the model in use, see ``pipeline``)."""
        from engine.faces.weights import FACE_RESNET_V1
        from store import Gallery
        from store.guarded import GuardedGallery

        gallery = Gallery.open(
            self.settings,
            model_id=self.model_id_in_use() if model_id is None else model_id,
            embedding_dim=FACE_RESNET_V1.embedding_dim or 128,
        )
        try:
            yield GuardedGallery(gallery, OPERATOR)  # the CLI passes the same checks as the pages
        finally:
            gallery.close()

    def read_image(self, path: Path) -> np.ndarray:
        """Decode before the models load, so a bad file fails in a moment, not after seconds."""
        from engine.images import load_image

        return load_image(path, max_pixels=self.settings.max_pixels)


def _warn(problem: str | None, using: str) -> None:
    if problem:
        print(f"warning: {problem}; using {using}", file=sys.stderr)
