"""Helpers for the face pages' AppTests: a fresh gallery per test, photos as upload bytes.

The face pipeline stays cached across tests (it is read-only and slow to load); the settings
and the gallery are dropped so each test's ``VISIONLAB_DATA`` gets a gallery of its own.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from ui.widgets import resources

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def start_page(page: str, data_dir: Path, monkeypatch) -> AppTest:
    """The app opened on ``page`` with its data (gallery, operating point) in ``data_dir``."""
    monkeypatch.setenv("VISIONLAB_DATA", str(data_dir))
    resources.settings.clear()
    resources.gallery_for.clear()
    at = AppTest.from_file(APP, default_timeout=120).run()
    return at.switch_page(page).run()


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(at: AppTest, key: str, *files: tuple[str, bytes]) -> AppTest:
    """Put files into the uploader ``key`` and rerun, as a user dropping them in would."""
    uploader = next(u for u in at.file_uploader if u.key == key)
    uploader.set_value([(name, data, "image/png") for name, data in files])
    return at.run()


def two_faces(astronaut: np.ndarray, grace_hopper: np.ndarray) -> np.ndarray:
    """Eileen Collins (left) beside Grace Hopper (right), one photo with two faces."""
    height = astronaut.shape[0]
    width = round(grace_hopper.shape[1] * height / grace_hopper.shape[0])
    grace = np.asarray(Image.fromarray(grace_hopper).resize((width, height)))
    return np.concatenate([astronaut, grace], axis=1)


def enroll_directly(name: str, image: np.ndarray, tag: str) -> None:
    """Enrol a photo through the app's own cached gallery, skipping the Enroll page's clicks."""
    from store import NewFace

    pipeline = resources.face_pipeline()
    [face] = pipeline.analyze(image)
    sha = hashlib.sha256(tag.encode()).hexdigest()
    resources.gallery().enroll(name, NewFace.from_face(face, sha, pipeline.model_id))
