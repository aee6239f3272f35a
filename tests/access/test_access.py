"""Hosted access: local mode, password roles, OpenID Connect admins, admin-only actions."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.access import AccessConfigError, AccessPolicy, sha256_hex
from ui.widgets import resources

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def test_policy_from_secrets() -> None:
    assert AccessPolicy.from_secrets({}).is_local
    policy = AccessPolicy.from_secrets(
        {"access": {"password": "visitor", "admin_password_sha256": sha256_hex("boss")}}
    )
    assert policy.mode == "password"
    assert policy.role_for_password("visitor") == "user"
    assert policy.role_for_password("boss") == "admin"
    assert policy.role_for_password("guess") is None
    oidc = AccessPolicy.from_secrets(
        {"auth": {"client_id": "x"}, "access": {"admins": ["A@x.org"]}}
    )
    assert oidc.mode == "oidc"
    assert oidc.role_for_email("a@x.org") == "admin" and oidc.role_for_email("b@x.org") == "user"
    with pytest.raises(AccessConfigError, match="64 hex"):
        AccessPolicy.from_secrets({"access": {"password_sha256": "abc"}})
    with pytest.raises(AccessConfigError, match=r"\[auth\]"):
        AccessPolicy.from_secrets({"access": {"admins": ["a@x.org"]}})


def _app(tmp_path: Path, monkeypatch, secrets: dict | None) -> AppTest:
    monkeypatch.setenv("VISIONLAB_DATA", str(tmp_path))
    resources.settings.clear()
    resources.gallery_for.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in (secrets or {}).items():
        at.secrets[key] = value
    return at.run()


def _log_in(at: AppTest, password: str) -> AppTest:
    at.switch_page("ui/pages/home.py").run()
    at.text_input(key="access_password").input(password)
    return at.button(key="access_submit").click().run()


def test_local_mode_says_so(tmp_path, monkeypatch) -> None:
    at = _app(tmp_path, monkeypatch, None)
    assert not at.exception, at.exception
    assert any("Local mode" in c.value for c in at.sidebar.caption)


def test_password_gate_and_roles(tmp_path, monkeypatch) -> None:
    secrets = {"access": {"password": "visitor", "admin_password": "boss"}}
    at = _app(tmp_path, monkeypatch, secrets)
    assert at.title[0].value == "Vision Lab" and not at.metric  # Home is not shown yet
    at.switch_page("ui/pages/gallery.py").run()  # a deep link does not skip the login either
    assert at.text_input(key="access_password") and not at.get("file_uploader")
    at = _log_in(at, "guess")
    assert at.error[0].value == "Wrong password."

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
