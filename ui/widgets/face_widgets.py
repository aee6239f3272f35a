"""Widgets the face pages share: image inputs, per-session analysis cache, numbered boxes,
the threshold slider, a confirm-before-delete button, and plain error messages.

Kept here so Enrol, Verify and Recognize stay short scripts and show faces the same way.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw, ImageFont

from engine.enrollment import image_sha256
from engine.errors import InvalidImage, ModelMismatch, NoFaceFound, VisionLabError
from engine.faces.pipeline import Face
from engine.images import IMAGE_SUFFIXES, load_image
from engine.verification import EmptyGallery, Threshold, default_threshold
from store import CorruptStore, FaceNotFound, GalleryError, PersonNotFound, StoreFault
from store.guarded import GuardedGallery
from ui.widgets.access import ADMIN_ONLY, current_actor, is_admin
from ui.widgets.plain_text import md_literal
from ui.widgets.resources import face_pipeline, gallery, settings

IMAGE_TYPES = sorted(suffix.lstrip(".") for suffix in IMAGE_SUFFIXES)
_ANALYSES_KEY = "face_analyses"
_SHOWN_KEY = "face_uploads_shown"
_ANALYSES_SPARE = 16  # kept beyond the photos on the page now: ones removed a moment ago
MAX_PHOTOS_PER_INPUT = 50
"""Photos one input takes at a time; the session's analysis cache is sized by what its inputs
hold now, so this bounds its memory (previews ≤ 1024 px, chips)."""
_PREVIEW_SIDE = 1024  # previews are kept, not the decoded photos (up to 50 MP each)


@dataclass(frozen=True)
class ImageUpload:
    """One image the user gave us, identified by the hash of its bytes."""

    name: str
    data: bytes = field(repr=False)
    sha256: str


@dataclass(frozen=True)
class AnalyzedImage:
    """An image searched for faces once per session (keyed by its hash), with a preview."""

    name: str
    sha256: str
    preview: Image.Image | None = field(repr=False)
    """The photo with numbered boxes, shrunk to at most 1024 px a side."""
    faces: list[Face] = field(repr=False)
    error: str | None = None


def image_inputs(label: str, key: str, *, multiple: bool = True) -> list[ImageUpload]:
    """File upload (one or many) plus an optional camera shot."""
    files = st.file_uploader(label, type=IMAGE_TYPES, accept_multiple_files=multiple, key=key)
    files = files if isinstance(files, list) else [files] if files else []
    if len(files) > MAX_PHOTOS_PER_INPUT:
        st.warning(
            f"{len(files)} photos were given; the first {MAX_PHOTOS_PER_INPUT} are used. Add "
            "the others in another round, or use bulk enrolment."
        )
        files = files[:MAX_PHOTOS_PER_INPUT]
    uploads = [_upload(f.name, f.getvalue()) for f in files]
    if st.toggle("Take a photo with the camera", key=f"{key}_use_camera"):
        shot = st.camera_input("Camera", key=f"{key}_camera")
        if shot is not None:
            uploads.append(_upload("camera photo", shot.getvalue()))
    st.session_state.setdefault(_SHOWN_KEY, {})[key] = len(uploads)
    return uploads


def _upload(name: str, data: bytes) -> ImageUpload:
    return ImageUpload(name, data, image_sha256(data))


def analyze(upload: ImageUpload) -> AnalyzedImage:
    """Faces of an upload; a rerun (any widget change) reuses the result instead of
    re-running the detector, since uploads come back as the same bytes.

    The cache is this session's, keyed by the model and the bytes' SHA-256, and holds every
    photo the session's inputs hold now plus a few spare: a page showing more photos than a
    fixed-size cache would evict each one before its next use and re-analyse them all on every
    rerun."""
    pipeline = face_pipeline()
    cache: OrderedDict[str, AnalyzedImage] = st.session_state.setdefault(
        _ANALYSES_KEY, OrderedDict()
    )
    key = f"{pipeline.model_id}:{upload.sha256}"
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    try:
        image = load_image(upload.data, max_pixels=settings().max_pixels)
        with st.spinner(f"Looking for faces in {md_literal(upload.name)}…"):
            faces = pipeline.analyze(image)
        preview = draw_numbered_boxes(image, faces)
        preview.thumbnail((_PREVIEW_SIDE, _PREVIEW_SIDE))
        analyzed = AnalyzedImage(upload.name, upload.sha256, preview, faces)
    except InvalidImage as exc:
        analyzed = AnalyzedImage(upload.name, upload.sha256, None, [], error=str(exc))
    cache[key] = analyzed
    shown = sum(st.session_state.get(_SHOWN_KEY, {}).values())
    while len(cache) > shown + _ANALYSES_SPARE:
        cache.popitem(last=False)
    return analyzed


def draw_numbered_boxes(image: np.ndarray, faces: list[Face]) -> Image.Image:
    """The image with each face's box drawn and numbered 1, 2, … as the chips are captioned."""
    canvas = Image.fromarray(image).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    line = max(2, round(max(canvas.size) / 300))
    font = ImageFont.load_default(size=max(14, round(max(canvas.size) / 30)))
    for number, face in enumerate(faces, 1):
        box = (face.box.left, face.box.top, face.box.right, face.box.bottom)
        draw.rectangle(box, outline=(255, 200, 0), width=line)
        label_at = (face.box.left + line, max(0, face.box.top - font.size - 2 * line))
        draw.text(
            label_at,
            str(number),
            fill=(255, 200, 0),
            font=font,
            stroke_width=2,
            stroke_fill=(0, 0, 0),
        )
    return canvas


def show_faces(analyzed: AnalyzedImage) -> None:
    """The photo with numbered boxes and a row of the aligned chips the model compares."""
    if analyzed.preview is None:
        return
    st.image(analyzed.preview, caption=md_literal(analyzed.name), width=320)
    if analyzed.faces:
        st.image(
            [f.chip for f in analyzed.faces],
            caption=[f"Face {i}" for i in range(1, len(analyzed.faces) + 1)],
            width=96,
        )


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun``, plural unless one: "1 face", "2 faces", "1,024 faces";
    ``plural`` where adding an s is wrong ("1 person", "2 people")."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {plural or noun + 's'}"


def pick_face(analyzed: AnalyzedImage, key: str) -> Face | None:
    """Show the image's faces; the one face, the user's pick among several, or None with the
    reason shown (unreadable file, no face)."""
    if analyzed.error:
        st.error(
            f"{md_literal(analyzed.name)} can't be read as an image: {md_literal(analyzed.error)}."
        )
        return None
    show_faces(analyzed)
    faces = analyzed.faces
    if not faces:
        st.error(
            f"No face was found in {md_literal(analyzed.name)}. Try a photo where the face is "
            "larger, "
            "frontal and well lit."
        )
        return None
    if len(faces) == 1:
        return faces[0]
    index = st.radio(
        f"{counted(len(faces), 'face')} in {md_literal(analyzed.name)}: which one?",
        range(len(faces)),
        format_func=lambda i: f"Face {i + 1}",
        horizontal=True,
        key=key,
    )
    return faces[index]


def one_face(label: str, key: str) -> Face | None:
    """A single-image input reduced to the one face to use, or None (reason already shown)."""
    uploads = image_inputs(label, key, multiple=False)
    if not uploads:
        return None
    analyzed = analyze(uploads[-1])
    return pick_face(analyzed, key=f"{key}_pick_{analyzed.sha256[:12]}")


def threshold_slider(key: str) -> Threshold:
    """The decision threshold, starting at the saved operating point (else the model's 0.6)."""
    default = default_threshold(settings(), face_pipeline().model_id)
    value = st.slider(
        "Decision threshold (distance)",
        min_value=0.20,
        max_value=1.20,
        value=round(default.value, 2),
        step=0.01,
        key=key,
        help="At or below it: same person. Lower is stricter (fewer false matches, more misses).",
    )
    st.caption(f"Default {default.value:.2f}: {md_literal(default.source)}.")
    if abs(value - round(default.value, 2)) < 1e-9:
        return default
    return Threshold(value, "set with the slider")


def open_gallery() -> GuardedGallery:
    """The cached gallery as this session's actor may use it (every change passes the
    permission table), or a plain message and a stopped page when it cannot open."""
    try:
        return GuardedGallery(gallery(), current_actor())
    except VisionLabError as exc:
        show_error(exc)
        st.stop()
        raise  # unreachable: st.stop() ends the script run


def show_error(exc: VisionLabError) -> None:
    """An engine or store error as a sentence a user can act on. Its text may hold a name or a
    file name, so it is shown as a literal (``md_literal``), never as Markdown."""
    text = md_literal(exc)
    if isinstance(exc, EmptyGallery):
        st.info("The gallery is empty. Enrol people on the **Enrol** page first.")
    elif isinstance(exc, InvalidImage):
        st.error(f"That file can't be read as an image: {text}.")
    elif isinstance(exc, NoFaceFound):
        st.error(
            "No face was found in the photo. Try one where the face is larger, frontal and "
            "well lit."
        )
    elif isinstance(exc, ModelMismatch):
        st.error(f"The gallery was built with another face model, so it can't be used here: {text}")
    elif isinstance(exc, (PersonNotFound, FaceNotFound)):
        st.error(f"That is no longer in the gallery (deleted in another tab?): {text}")
    elif isinstance(exc, CorruptStore):
        st.error(f"The gallery's files can't be read: {text}")
    elif isinstance(exc, StoreFault):  # one sentence already: what failed, what to do
        st.error(text)
    elif isinstance(exc, GalleryError):
        st.error(f"The gallery refused: {text}")
    else:
        st.error(text)


def chip_image(png: bytes | None, caption: str) -> None:
    """A stored face chip (``Gallery.chip_png``), or a note when it has gone missing.
    ``caption`` is plain text (it usually holds a person's name): it is shown literally."""
    if png is not None:
        st.image(png, caption=md_literal(caption), width=96)
    else:
        st.caption(f"{md_literal(caption)} (chip missing)")


def confirmed(
    label: str, question: str, key: str, yes_label: str = "Yes, delete", admin_only: bool = True
) -> bool:
    """A button that asks before acting: True only on the run where the user says yes.

    Confirmed actions delete or rewrite stored data, so by default only an admin gets them
    (``pages.access``; everyone is admin in local mode). ``label`` and ``question`` are plain
    text, shown literally: they name people, and a name must not be able to reword the
    question."""
    pending_key = "pending_confirmation"
    allowed = is_admin() or not admin_only
    if st.session_state.get(pending_key) != key or not allowed:
        help_text = None if allowed else ADMIN_ONLY
        if st.button(md_literal(label), key=f"ask_{key}", disabled=not allowed, help=help_text):
            st.session_state[pending_key] = key
            st.rerun()
        return False
    st.warning(md_literal(question))
    yes, no = st.columns(2)
    if yes.button(yes_label, key=f"yes_{key}", type="primary"):
        del st.session_state[pending_key]
        return True
    if no.button("Cancel", key=f"no_{key}"):
        del st.session_state[pending_key]
        st.rerun()
    return False


def flash(message: str) -> None:
    """A success message that survives the ``st.rerun()`` that follows a gallery change."""
    st.session_state["flash"] = message


def show_flash() -> None:
    message = st.session_state.pop("flash", None)
    if message:
        st.success(message)
