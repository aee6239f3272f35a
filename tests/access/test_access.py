"""Hosted access: local mode, password roles, OpenID Connect admins, admin-only actions."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import engine.access
from engine.access import (
    AccessConfigError,
    AccessPolicy,
    LoginThrottle,
    hash_password,
    sha256_hex,
)
from tests.hosted_app import log_in, open_app

APP = str(Path(__file__).resolve().parents[2] / "app.py")
VISITOR, BOSS = hash_password("visitor"), hash_password("boss")


class _Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def clock(monkeypatch) -> _Clock:
    """The login throttle on a clock the tests move (no real waiting, no delays between tests)."""
    fake = _Clock()
    monkeypatch.setattr(engine.access, "THROTTLE", LoginThrottle(clock=fake))
    return fake


def test_policy_from_secrets() -> None:
    assert AccessPolicy.from_secrets({}).is_local
    policy = AccessPolicy.from_secrets(
        {"access": {"password_hash": VISITOR, "admin_password_sha256": sha256_hex("boss")}}
    )
    assert policy.mode == "password"
    assert policy.role_for_password("visitor") == "user"
    assert policy.role_for_password("boss") == "admin"
    assert policy.role_for_password("guess") is None
    auth = {
        "redirect_uri": "https://lab.x.org/oauth2callback",
        "cookie_secret": "c",
        "client_id": "x",
        "client_secret": "s",
        "server_metadata_url": "https://x.org/.well-known/openid-configuration",
    }
    oidc = AccessPolicy.from_secrets(
        {"auth": auth, "access": {"admins": ["A@x.org"], "allowed_domains": ["x.org"]}}
    )
    assert oidc.mode == "oidc"
    assert oidc.role_for_account("a@x.org", True) == "admin"
    assert oidc.role_for_account("b@x.org", True) == "user"
    with pytest.raises(AccessConfigError, match="64 hex"):
        AccessPolicy.from_secrets({"access": {"password_sha256": "abc"}})
    with pytest.raises(AccessConfigError, match=r"\[auth\]"):
        AccessPolicy.from_secrets({"access": {"password_hash": VISITOR, "admins": ["a@x.org"]}})
    with pytest.raises(AccessConfigError, match="plain-text"):  # stored as hashes only
        AccessPolicy.from_secrets({"access": {"password": "visitor"}})


def _app(tmp_path: Path, monkeypatch, secrets: dict | None) -> AppTest:
    return open_app(tmp_path, monkeypatch, secrets)


def _log_in(at: AppTest, password: str) -> AppTest:
    return log_in(at, password)


def test_local_mode_says_so(tmp_path, monkeypatch) -> None:
    at = _app(tmp_path, monkeypatch, None)
    assert not at.exception, at.exception
    assert any("Local mode" in c.value for c in at.sidebar.caption)


def test_password_gate_and_roles(tmp_path, monkeypatch, clock) -> None:
    secrets = {"access": {"password_hash": VISITOR, "admin_password_hash": BOSS}}
    at = _app(tmp_path, monkeypatch, secrets)
    assert at.title[0].value == "Vision Lab" and not at.metric  # Home is not shown yet
    at.switch_page("ui/pages/gallery.py").run()  # a deep link does not skip the login either
    assert at.text_input(key="access_password") and not at.get("file_uploader")
    at = _log_in(at, "guess")
    assert at.error[0].value == "Wrong password."
    clock.now += 1  # the first wrong password costs a one-second wait

    at = _log_in(at, "visitor")
    assert not at.exception, at.exception
    assert any("Logged in (user)" in c.value for c in at.sidebar.caption)
    at.switch_page("ui/pages/gallery.py").run()
    assert any("Only an admin" in i.value for i in at.info)  # no import for users

    at = _app(tmp_path, monkeypatch, secrets)
    at = _log_in(at, "boss")
    at.switch_page("ui/pages/gallery.py").run()
    assert not any("Only an admin" in i.value for i in at.info)
    assert at.get("file_uploader")  # the import is there for admins


def test_privacy_page_lists_what_is_stored(tmp_path, monkeypatch) -> None:
    at = _app(tmp_path, monkeypatch, None)
    at.switch_page("ui/pages/privacy.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert "Face images" in list(table["data"]) and "biometric" in table.columns
