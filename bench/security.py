"""What hosting safety costs: the login's throttle and hash, and erasure per deletion.

    python -m bench.security [--faces 1000 10000] [--json OUT]

- **Login**: a correct password's check (scrypt verify) and what the throttle adds to it
  (``LoginThrottle.begin`` + ``succeeded`` for a session and an address with no failures) —
  the throttle must add at most 50 ms to a correct login.
- **Erasure**: deleting a person, deleting one face and renaming, in an embedded gallery of N
  synthetic faces (128-d, people of 4 faces). A deletion rebuilds the model's Chroma collection
  from gallery.db and purges the Chroma folder (``store.erasure``), so it grows with N; a
  rename only rewrites one row and truncates the write-ahead log.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.access import LoginThrottle, StoredPassword, hash_password
from store import DEFAULT_MODEL_ID, Gallery, NewFace

FACES_PER_PERSON = 4


def login_costs(runs: int = 20) -> dict[str, float]:
    stored = StoredPassword.parse("password_hash", hash_password("correct horse"))
    verify = []
    for _ in range(runs):
        start = time.perf_counter()
        assert stored.matches("correct horse")
        verify.append(time.perf_counter() - start)
    throttle = LoginThrottle()
    keys = ["session:abc", "address:127.0.0.1"]
    added = []
    for _ in range(runs * 50):
        start = time.perf_counter()
        assert throttle.begin(keys) == 0
        throttle.succeeded(keys)
        added.append(time.perf_counter() - start)
    return {
        "verify_ms_median": statistics.median(verify) * 1e3,
        "throttle_us_median": statistics.median(added) * 1e6,
        "throttle_us_max": max(added) * 1e6,
    }


def _face(rng: np.random.Generator, centre: np.ndarray, tag: str) -> NewFace:
    return NewFace(
        embedding=(centre + rng.normal(0, 0.03, centre.size)).astype(np.float32),
        chip=rng.integers(0, 256, (150, 150, 3), dtype=np.uint8),
        image_sha256=hashlib.sha256(tag.encode()).hexdigest(),
        box=(0.0, 0.0, 99.0, 99.0),
        landmarks=rng.uniform(0, 150, (5, 2)),
        score=1.0,
        model_id=DEFAULT_MODEL_ID,
    )


def erasure_costs(faces: int, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="bench-erasure-") as folder:
        gallery = Gallery(Path(folder) / "gallery")
        people = []
        for p in range(faces // FACES_PER_PERSON):
            centre = rng.normal(0, 0.125, 128).astype(np.float32)
            person = gallery.add_person(f"Person {p}")
            for f in range(FACES_PER_PERSON):
                gallery.enroll(person, _face(rng, centre, f"{p}-{f}"))
            people.append(person)
        timings = {}
        start = time.perf_counter()
        gallery.rename(people[1].id, "Renamed Person")
        timings["rename_s"] = time.perf_counter() - start
        face = gallery.faces_of(people[2].id)[0]
        start = time.perf_counter()
        gallery.delete_face(face.id)
        timings["delete_face_s"] = time.perf_counter() - start
        start = time.perf_counter()
        gallery.delete_person(people[0].id)
        timings["delete_person_s"] = time.perf_counter() - start
        gallery.close()
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.security", description=__doc__)
    parser.add_argument("--faces", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    login = login_costs()
    print("login (a correct password)")
    print(f"  scrypt verify          {login['verify_ms_median']:8.1f} ms (median of 20)")
    print(
        f"  throttle adds          {login['throttle_us_median']:8.1f} µs median, "
        f"{login['throttle_us_max']:.1f} µs max (target ≤ 50 ms)"
    )
    print()
    print(f"{'faces':>8} {'rename s':>10} {'delete face s':>14} {'delete person s':>16}")
    erasure = {}
    for n in args.faces:
        row = erasure_costs(n)
        erasure[n] = row
        print(
            f"{n:>8,} {row['rename_s']:>10.3f} {row['delete_face_s']:>14.3f} "
            f"{row['delete_person_s']:>16.3f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"machine": platform.platform(), "login": login, "erasure": erasure}
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
