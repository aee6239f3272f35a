"""``python cli.py COMMAND …``: runs the ``cli`` package's ``main`` (the commands live in ``cli/``).

Run as a script, this file's folder is ``sys.path[0]``, where the ``cli/`` package wins over this
module of the same name, so ``import cli`` below is the package, never this file.
"""

import sys

from cli import main

if __name__ == "__main__":
    sys.exit(main())
