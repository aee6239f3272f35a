"""Vision Lab batch jobs: ``python cli.py COMMAND ... [--data DIR] [--json]``.

``--json`` prints one JSON document on stdout. Any failure exits non-zero with a one-line
message on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import VisionLabError
from engine.permissions import OPERATOR

if TYPE_CHECKING:  # the heavy modules load inside the commands that need them
    import numpy as np

    from engine.config import Settings
    from engine.enrollment import FileOutcome
    from engine.evaluation.datasets import EmbeddedPairs
    from engine.faces.pipeline import Face, FacePipeline
    from engine.training import TrainResult
    from engine.training.data import TrainingSet
    from engine.training.head import LoadedHead
    from engine.verification import Threshold
    from store import Gallery, Person
    from store.guarded import GuardedGallery


def cmd_faces(args: argparse.Namespace) -> dict[str, Any]:
    """Find the faces in one image: boxes, scores, landmarks (and embeddings with --embed)."""
    pipeline = _pipeline()
    faces = pipeline.analyze(args.image, embed=args.embed)
    return {
        "image": str(args.image),
        "model_id": pipeline.model_id,
        "faces": [
            {
                "box": [f.box.left, f.box.top, f.box.right, f.box.bottom],
                "score": round(f.score, 4),
                "landmarks": f.landmarks.round(2).tolist(),
                **({"embedding": f.embedding.tolist()} if f.embedding is not None else {}),
            }
            for f in faces
        ],
    }


def _print_faces(result: dict[str, Any]) -> None:
    faces = result["faces"]
    print(f"{result['image']}: {len(faces)} face(s)")
    for i, face in enumerate(faces, 1):
        box = ", ".join(f"{v:.0f}" for v in face["box"])
        print(f"  {i}. box ({box})  score {face['score']:.3f}")


# --- gallery commands: the same store and engine as the Enroll / Recognize / Gallery pages -----
def _settings() -> Settings:
    from engine.config import Settings

    return Settings.from_env()


def _pipeline(base: bool = False) -> FacePipeline:
    """The pipeline configured as the app configures it (same detection size, pixel cap and
    model: the trained model chosen with ``use-model``, unless ``base``)."""
    from engine.faces.pipeline import FacePipeline

    pipeline = FacePipeline.from_settings(_settings())
    return pipeline if base else pipeline.with_head(_active_head())


def _active_head() -> LoadedHead | None:
    """The model chosen with ``use-model`` (None: the pretrained one); a model that cannot
    load is reported on stderr and the pretrained one used, as the app does."""
    from engine.faces.weights import FACE_RESNET_V1
    from engine.training.models import load_active_head

    active = load_active_head(_settings().data_dir, FACE_RESNET_V1.model_id)
    if active.problem:
        print(f"warning: {active.problem}; using {FACE_RESNET_V1.model_id}", file=sys.stderr)
    return active.head


@contextmanager
def _gallery(model_id: str | None = None) -> Iterator[GuardedGallery]:
    """The gallery's view for ``model_id`` (default: the model in use, see ``_pipeline``)."""
    from engine.faces.weights import FACE_RESNET_V1
    from store import Gallery
    from store.guarded import GuardedGallery

    if model_id is None:
        head = _active_head()
        model_id = head.model_id if head is not None else FACE_RESNET_V1.model_id
    gallery = Gallery.open(
        _settings(), model_id=model_id, embedding_dim=FACE_RESNET_V1.embedding_dim or 128
    )
    try:
        yield GuardedGallery(gallery, OPERATOR)  # the CLI passes the same checks as the pages
    finally:
        gallery.close()


def _threshold(args: argparse.Namespace, model_id: str) -> Threshold:
    from engine.verification import Threshold, default_threshold

    if args.threshold is not None:
        return Threshold(args.threshold, "given with --threshold")
    return default_threshold(_settings(), model_id)


def _read_image(path: Path) -> np.ndarray:
    """Decode before the models load, so a bad file fails in a moment, not after seconds."""
    from engine.images import load_image

    return load_image(path, max_pixels=_settings().max_pixels)


def _faces_of(pipeline: FacePipeline, image: np.ndarray, path: Path) -> list[Face]:
    from engine.errors import NoFaceFound

    faces = pipeline.analyze(image)
    if not faces:
        raise NoFaceFound(f"no face was found in {path}")
    return faces


def _person_dict(person: Person) -> dict[str, Any]:
    return {
        "id": person.id,
        "name": person.name,
        "faces": person.face_count,
        "created": str(person.created),
    }


def cmd_enroll(args: argparse.Namespace) -> dict[str, Any]:
    """Enrol a folder (or zip) laid out <person>/<images>; one-face images only."""
    from engine.enrollment import enroll_folder

    def show_progress(done: int, total: int, outcome: FileOutcome) -> None:
        print(f"\r[{done}/{total}] {outcome.item[:60]:<60}", end="", file=sys.stderr, flush=True)

    pipeline = _pipeline()
    with _gallery() as gallery:
        summary = enroll_folder(
            pipeline, gallery, args.folder, progress=show_progress if sys.stderr.isatty() else None
        )
        if sys.stderr.isatty():
            print(file=sys.stderr)
        result = {"source": str(args.folder), "gallery": str(gallery.location), **summary.as_dict()}
    if summary.stopped:  # the summary so far, then `error: <why>` and a non-zero exit
        from store.errors import StoreFault

        if args.json:
            print(json.dumps(result), flush=True)
        else:
            _print_enroll(result)
        raise StoreFault(
            f"{summary.stopped} The job stopped after {len(summary.outcomes)} of "
            f"{summary.total} images; what was enrolled stays enrolled."
        )
    return result


def _print_enroll(result: dict[str, Any]) -> None:
    from engine.enrollment import OUTCOME_LABELS

    counts = ", ".join(f"{OUTCOME_LABELS[k]} {v}" for k, v in result["counts"].items())
    print(f"{result['source']}: {result['total']} images: {counts}")
    for file in result["files"]:
        if file["outcome"] != "enrolled":
            print(f"  {file['item']}: {OUTCOME_LABELS[file['outcome']]} ({file['reason']})")
    if result["ignored"]:
        print(f"  ignored {len(result['ignored'])} other file(s)")
    if result.get("stopped"):
        print(f"  stopped after {result['done']} of {result['total']} images", flush=True)


def cmd_identify(args: argparse.Namespace) -> dict[str, Any]:
    """Name every face in an image from the gallery ("unknown" past the threshold)."""
    from engine.verification import EmptyGallery, identify_faces

    with _gallery() as gallery:
        if gallery.count_faces() == 0:  # say so before spending seconds on the models
            raise EmptyGallery("the gallery is empty: enrol people first (cli.py enroll DIR)")
        image = _read_image(args.image)
        pipeline = _pipeline()
        threshold = _threshold(args, pipeline.model_id)
        faces = _faces_of(pipeline, image, args.image)
        result = identify_faces(gallery, faces, threshold, pipeline.model_id, top_k=args.top_k)
        return {
            "image": str(args.image),
            "model_id": result.model_id,
            "threshold": result.threshold,
            "threshold_source": result.threshold_source,
            "faces": [
                {
                    "box": [f.box.left, f.box.top, f.box.right, f.box.bottom],
                    "name": f.name,
                    "known": f.known,
                    "person_id": f.best.person.id if f.known and f.best else None,
                    "distance": f.best.distance if f.best else None,
                    "matches": [
                        {
                            "person_id": m.person.id,
                            "name": m.person.name,
                            "distance": m.distance,
                            "face_id": m.face_id,
                        }
                        for m in f.matches
                    ],
                }
                for f in result.faces
            ],
        }


def _print_identify(result: dict[str, Any]) -> None:
    print(
        f"{result['image']}: {len(result['faces'])} face(s), threshold "
        f"{result['threshold']:.3f} ({result['threshold_source']})"
    )
    for i, face in enumerate(result["faces"], 1):
        box = ", ".join(f"{v:.0f}" for v in face["box"])
        print(f"  {i}. {face['name']}  distance {face['distance']:.3f}  box ({box})")
        for match in face["matches"]:
            print(f"       {match['distance']:.3f}  {match['name']}")


def cmd_verify(args: argparse.Namespace) -> dict[str, Any]:
    """Same person or not? Compares the most confident face of each image."""
    from engine.verification import verify_embeddings

    image_a, image_b = _read_image(args.image_a), _read_image(args.image_b)
    pipeline = _pipeline()
    threshold = _threshold(args, pipeline.model_id)
    faces_a = _faces_of(pipeline, image_a, args.image_a)
    faces_b = _faces_of(pipeline, image_b, args.image_b)
    result = verify_embeddings(
        faces_a[0].embedding,
        faces_b[0].embedding,
        threshold.value,
        pipeline.model_id,
        threshold.source,
    )
    return {
        "image_a": str(args.image_a),
        "image_b": str(args.image_b),
        "faces_in_a": len(faces_a),
        "faces_in_b": len(faces_b),
        **result.as_dict(),
    }


def _print_verify(result: dict[str, Any]) -> None:
    decision = "same person" if result["same"] else "different people"
    relation = "<=" if result["same"] else ">"
    print(
        f"{decision}: distance {result['distance']:.3f} {relation} threshold "
        f"{result['threshold']:.3f} (margin {result['margin']:+.3f}; {result['threshold_source']})"
    )
    for side in ("a", "b"):
        if result[f"faces_in_{side}"] > 1:
            print(
                f"  {result[f'faces_in_{side}']} faces in {result[f'image_{side}']}: "
                "compared the most confident one"
            )


def cmd_people(args: argparse.Namespace) -> dict[str, Any]:
    """List the gallery's people and how many faces each has."""
    with _gallery() as gallery:
        return {
            "gallery": str(gallery.location),
            "people": [_person_dict(p) for p in gallery.people()],
        }


def _print_people(result: dict[str, Any]) -> None:
    people = result["people"]
    print(f"{result['gallery']}: {len(people)} {'person' if len(people) == 1 else 'people'}")
    for person in people:
        print(f"  {person['name']:<30} {person['faces']:>4} face(s)  {person['id']}")


def cmd_delete(args: argparse.Namespace) -> dict[str, Any]:
    """Delete a person (by name or id) and all their faces."""
    with _gallery() as gallery:
        person = _find_person(gallery, args.person)
        gallery.delete_person(person.id)
        return {"deleted": _person_dict(person)}


def _find_person(gallery: Gallery, text: str) -> Person:
    """PERSON as every command takes it: ``id:<32 hex digits>`` is a person id; anything else
    is a name, normalised as stored names are and matched ignoring case. Names never look like
    ids (``store.names``), so a bare id is still taken as one, unless someone's (older) name
    is that very string: then, as when two older names match, the error lists the ids."""
    import re

    from store import AmbiguousPerson, PersonNotFound
    from store.names import name_key

    text = text.strip()
    if text[:3].lower() == "id:":
        person_id = text[3:].strip().lower()
        if not re.fullmatch(r"[0-9a-f]{32}", person_id):
            raise PersonNotFound(
                f"{text!r} is not a person id: id: takes the 32 hex digits `cli.py people` lists"
            )
        return gallery.get_person(person_id)
    key = name_key(text)
    found = [p for p in gallery.people() if name_key(p.name) == key]
    if re.fullmatch(r"[0-9a-f]{32}", text):
        with suppress(PersonNotFound):
            found.append(gallery.get_person(text))
    found = list({p.id: p for p in found}.values())
    if len(found) > 1:
        raise AmbiguousPerson(
            f"{text!r} could be {len(found)} people: say which by id: "
            + ", ".join(f"id:{p.id} ({p.name!r})" for p in found)
        )
    if not found:
        raise PersonNotFound(
            f"no person named {text!r} in the gallery (an id is written id:<id>; see "
            "`cli.py people`)"
        )
    return found[0]


def _print_delete(result: dict[str, Any]) -> None:
    person = result["deleted"]
    print(f"deleted {person['name']} and {person['faces']} face(s)")


def cmd_rename(args: argparse.Namespace) -> dict[str, Any]:
    """Rename a person (by name or id); names stay unique, ignoring case."""
    with _gallery() as gallery:
        person = _find_person(gallery, args.person)
        renamed = gallery.rename(person.id, args.new_name)
        return {"from": person.name, "person": _person_dict(renamed)}


def _print_rename(result: dict[str, Any]) -> None:
    print(f"renamed {result['from']} to {result['person']['name']}")


def cmd_merge(args: argparse.Namespace) -> dict[str, Any]:
    """Merge ABSORB into KEEP (names or ids), for one person enrolled twice: every face of
    ABSORB moves to KEEP, its notes are appended, and ABSORB is removed."""
    with _gallery() as gallery:
        keep = _find_person(gallery, args.keep)
        absorb = _find_person(gallery, args.absorb)
        kept = gallery.merge(keep.id, absorb.id)
        return {"kept": _person_dict(kept), "absorbed": _person_dict(absorb)}


def _print_merge(result: dict[str, Any]) -> None:
    kept, absorbed = result["kept"], result["absorbed"]
    print(
        f"merged {absorbed['name']} ({absorbed['faces']} face(s)) into {kept['name']}, who now "
        f"has {kept['faces']} face(s); {absorbed['name']} is removed"
    )


def cmd_export(args: argparse.Namespace) -> dict[str, Any]:
    """Write the whole gallery (people, notes, embeddings, face images) to a zip."""
    target: Path = args.zip
    if target.suffix.lower() not in ("", ".zip") and not target.is_dir():
        # A typo like ``export data/gallery/gallery.db`` must not replace the database.
        raise ValueError(f"an export is a zip: give a .zip file name or a folder, not {target}")
    with _gallery() as gallery:
        path = gallery.export_zip(target)
        with zipfile.ZipFile(path) as written:  # count what the file holds, not the gallery
            manifest = json.loads(written.read("manifest.json"))
        return {
            "export": str(path),
            "gallery": str(gallery.location),
            "model_id": manifest["model_id"],
            "people": manifest["people"],
            "faces": manifest["faces"],
            "bytes": path.stat().st_size,
        }


def _print_export(result: dict[str, Any]) -> None:
    print(
        f"exported {result['people']} people and {result['faces']} face(s) of "
        f"{result['model_id']} to {result['export']} ({result['bytes'] / 1e6:.1f} MB)"
    )
    print("  it holds biometric data (face embeddings and images): keep it as safe as the gallery")


def cmd_import(args: argparse.Namespace) -> dict[str, Any]:
    """Add the people and faces of a gallery export made with the same face model; faces
    already here are skipped, people already here (same name) get the new faces."""
    from dataclasses import asdict

    if not args.zip.is_file():  # before opening (and so creating) a gallery for a typo
        raise FileNotFoundError(f"{args.zip} is not a file")
    with _gallery() as gallery:
        summary = gallery.import_zip(args.zip)
        return {"source": str(args.zip), "gallery": str(gallery.location), **asdict(summary)}


def _print_import(result: dict[str, Any]) -> None:
    print(
        f"{result['source']}: imported {result['faces_imported']} face(s), skipped "
        f"{result['faces_skipped']} already here; {result['people_created']} new people, "
        f"{result['people_matched']} matched to people here"
    )


def cmd_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """Verification metrics of an LFW-format pairs file (accuracy, ROC AUC, EER, d′, TAR at
    FAR 1e-1…1e-4), scored by distance or by a head trained on --train-pairs."""
    from engine.evaluation.datasets import embed_pair_set, pairs_from_file
    from engine.evaluation.protocol import run_evaluation, scores_csv

    test_pairs = pairs_from_file(args.pairs, args.root)
    train_pairs = pairs_from_file(args.train_pairs, args.root) if args.train_pairs else None
    if args.scorer != "distance" and train_pairs is None and not test_pairs.has_folds:
        # Say so before the models load and the images are embedded.
        raise ValueError(f"--scorer {args.scorer} needs --train-pairs to train the head on")
    pipeline = _pipeline()
    cache = _settings().data_dir / "cache"
    test = embed_pair_set(pipeline, test_pairs, cache, progress=_embedding_progress("test"))
    train = None
    if train_pairs is not None:
        progress = _embedding_progress("train")
        train = embed_pair_set(pipeline, train_pairs, cache, progress=progress)
    evaluation = run_evaluation(args.scorer, test, train)
    if args.scores_csv:
        args.scores_csv.parent.mkdir(parents=True, exist_ok=True)
        args.scores_csv.write_text(scores_csv(test, evaluation.scores), encoding="utf-8")
    return {
        "pairs": str(args.pairs),
        "train_pairs": str(args.train_pairs) if args.train_pairs else None,
        "root": str(args.root),
        "model_id": test.model_id,
        "augment": test.augment,
        "images": len(test_pairs.images),
        "image_outcomes": test.status_counts(),
        "pairs_scored": len(evaluation.scores.values),
        "pairs_dropped": test.dropped_pairs,
        "scores_csv": str(args.scores_csv) if args.scores_csv else None,
        **evaluation.report.as_dict(),
    }


def _embedding_progress(label: str) -> Callable[[int, int], None] | None:
    """A one-line counter on a terminal's stderr (nothing when stderr is a file)."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\rembedding {label} images: {done}/{total}", end=end, file=sys.stderr, flush=True)

    return show


def _print_evaluate(result: dict[str, Any]) -> None:
    genuine, impostors = result["genuine_pairs"], result["impostor_pairs"]
    print(
        f"{Path(result['pairs']).name}: {result['pairs_scored']:,} pairs scored ({genuine:,} "
        f"genuine, {impostors:,} impostor), {result['images']:,} images; "
        f"{result['model_id']}, augment {result['augment']}"
    )
    outcomes = ", ".join(f"{k} {v:,}" for k, v in result["image_outcomes"].items())
    dropped = f"; {result['pairs_dropped']:,} pairs dropped" if result["pairs_dropped"] else ""
    print(f"images: {outcomes}{dropped}")
    trained = f", trained on {Path(result['train_pairs']).name}" if result["train_pairs"] else ""
    print(f"scorer: {result['scorer']}{trained if result['higher_is_same'] else ''}")
    accuracy = f"{100 * result['accuracy']:.2f} %"
    if result["fold_accuracies"]:
        spread = 100 * statistics.pstdev(result["fold_accuracies"])
        accuracy += f" ± {spread:.2f}"
    print(f"  accuracy      {accuracy}  at {result['threshold']:.3f} ({result['protocol']})")
    print(f"  ROC AUC       {result['roc_auc']:.4f}")
    print(f"  EER           {100 * result['eer']:.2f} %  at {result['eer_threshold']:.3f}")
    print(f"  d′            {result['d_prime']:.2f}")
    for row in result["tar_at_far"]:
        label = f"  TAR @ FAR {row['target_far']:.0e}"
        if not row["measurable"]:
            needed = round(1 / row["target_far"])
            print(f"{label}  not measurable: needs {needed:,} impostor pairs, {impostors:,} here")
        else:
            threshold = row["threshold"]
            at = f"{threshold:.3f}" if threshold is not None else "none (nothing accepted)"
            print(f"{label}  {100 * row['tar']:.2f} %  at {at}")
    if result["scores_csv"]:
        print(f"wrote {result['scores_csv']}")


MIN_PEOPLE_TO_HOLD_OUT = 10
"""Below this, ``train`` trains on everyone and keeps the last epoch (``--held-out`` ignored)."""


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    """Train a projection head on a <person>/<images> folder (triplet loss, mined triplets) and
    save it under <data>/models; with --eval-pairs, verification figures before and after."""
    import dataclasses

    import numpy as np

    from engine.evaluation.datasets import embed_pair_set, pairs_from_file
    from engine.evaluation.protocol import run_evaluation
    from engine.training import EpochStats, derive_model_id, train_head
    from engine.training.data import load_training_set
    from engine.training.models import save_trained_model

    if bool(args.eval_pairs) != bool(args.eval_root):
        raise ValueError("--eval-pairs and --eval-root go together")
    if not args.images.is_dir():
        raise ValueError(f"no image folder at {args.images}")
    eval_pairs = pairs_from_file(args.eval_pairs, args.eval_root) if args.eval_pairs else None
    settings = _settings()
    pipeline = _pipeline(base=True)
    cache = settings.data_dir / "cache"
    data = load_training_set(
        pipeline,
        args.images,
        cache,
        people_file=args.people,
        min_images=2,
        max_images=args.max_images,
        progress=_embedding_progress("training"),
    )
    if len(data.people) < 2:
        raise ValueError("training needs two or more people with two or more face images each")
    test = None
    if eval_pairs is not None:
        test = embed_pair_set(pipeline, eval_pairs, cache, progress=_embedding_progress("eval"))

    held_out = args.held_out if len(data.people) >= MIN_PEOPLE_TO_HOLD_OUT else 0.0
    if held_out != args.held_out and not args.json:
        print(f"{len(data.people)} people: too few to hold any out; keeping the last epoch")

    def show_epoch(stats: EpochStats) -> None:
        if not args.json:
            print(
                f"epoch {stats.epoch:3d}  loss {stats.loss:.4f}  "
                f"active {stats.active_fraction:6.1%}"
                f"  d(a,p) {stats.mean_d_ap:.3f}  d(a,n) {stats.mean_d_an:.3f}"
                f"  triplets {stats.triplets:,}"
                + (
                    f"  held-out AUC {stats.held_out_auc:.5f} EER {stats.held_out_eer:.2%}"
                    if stats.held_out_auc is not None
                    else ""
                ),
                flush=True,
            )

    options = {
        "alpha": args.alpha,
        "miner": args.miner,
        "epochs": args.epochs,
        "lr": args.lr,
        "held_out": held_out,
        "p": args.p,
        "k": args.k,
        "seed": args.seed,
        "progress": show_epoch,
        "base_model_id": data.model_id,
    }
    if args.augment_views is None:
        args.augment_views = 4 if args.fine_tune else 1
    if args.fine_tune:
        weight_decay = args.weight_decay if args.weight_decay is not None else 0.0
        tuned = _fine_tune_resnet(args, pipeline, data, test, weight_decay, options)
        result, model_id, after_vectors = tuned
    else:
        weight_decay = args.weight_decay if args.weight_decay is not None else 1e-4
        inputs = data.embeddings
        if args.augment_views > 1:  # (N, V, 128): descriptors of augmented chips, view 0 as is
            inputs = _augmented_descriptors(args, pipeline, data)
        result = train_head(
            inputs, data.labels, weight_decay=weight_decay, views=inputs.ndim == 3, **options
        )
        model_id = derive_model_id(data.model_id, result.model)
        after_vectors = {"train": result.model.embed(data.embeddings)}
        if test is not None:
            after_vectors["eval"] = result.model.embed(np.nan_to_num(test.embeddings))

    def projected(embedded: EmbeddedPairs, name: str) -> EmbeddedPairs:
        """The pairs with the trained model's vectors (rows without a face stay empty)."""
        out = np.array(after_vectors[name], dtype=np.float32)
        out[~np.isfinite(embedded.embeddings).all(axis=1)] = np.nan
        return dataclasses.replace(embedded, embeddings=out, model_id=model_id)

    train_pairs = data.pairs(seed=args.seed)
    figures: dict[str, Any] = {}
    sets = {"train": (train_pairs, None)}
    if test is not None:
        sets["eval"] = (test, train_pairs)
    for name, (pairs, threshold_on) in sets.items():
        before = run_evaluation("distance", pairs, threshold_on).report.as_dict()
        after_on = projected(threshold_on, "train") if threshold_on is not None else None
        after = run_evaluation("distance", projected(pairs, name), after_on).report.as_dict()
        figures[name] = {"before": before, "after": after}

    metadata = result.metadata(str(args.images))
    metadata.update(
        threshold=figures["train"]["after"]["threshold"],
        held_out=held_out,
        held_out_baseline=dataclasses.asdict(result.baseline) if result.baseline else None,
        weight_decay=weight_decay,
        fine_tuned_levels=args.fine_tune,
        augment_views=args.augment_views,
        people_file=str(args.people) if args.people else None,
        people=len(data.people),
        images=len(data),
        lr=args.lr,
        p=args.p,
        k=args.k,
        seed=args.seed,
        history=[dataclasses.asdict(h) for h in result.history],
        evaluation={
            name: {when: _headline(report) for when, report in pair.items()}
            for name, pair in figures.items()
        },
        eval_pairs=str(args.eval_pairs) if args.eval_pairs else None,
    )
    if args.fine_tune:
        from engine.training.finetune import save_finetuned
        from engine.training.models import models_dir

        path, saved = save_finetuned(models_dir(settings.data_dir), result.model, metadata)
    else:
        path, saved = save_trained_model(
            settings.data_dir, result.model, metadata, actor=OPERATOR
        )
    return {
        "images_folder": str(args.images),
        "people_file": str(args.people) if args.people else None,
        "base_model_id": data.model_id,
        "model_id": saved["model_id"],
        "checkpoint": str(path),
        "people": len(data.people),
        "images": len(data),
        "listed_images": data.listed_images,
        "skipped": data.skipped,
        "alpha": args.alpha,
        "miner": args.miner,
        "best_epoch": result.best_epoch,
        "held_out_baseline": dataclasses.asdict(result.baseline) if result.baseline else None,
        "threshold": saved.get("threshold"),
        "epochs": [dataclasses.asdict(h) for h in result.history],
        "eval_pairs": str(args.eval_pairs) if args.eval_pairs else None,
        "eval_image_outcomes": test.status_counts() if test is not None else None,
        "evaluation": figures,
    }


def _augmented_descriptors(
    args: argparse.Namespace, pipeline: FacePipeline, data: TrainingSet
) -> np.ndarray:
    """Base descriptors of ``args.augment_views`` views of each training image (view 0: the
    cached descriptor itself), for training a head on augmented data."""
    import numpy as np

    from engine.training.augment import augmented_views
    from engine.training.chips import image_chips

    cache = _settings().data_dir / "cache"
    paths = [data.root / image for image in data.images]
    chips, _ = image_chips(pipeline, paths, cache, progress=_embedding_progress("chips"))
    bank = augmented_views(chips, args.augment_views, seed=args.seed)[:, 1:]
    n, extra = bank.shape[:2]
    mirror = pipeline.options.augment != "none"
    more = pipeline.embedder.embed_chips(bank.reshape(n * extra, *bank.shape[2:]), mirror=mirror)
    return np.concatenate([data.embeddings[:, None], more.reshape(n, extra, -1)], axis=1)


def _fine_tune_resnet(
    args: argparse.Namespace,
    pipeline: FacePipeline,
    data: TrainingSet,
    test: EmbeddedPairs | None,
    weight_decay: float,
    options: dict[str, Any],
) -> tuple[TrainResult, str, dict[str, np.ndarray]]:
    """Fine-tune the ResNet's last ``args.fine_tune`` levels on the training images' chips
    (trunk features computed once); the trained model's vectors of the train / eval images."""
    from engine.device import pick_device
    from engine.training import train_head
    from engine.training.augment import augmented_views
    from engine.training.chips import image_chips
    from engine.training.finetune import derive_finetune_id, embed_views, load_trunk_and_top

    cache = _settings().data_dir / "cache"
    device = pick_device(_settings().device)
    trunk, top = load_trunk_and_top(args.fine_tune, device)
    paths = [data.root / image for image in data.images]
    chips, _ = image_chips(pipeline, paths, cache, progress=_embedding_progress("chips"))
    features = trunk.features(chips, mirror=True, progress=_embedding_progress("trunk"))
    # Train on a bank of augmented views (flip, crop jitter, colour; view 0 = the chip);
    # describe with the embedder's mirror views, as the base descriptors were made ("jitter"
    # needs the photos, so it falls back to mirror here).
    bank = augmented_views(chips, args.augment_views, seed=args.seed)
    n, count = bank.shape[:2]
    bank_features = trunk.features(bank.reshape(n * count, *bank.shape[2:]))
    bank_features = bank_features.reshape(n, count, *bank_features.shape[1:])
    del bank
    result = train_head(
        bank_features, data.labels, model=top, weight_decay=weight_decay, views=True, **options
    )
    views = features if pipeline.options.augment != "none" else features[:, :1]
    vectors = {"train": embed_views(result.model, views)}
    if test is not None:
        pairs = test.pairs
        test_paths = [pairs.image_path(i) for i in range(len(pairs.images))]
        test_chips, _ = image_chips(
            pipeline, test_paths, cache, centred_fallback=pairs.centred_fallback,
            progress=_embedding_progress("eval chips"),
        )
        test_features = trunk.features(test_chips, mirror=True)
        test_views = test_features if pipeline.options.augment != "none" else test_features[:, :1]
        vectors["eval"] = embed_views(result.model, test_views)
    return result, derive_finetune_id(data.model_id, result.model), vectors


def _headline(report: dict[str, Any]) -> dict[str, Any]:
    """Accuracy, its protocol, EER and TAR at FAR 1e-2 of a report."""
    tar = next((r for r in report["tar_at_far"] if r["target_far"] == 1e-2), None)
    return {
        "accuracy": report["accuracy"],
        "protocol": report["protocol"],
        "eer": report["eer"],
        "tar_at_far_1e-2": tar["tar"] if tar and tar["measurable"] else None,
    }


def _print_train(result: dict[str, Any]) -> None:
    # The per-epoch lines were printed as training ran.
    skipped = ", ".join(f"{k} {v:,}" for k, v in result["skipped"].items()) or "none"
    print(
        f"trained on {result['images']:,} images of {result['people']:,} people "
        f"({result['listed_images']:,} listed; skipped: {skipped}); "
        f"miner {result['miner']}, alpha {result['alpha']}"
    )
    titles = {"train": "training people's pairs", "eval": Path(result["eval_pairs"] or "").name}
    for name, pair in result["evaluation"].items():
        before, after = _headline(pair["before"]), _headline(pair["after"])
        print(f"{titles[name]}: accuracy {after['protocol']}")
        for label, row in (("before", before), ("after", after)):
            tar = row["tar_at_far_1e-2"]
            tar_text = f"{100 * tar:.2f} %" if tar is not None else "not measurable"
            print(
                f"  {label:6s}  accuracy {100 * row['accuracy']:.2f} %  "
                f"EER {100 * row['eer']:.2f} %  TAR@FAR1e-2 {tar_text}"
            )
    if result["best_epoch"] is not None:
        kept = result["best_epoch"] or "0 (the untrained head: no epoch beat the base model)"
        baseline = result["held_out_baseline"]
        print(
            f"kept the weights of epoch {kept}, best on the held-out people "
            f"(before training: AUC {baseline['auc']:.5f}, EER {baseline['eer']:.2%})"
        )
    print(f"model {result['model_id']} (base {result['base_model_id']})")
    print(f"saved {result['checkpoint']}")
    if "+head-" in result["model_id"]:
        print(f"use it with: python cli.py use-model {result['model_id']}")


def cmd_models(args: argparse.Namespace) -> dict[str, Any]:
    """List the trained models saved in the data folder, and the one in use."""
    from engine.faces.weights import FACE_RESNET_V1
    from engine.training.models import active_model_id, list_trained_models

    data_dir = _settings().data_dir
    return {
        "active": active_model_id(data_dir) or FACE_RESNET_V1.model_id,
        "base_model_id": FACE_RESNET_V1.model_id,
        "models": [
            {
                "model_id": m.model_id,
                "path": str(m.path),
                "created": m.metadata.get("created"),
                "data": m.metadata.get("data"),
                "miner": m.metadata.get("miner"),
                "alpha": m.metadata.get("alpha"),
                "epochs": m.metadata.get("epochs"),
                "best_epoch": m.metadata.get("best_epoch"),
                "threshold": m.threshold,
                "evaluation": m.metadata.get("evaluation"),
            }
            for m in list_trained_models(data_dir, FACE_RESNET_V1.model_id)
        ],
    }


def _print_models(result: dict[str, Any]) -> None:
    base = result["base_model_id"]
    mark = "*" if result["active"] == base else " "
    print(f"{mark} {base}  (pretrained)")
    for m in result["models"]:
        mark = "*" if result["active"] == m["model_id"] else " "
        threshold = f"threshold {m['threshold']:.3f}" if m["threshold"] else "no threshold"
        print(f"{mark} {m['model_id']}  {m['created']}  {m['miner']}  {threshold}  {m['data']}")
    print("* = in use by Enroll / Verify / Recognize and the CLI")


def cmd_use_model(args: argparse.Namespace) -> dict[str, Any]:
    """Switch Enroll / Verify / Recognize (app and CLI) to a trained model, or back to the
    pretrained one ("base"); re-embeds the gallery's faces for it (skip with --no-reembed)."""
    from engine.faces.weights import FACE_RESNET_V1
    from engine.training.models import load_usable_head, set_active_model
    from engine.training.reembed import reembed_gallery

    base_id = FACE_RESNET_V1.model_id
    model_id = base_id if args.model in ("base", base_id) else args.model
    data_dir = _settings().data_dir
    summary = None
    if model_id != base_id and not args.no_reembed:
        head = load_usable_head(data_dir, model_id, base_id)

        def show(done: int, total: int) -> None:
            print(f"\rre-embedding faces {done}/{total}", end="", file=sys.stderr, flush=True)

        with _gallery(base_id) as source, _gallery(model_id) as target:
            summary = reembed_gallery(
                source, target, head.project, progress=show, actor=OPERATOR
            )
        print(file=sys.stderr)
    set_active_model(data_dir, model_id, base_id, actor=OPERATOR)
    return {
        "active": model_id,
        "reembedded": dataclasses.asdict(summary) if summary is not None else None,
    }


def _print_use_model(result: dict[str, Any]) -> None:
    print(f"now using {result['active']}")
    summary = result["reembedded"]
    if summary:
        print(
            f"gallery: {summary['written']} faces re-embedded, {summary['already']} already "
            f"there, {summary['without_chip']} without a stored chip (of {summary['faces']})"
        )


# --- neuron browser (issue 6) ------------------------------------------------------------------
def cmd_layers(args: argparse.Namespace) -> dict[str, Any]:
    """A backbone's layers in order, with channels and receptive field (size, stride, offset)."""
    from engine.neurons.backbones import load_backbone

    backbone = load_backbone(args.model)
    return {
        "model": backbone.name,
        "title": backbone.title,
        "input_size": backbone.input_size,
        "layers": [
            {"name": layer.name, "channels": layer.channels, **layer.receptive_field.as_dict()}
            for layer in backbone.layers
        ],
    }


def _print_layers(result: dict[str, Any]) -> None:
    print(f"{result['title']} · input {result['input_size']}×{result['input_size']}")
    print(f"  {'layer':<9} {'channels':>8} {'field':>6} {'stride':>6} {'offset':>6}")
    for layer in result["layers"]:
        print(
            f"  {layer['name']:<9} {layer['channels']:>8} {layer['size']:>6} "
            f"{layer['stride']:>6} {layer['start']:>6}"
        )
    print("  field: receptive field in input pixels; offset: first input pixel unit 0 reads")


def cmd_index_neurons(args: argparse.Namespace) -> dict[str, Any]:
    """Index a folder of images: per channel, the top-k activating images and positions."""
    import time

    from engine.neurons.backbones import load_backbone
    from engine.neurons.index import build_index

    def show_progress(done: int, total: int) -> None:
        print(f"\r[{done}/{total}] images", end="", file=sys.stderr, flush=True)

    backbone = load_backbone(args.model, input_size=args.input_size)
    for name in args.layer:
        backbone.layer(name)  # an unknown layer fails before any image is read
    started = time.monotonic()
    index = build_index(
        backbone,
        args.images,
        args.out,
        args.layer,
        k=args.top_k,
        batch_size=args.batch_size,
        limit=args.limit,
        progress=show_progress if sys.stderr.isatty() else None,
        max_pixels=_settings().max_pixels,
    )
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return {
        "index": str(index.folder),
        "model": index.model,
        "layers": {
            name: {"channels": li.channels, **li.receptive_field.as_dict()}
            for name, li in index.layers.items()
        },
        "k": index.k,
        "images": len(index.images),
        "done": index.done,
        "complete": index.complete,
        "skipped": index.skipped,
        "fingerprint": index.fingerprint,
        "seconds": round(time.monotonic() - started, 2),
    }


def _print_index_neurons(result: dict[str, Any]) -> None:
    layers = ", ".join(result["layers"])
    print(
        f"indexed {result['done']}/{result['images']} images with {result['model']} at {layers} "
        f"(top {result['k']}) in {result['seconds']:.1f} s → {result['index']}"
    )
    if result["skipped"]:
        print(f"  skipped {len(result['skipped'])} unreadable: {', '.join(result['skipped'][:5])}")


def cmd_show_neuron(args: argparse.Namespace) -> dict[str, Any]:
    """Draw one channel's top-k receptive-field patches as a PNG grid."""
    from PIL import Image

    from engine.neurons.errors import UnknownLayer
    from engine.neurons.index import load_index
    from engine.neurons.patches import neuron_sheet

    index = load_index(args.index)
    if args.layer is None and len(index.layers) > 1:
        raise UnknownLayer(
            f"the index has layers {', '.join(index.layers)}: choose one with --layer"
        )
    layer = args.layer or next(iter(index.layers))
    hits = index.hits(layer, args.channel)
    sheet = neuron_sheet(index, layer, args.channel)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.out)
    return {
        "png": str(args.out),
        "model": index.model,
        "layer": layer,
        "channel": args.channel,
        "patches": [
            {
                "rank": h.rank,
                "value": h.value,
                "image": index.images[h.image_id],
                "y": h.y,
                "x": h.x,
            }
            for h in hits
        ],
    }


def _print_show_neuron(result: dict[str, Any]) -> None:
    print(f"{result['model']} {result['layer']} channel {result['channel']} → {result['png']}")
    for p in result["patches"]:
        print(f"  {p['rank'] + 1}. {p['value']:.4g}  {p['image']} at ({p['y']}, {p['x']})")


# --- style transfer (issue 7) ------------------------------------------------------------------
def cmd_stylize(args: argparse.Namespace) -> dict[str, Any]:
    """Neural style transfer: --content's content in --style's style (Gatys et al.'s
    optimisation of the pixels; --fast: the feed-forward network), written to --out as PNG."""
    from PIL import Image

    from engine.device import pick_device

    if args.out.suffix.lower() != ".png":
        raise ValueError(f"--out must be a .png file, not {args.out}")
    blend = _blend_weights(args.blend, len(args.style))
    content = _read_image(args.content)  # a bad file fails before the network loads
    styles = [_read_image(path) for path in args.style]
    device = pick_device(_settings().device)
    summary: dict[str, Any] = {
        "content": str(args.content),
        "styles": [str(path) for path in args.style],
        "blend": blend,
        "out": str(args.out),
        "device": str(device),
    }
    if args.fast:
        from engine.style.fast import FastStylizer

        fast = FastStylizer(str(device)).stylize(
            content, styles, blend=blend, strength=args.strength, size=args.size
        )
        image, notices = fast.image, fast.notices
        summary.update(method="fast", milliseconds=round(fast.milliseconds, 1))
    else:
        from engine.style import StepLosses, StyleOptions, stylize

        def show_step(losses: StepLosses, _image: Any) -> None:
            if not args.json and (losses.step % args.every == 0 or losses.step == 1):
                print(
                    f"step {losses.step:4d} ({losses.side} px)  total {losses.total:.4g}  "
                    f"content {losses.content:.4g}  style {losses.style:.4g}  "
                    f"{losses.seconds:6.1f} s",
                    flush=True,
                )

        options = StyleOptions(
            size=args.size,
            steps=args.steps,
            alpha=args.alpha,
            beta=args.beta,
            tv_weight=args.tv,
            init=args.init,
            optimizer=args.optimizer,
            colour=args.colour,
            scales=args.scales,
            coarse_steps=args.coarse_steps,
            seed=args.seed,
            blend=blend,
            every=args.every,
            backbone=args.backbone,
            precision=args.precision,
        )
        budget = None if args.no_budget else _settings().max_style_work
        result = stylize(content, styles, options, callback=show_step, device=device, budget=budget)
        image, notices = result.image, result.notices
        summary.update(method="gatys", **result.as_dict())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(args.out)
    summary.update(height=int(image.shape[0]), width=int(image.shape[1]), notices=notices)
    return summary


def _blend_weights(text: str | None, count: int) -> list[float]:
    if text is None:
        return [1.0 / count] * count
    try:
        weights = [float(part) for part in text.split(",")]
    except ValueError as exc:
        raise ValueError(f"--blend takes numbers separated by commas, got {text!r}") from exc
    if len(weights) != count or min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(f"--blend needs {count} weights of 0 or more (one per --style)")
    return [w / sum(weights) for w in weights]


def _print_stylize(result: dict[str, Any]) -> None:
    for notice in result["notices"]:
        print(f"note: {notice}")
    size = f"{result['width']}×{result['height']}"
    if result["method"] == "fast":
        print(f"fast preview {size} in {result['milliseconds']:.0f} ms → {result['out']}")
        return
    last = result["history"][-1] if result["history"] else None
    losses = f"; J {last['total']:.4g}" if last else ""
    seconds = f"{result['seconds']:.1f} s ({result['dtype']})"
    steps = f"{result['steps_run']} steps at {size} in {seconds}"
    print(f"{steps}{losses} → {result['out']}")


def cmd_hash_password(args: argparse.Namespace) -> dict[str, Any]:
    """make a salted password hash for .streamlit/secrets.toml (reads the password from stdin)"""
    from engine.access import hash_password

    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise ValueError("the two passwords differ")
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        raise ValueError("the password is empty")
    key = "admin_password_hash" if args.admin else "password_hash"
    return {"hash": hash_password(password), "key": key}


def _print_hash_password(result: dict[str, Any]) -> None:
    print("# paste under [access] in .streamlit/secrets.toml")
    print(f'{result["key"]} = "{result["hash"]}"')


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], Any], Callable[[Any], None]]] = {
    "faces": (cmd_faces, _print_faces),
    "enroll": (cmd_enroll, _print_enroll),
    "identify": (cmd_identify, _print_identify),
    "verify": (cmd_verify, _print_verify),
    "people": (cmd_people, _print_people),
    "delete": (cmd_delete, _print_delete),
    "rename": (cmd_rename, _print_rename),
    "merge": (cmd_merge, _print_merge),
    "export": (cmd_export, _print_export),
    "import": (cmd_import, _print_import),
    "evaluate": (cmd_evaluate, _print_evaluate),
    "train": (cmd_train, _print_train),
    "models": (cmd_models, _print_models),
    "use-model": (cmd_use_model, _print_use_model),
    "stylize": (cmd_stylize, _print_stylize),
    "layers": (cmd_layers, _print_layers),
    "index-neurons": (cmd_index_neurons, _print_index_neurons),
    "show-neuron": (cmd_show_neuron, _print_show_neuron),
    "hash-password": (cmd_hash_password, _print_hash_password),
}


_PERSON_HELP = "the person's name (any case), or id:<id> as `cli.py people` lists it"


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", type=Path, help="data folder (default: $VISIONLAB_DATA or data)")
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser = argparse.ArgumentParser(prog="cli.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    faces = sub.add_parser("faces", parents=[common], help=cmd_faces.__doc__)
    faces.add_argument("image", type=Path)
    faces.add_argument("--embed", action="store_true", help="include the 128-d embeddings")
    enroll = sub.add_parser("enroll", parents=[common], help=cmd_enroll.__doc__)
    enroll.add_argument("folder", type=Path, help="folder or .zip of <person>/<images>")
    identify = sub.add_parser("identify", parents=[common], help=cmd_identify.__doc__)
    identify.add_argument("image", type=Path)
    identify.add_argument("--top-k", type=_positive_int, default=5, help="matches per face")
    identify.add_argument("--threshold", type=float, help="default: saved operating point")
    verify = sub.add_parser("verify", parents=[common], help=cmd_verify.__doc__)
    verify.add_argument("image_a", type=Path)
    verify.add_argument("image_b", type=Path)
    verify.add_argument("--threshold", type=float, help="default: saved operating point")
    sub.add_parser("people", parents=[common], help=cmd_people.__doc__)
    delete = sub.add_parser("delete", parents=[common], help=cmd_delete.__doc__)
    delete.add_argument("person", help=_PERSON_HELP)
    rename = sub.add_parser("rename", parents=[common], help=cmd_rename.__doc__)
    rename.add_argument("person", help=_PERSON_HELP)
    rename.add_argument("new_name")
    merge = sub.add_parser("merge", parents=[common], help=cmd_merge.__doc__)
    merge.add_argument("keep", metavar="KEEP", help=f"the person who stays: {_PERSON_HELP}")
    merge.add_argument(
        "absorb",
        metavar="ABSORB",
        help=f"the person merged into KEEP, then removed: {_PERSON_HELP}",
    )
    export = sub.add_parser("export", parents=[common], help=cmd_export.__doc__)
    export.add_argument("zip", type=Path, help="the .zip to write (a folder: gallery-export.zip)")
    import_ = sub.add_parser("import", parents=[common], help=cmd_import.__doc__)
    import_.add_argument("zip", type=Path, help="a zip from `cli.py export` or the Gallery page")
    evaluate = sub.add_parser("evaluate", parents=[common], help=cmd_evaluate.__doc__)
    evaluate.add_argument("--pairs", type=Path, required=True, help="LFW-format pairs file")
    evaluate.add_argument("--root", type=Path, required=True, help="image root of the pairs")
    evaluate.add_argument(
        "--scorer",
        choices=["distance", "absdiff", "chi2"],
        default="distance",
        help="distance, or a logistic-regression head on |a−b| or χ² features",
    )
    evaluate.add_argument(
        "--train-pairs", type=Path, help="pairs to train a head and choose the threshold on"
    )
    evaluate.add_argument(
        "--scores-csv", type=Path, metavar="OUT", help="write name_a,name_b,label,score per pair"
    )
    train = sub.add_parser("train", parents=[common], help=cmd_train.__doc__)
    train.add_argument("--images", type=Path, required=True, help="folder of <person>/<images>")
    train.add_argument("--people", type=Path, help="LFW people file: only these people")
    train.add_argument("--epochs", type=_positive_int, default=10)
    train.add_argument("--alpha", type=float, default=0.2, help="triplet margin")
    train.add_argument(
        "--miner", choices=["batch-all", "batch-hard", "semi-hard", "pool"], default="semi-hard"
    )
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--p", type=_positive_int, default=8, help="people per batch")
    train.add_argument("--k", type=_positive_int, default=4, help="images per person per batch")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--max-images", type=_positive_int, help="cap (whole people, in order)")
    train.add_argument("--eval-pairs", type=Path, help="LFW-format pairs to evaluate on")
    train.add_argument("--eval-root", type=Path, help="image root of --eval-pairs")
    train.add_argument(
        "--weight-decay",
        type=float,
        help="AdamW decay (default 1e-4 for a head: towards the base model; 0 for --fine-tune)",
    )
    train.add_argument(
        "--fine-tune",
        type=int,
        choices=[0, 1, 2],
        default=0,
        help="0: a projection head on the frozen descriptors; 1 or 2: fine-tune the ResNet's "
        "last level(s) and fc on the images' chips",
    )
    train.add_argument(
        "--augment-views",
        type=_positive_int,
        help="views per image: the image plus random flip / crop-jitter / colour variations "
        "of its aligned chip (default 4 with --fine-tune, 1 — none — for a head)",
    )
    train.add_argument(
        "--held-out",
        type=float,
        default=0.2,
        help="share of the people held out to keep the best epoch (0: keep the last)",
    )
    sub.add_parser("models", parents=[common], help=cmd_models.__doc__)
    use_model = sub.add_parser("use-model", parents=[common], help=cmd_use_model.__doc__)
    use_model.add_argument("model", help='a model id from `cli.py models`, or "base"')
    use_model.add_argument(
        "--no-reembed", action="store_true", help="switch without re-embedding the gallery"
    )
    models = ["face", "vgg16", "vgg19"]
    layers = sub.add_parser("layers", parents=[common], help=cmd_layers.__doc__)
    layers.add_argument("--model", choices=models, required=True)
    index_neurons = sub.add_parser(
        "index-neurons", parents=[common], help=cmd_index_neurons.__doc__
    )
    index_neurons.add_argument("--model", choices=models, required=True)
    index_neurons.add_argument(
        "--layer", nargs="+", required=True, metavar="NAME", help="one or more layers"
    )
    index_neurons.add_argument("--images", type=Path, required=True, help="folder of images")
    index_neurons.add_argument("--top-k", type=_positive_int, default=9)
    index_neurons.add_argument("--out", type=Path, required=True, help="index folder (resumes)")
    index_neurons.add_argument("--batch-size", type=_positive_int, default=16)
    index_neurons.add_argument("--limit", type=_positive_int, help="only the first N images")
    index_neurons.add_argument(
        "--input-size", type=_positive_int, help="VGG input square (default 224; face: 150)"
    )
    show_neuron = sub.add_parser("show-neuron", parents=[common], help=cmd_show_neuron.__doc__)
    show_neuron.add_argument("--index", type=Path, required=True, help="an index-neurons folder")
    show_neuron.add_argument("--channel", type=int, required=True)
    show_neuron.add_argument("--layer", help="needed when the index has several layers")
    show_neuron.add_argument("--out", type=Path, required=True, help="PNG to write")
    hash_pw = sub.add_parser("hash-password", parents=[common], help=cmd_hash_password.__doc__)
    hash_pw.add_argument("--admin", action="store_true", help="print admin_password_hash = …")
    stylize = sub.add_parser("stylize", parents=[common], help=cmd_stylize.__doc__)
    stylize.add_argument("--content", type=Path, required=True, help="content image C")
    stylize.add_argument(
        "--style", type=Path, action="append", required=True, help="style image S (repeatable)"
    )
    stylize.add_argument("--blend", help="weights of the --style images, e.g. 0.7,0.3")
    stylize.add_argument("--size", type=_positive_int, default=384, help="output long side (px)")
    stylize.add_argument("--steps", type=_positive_int, default=200, help="optimiser steps")
    stylize.add_argument("--alpha", type=float, default=1.0, help="content weight α")
    stylize.add_argument("--beta", type=float, help="style weight β (default: set by size)")
    stylize.add_argument("--tv", type=float, default=0.0, help="total-variation weight")
    stylize.add_argument("--init", choices=["content", "noise", "style"], default="content")
    stylize.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs")
    stylize.add_argument(
        "--colour",
        choices=["none", "luminance", "histogram"],
        default="none",
        help="keep the content's colours",
    )
    stylize.add_argument("--scales", type=_positive_int, default=1, help="coarse-to-fine levels")
    stylize.add_argument("--coarse-steps", type=int, default=100, help="steps per coarser level")
    stylize.add_argument("--seed", type=int, default=0)
    stylize.add_argument(
        "--backbone",
        choices=["vgg16", "vgg19"],
        default="vgg16",
        help="vgg19 needs torchvision's weights in the torch cache; its β differs (set --beta)",
    )
    stylize.add_argument(
        "--precision",
        choices=["auto", "float32", "bfloat16"],
        default="auto",
        help="number format of G's VGG passes (auto: bfloat16 where the hardware has it)",
    )
    stylize.add_argument("--every", type=_positive_int, default=10, help="print every N steps")
    stylize.add_argument(
        "--no-budget",
        action="store_true",
        help="lift the pixel-step budget the app enforces (VISIONLAB_MAX_STYLE_WORK)",
    )
    stylize.add_argument("--fast", action="store_true", help="feed-forward preview (instant)")
    stylize.add_argument("--strength", type=float, default=1.0, help="--fast: 0–1 style strength")
    stylize.add_argument("--out", type=Path, required=True, help="PNG to write")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for stream in (sys.stdout, sys.stderr):  # file names need not be UTF-8 (surrogate escapes)
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    if args.data:
        os.environ["VISIONLAB_DATA"] = str(args.data)
    run, show = COMMANDS[args.command]
    try:
        result = run(args)
    except (VisionLabError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the CLI promises one line, never a traceback
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    else:
        show(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
