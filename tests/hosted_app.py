"""The app under AppTest as a hosted server sees it: a password login, a user or an admin.

Shared by the security and access tests. The hashes are made once (each scrypt costs ~50 ms).
"""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine.access import hash_password
from ui.widgets import resources

APP = str(Path(__file__).resolve().parents[1] / "app.py")
USER_PASSWORD, ADMIN_PASSWORD = "visitor", "boss"
SECRETS = {
    "access": {
        "password_hash": hash_password(USER_PASSWORD),
        "admin_password_hash": hash_password(ADMIN_PASSWORD),
    }
}


def open_app(data_dir: Path, monkeypatch, secrets: dict | None, **env: str) -> AppTest:
    """The app with its data in ``data_dir``, ``secrets`` as its secrets file (None: none),
    and ``env`` as more environment variables (e.g. ``VISIONLAB_SERVER_ROOTS``)."""
    monkeypatch.setenv("VISIONLAB_DATA", str(data_dir))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    resources.settings.clear()
    resources.gallery_for.clear()
    at = AppTest.from_file(APP, default_timeout=180)
    for key, value in (secrets or {}).items():
        at.secrets[key] = value
    return at.run()


def log_in(at: AppTest, password: str) -> AppTest:
    """Type ``password`` into the login form and submit it, as a visitor would."""
    at.switch_page("ui/pages/home.py").run()
    at.text_input(key="access_password").input(password)
    return at.button(key="access_submit").click().run()


def app_as(data_dir: Path, monkeypatch, password: str, **env: str) -> AppTest:
    """The app logged in with ``password`` (``USER_PASSWORD`` or ``ADMIN_PASSWORD``)."""
    at = log_in(open_app(data_dir, monkeypatch, SECRETS, **env), password)
    assert not at.exception, at.exception
    return at
