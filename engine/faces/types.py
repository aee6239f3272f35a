"""Small value types shared by the face pipeline."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Box:
    """A face box in image pixels, dlib's convention: inclusive corners.

    ``right - left + 1`` is the width, as in ``dlib.rectangle``.
    """

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left + 1

    @property
    def height(self) -> float:
        return self.bottom - self.top + 1

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2, (self.top + self.bottom) / 2)

    def area(self) -> float:
        return max(self.width, 0) * max(self.height, 0)

    def iou(self, other: Box) -> float:
        inter = Box(
            max(self.left, other.left),
            max(self.top, other.top),
            min(self.right, other.right),
            min(self.bottom, other.bottom),
        )
        if inter.width <= 0 or inter.height <= 0:
            return 0.0
        i = inter.area()
        return i / (self.area() + other.area() - i)


@dataclass(frozen=True)
class Detection:
    """One detected face: its box and the detector's confidence (dlib's score, 0 = threshold)."""

    box: Box
    score: float
