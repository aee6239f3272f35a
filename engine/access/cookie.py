"""The signed login cookie: a password login survives a reload for a bounded time."""

from __future__ import annotations

import hmac
import os
import secrets as token_source
import threading
from dataclasses import dataclass
from pathlib import Path

from engine.access.errors import Role
from engine.access.passwords import _b64

COOKIE_NAME = "visionlab_login"


def cookie_secret_file(data_dir: Path) -> bytes:
    """A random key created once in ``data_dir/login-cookie.key`` (mode 0600), for signing
    cookies when the secrets give no ``cookie_secret``."""
    path = data_dir / "login-cookie.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = token_source.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as f:
        f.write(key.hex())
    return key


class RevokedCookies:
    """Cookies logged out before they expire, remembered (in this process) until they would."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def revoke(self, signature: str, expires: float, now: float) -> None:
        with self._lock:
            self._until = {s: t for s, t in self._until.items() if t > now}
            self._until[signature] = expires

    def __contains__(self, signature: str) -> bool:
        with self._lock:
            return signature in self._until


REVOKED = RevokedCookies()


@dataclass(frozen=True)
class CookieSigner:
    """``role.expiry.nonce.signature``: HMAC-SHA256 (RFC 2104) over the first three parts."""

    key: bytes
    lifetime_s: float
    revoked: RevokedCookies = REVOKED

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self.key, body.encode("ascii"), "sha256").digest())

    def issue(self, role: Role, now: float) -> str:
        body = f"{role}.{int(now + self.lifetime_s)}.{token_source.token_urlsafe(12)}"
        return f"{body}.{self._sign(body)}"

    def role(self, token: str | None, now: float) -> Role | None:
        """The role a cookie grants now, or None (absent, tampered, expired, revoked)."""
        parts = (token or "").split(".")
        if len(parts) != 4 or parts[0] not in ("user", "admin"):
            return None
        body, signature = ".".join(parts[:3]), parts[3]
        if not hmac.compare_digest(self._sign(body), signature) or signature in self.revoked:
            return None
        try:
            expires = int(parts[1])
        except ValueError:
            return None
        if not now < expires <= now + self.lifetime_s + 1:
            return None
        return "admin" if parts[0] == "admin" else "user"

    def revoke(self, token: str | None, now: float) -> None:
        if self.role(token, now) is not None:
            parts = str(token).split(".")
            self.revoked.revoke(parts[3], float(parts[1]), now)
