"""The registry of commands, in the manner of pip's ``commands/__init__.py``: each name maps to the
module and class that implement it and the one-line summary ``cli.py --help`` lists, so the help
needs no command module and a run imports only the one it asks for."""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cli.context import CommandContext


class Command:
    """One command: the arguments it takes, what it does, and how its result reads as text.

    ``run`` returns a JSON-able dict; ``--json`` prints it as it is (``cli.output.write_json``),
    otherwise ``show`` prints it for a person.
    """

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The command's own arguments (``--data`` and ``--json`` are every command's)."""

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        raise NotImplementedError

    def show(self, result: dict[str, Any]) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class CommandInfo:
    module: str
    class_name: str
    summary: str
    """What the command does, as ``cli.py --help`` lists it."""


COMMANDS: dict[str, CommandInfo] = {
    "faces": CommandInfo(
        "cli.faces",
        "FindFaces",
        "Find the faces in one image: boxes, scores, landmarks (and embeddings with --embed).",
    ),
    "enroll": CommandInfo(
        "cli.faces",
        "Enroll",
        "Enrol a folder (or zip) laid out <person>/<images>; from a several-face photo, the "
        "main face when one clearly dominates (--one-face-only: none).",
    ),
    "identify": CommandInfo(
        "cli.faces",
        "Identify",
        'Name every face in an image from the gallery ("unknown" past the threshold).',
    ),
    "verify": CommandInfo(
        "cli.faces",
        "Verify",
        "Same person or not? Compares the most confident face of each image.",
    ),
    "cluster": CommandInfo(
        "cli.cluster",
        "Cluster",
        'Group the faces of an unlabelled folder or zip of photos (or "gallery") into people; '
        "--enrol adds clusters that match an enrolled person to that person.",
    ),
    "people": CommandInfo(
        "cli.gallery", "People", "List the gallery's people and how many faces each has."
    ),
    "delete": CommandInfo(
        "cli.gallery", "Delete", "Delete a person (by name or id) and all their faces."
    ),
    "rename": CommandInfo(
        "cli.gallery",
        "Rename",
        "Rename a person (by name or id); names stay unique, ignoring case.",
    ),
    "merge": CommandInfo(
        "cli.gallery",
        "Merge",
        "Merge ABSORB into KEEP (names or ids), for one person enrolled twice: every face of "
        "ABSORB moves to KEEP, its notes are appended, and ABSORB is removed.",
    ),
    "export": CommandInfo(
        "cli.gallery",
        "Export",
        "Write the whole gallery (people, notes, embeddings, face images) to a zip.",
    ),
    "import": CommandInfo(
        "cli.gallery",
        "Import",
        "Add the people and faces of a gallery export made with the same face model; faces "
        "already here are skipped, people already here (same name) get the new faces.",
    ),
    "migrate": CommandInfo(
        "cli.gallery",
        "Migrate",
        "Copy the gallery (people, notes, faces, embeddings, chips; ids kept) into an empty "
        "database, PostgreSQL or SQLite, and open it there; the old one is left as it was.",
    ),
    "evaluate": CommandInfo(
        "cli.evaluate",
        "Evaluate",
        "Verification metrics of an LFW-format pairs file (accuracy, ROC AUC, EER, d′, TAR at "
        "FAR 1e-1…1e-4), scored by distance or by a head trained on --train-pairs.",
    ),
    "train": CommandInfo(
        "cli.train",
        "Train",
        "Train a projection head on a <person>/<images> folder (triplet loss, mined triplets) "
        "and save it under <data>/models; with --eval-pairs, verification figures before and "
        "after.",
    ),
    "models": CommandInfo(
        "cli.models",
        "Models",
        "List the trained models saved in the data folder, and the one in use.",
    ),
    "use-model": CommandInfo(
        "cli.models",
        "UseModel",
        "Switch Enroll / Verify / Recognize (app and CLI) to a trained model, or back to the "
        'pretrained one ("base"); re-embeds the gallery\'s faces for it (skip with '
        "--no-reembed).",
    ),
    "layers": CommandInfo(
        "cli.neurons",
        "Layers",
        "A backbone's layers in order, with channels and receptive field (size, stride, offset).",
    ),
    "index-neurons": CommandInfo(
        "cli.neurons",
        "IndexNeurons",
        "Index a folder of images: per channel, the top-k activating images and positions.",
    ),
    "show-neuron": CommandInfo(
        "cli.neurons",
        "ShowNeuron",
        "Draw one channel's top-k receptive-field patches as a PNG grid.",
    ),
    "hash-password": CommandInfo(
        "cli.access",
        "HashPassword",
        "make a salted password hash for .streamlit/secrets.toml (reads the password from stdin)",
    ),
    "stylize": CommandInfo(
        "cli.style",
        "Stylize",
        "Neural style transfer: --content's content in --style's style (Gatys et al.'s "
        "optimisation of the pixels; --fast: the feed-forward network), written to --out as "
        "PNG.",
    ),
}


def load_command(name: str) -> Command:
    """The command ``name``, importing its module (and only that one)."""
    info = COMMANDS[name]
    return getattr(importlib.import_module(info.module), info.class_name)()


def positive_int(text: str) -> int:
    """An argument type: a whole number of 1 or more."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value
