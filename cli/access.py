"""``hash-password``: the salted hash a hosted app's login reads from .streamlit/secrets.toml."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from cli.commands import Command

if TYPE_CHECKING:
    from cli.context import CommandContext


class HashPassword(Command):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--admin", action="store_true", help="print admin_password_hash = …")

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        """The password is asked twice without echo on a terminal, else read as one line."""
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

    def show(self, result: dict[str, Any]) -> None:
        print("# paste under [access] in .streamlit/secrets.toml")
        print(f'{result["key"]} = "{result["hash"]}"')
