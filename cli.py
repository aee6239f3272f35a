"""``python cli.py COMMAND …``: runs the ``cli`` package's ``main`` (the commands live in ``cli/``).

Run as a script, this file's folder is ``sys.path[0]``, where the ``cli/`` package wins over this
module of the same name, so ``import cli`` below is the package, never this file.
"""

import sys

from engine.openmp import prefer_passive_waiting

prefer_passive_waiting()  # before any command loads torch

from cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
