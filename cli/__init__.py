"""Vision Lab batch jobs: ``python cli.py COMMAND ... [--data DIR] [--json]``.

``--json`` prints one JSON document on stdout. Any failure exits non-zero with a one-line
message on stderr, never a traceback.

Commands are listed in ``cli.commands.COMMANDS``; each lives in the module of its group
(``cli/faces.py``, ``cli/gallery.py``, …) as a class with its arguments, a ``run`` that returns
the result and a ``show`` that prints it. Only the module of the command asked for is imported.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cli.commands import COMMANDS, Command, load_command
from cli.context import CommandContext
from cli.output import write_json
from engine.errors import VisionLabError

__all__ = ["COMMANDS", "Command", "build_parser", "load_command", "main"]


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """Every command with its summary, and the arguments of ``chosen`` alone: the other
    commands' modules are not imported (``cli.py --help`` imports none)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", type=Path, help="data folder (default: $VISIONLAB_DATA or data)")
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser = argparse.ArgumentParser(prog="cli.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, info in COMMANDS.items():
        command_parser = sub.add_parser(name, parents=[common], help=info.summary)
        if name == chosen:
            load_command(name).add_arguments(command_parser)
    return parser


def _command_name(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names: its first word that is not an option (the program's only
    options, -h and --help, take no value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser(_command_name(argv)).parse_args(argv)
        for stream in (sys.stdout, sys.stderr):  # file names need not be UTF-8 (surrogates)
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors="backslashreplace")
        command = load_command(args.command)
        result = command.run(args, CommandContext(data_dir=args.data))
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
        write_json(result)
    else:
        command.show(result)
    return 0
