"""Test-time jitter: several slightly moved crops of the same face, their embeddings averaged.

dlib's ``compute_face_descriptor(..., num_jitters=N)`` does this with random crops (±2 %
shift, 1-3 % zoom-out, ±3° rotation, random mirror) of the chip. We cut the jittered crops
from the original image instead of from the chip, so no black border enters a crop, and use a
fixed set so results are reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.faces.chips import FaceChipTransform


@dataclass(frozen=True)
class ChipJitter:
    """A small change of the crop, in chip terms."""

    shift_x: float = 0.0
    """Move the crop right by this fraction of its width."""
    shift_y: float = 0.0
    """Move the crop down by this fraction of its height."""
    zoom_out: float = 1.0
    """Crop this many times the chip's side (> 1 shows a little more around the face)."""
    rotate_degrees: float = 0.0


IDENTITY = ChipJitter()


def jitter_transform(transform: FaceChipTransform, jitter: ChipJitter) -> FaceChipTransform:
    """The chip transform with ``jitter`` applied about the crop's centre."""
    left, top, right, bottom = transform.rect
    width = right - left + 1
    cx, cy = (left + right) / 2, (top + bottom) / 2
    # The shift is along the chip's own (rotated) axes.
    dx, dy = jitter.shift_x * width, jitter.shift_y * width
    cos_a, sin_a = math.cos(transform.angle), math.sin(transform.angle)
    cx += cos_a * dx - sin_a * dy
    cy += sin_a * dx + cos_a * dy
    half = (width * jitter.zoom_out - 1) / 2
    return FaceChipTransform(
        rect=(cx - half, cy - half, cx + half, cy + half),
        angle=transform.angle + math.radians(jitter.rotate_degrees),
        rows=transform.rows,
        cols=transform.cols,
    )


@dataclass(frozen=True)
class TestTimeAugmentation:
    """Which views of a face are embedded and averaged into its descriptor."""

    name: str
    jitters: tuple[ChipJitter, ...]
    mirror: bool
    description: str

    @property
    def views(self) -> int:
        """Forward passes per face."""
        return len(self.jitters) * (2 if self.mirror else 1)


# Measured on LFW View 1 (bench.lfw; choose on DevTrain, report DevTest): see README.
AUGMENTATIONS: dict[str, TestTimeAugmentation] = {
    a.name: a
    for a in (
        TestTimeAugmentation("none", (IDENTITY,), False, "the aligned chip alone (dlib's default)"),
        TestTimeAugmentation(
            "mirror", (IDENTITY,), True, "mean of the chip and its mirror image (2 passes)"
        ),
        TestTimeAugmentation(
            "jitter",
            (
                IDENTITY,
                ChipJitter(shift_x=0.02),
                ChipJitter(shift_x=-0.02),
                ChipJitter(shift_y=0.02),
                ChipJitter(shift_y=-0.02),
            ),
            True,
            "chip shifted by ±2 % in x and y, each with its mirror image (10 passes)",
        ),
    )
}


def augmentation(name: str) -> TestTimeAugmentation:
    try:
        return AUGMENTATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown test-time augmentation {name!r}; choose one of {', '.join(AUGMENTATIONS)}"
        ) from None
