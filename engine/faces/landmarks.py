"""dlib's 5-point face landmark predictor, read from its ``.dat`` file and run in numpy.

The model is an ensemble of regression trees (Kazemi & Sullivan, "One Millisecond Face
Alignment with an Ensemble of Regression Trees", CVPR 2014) as dlib implements it in
``dlib/image_processing/shape_predictor.h``: a mean shape, then a cascade of levels; each level
samples 800 pixels placed relative to the current shape, and 500 depth-4 trees each add a
correction to the shape. We mirror dlib's arithmetic (float32 shape, trees added one at a time,
pixel positions rounded with floor(x + 0.5), intensity (r + g + b) // 3, 0 outside the image)
so that the landmarks equal dlib's, pixel for pixel.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import ModelFileError
from engine.faces.dlib_format import DlibReader
from engine.faces.model_files import LANDMARKS_5_FILE, model_path
from engine.faces.types import Box
from engine.images import require_uint8_image

# dlib float encoding: exponents at or above this mean inf / -inf / NaN (dlib/float_details.h).
_SPECIAL_FLOAT_EXPONENT = 32000
# Each doubling squares the "next token" map: 2**6 = 64 steps, more than a walker started
# mid-token needs to fall in step with the real token boundaries (43 in the 5-point model;
# see _token_starts, which checks the result and falls back to a plain walk).
_SYNC_DOUBLINGS = 6


# ----------------------------------------------------------------------------------------
# Geometry shared with the chip extractor


def find_similarity_transform(
    from_points: np.ndarray, to_points: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares similarity ``to ≈ M @ from + t`` (Umeyama 1991, eqs. 34-43).

    Mirrors dlib's ``find_similarity_transform`` (dlib/geometry/point_transforms.h), in double
    precision, including its choice of which axis to flip when the best fit is a reflection.
    Returns ``M`` (2, 2) = scale · rotation and ``t`` (2,).
    """
    src = np.asarray(from_points, dtype=np.float64)
    dst = np.asarray(to_points, dtype=np.float64)
    n = len(src)
    mean_src = src.sum(axis=0) / n
    mean_dst = dst.sum(axis=0) / n
    src_c = src - mean_src
    dst_c = dst - mean_dst
    sigma_src = float((src_c * src_c).sum()) / n
    cov = dst_c.T @ src_c / n

    u, d, vt = np.linalg.svd(cov)
    s = np.ones(2)
    det_cov = cov[0, 0] * cov[1, 1] - cov[0, 1] * cov[1, 0]
    if det_cov < 0 or (det_cov == 0 and np.linalg.det(u) * np.linalg.det(vt) < 0):
        # numpy sorts singular values in decreasing order; dlib flips the smaller one.
        s[1 if d[1] < d[0] else 0] = -1
    rotation = (u * s) @ vt
    scale = float((d * s).sum()) / sigma_src if sigma_src != 0 else 1.0
    matrix = scale * rotation
    return matrix, mean_dst - matrix @ mean_src


# ----------------------------------------------------------------------------------------
# The model and its file


@dataclass(frozen=True)
class _Cascade:
    """The model's arrays, one leading axis per cascade level (all levels share shapes)."""

    initial_shape: np.ndarray  # (parts, 2) float32, in box-normalised coordinates
    split_idx1: np.ndarray  # (levels, trees, splits) intp: feature pixel indices
    split_idx2: np.ndarray  # (levels, trees, splits) intp
    split_thresh: np.ndarray  # (levels, trees, splits) float32
    leaf_values: np.ndarray  # (levels, trees, leaves, parts * 2) float32
    anchor_idx: np.ndarray  # (levels, pixels) intp: shape part each feature pixel hangs on
    deltas: np.ndarray  # (levels, pixels, 2) float32: offset from that part (mean-shape units)


def _token_starts(data: np.ndarray) -> np.ndarray:
    """Offsets of every integer in a file that is nothing but dlib integers.

    A shape predictor file holds only integers (floats are two integers, matrices and
    vectors are integer counts followed by their elements), so the whole file is one chain
    of tokens, each ``1 + (control & 0x0F)`` bytes long. Walking that chain is inherently
    sequential, so instead we start a walker at *every* byte at once: a walker that started
    mid-token soon lands on a true token boundary and from then on follows the true chain.
    After 2**_SYNC_DOUBLINGS steps (computed by repeated squaring of the next-token map) all
    walkers sit on the true chain; we then check that what they reached is one unbroken
    chain, and fall back to a plain walk if it is not.
    """
    n = len(data)
    if n == 0:
        raise ModelFileError("empty model file")
    if n >= 2**31 - 16:
        raise ModelFileError("model file too large for a shape predictor")
    next_start = np.arange(1, n + 1, dtype=np.int32)
    next_start += data & 0x0F
    jump = np.empty(n + 1, dtype=np.int32)
    np.minimum(next_start, n, out=jump[:n])
    jump[n] = n  # position n is the absorbing end
    for _ in range(_SYNC_DOUBLINGS):
        jump = jump[jump]
    reached = np.zeros(n + 1, dtype=bool)
    reached[jump[:n]] = True
    reached[n] = False

    # Walk from byte 0 until we meet the synchronised chain.
    prefix: list[int] = []
    pos = 0
    while pos < n and not reached[pos]:
        prefix.append(pos)
        pos = int(next_start[pos])
    chain = np.flatnonzero(reached)
    chain = chain[chain >= pos]
    if pos < n and (len(chain) == 0 or chain[0] != pos):
        return _token_starts_by_walking(next_start)
    if len(chain) > 1 and not np.array_equal(next_start[chain[:-1]], chain[1:]):
        return _token_starts_by_walking(next_start)
    last_end = int(next_start[chain[-1]]) if len(chain) else pos
    if last_end != n:
        raise ModelFileError(f"truncated model file: last integer needs {last_end - n} more bytes")
    return np.concatenate([np.asarray(prefix, dtype=np.int64), chain.astype(np.int64)])


def _token_starts_by_walking(next_start: np.ndarray) -> np.ndarray:
    """The plain sequential walk; only used if the parallel walk did not synchronise."""
    n = len(next_start)
    starts: list[int] = []
    pos = 0
    steps = next_start.tolist()
    while pos < n:
        starts.append(pos)
        pos = steps[pos]
    if pos != n:
        raise ModelFileError(f"truncated model file: last integer needs {pos - n} more bytes")
    return np.asarray(starts, dtype=np.int64)


def _decode_integers(data: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Values of the dlib integers at ``starts``: control byte, then n little-endian bytes.

    Integers of up to 3 value bytes (every integer in dlib's landmark models: indices,
    counts, 24-bit float mantissas) are read as one little-endian 4-byte word each; longer
    ones, if any, byte by byte.
    """
    control = data[starts]
    lengths = control & 0x0F
    bad = (control & 0x70) | (lengths > 8)
    if np.any(bad):
        at = int(starts[np.flatnonzero(bad)[0]])
        raise ModelFileError(f"not a dlib shape predictor: bad integer at byte {at}")

    padded = np.concatenate([data, np.zeros(12, dtype=np.uint8)])
    words_per_alignment = (len(data) + 4) // 4
    # words[a, i] is the little-endian uint32 that starts at byte 4 * i + a.
    words = np.stack([padded[a : a + 4 * words_per_alignment].view("<u4") for a in range(4)])
    word = words.ravel()[(starts % 4) * words_per_alignment + starts // 4]
    value_masks = np.array([0, 0xFF, 0xFFFF, 0xFFFFFF], dtype=np.uint32)
    magnitude = ((word >> 8) & value_masks[np.minimum(lengths, 3)]).astype(np.int64)

    long_ones = np.flatnonzero(lengths > 3)
    for i in long_ones.tolist():
        pos = int(starts[i])
        magnitude[i] = int.from_bytes(data[pos + 1 : pos + 1 + int(lengths[i])].tobytes(), "little")
    return np.where(control & 0x80, -magnitude, magnitude)


def _floats(mantissas: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """dlib floats (value = mantissa · 2**exponent) to float32, as dlib's deserialize does."""
    if np.any(exponents >= _SPECIAL_FLOAT_EXPONENT):
        raise ModelFileError("shape predictor holds inf or NaN values")
    return np.ldexp(mantissas.astype(np.float64), exponents.astype(np.int32)).astype(np.float32)


class _TokenCursor:
    """Reads the decoded integer stream in order, with checks that name what was expected."""

    def __init__(self, values: np.ndarray, name: str) -> None:
        self.values = values
        self.pos = 0
        self.name = name

    def fail(self, message: str) -> ModelFileError:
        return ModelFileError(f"{self.name}: not a dlib shape predictor: {message}")

    def take(self, count: int) -> np.ndarray:
        if count < 0 or self.pos + count > len(self.values):
            raise self.fail("file ends early")
        chunk = self.values[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def integer(self, what: str, expected: int | None = None) -> int:
        value = int(self.take(1)[0])
        if expected is not None and value != expected:
            raise self.fail(f"{what} is {value}, expected {expected}")
        if value < 0:
            raise self.fail(f"{what} is negative ({value})")
        return value

    def column_vector_floats(self, what: str, length: int | None = None) -> np.ndarray:
        rows, cols = -int(self.take(1)[0]), -int(self.take(1)[0])
        if cols != 1 or rows <= 0 or (length is not None and rows != length):
            raise self.fail(f"{what} has shape {rows}x{cols}")
        pairs = self.take(2 * rows)
        return _floats(pairs[0::2], pairs[1::2])


def _read_level_forest(
    cursor: _TokenCursor, shape_len: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One cascade level: a vector of trees, each (splits: idx1, idx2, thresh; leaf vectors).

    Trees of a level all have the same layout in dlib's models (complete trees of one depth),
    so after reading the first tree's counts we take the whole level as one block of
    integers and check every tree's counts at once.
    """
    num_trees = cursor.integer("tree count")
    if num_trees == 0:
        raise cursor.fail("a cascade level without trees")
    num_splits = int(cursor.values[cursor.pos]) if cursor.pos < len(cursor.values) else -1
    if num_splits < 1:
        raise cursor.fail(f"tree with {num_splits} splits")
    num_leaves = num_splits + 1
    leaf_len = 2 + 2 * shape_len  # -rows, -cols, then (mantissa, exponent) pairs
    tree_len = 1 + 4 * num_splits + 1 + num_leaves * leaf_len
    block = cursor.take(num_trees * tree_len).reshape(num_trees, tree_len)

    splits = block[:, 1 : 1 + 4 * num_splits].reshape(num_trees, num_splits, 4)
    leaves = block[:, 2 + 4 * num_splits :].reshape(num_trees, num_leaves, leaf_len)
    if np.any(block[:, 0] != num_splits):
        raise cursor.fail("trees of one level differ in size")
    if np.any(block[:, 1 + 4 * num_splits] != num_leaves):
        raise cursor.fail("a tree's leaf count is not its split count + 1")
    if num_leaves & (num_leaves - 1):
        raise cursor.fail(f"{num_leaves} leaves is not a complete binary tree")
    if np.any(leaves[:, :, 0] != -shape_len) or np.any(leaves[:, :, 1] != -1):
        raise cursor.fail("a leaf vector does not match the shape's size")

    thresholds = _floats(splits[:, :, 2], splits[:, :, 3])
    leaf_values = _floats(leaves[:, :, 2::2], leaves[:, :, 3::2])
    return splits[:, :, 0], splits[:, :, 1], thresholds, leaf_values


def parse_shape_predictor(data: bytes, name: str = "<bytes>") -> _Cascade:
    """Parse dlib's ``shape_predictor`` serialization (``deserialize(shape_predictor&)``).

    Order: int version (1); matrix<float,0,1> initial_shape; vector<vector<regression_tree>>
    forests; vector<vector<unsigned long>> anchor_idx; vector<vector<vector<float,2>>> deltas.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    try:
        values = _decode_integers(raw, _token_starts(raw))
    except ModelFileError as exc:
        raise ModelFileError(f"{name}: {exc}") from exc
    cursor = _TokenCursor(values, name)

    cursor.integer("version", expected=1)
    initial_shape = cursor.column_vector_floats("initial shape")
    shape_len = len(initial_shape)
    if shape_len % 2:
        raise cursor.fail(f"initial shape has an odd length {shape_len}")
    num_parts = shape_len // 2

    num_levels = cursor.integer("cascade depth")
    forests = [_read_level_forest(cursor, shape_len) for _ in range(num_levels)]

    cursor.integer("anchor level count", expected=num_levels)
    anchors = []
    for _ in range(num_levels):
        count = cursor.integer("feature pixel count")
        anchors.append(cursor.take(count))
    cursor.integer("delta level count", expected=num_levels)
    deltas = []
    for level in range(num_levels):
        cursor.integer("feature pixel count", expected=len(anchors[level]))
        pairs = cursor.take(4 * len(anchors[level])).reshape(-1, 2, 2)
        deltas.append(_floats(pairs[:, :, 0], pairs[:, :, 1]))
    if cursor.pos != len(values):
        raise cursor.fail(f"{len(values) - cursor.pos} unexpected integers after the model")

    try:
        split_idx1, split_idx2, thresholds, leaf_values = (
            np.stack(arrays) for arrays in zip(*forests, strict=True)
        )
        anchor_idx = np.stack(anchors)
        delta_arr = np.stack(deltas)
    except ValueError as exc:
        raise cursor.fail("cascade levels differ in size") from exc
    num_pixels = anchor_idx.shape[1]
    for idx in (split_idx1, split_idx2):
        if idx.min() < 0 or idx.max() >= num_pixels:
            raise cursor.fail("a split refers to a feature pixel that does not exist")
    if anchor_idx.min() < 0 or anchor_idx.max() >= num_parts:
        raise cursor.fail("a feature pixel hangs on a shape part that does not exist")

    def frozen(array: np.ndarray) -> np.ndarray:
        array = np.ascontiguousarray(array)
        array.flags.writeable = False
        return array

    return _Cascade(
        initial_shape=frozen(initial_shape.reshape(num_parts, 2)),
        split_idx1=frozen(split_idx1.astype(np.intp)),
        split_idx2=frozen(split_idx2.astype(np.intp)),
        split_thresh=frozen(thresholds),
        leaf_values=frozen(leaf_values),
        anchor_idx=frozen(anchor_idx.astype(np.intp)),
        deltas=frozen(delta_arr),
    )


# ----------------------------------------------------------------------------------------
# Prediction


def _round_half_up(values: np.ndarray) -> np.ndarray:
    """dlib's conversion of a double point to an integer point: floor(x + 0.5)."""
    return np.floor(values + 0.5)


class LandmarkPredictor:
    """dlib's ``shape_predictor`` for the 5-point face model, in numpy.

    ``predict`` is a pure function of its inputs (the model arrays are read-only), so one
    instance can serve many threads.
    """

    def __init__(self, cascade: _Cascade, source: str = "", load_seconds: float = 0.0) -> None:
        self._cascade = cascade
        self.source = source
        self.load_seconds = load_seconds
        _, trees, splits = cascade.split_idx1.shape
        self._tree_depth = int(math.log2(splits + 1))
        # Row offsets into a level's flattened (tree, node) split arrays: one fancy index
        # then reads the current node of every tree.
        self._tree_rows = np.arange(trees, dtype=np.intp) * splits

    @property
    def num_parts(self) -> int:
        return len(self._cascade.initial_shape)

    @property
    def num_levels(self) -> int:
        return self._cascade.split_idx1.shape[0]

    @property
    def num_trees(self) -> int:
        return self._cascade.split_idx1.shape[0] * self._cascade.split_idx1.shape[1]

    def predict(self, image: np.ndarray, box: Box) -> np.ndarray:
        """Landmarks of the face in ``box``: (parts, 2) float64 image (x, y), as dlib returns.

        ``image`` is (H, W, 3) uint8 RGB or (H, W) uint8 gray. ``box`` should come from
        dlib's face detector (the model was trained on its boxes). Like dlib's
        ``full_object_detection``, the points are whole pixels (rounded with floor(x + 0.5)).
        """
        shape = self._predict_normalised(require_uint8_image(image, "landmarks"), box)
        return _round_half_up(_box_to_image(box, shape.astype(np.float64)))

    def _predict_normalised(self, image: np.ndarray, box: Box) -> np.ndarray:
        """The cascade (dlib ``shape_predictor::operator()``); shape in box-normalised units."""
        c = self._cascade
        height, width = image.shape[:2]
        reference = c.initial_shape
        shape = reference.copy()
        for level in range(self.num_levels):
            # extract_feature_pixel_values: feature pixels follow the current shape through
            # the similarity transform from the mean shape, in float32 as dlib does.
            matrix, _ = find_similarity_transform(reference, shape)
            m = matrix.astype(np.float32)
            delta = c.deltas[level]
            anchor = shape[c.anchor_idx[level]]
            px = m[0, 0] * delta[:, 0] + m[0, 1] * delta[:, 1] + anchor[:, 0]
            py = m[1, 0] * delta[:, 0] + m[1, 1] * delta[:, 1] + anchor[:, 1]
            xy = _round_half_up(_box_to_image(box, np.stack([px, py], axis=1).astype(np.float64)))
            features = _pixel_intensities(image, xy, width, height)

            # All trees of the level descend at once; only the additions stay sequential.
            idx1 = c.split_idx1[level].ravel()
            idx2 = c.split_idx2[level].ravel()
            thresh = c.split_thresh[level].ravel()
            node = np.zeros(len(self._tree_rows), dtype=np.intp)
            for _ in range(self._tree_depth):
                flat = self._tree_rows + node
                go_left = features[idx1[flat]] - features[idx2[flat]] > thresh[flat]
                node = 2 * node + np.where(go_left, 1, 2)
            leaf = node - c.split_idx1.shape[2]
            updates = c.leaf_values[level][np.arange(len(leaf)), leaf]
            # dlib adds the trees' outputs to the float32 shape one after another;
            # accumulate reproduces that rounding (a pairwise sum would not).
            stacked = np.concatenate([shape.reshape(1, -1), updates], axis=0)
            shape = np.add.accumulate(stacked, axis=0, dtype=np.float32)[-1].reshape(-1, 2)
        return shape


def _box_to_image(box: Box, points: np.ndarray) -> np.ndarray:
    """dlib ``unnormalizing_tform(rect)``: (0, 0) → top-left corner, (1, 1) → bottom-right."""
    out = np.empty_like(points)
    out[:, 0] = (box.right - box.left) * points[:, 0] + box.left
    out[:, 1] = (box.bottom - box.top) * points[:, 1] + box.top
    return out


def _pixel_intensities(image: np.ndarray, xy: np.ndarray, width: int, height: int) -> np.ndarray:
    """dlib ``get_pixel_intensity`` at integer points; 0 for points outside the image."""
    x = xy[:, 0].astype(np.intp)
    y = xy[:, 1].astype(np.intp)
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    pixels = image[np.where(inside, y, 0), np.where(inside, x, 0)]
    if pixels.ndim == 2:  # RGB: dlib averages the channels with integer division
        pixels = pixels.astype(np.uint16).sum(axis=1) // 3
    return np.where(inside, pixels, 0).astype(np.float32)


def load_landmark_predictor(path: str | Path | None = None) -> LandmarkPredictor:
    """Read ``shape_predictor_5_face_landmarks.dat`` (or another dlib shape predictor).

    Raises ``ModelFileError`` for a missing, truncated or foreign file. Loading takes
    a fraction of a second; keep the predictor for the life of the process.
    """
    path = Path(path) if path is not None else model_path(LANDMARKS_5_FILE)
    start = time.perf_counter()
    reader = DlibReader.from_file(path)
    cascade = parse_shape_predictor(reader.read_bytes(reader.remaining), name=str(path))
    return LandmarkPredictor(cascade, source=str(path), load_seconds=time.perf_counter() - start)
