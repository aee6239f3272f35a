"""Face chips → 128-d descriptors with dlib's face ResNet, run in PyTorch.

Built once (parsing the 22 MB file takes about a second) and shared: pages get it from a
``st.cache_resource`` factory, batch jobs create one per process.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from engine.device import full_float32_convolutions, pick_device
from engine.faces.resnet import FaceResNet, load_face_resnet
from engine.faces.weights import FACE_RESNET_V1, ModelWeights


class FaceEmbedder:
    """Embeds aligned face chips (150×150 RGB uint8, as dlib's ``get_face_chip`` makes them).

    Descriptors match dlib's ``compute_face_descriptor`` to ~1e-6 and are not L2-normalized:
    dlib's same-person rule is Euclidean distance < 0.6 on the raw vectors.

    Thread safety: one instance is shared by every Streamlit session, so ``embed_chips`` holds
    a lock around the forward pass. Inference itself would be safe without it (the model is
    read-only in eval mode), but concurrent forwards on CPU would each start a full set of
    intra-op threads and oversubscribe the cores; serializing them is faster overall.
    """

    def __init__(
        self,
        weights: ModelWeights = FACE_RESNET_V1,
        device: torch.device | str | None = None,
        fold_affine: bool = True,
        path: str | Path | None = None,
    ) -> None:
        self._weights = weights
        self.device = pick_device(str(device)) if device is not None else pick_device()
        model: FaceResNet = load_face_resnet(path if path is not None else weights.path())
        if fold_affine:
            model = model.fold_affine()
        # Channels-last weights match the channels-last chips from ``weights.preprocess``.
        model = model.to(self.device, memory_format=torch.channels_last)
        self.model = model.eval().requires_grad_(False)
        self._lock = threading.Lock()

    @property
    def weights(self) -> ModelWeights:
        return self._weights

    @property
    def model_id(self) -> str:
        """Stored with every embedding, so vectors of different models are never compared."""
        return self._weights.model_id

    @property
    def embedding_dim(self) -> int:
        return self.model.fc.out_features

    def embed_chips(
        self,
        chips: np.ndarray | Sequence[np.ndarray],
        batch_size: int = 64,
        mirror: bool = False,
    ) -> np.ndarray:
        """Descriptors (N, 128) float32 for uint8 RGB chips (N, 150, 150, 3) or a list of them.

        ``mirror=True`` is test-time augmentation: each descriptor is the mean of the chip's
        and its horizontal flip's (left un-normalized, like dlib's jittered descriptors).
        """
        batch = self._as_chip_array(chips)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        out = np.empty((len(batch), self.embedding_dim), dtype=np.float32)
        with self._lock, torch.inference_mode(), full_float32_convolutions(self.device):
            for start in range(0, len(batch), batch_size):
                x = self._weights.preprocess(batch[start : start + batch_size], self.device)
                if mirror:
                    n = len(x)
                    both = self.model(torch.cat([x, x.flip(-1)]))
                    emb = (both[:n] + both[n:]) / 2
                else:
                    emb = self.model(x)
                out[start : start + len(x)] = emb.float().cpu().numpy()
        return out

    def embed_chip(self, chip: np.ndarray, mirror: bool = False) -> np.ndarray:
        """Descriptor (128,) of a single chip."""
        return self.embed_chips(chip[None], mirror=mirror)[0]

    def _as_chip_array(self, chips: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """One contiguous uint8 (N, H, W, 3) array, or a ValueError that says what is wrong."""
        height, width = self._weights.input_size or (0, 0)
        expected = (height, width, 3)
        if not isinstance(chips, np.ndarray):
            chip_list = list(chips)
            for i, chip in enumerate(chip_list):
                if not isinstance(chip, np.ndarray) or chip.shape != expected:
                    got = getattr(chip, "shape", type(chip).__name__)
                    raise ValueError(f"chip {i}: expected shape {expected}, got {got}")
            if not chip_list:
                return np.empty((0, *expected), dtype=np.uint8)
            chips = np.stack(chip_list)
        if chips.ndim != 4 or chips.shape[1:] != expected:
            raise ValueError(f"chips must have shape (N, {height}, {width}, 3), got {chips.shape}")
        if chips.dtype != np.uint8:
            raise ValueError(f"chips must be uint8 RGB (0–255), got {chips.dtype}")
        return np.ascontiguousarray(chips)
