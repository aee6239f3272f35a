"""Who may use a hosted Vision Lab, and who may change its gallery.

Read from ``.streamlit/secrets.toml`` (never from code or the environment):

```toml
[access]
password_sha256 = "…"        # users: enrol, verify, recognize, analyse (or `password = "…"`)
admin_password_sha256 = "…"  # admins also delete, merge, import and switch the model
admins = ["ada@example.org"] # with OpenID Connect: these e-mails are admins

[auth]                       # OpenID Connect via st.login (Streamlit's own section)
redirect_uri = "https://…/oauth2callback"
cookie_secret = "…"
client_id = "…"
client_secret = "…"
server_metadata_url = "https://accounts.example.org/.well-known/openid-configuration"
```

With neither section the app runs in *local mode*: no login, everyone may do everything, and
the app says so. Passwords are compared as SHA-256 digests in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["admin", "user"]
Mode = Literal["local", "password", "oidc"]


class AccessConfigError(ValueError):
    """The secrets file asks for a login it does not fully configure."""


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _digest(section: Mapping[str, Any], name: str) -> str | None:
    hashed = section.get(f"{name}_sha256")
    if hashed:
        value = str(hashed).strip().lower()
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise AccessConfigError(f"[access] {name}_sha256 must be 64 hex digits")
        return value
    plain = section.get(name)
    return sha256_hex(str(plain)) if plain else None


@dataclass(frozen=True)
class AccessPolicy:
    mode: Mode
    user_digest: str | None = None
    admin_digest: str | None = None
    admins: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_secrets(cls, secrets: Mapping[str, Any]) -> AccessPolicy:
        access = secrets.get("access") or {}
        admins = frozenset(str(e).strip().lower() for e in access.get("admins", []) if e)
        if secrets.get("auth"):
            return cls("oidc", admins=admins)
        user, admin = _digest(access, "password"), _digest(access, "admin_password")
        if user is None and admin is None:
            if admins:
                raise AccessConfigError("[access] admins needs an [auth] section (st.login)")
            return cls("local")
        return cls("password", user, admin)

    @property
    def is_local(self) -> bool:
        return self.mode == "local"

    def role_for_password(self, password: str) -> Role | None:
        """The role a password grants, or None. The admin password is checked first."""
        given = sha256_hex(password)
        if self.admin_digest and hmac.compare_digest(given, self.admin_digest):
            return "admin"
        if self.user_digest and hmac.compare_digest(given, self.user_digest):
            return "user"
        return None

    def role_for_email(self, email: str | None) -> Role:
        """OpenID Connect: admins by e-mail; any other logged-in user is a user."""
        return "admin" if email and email.strip().lower() in self.admins else "user"
