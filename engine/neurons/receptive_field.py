"""Receptive fields computed from the conv / pool geometry, exactly.

Every layer maps an output index ``i`` to the closed interval of input indices it reads,
``[stride·i + first, stride·i + last]`` (a ``Span``; rows and columns alike, kernels are
square). Stacking layers composes spans; a block with two branches (a residual add) reads the
union of its branches' spans. The receptive field of layer L is the span from the image to L:
size ``last − first + 1``, stride, and ``start`` = the first image pixel unit 0 reads — negative
when the field hangs over the zero padding. ``clipped_box`` is the part of a field that lies
inside the image: what a patch shows (a deep unit's field can be larger than the image itself).
(Araujo et al., "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019.)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """Output index i reads input indices ``stride·i + first … stride·i + last``."""

    stride: int
    first: int
    last: int

    def then(self, inner: Span) -> Span:
        """This span (input → A) followed by ``inner`` (A → B): input → B."""
        return Span(
            self.stride * inner.stride,
            self.stride * inner.first + self.first,
            self.stride * inner.last + self.last,
        )


IDENTITY = Span(1, 0, 0)


def conv(kernel: int, stride: int = 1, padding: int = 0) -> Span:
    """A convolution or pooling window: output i reads ``stride·i − padding`` onwards."""
    return Span(stride, -padding, kernel - 1 - padding)


def chain(*spans: Span) -> Span:
    """Layers applied one after another, input first."""
    out = IDENTITY
    for span in spans:
        out = out.then(span)
    return out


def union(*branches: Span) -> Span:
    """Branches added together (a residual block): the output reads what any branch reads.

    Branches must share a stride, or their outputs would not line up index for index.
    """
    strides = {b.stride for b in branches}
    if len(strides) != 1:
        raise ValueError(f"branches with different strides {sorted(strides)} cannot be added")
    return Span(strides.pop(), min(b.first for b in branches), max(b.last for b in branches))


@dataclass(frozen=True)
class ReceptiveField:
    """Where a layer's unit (y, x) looks in the network's input image."""

    size: int
    stride: int
    start: int
    """Image coordinate of the first pixel unit 0 reads (the 'offset'; ≤ 0 with padding)."""

    @classmethod
    def of(cls, span: Span) -> ReceptiveField:
        return cls(size=span.last - span.first + 1, stride=span.stride, start=span.first)

    def box(self, y: int, x: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) of unit (y, x)'s field; bottom/right exclusive, may lie
        outside the image."""
        top, left = self.start + self.stride * y, self.start + self.stride * x
        return top, left, top + self.size, left + self.size

    def clipped_box(self, y: int, x: int, height: int, width: int) -> tuple[int, int, int, int]:
        """``box(y, x)`` cut to a ``height``×``width`` image: the pixels the unit reads that
        exist (the rest of its field is the network's zero padding, not part of the photo)."""
        top, left, bottom, right = self.box(y, x)
        top, left = min(max(top, 0), height), min(max(left, 0), width)
        return top, left, max(min(bottom, height), top), max(min(right, width), left)

    def center(self, i: int) -> float:
        """Image coordinate of the centre of unit i's field."""
        return self.start + self.stride * i + (self.size - 1) / 2

    def as_dict(self) -> dict[str, int]:
        return {"size": self.size, "stride": self.stride, "start": self.start}
