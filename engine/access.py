"""Who may use a hosted Vision Lab, and who may change its gallery: a login that fails closed.

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

import base64
import difflib
import hashlib
import hmac
import logging
import os
import secrets as token_source
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.errors import VisionLabError
from engine.permissions import Actor
from engine.permissions import Role as ActorRole

log = logging.getLogger(__name__)

Role = Literal["admin", "user"]
Mode = Literal["local", "password", "oidc"]

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


# --- The secrets files ---------------------------------------------------------------------


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


# --- Password hashes -----------------------------------------------------------------------

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


# --- The policy ----------------------------------------------------------------------------


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

    def role_for_email(self, email: str | None) -> Role:
        """Deprecated spelling of ``role_for_account`` for a verified e-mail address."""
        return self.role_for_account(email, True)

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


# --- The signed login cookie ---------------------------------------------------------------

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


# --- Throttling wrong passwords ------------------------------------------------------------


@dataclass
class _Failures:
    count: int = 0
    next_allowed: float = 0.0
    last: float = 0.0


class LoginThrottle:
    """Exponential delays after wrong passwords, per key (a session, a client address).

    After the k-th failure in a row for a key, its next attempt waits ``base * 2**(k-1)``
    seconds, capped at ``cap``; a key quiet for ``forget_after`` seconds starts over. An attempt
    counts as a failure from the moment it begins (``begin``), so parallel attempts cannot slip
    through together; ``succeeded`` takes back that count. Thread-safe: one per process.
    """

    def __init__(
        self,
        *,
        base: float = 1.0,
        cap: float = 300.0,
        forget_after: float = 3600.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base, self.cap, self.forget_after, self.max_keys = base, cap, forget_after, max_keys
        self.clock = clock
        self._keys: dict[str, _Failures] = {}
        self._lock = threading.Lock()

    def delay(self, failures: int) -> float:
        return 0.0 if failures <= 0 else min(self.cap, self.base * 2 ** min(failures - 1, 60))

    def _get(self, key: str, now: float) -> _Failures:
        entry = self._keys.get(key)
        if entry is not None and now - entry.last > self.forget_after:
            entry = None
        if entry is None:
            if len(self._keys) >= self.max_keys:
                self._keys = {
                    k: v for k, v in self._keys.items() if now - v.last <= self.forget_after
                }
            entry = self._keys[key] = _Failures()
        return entry

    def wait(self, keys: Iterable[str]) -> float:
        """Seconds until any of ``keys`` may try again (0: now)."""
        with self._lock:
            now = self.clock()
            return max([0.0, *(self._get(k, now).next_allowed - now for k in keys)])

    def begin(self, keys: Iterable[str]) -> float:
        """Start an attempt: 0 when allowed (and counted as failed until ``succeeded``), else
        the seconds to wait (the attempt is not made, and not counted)."""
        keys = list(keys)
        with self._lock:
            now = self.clock()
            entries = [self._get(k, now) for k in keys]
            wait = max([0.0, *(e.next_allowed - now for e in entries)])
            if wait > 0:
                return wait
            for e in entries:
                e.count += 1
                e.last = now
                e.next_allowed = now + self.delay(e.count)
            return 0.0

    def succeeded(self, keys: Iterable[str]) -> None:
        """The attempt ``begin`` counted was right: take the count back, allow the next now."""
        with self._lock:
            now = self.clock()
            for k in keys:
                e = self._get(k, now)
                e.count = max(0, e.count - 1)
                e.next_allowed = now

    def failures(self, key: str) -> int:
        with self._lock:
            return self._get(key, self.clock()).count


THROTTLE = LoginThrottle()
"""The process-wide throttle every session of the app shares."""


def log_failed_login(address: str | None, throttle: LoginThrottle, keys: Iterable[str]) -> None:
    """One warning per wrong password: where from and how long the next wait is — never the
    password that was tried."""
    keys = list(keys)
    log.warning(
        "wrong password from %s (%d failure(s) in a row; next attempt in %.0f s)",
        address or "localhost",
        max(throttle.failures(k) for k in keys),
        throttle.wait(keys),
    )
