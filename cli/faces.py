"""Faces in images, as the Enroll, Verify and Recognize pages see them: ``faces``, ``enroll``,
``identify`` and ``verify``, on the same store and engine as those pages."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.commands import Command, positive_int
from cli.output import write_json

if TYPE_CHECKING:
    import numpy as np

    from cli.context import CommandContext
    from engine.enrollment import FileOutcome
    from engine.faces.pipeline import Face, FacePipeline
    from engine.verification import Threshold

PROGRESS_ITEM_WIDTH = 60
"""Characters of a file name the enrolment counter shows, so its line keeps one length."""


def _box(face: Any) -> list[int]:
    return [face.box.left, face.box.top, face.box.right, face.box.bottom]


def _box_text(box: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in box)


def _add_threshold(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threshold", type=float, help="default: saved operating point")


def _threshold(context: CommandContext, given: float | None, model_id: str) -> Threshold:
    from engine.verification import Threshold, default_threshold

    if given is not None:
        return Threshold(given, "given with --threshold")
    return default_threshold(context.settings, model_id)


def _faces_of(pipeline: FacePipeline, image: np.ndarray, path: Path) -> list[Face]:
    from engine.errors import NoFaceFound

    faces = pipeline.analyze(image)
    if not faces:
        raise NoFaceFound(f"no face was found in {path}")
    return faces


class FindFaces(Command):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("image", type=Path)
        parser.add_argument("--embed", action="store_true", help="include the 128-d embeddings")

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        pipeline = context.pipeline()
        faces = pipeline.analyze(args.image, embed=args.embed)
        return {
            "image": str(args.image),
            "model_id": pipeline.model_id,
            "faces": [
                {
                    "box": _box(f),
                    "score": round(f.score, 4),
                    "landmarks": f.landmarks.round(2).tolist(),
                    **({"embedding": f.embedding.tolist()} if f.embedding is not None else {}),
                }
                for f in faces
            ],
        }

    def show(self, result: dict[str, Any]) -> None:
        faces = result["faces"]
        print(f"{result['image']}: {len(faces)} face(s)")
        for i, face in enumerate(faces, 1):
            print(f"  {i}. box ({_box_text(face['box'])})  score {face['score']:.3f}")


class Enroll(Command):
    """A folder (or zip) laid out <person>/<images>, enrolled as the Enroll page's bulk tab does."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("folder", type=Path, help="folder or .zip of <person>/<images>")
        parser.add_argument(
            "--one-face-only",
            action="store_true",
            help="skip every photo with several faces (default: take the main face when one "
            "clearly dominates: the largest by a clear margin, at the centre)",
        )

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        from engine.enrollment import enroll_folder

        def show_progress(done: int, total: int, outcome: FileOutcome) -> None:
            item = outcome.item[:PROGRESS_ITEM_WIDTH].ljust(PROGRESS_ITEM_WIDTH)
            print(f"\r[{done}/{total}] {item}", end="", file=sys.stderr, flush=True)

        pipeline = context.pipeline()
        with context.gallery() as gallery:
            summary = enroll_folder(
                pipeline,
                gallery,
                args.folder,
                progress=show_progress if sys.stderr.isatty() else None,
                take_main_face=not args.one_face_only,
            )
            if sys.stderr.isatty():
                print(file=sys.stderr)
            result = {
                "source": str(args.folder),
                "gallery": str(gallery.location),
                **summary.as_dict(),
            }
        if summary.stopped:  # the summary so far, then `error: <why>` and a non-zero exit
            from store.errors import StoreFault

            if args.json:
                write_json(result)
            else:
                self.show(result)
            raise StoreFault(
                f"{summary.stopped} The job stopped after {len(summary.outcomes)} of "
                f"{summary.total} images; what was enrolled stays enrolled."
            )
        return result

    def show(self, result: dict[str, Any]) -> None:
        from engine.enrollment import OUTCOME_LABELS

        parts = [f"{OUTCOME_LABELS[k]} {v}" for k, v in result["counts"].items()]
        if result.get("main_face_taken"):  # after "enrolled N": part of that count
            parts[0] += f" (main face taken {result['main_face_taken']})"
        counts = ", ".join(parts)
        print(f"{result['source']}: {result['total']} images: {counts}")
        for file in result["files"]:
            if file.get("main_face"):
                print(f"  {file['item']}: main face taken ({file['reason']})")
            elif file["outcome"] != "enrolled":
                print(f"  {file['item']}: {OUTCOME_LABELS[file['outcome']]} ({file['reason']})")
        if result["ignored"]:
            print(f"  ignored {len(result['ignored'])} other file(s)")
        if result.get("stopped"):
            print(f"  stopped after {result['done']} of {result['total']} images", flush=True)


class Identify(Command):
    @staticmethod
    def fpir(text: str) -> float:
        """``--fpir``: a share strictly between 0 and 1."""
        value = float(text)
        if not 0 < value < 1:
            raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
        return value

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("image", type=Path)
        parser.add_argument("--top-k", type=positive_int, default=5, help="matches per face")
        parser.add_argument(
            "--threshold",
            type=float,
            help="default: the saved open-set point, else the threshold for --fpir",
        )
        parser.add_argument(
            "--fpir",
            type=self.fpir,
            default=0.01,
            help="share of strangers that may be named at the gallery's size (default 0.01)",
        )

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        from engine.open_set import recognize_threshold
        from engine.verification import EmptyGallery, Threshold, identify_faces, left_to_right

        with context.gallery() as gallery:
            if gallery.count_faces() == 0:  # say so before spending seconds on the models
                raise EmptyGallery("the gallery is empty: enrol people first (cli.py enroll DIR)")
            image = context.read_image(args.image)
            pipeline = context.pipeline()
            if args.threshold is not None:
                threshold = Threshold(args.threshold, "given with --threshold")
            else:  # open-set: each face is compared with everyone enrolled
                threshold = recognize_threshold(
                    context.settings, pipeline.model_id, gallery.count_people(), args.fpir
                )
            faces = left_to_right(_faces_of(pipeline, image, args.image))
            result = identify_faces(gallery, faces, threshold, pipeline.model_id, top_k=args.top_k)
            return {
                "image": str(args.image),
                "model_id": result.model_id,
                "threshold": result.threshold,
                "threshold_source": result.threshold_source,
                "faces": [
                    {
                        "box": _box(f),
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

    def show(self, result: dict[str, Any]) -> None:
        print(
            f"{result['image']}: {len(result['faces'])} face(s), threshold "
            f"{result['threshold']:.3f} ({result['threshold_source']})"
        )
        for i, face in enumerate(result["faces"], 1):
            box = _box_text(face["box"])
            print(f"  {i}. {face['name']}  distance {face['distance']:.3f}  box ({box})")
            for match in face["matches"]:
                print(f"       {match['distance']:.3f}  {match['name']}")


class Verify(Command):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("image_a", type=Path)
        parser.add_argument("image_b", type=Path)
        _add_threshold(parser)

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        from engine.verification import verify_embeddings

        image_a, image_b = context.read_image(args.image_a), context.read_image(args.image_b)
        pipeline = context.pipeline()
        threshold = _threshold(context, args.threshold, pipeline.model_id)
        faces_a = _faces_of(pipeline, image_a, args.image_a)
        faces_b = _faces_of(pipeline, image_b, args.image_b)
        most_confident_a, most_confident_b = faces_a[0], faces_b[0]  # analyze sorts by score
        result = verify_embeddings(
            most_confident_a.embedding,
            most_confident_b.embedding,
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

    def show(self, result: dict[str, Any]) -> None:
        decision = "same person" if result["same"] else "different people"
        relation = "<=" if result["same"] else ">"
        print(
            f"{decision}: distance {result['distance']:.3f} {relation} threshold "
            f"{result['threshold']:.3f} (margin {result['margin']:+.3f}; "
            f"{result['threshold_source']})"
        )
        for side in ("a", "b"):
            if result[f"faces_in_{side}"] > 1:
                print(
                    f"  {result[f'faces_in_{side}']} faces in {result[f'image_{side}']}: "
                    "compared the most confident one"
                )
