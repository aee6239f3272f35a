"""One training run, as the Train page and ``cli.py train`` both run it.

    session = TrainingSession(data, options)               # who trains, who is held out
    report = session.run(progress=..., should_stop=...)    # train, then measure
    save_trained_model(data_dir, report.model, report.metadata(data=name), actor=actor)

The steps, each written once: hold ``test_share`` of the people out for the before/after
comparison; train a projection head on the base descriptors (of augmented views, with
``augment_views``) or fine-tune the face ResNet's top on the images' chips (``fine_tune``),
keeping the best epoch on ``held_out`` of the training people; choose the distance threshold on
the training people's pairs; score the base and the trained model at it on the held-out people's
pairs and on any evaluation pairs given; describe the checkpoint. Both splits follow one rule,
``engine.training.validation.MIN_PEOPLE_TO_HOLD_OUT``. Saving is a separate call, which checks
the actor's permission (``engine.training.models.save_trained_model``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from engine.evaluation.embedding import EmbeddedPairs
from engine.evaluation.protocol import run_evaluation
from engine.evaluation.scoring import VerificationReport
from engine.training.data import TrainingSet
from engine.training.loop import EpochStats, TrainResult, train_projection
from engine.training.options import TrainingOptions
from engine.training.projection import derive_model_id
from engine.training.validation import share_to_hold_out, split_people

if TYPE_CHECKING:
    from engine.faces.pipeline import FacePipeline

Preparing = Callable[[str, int, int], None]
"""``preparing(stage, done, total)``: chips cut, trunk features computed ("chips", "trunk",
"eval chips") before training starts."""


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """Accuracy, its protocol, EER and TAR at FAR 1e-2 of a report's ``as_dict()``."""
    tar = next((r for r in report["tar_at_far"] if r["target_far"] == 1e-2), None)
    return {
        "accuracy": report["accuracy"],
        "protocol": report["protocol"],
        "eer": report["eer"],
        "tar_at_far_1e-2": tar["tar"] if tar and tar["measurable"] else None,
    }


@dataclass(frozen=True)
class Comparison:
    """The base model (before) and the trained one (after) on the same pairs, each at the
    threshold it reaches on the training people's pairs — on those pairs themselves, the
    optimistic protocol, when they are the training people's."""

    before: VerificationReport
    after: VerificationReport

    @classmethod
    def of(
        cls,
        pairs: EmbeddedPairs,
        trained: EmbeddedPairs,
        threshold_on: tuple[EmbeddedPairs, EmbeddedPairs] | None = None,
    ) -> Comparison:
        """``pairs`` as embedded by the base model and as ``trained`` embeds them; thresholds
        from ``threshold_on`` (the training pairs, base and trained), else from themselves."""
        base_on, trained_on = threshold_on or (None, None)
        return cls(
            run_evaluation("distance", pairs, base_on).report,
            run_evaluation("distance", trained, trained_on).report,
        )

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {"before": self.before.as_dict(), "after": self.after.as_dict()}

    def headline(self) -> dict[str, dict[str, Any]]:
        """The headline figures before and after, as a checkpoint's metadata keeps them."""
        return {when: headline(report) for when, report in self.as_dict().items()}


@dataclass(frozen=True)
class TrainingReport:
    """A finished (or stopped) run: the model, its curves and how it compares with the base."""

    result: TrainResult
    model_id: str
    """``<base>+head-<hash>`` for a head, ``<base>+ft<levels>-<hash>`` for a fine-tuned top."""
    options: TrainingOptions
    """As run: ``held_out`` and ``test_share`` are 0 where there were too few people."""
    people: int
    images: int
    """People and images trained on (those set aside to pick the epoch among them)."""
    test_people: tuple[str, ...]
    """The people held out for the comparison; empty when there were too few."""
    comparisons: dict[str, Comparison]
    """By the pairs compared on: "train", the training people's (optimistic); "held-out", the
    test people's; "eval", the evaluation pairs given. Empty when the run was stopped."""
    threshold: float | None
    """The trained model's most accurate distance threshold on the training people's pairs:
    saved as its default on Verify and Recognize (None when stopped)."""
    seconds: float
    """Time spent training (without the chips before or the figures after)."""

    @property
    def model(self) -> nn.Module:
        return self.result.model

    @property
    def cancelled(self) -> bool:
        return self.result.cancelled

    def metadata(self, data: str) -> dict[str, Any]:
        """Checkpoint metadata for ``save_trained_model``; ``data`` names the training set as
        the user chose it (a folder, an upload's name)."""
        options, result = self.options, self.result
        meta = result.metadata(data)
        meta.update(
            threshold=self.threshold,
            held_out=options.held_out,
            held_out_baseline=asdict(result.baseline) if result.baseline else None,
            test_share=options.test_share,
            weight_decay=options.weight_decay_for(result.model),
            fine_tuned_levels=options.fine_tune,
            augment_views=options.views,
            people=self.people,
            images=self.images,
            lr=options.lr,
            p=options.p,
            k=options.k,
            seed=options.seed,
            history=[asdict(h) for h in result.history],
            evaluation={name: c.headline() for name, c in self.comparisons.items()},
        )
        return meta


class TrainingSession:
    """One training run over an embedded ``TrainingSet`` (``load_training_set``, with the base
    model: a head is trained on top of the pretrained vectors, whatever model is in use).

    Constructing it splits the people (cheap): ``options`` is then the options as they will
    run (a share is 0 where the people are too few for it), ``people`` those who train and
    ``test_people`` those held out for the comparison; ``run`` trains and measures.
    ``pipeline`` and ``cache_dir`` are needed to cut the images' chips (fine-tuning, augmented
    views); ``eval_pairs`` (embedded with the same base model) adds a comparison on those pairs.
    """

    def __init__(
        self,
        data: TrainingSet,
        options: TrainingOptions,
        *,
        pipeline: FacePipeline | None = None,
        cache_dir: str | Path | None = None,
        eval_pairs: EmbeddedPairs | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        if len(data.people) < 2:
            raise ValueError("training needs two or more people with two or more face images each")
        if pipeline is None and (options.fine_tune or options.views > 1):
            raise ValueError("fine-tuning and augmented views need the face pipeline for chips")
        self.data, self.eval_pairs = data, eval_pairs
        self.pipeline, self.cache_dir, self.device = pipeline, cache_dir, device
        test_share = share_to_hold_out(len(data.people), options.test_share)
        if test_share:
            self.train_idx, self.test_idx = split_people(data.labels, test_share, options.seed)
        else:
            self.train_idx, self.test_idx = np.arange(len(data)), np.zeros(0, np.int64)
        self.people = len(np.unique(data.labels[self.train_idx]))
        self.test_people = tuple(data.people[i] for i in np.unique(data.labels[self.test_idx]))
        held_out = share_to_hold_out(self.people, options.held_out)
        self.options = replace(options, test_share=test_share, held_out=held_out)

    def run(
        self,
        progress: Callable[[EpochStats], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        preparing: Preparing | None = None,
    ) -> TrainingReport:
        """Train (``progress`` after each epoch; ``should_stop`` before each batch, and between
        chunks of chips, which raises ``InterruptedError``), then measure unless stopped."""
        hooks = _Hooks(progress, should_stop, preparing)
        started = time.monotonic()
        train = self._fine_tune if self.options.fine_tune else self._train_head
        result, model_id, vectors = train(hooks)
        seconds = time.monotonic() - started
        comparisons = {} if result.cancelled else self._compare(model_id, vectors)
        return TrainingReport(
            result=result,
            model_id=model_id,
            options=self.options,
            people=self.people,
            images=len(self.train_idx),
            test_people=self.test_people,
            comparisons=comparisons,
            threshold=comparisons["train"].after.threshold if comparisons else None,
            seconds=seconds,
        )

    # --- training ------------------------------------------------------------------------------
    # Each way returns the result, the model's id and its vectors of the training set's images
    # ("data") and of the evaluation pairs' ("eval").
    def _train_head(self, hooks: _Hooks) -> tuple[TrainResult, str, dict[str, np.ndarray]]:
        data = self.data
        inputs = data.embeddings[self.train_idx]
        if self.options.views > 1:  # (n, V, D): descriptors of augmented chips, view 0 as is
            inputs = self._augmented_descriptors(hooks)
        result = self._train(inputs, hooks, views=inputs.ndim == 3)
        vectors = {"data": result.model.embed(data.embeddings)}
        if self.eval_pairs is not None:
            vectors["eval"] = result.model.embed(np.nan_to_num(self.eval_pairs.embeddings))
        return result, derive_model_id(data.model_id, result.model), vectors

    def _fine_tune(self, hooks: _Hooks) -> tuple[TrainResult, str, dict[str, np.ndarray]]:
        """The ResNet's last level(s) on the chips, the frozen trunk's features computed once."""
        from engine.training.augment import augmented_views
        from engine.training.finetune import derive_finetune_id, embed_views, load_trunk_and_top

        data, stop = self.data, hooks.should_stop
        trunk, top = load_trunk_and_top(self.options.fine_tune, self.device)
        chips = self._chips(self._paths(np.arange(len(data))), "chips", hooks)
        progress = hooks.stage("trunk")
        features = trunk.features(chips, mirror=True, progress=progress, should_stop=stop)
        # Train on a bank of augmented views (flip, crop jitter, colour; view 0 = the chip);
        # describe with the embedder's mirror views, as the base descriptors were made ("jitter"
        # needs the photos, so it falls back to mirror here).
        bank = augmented_views(chips[self.train_idx], self.options.views, seed=self.options.seed)
        n, count = bank.shape[:2]
        bank_features = trunk.features(bank.reshape(n * count, *bank.shape[2:]), should_stop=stop)
        bank_features = bank_features.reshape(n, count, *bank_features.shape[1:])
        del bank
        result = self._train(bank_features, hooks, model=top, views=True)
        model_id = derive_finetune_id(data.model_id, result.model)
        if result.cancelled:
            return result, model_id, {}
        vectors = {"data": embed_views(result.model, self._views_of(features))}
        if self.eval_pairs is not None:
            pairs = self.eval_pairs.pairs
            paths = [pairs.image_path(i) for i in range(len(pairs.images))]
            eval_chips = self._chips(paths, "eval chips", hooks, pairs.centred_fallback)
            eval_features = trunk.features(eval_chips, mirror=True)
            vectors["eval"] = embed_views(result.model, self._views_of(eval_features))
        return result, model_id, vectors

    def _train(
        self, inputs: np.ndarray, hooks: _Hooks, *, model: nn.Module | None = None, views: bool
    ) -> TrainResult:
        return train_projection(
            inputs,
            self.data.labels[self.train_idx],
            self.options,
            model=model,
            views=views,
            device=self.device,
            base_model_id=self.data.model_id,
            progress=hooks.progress,
            should_stop=hooks.should_stop,
        )

    def _augmented_descriptors(self, hooks: _Hooks) -> np.ndarray:
        """Base descriptors of ``views`` views of each training image (view 0: its descriptor)."""
        from engine.training.augment import augmented_views

        idx = self.train_idx
        chips = self._chips(self._paths(idx), "chips", hooks)
        bank = augmented_views(chips, self.options.views, seed=self.options.seed)[:, 1:]
        n, extra = bank.shape[:2]
        flat = bank.reshape(n * extra, *bank.shape[2:])
        more = self.pipeline.embedder.embed_chips(flat, mirror=self._mirror)
        return np.concatenate(
            [self.data.embeddings[idx][:, None], more.reshape(n, extra, -1)], axis=1
        )

    @property
    def _mirror(self) -> bool:
        """Whether the pipeline describes a face by it and its mirror image (the base model's
        descriptors were made so)."""
        return self.pipeline.options.augment != "none"

    def _views_of(self, features: np.ndarray) -> np.ndarray:
        """(N, 2, ...) trunk features of each chip and its mirror image: both with ``_mirror``,
        else the chip alone."""
        return features if self._mirror else features[:, :1]

    def _paths(self, idx: np.ndarray) -> list[Path]:
        return [self.data.root / self.data.images[i] for i in idx]

    def _chips(
        self, paths: list[Path], stage: str, hooks: _Hooks, centred_fallback: bool = False
    ) -> np.ndarray:
        from engine.training.chips import image_chips

        chips, _ = image_chips(
            self.pipeline,
            paths,
            self.cache_dir,
            centred_fallback=centred_fallback,
            progress=hooks.stage(stage),
            should_stop=hooks.should_stop,
        )
        return chips

    # --- measuring -----------------------------------------------------------------------------
    def _compare(self, model_id: str, vectors: dict[str, np.ndarray]) -> dict[str, Comparison]:
        """Before and after on the training people's pairs, the held-out people's (at the
        training pairs' thresholds) and the evaluation pairs (likewise)."""
        seed = self.options.seed
        train = self.data.pairs(seed=seed, among=self.train_idx)
        trained = _with_vectors(train, vectors["data"], model_id)
        comparisons = {"train": Comparison.of(train, trained)}
        if len(self.test_idx):
            name = "the held-out people's pairs"
            test = self.data.pairs(seed=seed, among=self.test_idx, name=name)
            after = _with_vectors(test, vectors["data"], model_id)
            comparisons["held-out"] = Comparison.of(test, after, (train, trained))
        if self.eval_pairs is not None:
            after = _with_vectors(self.eval_pairs, vectors["eval"], model_id)
            comparisons["eval"] = Comparison.of(self.eval_pairs, after, (train, trained))
        return comparisons


def _with_vectors(embedded: EmbeddedPairs, vectors: np.ndarray, model_id: str) -> EmbeddedPairs:
    """The pairs with the trained model's vectors (images without a face stay empty)."""
    out = np.array(vectors, dtype=np.float32)
    out[~np.isfinite(embedded.embeddings).all(axis=1)] = np.nan
    return replace(embedded, embeddings=out, model_id=model_id)


@dataclass(frozen=True)
class _Hooks:
    """A run's callbacks, handed down its steps together."""

    progress: Callable[[EpochStats], None] | None
    should_stop: Callable[[], bool] | None
    preparing: Preparing | None

    def stage(self, name: str) -> Callable[[int, int], None] | None:
        """``preparing`` for one stage, as ``(done, total)`` progress."""
        preparing = self.preparing
        if preparing is None:
            return None
        return lambda done, total: preparing(name, done, total)
