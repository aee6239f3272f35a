"""The login gate every page passes (see ``engine.access``), and the admin check pages use."""

from __future__ import annotations

import streamlit as st

from engine.access import AccessConfigError, AccessPolicy, Role

ROLE = "access_role"


def _secrets() -> dict:
    try:
        return {key: st.secrets[key] for key in st.secrets}
    except Exception:  # no secrets.toml at all: Streamlit raises its own error type
        return {}


def access_policy() -> AccessPolicy:
    return AccessPolicy.from_secrets(_secrets())


def require_login() -> Role:
    """Show the login (and stop the run) until the visitor has a role; return it."""
    try:
        policy = access_policy()
    except AccessConfigError as exc:
        st.error(f"The app's access settings are incomplete: {exc}. Nobody can log in.")
        st.stop()
    if policy.is_local:
        st.session_state[ROLE] = "admin"
        with st.sidebar:
            st.caption(
                "🔓 **Local mode**: no login configured, everyone can change the gallery. "
                "Set a password or OpenID Connect in `.streamlit/secrets.toml` before hosting."
            )
        return "admin"
    if policy.mode == "oidc":
        if not st.user.is_logged_in:
            st.title("Vision Lab")
            st.write("This Vision Lab is private. Log in to continue.")
            st.button("Log in", on_click=st.login, key="access_login", type="primary")
            st.stop()
        role = policy.role_for_email(st.user.get("email"))
        st.session_state[ROLE] = role
        with st.sidebar:
            st.caption(f"Logged in as {st.user.get('name') or st.user.get('email')} ({role})")
            st.button("Log out", on_click=st.logout, key="access_logout")
        return role
    role = st.session_state.get(ROLE)
    if role is None:
        st.title("Vision Lab")
        with st.form("access_form"):
            password = st.text_input("Password", type="password", key="access_password")
            submitted = st.form_submit_button("Log in", type="primary", key="access_submit")
        if submitted:
            role = policy.role_for_password(password)
            if role is None:
                st.error("Wrong password.")
            else:
                st.session_state[ROLE] = role
                st.rerun()
        st.stop()
    with st.sidebar:
        st.caption(f"Logged in ({role})")
        if st.button("Log out", key="access_logout"):
            st.session_state.pop(ROLE, None)
            st.rerun()
    return role


def is_admin() -> bool:
    """Whether this session may delete, merge, import or switch the model."""
    return st.session_state.get(ROLE) == "admin"


ADMIN_ONLY = "Only an admin can do this (log in with the admin password or an admin account)."
