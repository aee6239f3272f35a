"""The secrets files, read with tomllib on every run: Streamlit caches what it parsed, so a file
emptied or fixed after start would otherwise still read as before."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.access.errors import AccessConfigError


@dataclass(frozen=True)
class SecretsFiles:
    """What the configured secrets locations hold."""

    toml: dict[str, Any]
    """The ``.toml`` files merged in order (a later file's top-level keys win, as Streamlit's)."""
    found: tuple[Path, ...]
    """Every location that exists: ``.toml`` files and Kubernetes-style secrets folders."""

    @property
    def has_folders(self) -> bool:
        return any(p.is_dir() for p in self.found)


def read_secrets_files(paths: Iterable[str | Path]) -> SecretsFiles:
    """Read Streamlit's ``secrets.files`` ourselves; ``AccessConfigError`` for a ``.toml`` file
    that exists but is empty, unreadable or not valid TOML.

    Streamlit logs an unparsable file and reads no secrets, which looks exactly like "no
    secrets file" — local mode; and it caches what it parsed, so a file filled in after start-up
    could still read as empty. Reading the files on every run closes both gaps.
    """
    merged: dict[str, Any] = {}
    found = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found.append(path)
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise AccessConfigError(f"the secrets file {path} cannot be read ({exc})") from exc
        try:
            parsed = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise AccessConfigError(f"the secrets file {path} is not valid TOML: {exc}") from exc
        if not parsed:
            raise AccessConfigError(
                f"the secrets file {path} is empty; configure a login in it or delete it"
            )
        merged.update(parsed)
        found.append(path)
    return SecretsFiles(merged, tuple(found))


def is_loopback(address: str | None) -> bool:
    """Whether a ``server.address`` reaches this machine only (None or "" = every interface)."""
    if not address:
        return False
    host = address.strip().strip("[]").lower()
    return host in {"localhost", "::1"} or host.startswith("127.")
