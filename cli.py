"""Vision Lab batch jobs: ``python cli.py COMMAND ... [--data DIR] [--json]``.

``--json`` prints one JSON document on stdout. Any failure exits non-zero with a one-line
message on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import VisionLabError


def cmd_faces(args: argparse.Namespace) -> dict[str, Any]:
    """Find the faces in one image: boxes, scores, landmarks (and embeddings with --embed)."""
    from engine.faces.pipeline import FacePipeline

    pipeline = FacePipeline.load()
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


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], Any], Callable[[Any], None]]] = {
    "faces": (cmd_faces, _print_faces),
}


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", type=Path, help="data folder (default: $VISIONLAB_DATA or data)")
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser = argparse.ArgumentParser(prog="cli.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    faces = sub.add_parser("faces", parents=[common], help=cmd_faces.__doc__)
    faces.add_argument("image", type=Path)
    faces.add_argument("--embed", action="store_true", help="include the 128-d embeddings")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
