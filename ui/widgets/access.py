"""The login gate every page passes (see ``engine.access``), and the role checks pages use.

It fails closed: a secrets file that exists but cannot be used shows one configuration error and
nothing else; local mode needs no secrets and a loopback server address. Password logins are
throttled (``engine.access.THROTTLE``) and survive reloads through a signed cookie.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import time

import streamlit as st
from streamlit import config as st_config
from streamlit.errors import StreamlitSecretNotFoundError

import engine.access as access
from engine.access import (
    COOKIE_NAME,
    AccessConfigError,
    AccessPolicy,
    AccountNotAllowed,
    CookieSigner,
    LocalModeRefused,
    Role,
)
from engine.permissions import Actor
from ui.widgets.plain_text import md_literal

log = logging.getLogger(__name__)

ROLE = "access_role"
_POLICY_KEY = "access_policy_key"  # which password config granted ROLE (a change drops it)
_SESSION = "access_session"  # random id: the throttle's per-session key
_ISSUED = "access_issued_cookie"
_SET_COOKIE = "access_set_cookie"  # a cookie value to write in the browser on this run
_LOGGED_OUT = "access_logged_out"  # ignore the request's (stale) cookie after a logout

ADMIN_ONLY = "Only an admin can do this (log in with the admin password or an admin account)."

_logged: set[str] = set()


def _log_once(level: int, message: str) -> None:
    """Config problems are logged once per process, not on every rerun of every session."""
    if message not in _logged:
        _logged.add(message)
        log.log(level, "%s", message)


def _secrets() -> dict:
    """The secrets as the files hold them now, or ``AppTest.secrets`` when there are no files;
    {} when there are none at all."""
    files = access.read_secrets_files(st_config.get_option("secrets.files"))
    if files.found and not files.has_folders:
        return files.toml
    try:
        return st.secrets.to_dict()  # Kubernetes-style folders, or secrets given in code
    except StreamlitSecretNotFoundError as exc:
        if files.found:  # a folder Streamlit cannot load
            raise AccessConfigError(str(exc)) from exc
        return {}


def access_policy() -> AccessPolicy:
    """The policy for this run; ``AccessConfigError`` when the secrets cannot be used."""
    policy = access.load_policy(_secrets(), server_address=st_config.get_option("server.address"))
    for warning in policy.warnings:
        _log_once(logging.WARNING, warning)
    return policy


def _signer(policy: AccessPolicy) -> CookieSigner:
    from ui.widgets.resources import settings

    fallback = b"" if policy.cookie_secret else access.cookie_secret_file(settings().data_dir)
    return policy.cookie_signer(fallback)


def _client_address() -> str:
    """The client's address as Streamlit saw it (a reverse proxy's own, behind one)."""
    address = st.context.ip_address
    return address if isinstance(address, str) and address else "localhost"


def _throttle_keys() -> list[str]:
    session = st.session_state.setdefault(_SESSION, secrets.token_hex(8))
    return [f"session:{session}", f"address:{_client_address()}"]


def _role_from_session(policy: AccessPolicy) -> Role | None:
    """The password role this session holds: from an earlier run, or from a valid cookie."""
    signer = _signer(policy)
    key = signer.key.hex()[:16]
    if st.session_state.get(_POLICY_KEY) != key:  # the passwords changed: log in again
        st.session_state.pop(ROLE, None)
        st.session_state[_POLICY_KEY] = key
    role = st.session_state.get(ROLE)
    if role is None and not st.session_state.get(_LOGGED_OUT):
        role = signer.role(st.context.cookies.get(COOKIE_NAME), time.time())
        if role is not None:
            st.session_state[ROLE] = role
    return role


def _oidc_role(policy: AccessPolicy) -> Role | None:
    if not st.user.is_logged_in:
        return None
    try:
        return policy.role_for_account(st.user.get("email"), st.user.get("email_verified"))
    except AccountNotAllowed:
        return None


def login_role() -> Role | None:
    """This visitor's role, or None until they may see pages. Draws nothing: ``app.py`` asks
    it to decide whether the page list is shown at all."""
    try:
        policy = access_policy()
    except AccessConfigError:
        role = None
    else:
        if policy.is_local:
            role = "admin"
        elif policy.mode == "oidc":
            role = _oidc_role(policy)
        else:
            role = _role_from_session(policy)
    if role is None:
        st.session_state.pop(ROLE, None)
    else:
        st.session_state[ROLE] = role
    return role


def _refuse(exc: AccessConfigError) -> None:
    _log_once(logging.ERROR, f"Vision Lab serves nothing: {exc}")
    st.title("Vision Lab")
    if isinstance(exc, LocalModeRefused):
        st.error("No login is configured, and this server is reachable from other machines.")
        st.code(exc.summary, language=None, wrap_lines=True)
        st.code(access.LOCAL_MODE_LINES, language="toml")
    else:
        st.error("The login settings in the secrets file cannot be used, so nothing is served.")
        st.code(str(exc), language=None, wrap_lines=True)
    st.stop()


def _set_cookie(value: str, max_age: int) -> None:
    """Write (or, with max_age 0, delete) the login cookie in the browser. Streamlit sends no
    Set-Cookie for app code, so a small script in the page does it; SameSite=Strict keeps it
    out of cross-site requests, Secure is added whenever the app is served over HTTPS."""
    cookie = json.dumps(f"{COOKIE_NAME}={value}; Max-Age={max_age}; Path=/; SameSite=Strict")
    script = (
        f"<script>document.cookie = {cookie} + "
        "(location.protocol === 'https:' ? '; Secure' : '');</script>"
    )
    st.html(script, unsafe_allow_javascript=True)


def _password_form(policy: AccessPolicy) -> None:
    st.title("Vision Lab")
    with st.form("access_form"):
        password = st.text_input("Password", type="password", key="access_password")
        submitted = st.form_submit_button("Log in", type="primary", key="access_submit")
    if not submitted:
        return
    keys = _throttle_keys()
    wait = access.THROTTLE.begin(keys)
    if wait > 0:
        st.error(f"Too many wrong passwords: try again in {math.ceil(wait)} s.")
        return
    role = policy.role_for_password(password)
    if role is None:
        access.log_failed_login(_client_address(), access.THROTTLE, keys)
        st.error("Wrong password.")
        return
    access.THROTTLE.succeeded(keys)
    signer = _signer(policy)
    token = signer.issue(role, time.time())
    st.session_state.update({ROLE: role, _ISSUED: token, _SET_COOKIE: token, _LOGGED_OUT: False})
    st.rerun()


def _log_out(policy: AccessPolicy) -> None:
    signer, now = _signer(policy), time.time()
    for token in (st.context.cookies.get(COOKIE_NAME), st.session_state.get(_ISSUED)):
        signer.revoke(token, now)
    st.session_state.pop(ROLE, None)
    st.session_state.update({_ISSUED: None, _SET_COOKIE: "", _LOGGED_OUT: True})


def _oidc_gate(policy: AccessPolicy) -> Role:
    if not st.user.is_logged_in:
        st.title("Vision Lab")
        st.write("This Vision Lab is private. Log in to continue.")
        for provider in policy.oidc_providers:
            st.button(
                f"Log in with {provider}" if provider else "Log in",
                on_click=st.login,
                args=(provider,) if provider else (),
                key=f"access_login_{provider or 'default'}",
                type="primary",
            )
        st.stop()
    try:
        role = policy.role_for_account(st.user.get("email"), st.user.get("email_verified"))
    except AccountNotAllowed as exc:
        log.warning("an OpenID Connect account was refused: %s", type(exc).__name__)
        st.title("Vision Lab")
        st.error("This account may not use this Vision Lab. Log out and use another account.")
        st.code(str(exc), language=None, wrap_lines=True)
        st.button("Log out", on_click=st.logout, key="access_logout")
        st.stop()
    with st.sidebar:
        st.caption(f"Logged in as {md_literal(st.user.get('email'))} ({role})")  # IdP's text
        st.button("Log out", on_click=st.logout, key="access_logout")
    return role


def require_login() -> Role:
    """Show the login (and stop the run) until the visitor has a role; return it."""
    try:
        policy = access_policy()
    except AccessConfigError as exc:
        _refuse(exc)
        raise  # not reached: _refuse stops the run
    if policy.is_local:
        st.session_state[ROLE] = "admin"
        with st.sidebar:
            st.caption(
                "**Local mode**: no login configured, everyone can change the gallery "
                "(only served on this machine). Set a password or OpenID Connect in "
                "`.streamlit/secrets.toml` before hosting."
            )
        return "admin"
    if policy.mode == "oidc":
        role = _oidc_gate(policy)
    else:
        cookie = st.session_state.pop(_SET_COOKIE, None)
        if cookie is not None:
            _set_cookie(cookie, int(policy.session_seconds) if cookie else 0)
        role = _role_from_session(policy)
        if role is None:
            _password_form(policy)
            st.stop()
        with st.sidebar:
            st.caption(f"Logged in ({role})")
            if st.button("Log out", key="access_logout"):
                _log_out(policy)
                st.rerun()
    st.session_state[ROLE] = role
    if role == "admin":
        for warning in policy.warnings:
            st.sidebar.warning(warning, icon=":material/warning:")
    return role


def is_admin() -> bool:
    """Whether this session may delete, merge, import or switch the model."""
    return st.session_state.get(ROLE) == "admin"


def current_actor() -> Actor:
    """This session's actor for the engine's permission checks (local mode: an admin)."""
    return access.actor_for(st.session_state.get(ROLE))
