"""The open-set threshold: how far a face may be from its nearest enrolled person and still be
named, when most faces shown to Recognize may be strangers.

Verify asks one question per face (is this the claimed person?), so its per-pair false accept
rate F(t) is what matters. Recognize compares a stranger with every one of K enrolled people and
names them if *anyone* is within the threshold, so the false positive identification rate is

    FPIR(t) ≈ 1 − (1 − F(t))^K        (K independent impostor comparisons)

(Grother & Ngan, "Face Recognition Vendor Test: Identification", NIST IR 8238, 2018, §3 on
FPIR growing with the enrolled population). The threshold for a target FPIR is the largest t
with F(t) ≤ 1 − (1 − target)^(1/K); it falls as the gallery grows.

F comes from a table of the model's impostor distance quantiles shipped here, measured once on
LFW by ``bench/open_set.py --impostor-table``, rather than from the gallery's own people: a
gallery of 40 one-shot people gives 780 impostor pairs, far too few to read F at the 2.5e-4 a
1 % FPIR needs at K = 40 (let alone 2.5e-6 at K = 4,000), and a fresh gallery has none.

A saved open-set operating point (chosen on the analyst's own searches in the threshold lab,
``engine.evaluation.operating_point.OpenSetPoint``) wins over the table.
"""

from __future__ import annotations

import math

import numpy as np

from engine.config import Settings
from engine.errors import ModelMismatch
from engine.verification import Threshold, default_threshold

DEFAULT_TARGET_FPIR = 0.01
"""Share of strangers Recognize may name by default: 1 %."""

IMPOSTOR_QUANTILE_LEVELS = (
    1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4,
    1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5,
)  # fmt: skip
"""Per-pair false accept rates F at which the impostor distance is tabulated."""

# ``python -m bench.open_set --impostor-table``: LFW (deep-funneled), one image per person,
# 3,600 people never used as probes or strangers, 6,478,200 pairs (so F = 1e-6 rests on about 6
# pairs: the far tail is the noisiest part). Test-time augmentation "mirror" (the app's
# default); the other augmentations were not measured separately.
DLIB_RESNET_IMPOSTOR_QUANTILES = (
    0.3516, 0.3757, 0.3950, 0.4094, 0.4259, 0.4457, 0.4631, 0.4815, 0.5090,
    0.5306, 0.5526, 0.5820, 0.6055, 0.6301, 0.6663, 0.6983, 0.7374, 0.8137,
)  # fmt: skip

IMPOSTOR_QUANTILES: dict[str, tuple[float, ...]] = {
    "dlib-resnet-v1": DLIB_RESNET_IMPOSTOR_QUANTILES,
}
"""Per model: the impostor distance at each of ``IMPOSTOR_QUANTILE_LEVELS``."""


def per_pair_far(target_fpir: float, gallery_size: int) -> float:
    """The per-pair false accept rate F that gives ``target_fpir`` against ``gallery_size``
    people: solves 1 − (1 − F)^K = target (``log1p``/``expm1`` keep it exact for tiny F)."""
    if not 0 < target_fpir < 1:
        raise ValueError(f"the target FPIR must be between 0 and 1, not {target_fpir}")
    if gallery_size < 1:
        raise ValueError("the gallery must hold at least one person")
    return -math.expm1(math.log1p(-target_fpir) / gallery_size)


def fpir_at(far: float, gallery_size: int) -> float:
    """FPIR ≈ 1 − (1 − F)^K: the chance a stranger is within the threshold of anyone."""
    return -math.expm1(gallery_size * math.log1p(-far))


def impostor_distance_at(
    far: float, levels: tuple[float, ...], quantiles: tuple[float, ...]
) -> float:
    """The distance t with F(t) = ``far``, interpolated linearly in log F between tabulated
    points. Below the table's smallest F the line through its two smallest points is
    extended (and never above the smallest tabulated distance): the tail is thin there, and a
    stricter threshold is the safe side to err on."""
    log_levels = np.log(np.asarray(levels, dtype=np.float64))
    distances = np.asarray(quantiles, dtype=np.float64)
    x = math.log(far)
    if x >= log_levels[0]:
        return float(np.interp(x, log_levels, distances))
    slope = (distances[1] - distances[0]) / (log_levels[1] - log_levels[0])
    return float(min(distances[0], distances[0] + slope * (x - log_levels[0])))


def open_set_threshold(
    model_id: str,
    gallery_size: int,
    target_fpir: float = DEFAULT_TARGET_FPIR,
    *,
    quantiles: tuple[float, ...] | None = None,
    levels: tuple[float, ...] = IMPOSTOR_QUANTILE_LEVELS,
) -> Threshold:
    """The largest distance threshold at which at most ``target_fpir`` of strangers are named
    with ``gallery_size`` people enrolled, from the model's impostor distribution (or the
    ``quantiles`` given at ``levels``). ``ModelMismatch`` when no distribution is known."""
    if quantiles is None:
        if model_id not in IMPOSTOR_QUANTILES:
            raise ModelMismatch(f"no impostor distance distribution is known for {model_id!r}")
        quantiles = IMPOSTOR_QUANTILES[model_id]
    far = per_pair_far(target_fpir, gallery_size)
    value = impostor_distance_at(far, levels, quantiles)
    return Threshold(value, describe(value, target_fpir, gallery_size))


def describe(value: float, target_fpir: float, gallery_size: int) -> str:
    """'threshold 0.55: at most 1 % of strangers named, with 40 people enrolled'."""
    people = "person" if gallery_size == 1 else "people"
    return (
        f"threshold {value:.2f}: at most {target_fpir * 100:g} % of strangers named, "
        f"with {gallery_size:,} {people} enrolled"
    )


def recognize_threshold(
    settings: Settings,
    model_id: str,
    gallery_size: int,
    target_fpir: float = DEFAULT_TARGET_FPIR,
) -> Threshold:
    """Recognize's default: the saved open-set point for ``model_id`` when there is one, else
    ``open_set_threshold`` at this gallery size, else (a model with no known impostor
    distribution) the 1:1 default, with a source that says it is not an open-set one."""
    from engine.evaluation.operating_point import (
        OperatingPointUnreadable,
        read_open_set_point,
    )

    note = ""
    try:
        point = read_open_set_point(settings.data_dir)
    except OperatingPointUnreadable as exc:
        point, note = None, f" ({exc})"
    if point is not None and point.model_id == model_id and _valid(point.threshold):
        return Threshold(point.threshold, point.describe(gallery_size))
    try:
        threshold = open_set_threshold(model_id, max(1, gallery_size), target_fpir)
        return Threshold(threshold.value, threshold.source + note)
    except ModelMismatch:
        one_to_one = default_threshold(settings, model_id)
        return Threshold(
            one_to_one.value,
            f"{one_to_one.source}; a 1:1 threshold: no impostor distribution is known for this "
            f"model, so strangers may be named more often with {gallery_size:,} people enrolled"
            f"{note}",
        )


def _valid(value: float) -> bool:
    return math.isfinite(value) and value > 0
