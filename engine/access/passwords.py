"""Password hashes: salted scrypt (``python cli.py hash-password``); legacy unsalted SHA-256
digests still verify, with a warning."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.access.errors import AccessConfigError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
"""scrypt's cost (RFC 7914): 16 MiB and ~45 ms per hash on one 2020s CPU core."""
_SCRYPT_MAXMEM = 64 * 2**20


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=32
    )


def hash_password(password: str) -> str:
    """A salted scrypt hash, ``scrypt$N$r$p$salt$hash`` (base64url), for ``password_hash``."""
    if not password:
        raise ValueError("the password is empty")
    salt = os.urandom(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def sha256_hex(text: str) -> str:
    """The legacy, unsalted digest (``password_sha256``); only still verified, never made."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredPassword:
    """One configured password: a scrypt hash, or a legacy SHA-256 digest."""

    key: str
    """The secrets key it came from, for messages (``password_hash``, ``password_sha256``, …)."""
    value: str

    @classmethod
    def parse(cls, key: str, value: Any) -> StoredPassword:
        text = str(value).strip()
        if key.endswith("_sha256"):
            text = text.lower()
            if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
                raise AccessConfigError(f"[access] {key} must be 64 hex digits")
            return cls(key, text)
        parts = text.split("$")
        try:
            ok = len(parts) == 6 and parts[0] == "scrypt"
            n, r, p = (int(x) for x in parts[1:4]) if ok else (0, 0, 0)
            ok = ok and n >= 2**12 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16
            ok = ok and len(_unb64(parts[4])) >= 8 and len(_unb64(parts[5])) == 32
        except ValueError:
            ok = False
        if not ok:
            raise AccessConfigError(
                f"[access] {key} is not a hash from `python cli.py hash-password` "
                "(expected scrypt$N$r$p$salt$hash)"
            )
        return cls(key, text)

    @property
    def is_legacy(self) -> bool:
        return self.key.endswith("_sha256")

    def matches(self, password: str) -> bool:
        """Constant-time comparison against the stored hash."""
        if self.is_legacy:
            return hmac.compare_digest(sha256_hex(password), self.value)
        _, n, r, p, salt, digest = self.value.split("$")
        given = _scrypt(password, _unb64(salt), int(n), int(r), int(p))
        return hmac.compare_digest(given, _unb64(digest))


def _stored_password(access: Mapping[str, Any], name: str) -> StoredPassword | None:
    both = [k for k in (f"{name}_hash", f"{name}_sha256") if k in access]
    if len(both) == 2:
        raise AccessConfigError(f"[access] sets both {both[0]} and {both[1]}: keep one")
    return StoredPassword.parse(both[0], access[both[0]]) if both else None
