"""Who may use a hosted Vision Lab, and with which role: a login that fails closed.

- ``secrets_files``: the secrets files, read afresh on every run (a broken file fails closed);
- ``policy``: what they configure (``AccessPolicy``: local mode, passwords or OpenID Connect),
  and the role a login grants (``actor_for`` → ``engine.permissions.Actor``);
- ``passwords``: salted scrypt hashes (``python cli.py hash-password``), legacy SHA-256;
- ``throttle``: exponential delays after wrong passwords, per session and per client address;
- ``cookie``: the signed cookie that lets a password login survive a reload for a bounded time;
- ``errors``: the roles and the errors that keep everyone out until the file is fixed.

The Streamlit side (the form, the cookie script, the gate every page passes) is
``ui/widgets/access.py``; the permission table itself is ``engine/permissions.py``.
"""

from engine.access.cookie import COOKIE_NAME, CookieSigner, cookie_secret_file
from engine.access.errors import (
    LOCAL_MODE_LINES,
    AccessConfigError,
    AccountNotAllowed,
    LocalModeRefused,
    Mode,
    Role,
)
from engine.access.passwords import StoredPassword, hash_password, sha256_hex
from engine.access.policy import AccessPolicy, actor_for, load_policy
from engine.access.secrets_files import SecretsFiles, is_loopback, read_secrets_files
from engine.access.throttle import THROTTLE, LoginThrottle, log_failed_login

__all__ = [
    "COOKIE_NAME",
    "LOCAL_MODE_LINES",
    "THROTTLE",
    "AccessConfigError",
    "AccessPolicy",
    "AccountNotAllowed",
    "CookieSigner",
    "LocalModeRefused",
    "LoginThrottle",
    "Mode",
    "Role",
    "SecretsFiles",
    "StoredPassword",
    "actor_for",
    "cookie_secret_file",
    "hash_password",
    "is_loopback",
    "load_policy",
    "log_failed_login",
    "read_secrets_files",
    "sha256_hex",
]
