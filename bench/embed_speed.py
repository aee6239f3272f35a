"""Face-descriptor speed: our PyTorch port of dlib's face ResNet against dlib itself.

    python -m bench.embed_speed [--lfw ../shared/data/lfw] [--json OUT]

Same chips, same run. The chips are real aligned faces: dlib's HOG detector → 5 landmarks →
``get_face_chip(150, 0.25)`` on astronaut and grace_hopper, then ``dlib.jitter_image`` (small
random crops, rotations, scalings, flips — dlib's own test-time jitter) to make 64 of them; or
the first faces of LFW with ``--lfw``. Engines:

- dlib (``dlib-bin``): ``compute_face_descriptor`` on the list of chips. It is built without
  BLAS and runs on one core; the "CPU use" column shows it.
- ours: ``FaceEmbedder`` on CPU with the affine layers folded into the convs (the default) and
  unfolded, ``embed_chips`` in batches.

Each thread count is enforced for both engines by pinning the process to that many cores
(``sched_setaffinity``) and setting ``torch.set_num_threads``. Also reported: the largest
absolute difference between our descriptors and dlib's on the same chips.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine.faces.embedder import FaceEmbedder
from engine.faces.model_files import FACE_RESNET_FILE, LANDMARKS_5_FILE, model_path

NUM_CHIPS = 64


@dataclass
class Timing:
    threads: int
    engine: str
    faces_per_s: float
    ms_per_face: float
    cpu_use: float  # CPU seconds per wall second: how many cores the engine kept busy
    vs_dlib: float = 0.0

    @classmethod
    def of(cls, threads: int, engine: str, faces: int, wall: float, cpu_use: float) -> Timing:
        return cls(threads, engine, faces / wall, 1000 * wall / faces, cpu_use)


class DlibChipMaker:
    """dlib's alignment (the reference chips every engine here embeds)."""

    def __init__(self) -> None:
        import dlib

        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.landmarks = dlib.shape_predictor(str(model_path(LANDMARKS_5_FILE)))

    def chip(self, image: np.ndarray, prefer_centre: bool = False) -> np.ndarray | None:
        """Chip of the best face (or of the one nearest the centre, LFW's convention)."""
        image = np.ascontiguousarray(image)
        boxes, scores, _ = self.detector.run(image, 1)
        if not boxes:
            return None
        if prefer_centre:
            cy, cx = image.shape[0] / 2, image.shape[1] / 2
            box = min(boxes, key=lambda b: (b.center().x - cx) ** 2 + (b.center().y - cy) ** 2)
        else:
            box = boxes[int(np.argmax(scores))]
        return self.dlib.get_face_chip(image, self.landmarks(image, box), 150, 0.25)


def sample_images() -> list[np.ndarray]:
    """The two portraits the tests use, from packages already installed."""
    import matplotlib.cbook
    from skimage import data

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        grace_hopper = np.asarray(Image.open(f).convert("RGB"))
    return [np.ascontiguousarray(data.astronaut()), grace_hopper]


def jittered_sample_chips(maker: DlibChipMaker, count: int) -> tuple[np.ndarray, str]:
    images = sample_images()
    per_image = -(-count // len(images))
    chips = []
    for image in images:
        chip = maker.chip(image)
        assert chip is not None, "dlib found no face in a sample portrait"
        chips += [np.asarray(c) for c in maker.dlib.jitter_image(chip, per_image)]
    source = f"astronaut + grace_hopper, dlib.jitter_image ×{per_image} each"
    return np.stack(chips[:count]), source


def lfw_chips(maker: DlibChipMaker, lfw_dir: Path, count: int) -> tuple[np.ndarray, str]:
    chips = []
    for path in sorted(lfw_dir.glob("*/*.jpg")):
        chip = maker.chip(np.asarray(Image.open(path).convert("RGB")), prefer_centre=True)
        if chip is not None:
            chips.append(chip)
        if len(chips) == count:
            break
    if len(chips) < count:
        raise SystemExit(f"found only {len(chips)} faces under {lfw_dir}")
    return np.stack(chips), f"first {count} LFW faces under {lfw_dir}"


def pin_to_cores(cores: list[int], threads: int) -> bool:
    """Run this process (dlib included) on ``threads`` of ``cores``, torch with as many threads."""
    if len(cores) < threads:
        return False
    os.sched_setaffinity(0, cores[:threads])
    torch.set_num_threads(threads)
    return True


def best_time(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Fastest wall time of ``repeats`` runs, and the CPU use during that run."""
    best_wall, best_cpu = float("inf"), 0.0
    for _ in range(repeats):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        run()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        if wall < best_wall:
            best_wall, best_cpu = wall, cpu
    return best_wall, best_cpu / best_wall


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lfw", type=Path, help="take the chips from LFW images under DIR")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="ours: best of N (dlib: 1)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    import dlib

    maker = DlibChipMaker()
    if args.lfw:
        chips, source = lfw_chips(maker, args.lfw, NUM_CHIPS)
    else:
        chips, source = jittered_sample_chips(maker, NUM_CHIPS)
    chip_list = list(chips)
    recognizer = dlib.face_recognition_model_v1(str(model_path(FACE_RESNET_FILE)))
    ours = {
        "ours (folded)": FaceEmbedder(device="cpu", fold_affine=True),
        "ours (unfolded)": FaceEmbedder(device="cpu", fold_affine=False),
    }

    reference = np.asarray(
        [np.asarray(d) for d in recognizer.compute_face_descriptor(chip_list)], np.float32
    )
    max_abs_diff = {
        name: float(np.abs(e.embed_chips(chips) - reference).max()) for name, e in ours.items()
    }

    timings: list[Timing] = []
    cores = sorted(os.sched_getaffinity(0))
    for threads in args.threads:
        if not pin_to_cores(cores, threads):
            print(f"skipping {threads} threads: not enough cores")
            continue
        wall, cpu_use = best_time(lambda: recognizer.compute_face_descriptor(chip_list), 1)
        dlib_timing = Timing.of(threads, "dlib compute_face_descriptor", len(chips), wall, cpu_use)
        dlib_timing.vs_dlib = 1.0
        timings.append(dlib_timing)
        for name, embedder in ours.items():
            embedder.embed_chips(chips[: args.batch_size], batch_size=args.batch_size)  # warm up

            def embed(e: FaceEmbedder = embedder) -> np.ndarray:
                return e.embed_chips(chips, batch_size=args.batch_size)

            wall, cpu_use = best_time(embed, args.repeats)
            timing = Timing.of(threads, name, len(chips), wall, cpu_use)
            timing.vs_dlib = timing.faces_per_s / dlib_timing.faces_per_s
            timings.append(timing)

    print(
        f"{len(chips)} chips 150×150 ({source}); "
        f"ours: batch {args.batch_size}, best of {args.repeats}; dlib: one pass"
    )
    print(f"{cpu_name()}, torch {torch.__version__}, dlib {dlib.__version__}")
    columns = ("threads", "engine", "faces/s", "ms/face", "CPU use", "vs dlib")
    header = "{:>7}  {:<28} {:>8} {:>8} {:>8} {:>8}".format(*columns)
    print(header)
    print("-" * len(header))
    for t in timings:
        print(
            f"{t.threads:>7}  {t.engine:<28} {t.faces_per_s:>8.1f} {t.ms_per_face:>8.2f} "
            f"{t.cpu_use:>8.2f} {t.vs_dlib:>7.1f}×"
        )
    starved = [t for t in timings if t.engine.startswith("ours") and t.cpu_use < 0.8 * t.threads]
    if starved:
        print(
            f"note: torch got under 80% of the cores it was given in {len(starved)} row(s) "
            f"(load average {os.getloadavg()[0]:.1f}): other processes compete, rerun when idle"
        )
    for name, diff in max_abs_diff.items():
        print(f"max |{name} − dlib| over {chips.shape[0]}×128 values: {diff:.2e}")

    result = {
        "chips": {"count": len(chips), "source": source},
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "cpu": cpu_name(),
        "torch": torch.__version__,
        "dlib": dlib.__version__,
        "timings": [asdict(t) for t in timings],
        "max_abs_diff_vs_dlib": max_abs_diff,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False))
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
