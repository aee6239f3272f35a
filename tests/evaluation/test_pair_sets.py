"""Pair sets from an LFW-format pairs file or a ``<person>/<images>`` folder: every genuine
pair, a seeded impostor sample, and plain errors for what cannot be paired."""

from __future__ import annotations

import numpy as np
import pytest

from engine.evaluation.pair_sets import (
    DatasetError,
    pairs_from_file,
    pairs_from_folder,
    sample_impostor_pairs,
)


def _touch_folder(root, layout: dict[str, int]) -> None:
    for person, count in layout.items():
        (root / person).mkdir(parents=True)
        for i in range(count):
            (root / person / f"{person}_{i:04d}.jpg").write_bytes(b"")


def test_folder_pairs_are_every_genuine_pair_and_a_seeded_impostor_sample(tmp_path):
    _touch_folder(tmp_path, {"Ann": 3, "Bob": 2, "Cid": 1})
    (tmp_path / "notes.txt").write_text("not in a person folder")
    pairs = pairs_from_folder(tmp_path, impostors=5, seed=7)
    assert len(pairs.images) == 6 and pairs.genuine == 3 + 1 and pairs.impostors == 5
    ids = np.array(pairs.identities)
    assert (ids[pairs.a] == ids[pairs.b]).tolist() == pairs.same.tolist()
    impostor_pairs = {(a, b) for a, b, s in zip(pairs.a, pairs.b, pairs.same, strict=True) if not s}
    assert len(impostor_pairs) == 5  # no repeats
    again = pairs_from_folder(tmp_path, impostors=5, seed=7)
    assert np.array_equal(again.a, pairs.a) and np.array_equal(again.b, pairs.b)
    assert "5 of 11 impostor pairs sampled with seed 7" in pairs.note
    everything = pairs_from_folder(tmp_path, impostors=100)
    assert everything.impostors == 11 and "all 11 impostor pairs" in everything.note


def test_impostor_sampling_of_a_large_set_draws_distinct_cross_person_pairs():
    person_of = np.repeat(np.arange(500), 2)  # 1,000 images: 498,500 impostor pairs
    a, b, available = sample_impostor_pairs(person_of, 3000, seed=1)
    assert available == (1000 * 1000 - 500 * 4) // 2
    assert len(a) == 3000 and len(set(zip(a, b, strict=True))) == 3000
    assert (a < b).all() and (person_of[a] != person_of[b]).all()


def test_folder_and_file_problems_are_plain_errors(tmp_path):
    _touch_folder(tmp_path / "one", {"Ann": 3})
    with pytest.raises(DatasetError, match="one person only"):
        pairs_from_folder(tmp_path / "one")
    with pytest.raises(DatasetError, match="no images"):
        pairs_from_folder(tmp_path / "one" / "Ann")
    pairs_file = tmp_path / "pairs.txt"
    pairs_file.write_text("1\nAnn 1 2\nAnn 1 Bob 1\n")
    with pytest.raises(DatasetError, match=r"1 of 3 images of pairs\.txt are missing"):
        pairs_from_file(pairs_file, tmp_path / "one")
