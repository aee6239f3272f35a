"""The access policy: what the secrets file configures, and the role a login grants.

Read from ``.streamlit/secrets.toml`` (never from code or the environment):

```toml
[access]
password_hash = "scrypt$…"        # users: enrol, verify, recognize, analyse
admin_password_hash = "scrypt$…"  # admins also delete, merge, import and switch the model
session_hours = 12                # a login survives reloads this long (signed cookie)
# cookie_secret = "…"             # optional; else a random key in the data folder
# login = "password"              # required when [auth] is set too: "password" or "oidc"

# With OpenID Connect ([auth], Streamlit's st.login section), an allow-list is required:
# allowed_emails = ["ada@example.org"]
# allowed_domains = ["example.org"]
# admins = ["ada@example.org"]    # verified e-mails that are admins (also allowed)
# other_secrets = ["connections"]  # other top-level sections kept here on purpose
```

Hashes come from ``python cli.py hash-password`` (scrypt, salted). Legacy ``password_sha256`` /
``admin_password_sha256`` digests still work, with a warning. Plain ``password = "…"`` is refused:
the secrets file should never hold a password a leaked copy would reveal.

Fail-closed rules: a secrets file that exists but is unusable (TOML syntax error, empty, an
unknown section or key, an empty value, both logins without ``login = …``) is an
``AccessConfigError`` naming the problem, and the app serves nothing else. *Local mode* (no
login, everyone is an admin) needs no secrets at all *and* a loopback server address.
"""

from __future__ import annotations

import difflib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.access.cookie import CookieSigner
from engine.access.errors import (
    AccessConfigError,
    AccountNotAllowed,
    LocalModeRefused,
    Mode,
    Role,
)
from engine.access.passwords import StoredPassword, _stored_password
from engine.access.secrets_files import is_loopback
from engine.permissions import Actor
from engine.permissions import Role as ActorRole

SECTIONS = ("access", "auth")
"""The top-level sections Vision Lab reads: its own, and Streamlit's st.login section."""

ACCESS_KEYS = (
    "login",
    "password_hash",
    "admin_password_hash",
    "password_sha256",
    "admin_password_sha256",
    "session_hours",
    "cookie_secret",
    "allowed_emails",
    "allowed_domains",
    "admins",
    "other_secrets",
)
"""Every key ``[access]`` may hold; any other key is a typo and refused."""

_PLAIN_KEYS = ("password", "admin_password")
_OIDC_KEYS = ("allowed_emails", "allowed_domains", "admins")
_AUTH_REQUIRED = ("redirect_uri", "cookie_secret")
_PROVIDER_REQUIRED = ("client_id", "client_secret", "server_metadata_url")
DEFAULT_SESSION_HOURS = 12.0
MAX_SESSION_HOURS = 24.0 * 30


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_names(secrets: Mapping[str, Any], access: Mapping[str, Any]) -> None:
    extra = access.get("other_secrets", [])
    if not isinstance(extra, list) or not all(isinstance(x, str) and x for x in extra):
        raise AccessConfigError("[access] other_secrets must be a list of section names")
    for name in secrets:
        if name not in SECTIONS and name not in extra:
            raise AccessConfigError(
                f"unknown section or key [{name}] in the secrets file{_suggest(name, SECTIONS)}; "
                "Vision Lab reads only [access] and [auth]. If it belongs to another tool, "
                f'list it in [access] other_secrets = ["{name}"]'
            )
    for name in access:
        value = access[name]
        if value is None or (isinstance(value, str) and not value.strip()):
            raise AccessConfigError(f"[access] {name} is empty")
        if name in _PLAIN_KEYS:
            raise AccessConfigError(
                f"[access] {name} holds a plain-text password; replace it with "
                f"{name}_hash = the line `python cli.py hash-password` prints"
            )
        if name not in ACCESS_KEYS:
            raise AccessConfigError(f"unknown key [access] {name}{_suggest(name, ACCESS_KEYS)}")


def _addresses(access: Mapping[str, Any], key: str, *, domains: bool = False) -> frozenset[str]:
    raw = access.get(key, [])
    if not isinstance(raw, list):
        raise AccessConfigError(f"[access] {key} must be a list of strings")
    out = set()
    for item in raw:
        text = str(item).strip().lower().lstrip("@" if domains else "")
        if not text or (domains and "@" in text) or (not domains and "@" not in text):
            kind = "domain like example.org" if domains else "e-mail address"
            raise AccessConfigError(f"[access] {key} has {item!r}, not an {kind}")
        out.add(text)
    return frozenset(out)


def _oidc_providers(auth: Any) -> tuple[str, ...]:
    """Provider names for st.login: ("",) for the default (top-level keys), else subsections."""
    if not isinstance(auth, Mapping) or not auth:
        raise AccessConfigError("[auth] is empty: give st.login's settings or remove the section")
    missing = [k for k in _AUTH_REQUIRED if not auth.get(k)]
    if missing:
        raise AccessConfigError(f"[auth] lacks {', '.join(missing)}")
    named = tuple(k for k, v in auth.items() if isinstance(v, Mapping))
    if all(auth.get(k) for k in _PROVIDER_REQUIRED):
        return ("", *named)
    if not named:
        raise AccessConfigError(f"[auth] lacks {', '.join(_PROVIDER_REQUIRED)}")
    for name in named:
        lacking = [k for k in _PROVIDER_REQUIRED if not auth[name].get(k)]
        if lacking:
            raise AccessConfigError(f"[auth.{name}] lacks {', '.join(lacking)}")
    return named


@dataclass(frozen=True)
class AccessPolicy:
    """The login the secrets ask for, checked for every way it could be unusable."""

    mode: Mode
    user_password: StoredPassword | None = None
    admin_password: StoredPassword | None = None
    allowed_emails: frozenset[str] = field(default_factory=frozenset)
    allowed_domains: frozenset[str] = field(default_factory=frozenset)
    admins: frozenset[str] = field(default_factory=frozenset)
    oidc_providers: tuple[str, ...] = ()
    session_hours: float = DEFAULT_SESSION_HOURS
    cookie_secret: str | None = None
    warnings: tuple[str, ...] = ()
    """Things that work but should be fixed (legacy digests); shown to admins and logged."""

    @classmethod
    def from_secrets(cls, secrets: Mapping[str, Any]) -> AccessPolicy:
        """The policy for these secrets (``{}``: local mode); ``AccessConfigError`` otherwise."""
        if not secrets:
            return cls("local")
        access = secrets.get("access", {})
        if not isinstance(access, Mapping):
            raise AccessConfigError("[access] must be a section (a table), not a single value")
        _check_names(secrets, access)
        user = _stored_password(access, "password")
        admin = _stored_password(access, "admin_password")
        has_password = user is not None or admin is not None
        has_oidc = "auth" in secrets
        login = access.get("login")
        if login not in (None, "password", "oidc"):
            raise AccessConfigError(f'[access] login must be "password" or "oidc", not {login!r}')
        if has_password and has_oidc and login is None:
            raise AccessConfigError(
                "both [auth] (OpenID Connect) and passwords are set: say which one is used with "
                '[access] login = "oidc" or login = "password"'
            )
        mode: Mode | None = login or ("oidc" if has_oidc else "password" if has_password else None)
        if mode is None:
            raise AccessConfigError(
                "the secrets file configures no login: set [access] password_hash (python cli.py "
                "hash-password) or an [auth] section for OpenID Connect"
            )
        hours = access.get("session_hours", DEFAULT_SESSION_HOURS)
        if isinstance(hours, bool) or not isinstance(hours, int | float):
            raise AccessConfigError("[access] session_hours must be a number")
        if not 0 < hours <= MAX_SESSION_HOURS:
            raise AccessConfigError(
                f"[access] session_hours must be above 0 and at most {MAX_SESSION_HOURS:g}"
            )
        common = {"session_hours": float(hours), "cookie_secret": access.get("cookie_secret")}
        emails = _addresses(access, "allowed_emails")
        domains = _addresses(access, "allowed_domains", domains=True)
        admins = _addresses(access, "admins")
        if mode == "oidc":
            if not has_oidc:
                raise AccessConfigError('[access] login = "oidc" needs an [auth] section')
            providers = _oidc_providers(secrets["auth"])
            if not (emails or domains or admins):
                raise AccessConfigError(
                    "OpenID Connect needs an allow-list: [access] allowed_emails and/or "
                    "allowed_domains (and admins) — otherwise any account could log in"
                )
            return cls(
                "oidc",
                allowed_emails=emails,
                allowed_domains=domains,
                admins=admins,
                oidc_providers=providers,
                **common,
            )
        if not has_password:
            raise AccessConfigError('[access] login = "password" needs password_hash')
        if (emails or domains or admins) and not has_oidc:
            raise AccessConfigError(
                "[access] allowed_emails, allowed_domains and admins need an [auth] section "
                "(st.login); with passwords, the admin is whoever has admin_password_hash"
            )
        warnings = tuple(
            f"[access] {p.key} is an unsalted SHA-256 digest; replace it with {p.key[:-7]}_hash "
            "from `python cli.py hash-password`"
            for p in (user, admin)
            if p is not None and p.is_legacy
        )
        return cls("password", user, admin, warnings=warnings, **common)

    @property
    def is_local(self) -> bool:
        return self.mode == "local"

    def role_for_password(self, password: str) -> Role | None:
        """The role a password grants, or None. The admin password is checked first."""
        if self.admin_password and self.admin_password.matches(password):
            return "admin"
        if self.user_password and self.user_password.matches(password):
            return "user"
        return None

    def role_for_account(self, email: str | None, email_verified: Any) -> Role:
        """OpenID Connect: the role of a logged-in account; ``AccountNotAllowed`` when it is not
        on the allow-list, or its provider did not say the e-mail address is verified."""
        address = (email or "").strip().lower()
        if not address or "@" not in address:
            raise AccountNotAllowed("your account has no e-mail address this app could check")
        verified = email_verified is True or str(email_verified).strip().lower() == "true"
        if not verified:
            raise AccountNotAllowed(f"your provider has not verified the e-mail address {address}")
        if address in self.admins:
            return "admin"
        if address in self.allowed_emails or address.rsplit("@", 1)[1] in self.allowed_domains:
            return "user"
        raise AccountNotAllowed(f"the account {address} is not allowed to use this app")

    @property
    def session_seconds(self) -> float:
        return self.session_hours * 3600.0

    def cookie_signer(self, fallback_secret: bytes) -> CookieSigner:
        """The signer for password logins. Its key covers the password hashes and the lifetime,
        so changing a password (or ``session_hours``) invalidates every cookie issued before."""
        secret = self.cookie_secret.encode("utf-8") if self.cookie_secret else fallback_secret
        bound = "\n".join(
            [
                self.user_password.value if self.user_password else "",
                self.admin_password.value if self.admin_password else "",
                repr(self.session_hours),
            ]
        )
        key = hmac.new(secret, b"vision-lab login cookie\n" + bound.encode(), "sha256").digest()
        return CookieSigner(key, self.session_seconds)


def load_policy(secrets: Mapping[str, Any], *, server_address: str | None) -> AccessPolicy:
    """The policy, refusing local mode unless the server listens on loopback only."""
    policy = AccessPolicy.from_secrets(secrets)
    if policy.is_local and not is_loopback(server_address):
        raise LocalModeRefused(server_address)
    return policy


def actor_for(role: Role | None) -> Actor:
    """The engine's ``Actor`` for a login role (no role: a user, the least privilege)."""
    return Actor(ActorRole.ADMIN if role == "admin" else ActorRole.USER)
