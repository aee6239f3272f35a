"""The login's types and errors: the roles a login grants, and why nobody may get in."""

from __future__ import annotations

from typing import Literal

from engine.errors import VisionLabError

Role = Literal["admin", "user"]
Mode = Literal["local", "password", "oidc"]

LOCAL_MODE_LINES = """\
[access]
password_hash = "…"        # python cli.py hash-password
admin_password_hash = "…"  # python cli.py hash-password (a different password)"""
"""What to add to ``.streamlit/secrets.toml`` before serving beyond this machine."""


class AccessConfigError(VisionLabError, ValueError):
    """The secrets file cannot be used as it is; nobody gets in until it is fixed."""


class LocalModeRefused(AccessConfigError):
    """No login is configured, and the server listens beyond this machine."""

    def __init__(self, address: str | None) -> None:
        where = f"on {address}" if address else "on every network interface"
        self.summary = (
            f"No login is configured and the server listens {where}: local mode (no login, "
            "everyone an admin) is only for 127.0.0.1. Add these lines to "
            ".streamlit/secrets.toml, or run with --server.address 127.0.0.1:"
        )
        super().__init__(f"{self.summary}\n\n{LOCAL_MODE_LINES}")
        self.address = address


class AccountNotAllowed(VisionLabError):
    """An OpenID Connect account logged in, but this app does not let it in."""
