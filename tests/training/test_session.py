"""TrainingOptions, the one held-out rule, a whole TrainingSession on synthetic descriptors, and
the model in use as the app and the CLI both resolve it."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest

from engine.permissions import OPERATOR, Actor, PermissionDenied, Role
from engine.training import BASE_MODEL_ID, MINERS, TrainingOptions, load_checkpoint
from engine.training.data import TrainingSet
from engine.training.models import (
    checkpoint_path,
    pipeline_in_use,
    save_trained_model,
    set_active_model,
)
from engine.training.options import HEAD_WEIGHT_DECAY
from engine.training.session import TrainingSession
from engine.training.validation import MIN_PEOPLE_TO_HOLD_OUT
from tests.training.test_loop import clustered
from tests.training.test_models import save, scaled_head


def training_set(n_ids: int, per_id: int = 8) -> TrainingSet:
    x, y = clustered(n_ids=n_ids, per_id=per_id)
    people = tuple(f"P{i:02d}" for i in range(n_ids))
    return TrainingSet(
        root=Path("synthetic"),
        images=tuple(f"{people[label]}/{i}.jpg" for i, label in enumerate(y)),
        embeddings=x,
        labels=y.astype(np.int64),
        people=people,
        model_id=BASE_MODEL_ID,
        listed_images=len(y),
        skipped={},
    )


def test_defaults_and_choices_live_in_the_options() -> None:
    defaults = {f.name: f.default for f in fields(TrainingOptions)}
    assert defaults["miner"] in MINERS and defaults["epochs"] == 10
    assert TrainingOptions().weight_decay_for(scaled_head()) == HEAD_WEIGHT_DECAY
    assert TrainingOptions().views == 1 and TrainingOptions(fine_tune=1).views == 4


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"miner": "hardest"}, "unknown miner"),
        ({"p": 1}, "P and K"),
        ({"held_out": 1.0}, "share of the people"),
        ({"test_share": -0.1}, "share of the people"),
        ({"fine_tune": 3}, "fine-tune"),
        ({"epochs": 0}, "epochs"),
        ({"lr": 0.0}, "learning rate"),
    ],
)
def test_options_are_checked_with_a_sentence(knobs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainingOptions(**knobs)


def test_one_rule_holds_people_out_from_four() -> None:
    assert MIN_PEOPLE_TO_HOLD_OUT == 4
    few = TrainingSession(training_set(3), TrainingOptions())
    assert few.test_people == () and few.people == 3
    assert (few.options.test_share, few.options.held_out) == (0.0, 0.0)
    # Four people: two held out for the comparison, two train (too few to pick an epoch).
    four = TrainingSession(training_set(4), TrainingOptions())
    assert len(four.test_people) == 2 and four.people == 2 and four.options.held_out == 0.0
    # The CLI's way: no comparison split, so everyone trains and the epoch split applies.
    cli = TrainingSession(training_set(4), TrainingOptions(test_share=0.0))
    assert cli.test_people == () and cli.options.held_out == 0.2


def test_a_session_trains_compares_and_describes_its_checkpoint(tmp_path: Path) -> None:
    data = training_set(20)
    options = TrainingOptions(miner="batch-all", epochs=2, lr=1e-2, seed=0)
    seen = []
    report = TrainingSession(data, options).run(progress=seen.append)
    assert not report.cancelled and [s.epoch for s in seen] == [1, 2]
    assert len(report.test_people) == 4 and report.people == 16 and report.images == 128
    assert set(report.comparisons) == {"train", "held-out"}
    held_out = report.comparisons["held-out"]
    assert held_out.before.protocol.startswith("threshold chosen on the training people's pairs")
    assert report.threshold == report.comparisons["train"].after.threshold
    assert report.result.best_epoch is not None  # 16 training people: the epoch split applies

    meta = report.metadata(data="synthetic")
    assert meta["evaluation"]["held-out"]["after"]["accuracy"] == held_out.after.accuracy
    assert (meta["held_out"], meta["test_share"], meta["weight_decay"]) == (0.2, 0.2, 1e-4)
    with pytest.raises(PermissionDenied):
        save_trained_model(tmp_path, report.model, meta, actor=Actor(Role.USER))
    path, saved = save_trained_model(tmp_path, report.model, meta, actor=OPERATOR)
    assert saved["model_id"] == report.model_id == load_checkpoint(path).model_id


def test_a_stopped_session_measures_nothing() -> None:
    options = TrainingOptions(epochs=5, held_out=0.0, test_share=0.0)
    report = TrainingSession(training_set(8), options).run(should_stop=lambda: True)
    assert report.cancelled and report.comparisons == {} and report.threshold is None


def test_chips_need_the_pipeline() -> None:
    with pytest.raises(ValueError, match="pipeline"):
        TrainingSession(training_set(4), TrainingOptions(augment_views=2))


class FakePipeline:
    """What ``pipeline_in_use`` uses of a ``FacePipeline``: its base id, ``with_projection``."""

    base_model_id = BASE_MODEL_ID

    def __init__(self, projection=None) -> None:
        self.projection = projection

    def with_projection(self, projection) -> FakePipeline:
        return FakePipeline(projection)


def test_the_model_in_use_falls_back_with_a_reason(tmp_path: Path) -> None:
    base = FakePipeline()
    assert pipeline_in_use(base, tmp_path) == (base, None)
    chosen = save(tmp_path, scaled_head())
    set_active_model(tmp_path, chosen, BASE_MODEL_ID, actor=OPERATOR)
    in_use, problem = pipeline_in_use(base, tmp_path)
    assert problem is None and in_use.projection.model_id == chosen
    checkpoint_path(tmp_path, chosen).write_bytes(b"not a checkpoint")
    in_use, problem = pipeline_in_use(base, tmp_path)
    assert in_use is base and chosen in problem


def test_replace_keeps_options_checked() -> None:
    with pytest.raises(ValueError, match="unknown miner"):
        replace(TrainingOptions(), miner="hardest")
