"""A login that fails closed (hosting security, part 3).

Each bad secrets file below is a named case for a hole found on the day: before this, every one
of them started the app in local mode (everyone an admin), let any OpenID Connect account in, or
picked a login silently. The app must show one configuration error naming the problem and serve
nothing else.
"""

from __future__ import annotations

import io
import json
import logging
import stat
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from streamlit.runtime.context import ContextProxy
from streamlit.runtime.secrets import secrets_singleton
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.util import patch_config_options

import cli
import engine.access as access
from engine.access import (
    COOKIE_NAME,
    AccessConfigError,
    AccessPolicy,
    AccountNotAllowed,
    LocalModeRefused,
    LoginThrottle,
    StoredPassword,
    cookie_secret_file,
    hash_password,
    is_loopback,
    load_policy,
    sha256_hex,
)
from engine.permissions import Role as ActorRole
from tests.browser_support import streamlit_server
from ui.widgets import resources

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "app.py")

# Made once: each scrypt hash costs ~50 ms.
USER_HASH = hash_password("visitor")
ADMIN_HASH = hash_password("boss")
PASSWORDS = f'[access]\npassword_hash = "{USER_HASH}"\nadmin_password_hash = "{ADMIN_HASH}"\n'
AUTH = """
[auth]
redirect_uri = "https://lab.example.org/oauth2callback"
cookie_secret = "not-so-secret"
client_id = "vision-lab"
client_secret = "shh"
server_metadata_url = "https://accounts.example.org/.well-known/openid-configuration"
"""


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def clock(monkeypatch) -> FakeClock:
    """A fresh process-wide throttle on a fake clock: no test sleeps, none leaks delays."""
    fake = FakeClock()
    monkeypatch.setattr(access, "THROTTLE", LoginThrottle(clock=fake))
    return fake


@pytest.fixture
def gate(tmp_path, monkeypatch):
    """``gate(text, address=…, secrets=…)`` runs app.py under AppTest with ``text`` as the only
    secrets file (None: no file) and ``address`` as ``server.address``."""
    secrets_path = tmp_path / "secrets.toml"
    monkeypatch.setenv("VISIONLAB_DATA", str(tmp_path / "data"))
    resources.settings.clear()
    resources.gallery_for.clear()
    options = {"secrets.files": [str(secrets_path)], "server.address": "127.0.0.1"}

    class Gate:
        def __call__(self, text=None, *, address="127.0.0.1", secrets=None, user=None) -> AppTest:
            if text is not None:
                secrets_path.write_text(text)
            options["server.address"] = address
            at = AppTest.from_file(APP, default_timeout=120)
            for key, value in (secrets or {}).items():
                at.secrets[key] = value
            if user is not None:
                at.user = user
            return self.run(at)

        @staticmethod
        def run(at: AppTest) -> AppTest:
            with patch_config_options(dict(options)):
                return at.run()

    # st.user parses the secrets files into Streamlit's process-wide cache while a test's file is
    # configured; drop that copy so no other test sees this test's secrets.
    secrets_singleton._reset()
    yield Gate()
    secrets_singleton._reset()


def _served_nothing(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not any("Device:" in c.value for c in at.sidebar.caption)  # the shared sidebar
    assert not at.get("text_input") and not at.metric  # no login form, no page


BAD_FILES = {
    # id: (secrets.toml text, what the error must name)
    "empty-file-was-local-mode": ("", "is empty"),
    "comments-only-file-was-local-mode": ("# TODO: set a password\n", "is empty"),
    "toml-syntax-error-was-local-mode": (
        "[access]\npassword_hash = scrypt$16384\n",
        "is not valid TOML",
    ),
    "typo-key-pasword-was-local-mode": (
        '[access]\npasword = "visitor"\n',
        "unknown key [access] pasword",
    ),
    "typo-section-acces-was-local-mode": (
        f'[acces]\npassword_hash = "{USER_HASH}"\n',
        "unknown section or key [acces] in the secrets file (did you mean 'access'?)",
    ),
    "empty-password-was-local-mode": ('[access]\npassword = ""\n', "[access] password is empty"),
    "empty-password-hash-was-local-mode": (
        '[access]\npassword_hash = ""\n',
        "[access] password_hash is empty",
    ),
    "plain-password-refused": ('[access]\npassword = "visitor"\n', "plain-text password"),
    "not-a-hash": ('[access]\npassword_hash = "visitor"\n', "not a hash"),
    "short-sha256": ('[access]\npassword_sha256 = "abc"\n', "64 hex digits"),
    "empty-auth-section-was-local-mode": ("[auth]\n", "[auth] is empty"),
    "auth-without-client-was-unusable": (
        '[auth]\nredirect_uri = "https://x/oauth2callback"\ncookie_secret = "x"\n',
        "[auth] lacks client_id",
    ),
    "oidc-without-allow-list-let-anyone-in": (AUTH, "needs an allow-list"),
    "oidc-and-passwords-oidc-won-silently": (
        PASSWORDS + 'allowed_domains = ["example.org"]\n' + AUTH,
        "say which one is used",
    ),
    "login-value-typo": (PASSWORDS + 'login = "passwords"\n', "login must be"),
    "allow-list-without-oidc": (PASSWORDS + 'admins = ["ada@example.org"]\n', "need an [auth]"),
    "only-other-secrets": ('[connections.db]\nurl = "x"\n', "unknown section or key [connections]"),
}


@pytest.mark.parametrize(("text", "names"), list(BAD_FILES.values()), ids=list(BAD_FILES))
def test_unusable_secrets_file_fails_closed(gate, text, names) -> None:
    at = gate(text)
    _served_nothing(at)
    assert [e.value for e in at.error] == [
        "The login settings in the secrets file cannot be used, so nothing is served."
    ]
    assert names in at.code[0].value


def test_deep_link_to_a_page_is_not_served_either(gate) -> None:
    at = gate("")
    at.switch_page("ui/pages/gallery.py")
    at = gate.run(at)
    _served_nothing(at)
    assert "is empty" in at.code[0].value


def test_secrets_given_in_code_are_checked_the_same(gate) -> None:
    """AppTest.secrets (no file) goes through the same checks as a file."""
    at = gate(secrets={"acces": {"password_hash": USER_HASH}})
    _served_nothing(at)
    assert "[acces]" in at.code[0].value


def test_other_secrets_are_allowed_when_listed() -> None:
    policy = AccessPolicy.from_secrets(
        {"access": {"password_hash": USER_HASH, "other_secrets": ["connections"]},
         "connections": {"db": {"url": "x"}}}
    )  # fmt: skip
    assert policy.mode == "password"


def test_a_file_fixed_after_start_is_read_again(gate) -> None:
    """Streamlit caches the secrets it parsed; the gate reads the file on every run, so an empty
    file filled in later is not served from a stale (empty → local mode) copy."""
    assert "is empty" in gate("").code[0].value
    at = gate(PASSWORDS)
    assert at.text_input(key="access_password") and not at.error


# --- Local mode ------------------------------------------------------------------------------


def test_local_mode_on_loopback(gate) -> None:
    at = gate(None, address="127.0.0.1")
    assert not at.exception, at.exception
    assert any("Local mode" in c.value for c in at.sidebar.caption)


@pytest.mark.parametrize("address", ["0.0.0.0", None, "", "192.168.1.20", "::"])
def test_local_mode_refused_beyond_loopback(gate, address) -> None:
    at = gate(None, address=address)
    _served_nothing(at)
    assert "reachable from other machines" in at.error[0].value
    assert "--server.address 127.0.0.1" in at.code[0].value
    lines = at.code[1].value
    assert at.code[1].language == "toml"
    assert "[access]" in lines and "password_hash =" in lines and "admin_password_hash =" in lines


def test_loopback_addresses() -> None:
    assert all(is_loopback(a) for a in ["127.0.0.1", "localhost", "::1", "[::1]", "127.1.2.3"])
    assert not any(is_loopback(a) for a in [None, "", "0.0.0.0", "::", "10.0.0.1", "lab.org"])
    with pytest.raises(LocalModeRefused, match="every network interface"):
        load_policy({}, server_address=None)
    assert load_policy({}, server_address="127.0.0.1").is_local


def test_repo_config_listens_on_loopback() -> None:
    """The README's quick start (no secrets, `streamlit run app.py`) stays in local mode."""
    import tomllib

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"


# --- Password hashes -------------------------------------------------------------------------


def test_hash_round_trip_is_salted() -> None:
    assert USER_HASH.startswith("scrypt$16384$8$1$")
    again = hash_password("visitor")
    assert again != USER_HASH  # a fresh salt each time
    for stored in (USER_HASH, again):
        password = StoredPassword.parse("password_hash", stored)
        assert password.matches("visitor") and not password.matches("Visitor")
    with pytest.raises(ValueError, match="empty"):
        hash_password("")


def test_hash_time_is_bounded() -> None:
    password = StoredPassword.parse("password_hash", USER_HASH)
    started = time.perf_counter()
    assert password.matches("visitor")
    took = time.perf_counter() - started
    print(f"scrypt verify: {took * 1000:.0f} ms")
    assert took < 1.0


def test_legacy_sha256_still_works_with_a_warning() -> None:
    policy = AccessPolicy.from_secrets(
        {"access": {"password_sha256": sha256_hex("visitor"), "admin_password_hash": ADMIN_HASH}}
    )
    assert policy.role_for_password("visitor") == "user"
    assert policy.role_for_password("boss") == "admin"
    assert policy.role_for_password("guess") is None
    assert len(policy.warnings) == 1 and "password_sha256 is an unsalted" in policy.warnings[0]


def test_legacy_warning_shown_to_admins_and_logged(gate, caplog) -> None:
    text = f'[access]\npassword_sha256 = "{sha256_hex("visitor")}"\n'
    text += f'admin_password_sha256 = "{sha256_hex("boss")}"\n'
    with caplog.at_level(logging.WARNING):
        at = gate(text)
    assert "password_sha256 is an unsalted" in caplog.text
    at = _log_in(gate, at, "visitor")
    assert not at.sidebar.warning  # users are not told about the operator's settings
    at = _log_in(gate, gate(), "boss")
    assert any("unsalted SHA-256" in w.value for w in at.sidebar.warning)


def test_both_hash_and_sha256_for_one_password_refused() -> None:
    with pytest.raises(AccessConfigError, match="keep one"):
        AccessPolicy.from_secrets(
            {"access": {"password_hash": USER_HASH, "password_sha256": sha256_hex("x")}}
        )


# --- Throttling ------------------------------------------------------------------------------


def _log_in(gate, at: AppTest, password: str) -> AppTest:
    at.text_input(key="access_password").input(password)
    at.button(key="access_submit").click()
    return gate.run(at)


def test_throttle_delays_double_and_cap(clock) -> None:
    throttle = LoginThrottle(base=1.0, cap=300.0, clock=clock)
    keys = ["session:a", "address:1.2.3.4"]
    waits = []
    for _ in range(12):
        assert throttle.begin(keys) == 0.0
        waits.append(throttle.wait(keys))
        clock.now += waits[-1]
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]


def test_throttle_per_address_and_per_session(clock) -> None:
    throttle = LoginThrottle(clock=clock)
    assert throttle.begin(["session:a", "address:1.2.3.4"]) == 0.0
    # A new session from the same address waits; the same session from elsewhere waits too.
    assert throttle.begin(["session:b", "address:1.2.3.4"]) == 1.0
    assert throttle.begin(["session:a", "address:5.6.7.8"]) == 1.0
    assert throttle.begin(["session:c", "address:5.6.7.8"]) == 0.0
    clock.now += 0.5
    assert throttle.wait(["address:1.2.3.4"]) == 0.5


def test_throttle_success_is_not_a_reset(clock) -> None:
    """A right password takes back only its own count: a user password cannot be used to
    reset the address's count and guess the admin password at full speed."""
    throttle = LoginThrottle(clock=clock)
    keys = ["session:a", "address:1.2.3.4"]
    for _ in range(3):
        clock.now += throttle.wait(keys)
        throttle.begin(keys)
    clock.now += throttle.wait(keys)
    throttle.begin(keys)
    throttle.succeeded(keys)
    assert throttle.failures("address:1.2.3.4") == 3 and throttle.wait(keys) == 0
    throttle.begin(keys)  # the next wrong one waits as the 4th in a row
    assert throttle.wait(keys) == 8


def test_throttle_forgets_after_a_quiet_hour(clock) -> None:
    throttle = LoginThrottle(clock=clock, forget_after=3600)
    for _ in range(5):
        clock.now += throttle.wait(["k"])
        throttle.begin(["k"])
    clock.now += 3601
    throttle.begin(["k"])
    assert throttle.wait(["k"]) == 1


def test_parallel_attempts_do_not_slip_through(clock) -> None:
    throttle = LoginThrottle(clock=clock)
    results: list[float] = []
    start = threading.Barrier(16)

    def attempt(i: int) -> None:
        start.wait()
        results.append(throttle.begin([f"session:{i}", "address:1.2.3.4"]))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(0.0) == 1


def test_throttle_cost_to_a_correct_login() -> None:
    """What throttling adds to a correct login (begin + succeeded), apart from the hash."""
    throttle = LoginThrottle()
    keys = ["session:a", "address:1.2.3.4"]
    n = 2000
    started = time.perf_counter()
    for _ in range(n):
        throttle.begin(keys)
        throttle.succeeded(keys)
    each = (time.perf_counter() - started) / n
    print(f"throttling per correct login: {each * 1e6:.1f} µs")
    assert each < 0.005


def test_wrong_passwords_slow_down_in_the_app(gate, clock, caplog) -> None:
    at = gate(PASSWORDS)
    with caplog.at_level(logging.WARNING, logger="engine.access"):
        at = _log_in(gate, at, "guess-one")
    assert [e.value for e in at.error] == ["Wrong password."]
    at = _log_in(gate, at, "visitor")  # right, but within the wait: not even checked
    assert [e.value for e in at.error] == ["Too many wrong passwords: try again in 1 s."]
    clock.now += 1
    at = _log_in(gate, at, "guess-two")
    assert [e.value for e in at.error] == ["Wrong password."]
    clock.now += 1
    at = _log_in(gate, at, "visitor")
    assert [e.value for e in at.error] == ["Too many wrong passwords: try again in 1 s."]
    clock.now += 1
    at = _log_in(gate, at, "visitor")
    assert not at.error and any("Logged in (user)" in c.value for c in at.sidebar.caption)
    assert "wrong password from localhost" in caplog.text
    assert "guess-one" not in caplog.text  # never the attempted password


# --- Roles for the engine --------------------------------------------------------------------


def test_roles_become_actors(gate) -> None:
    from ui.widgets.access import current_actor, is_admin

    at = _log_in(gate, gate(PASSWORDS), "boss")
    assert at.session_state["access_role"] == "admin"
    assert access.actor_for("admin").role is ActorRole.ADMIN
    assert access.actor_for("user").role is ActorRole.USER
    assert access.actor_for(None).role is ActorRole.USER  # the least privilege
    assert callable(current_actor) and callable(is_admin)


# --- The signed cookie -----------------------------------------------------------------------


def _policy(**extra) -> AccessPolicy:
    return AccessPolicy.from_secrets(
        {"access": {"password_hash": USER_HASH, "admin_password_hash": ADMIN_HASH, **extra}}
    )


def test_cookie_sign_verify_expiry_and_tamper() -> None:
    signer = _policy(session_hours=12).cookie_signer(b"k" * 32)
    now = 1_700_000_000.0
    token = signer.issue("admin", now)
    assert signer.role(token, now) == "admin"
    assert signer.role(token, now + 12 * 3600 - 5) == "admin"
    assert signer.role(token, now + 12 * 3600 + 1) is None  # expired
    _, expiry, nonce, signature = token.split(".")
    assert signer.role(f"user.{expiry}.{nonce}.{signature}", now) is None  # role swapped
    assert signer.role(f"admin.{int(expiry) + 3600}.{nonce}.{signature}", now) is None
    assert signer.role(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), now) is None
    assert signer.role("", now) is None and signer.role(None, now) is None
    assert signer.role("admin.1.2", now) is None
    other = _policy(session_hours=12).cookie_signer(b"j" * 32)
    assert other.role(token, now) is None  # another server secret


def test_cookie_dies_when_the_password_or_lifetime_changes() -> None:
    now = 1_700_000_000.0
    token = _policy().cookie_signer(b"k" * 32).issue("user", now)
    changed = AccessPolicy.from_secrets(
        {"access": {"password_hash": hash_password("visitor"), "admin_password_hash": ADMIN_HASH}}
    )
    assert changed.cookie_signer(b"k" * 32).role(token, now) is None
    assert _policy(session_hours=2).cookie_signer(b"k" * 32).role(token, now) is None
    with_secret = _policy(cookie_secret="from-the-secrets")
    assert with_secret.cookie_signer(b"ignored").key == with_secret.cookie_signer(b"x").key


def test_logout_revokes_the_cookie() -> None:
    signer = _policy().cookie_signer(b"k" * 32)
    now = 1_700_000_000.0
    token = signer.issue("user", now)
    signer.revoke(token, now)
    assert signer.role(token, now) is None
    assert signer.role(signer.issue("user", now), now) == "user"


def test_cookie_key_file_made_once_private(tmp_path) -> None:
    key = cookie_secret_file(tmp_path / "data")
    assert len(key) == 32 and cookie_secret_file(tmp_path / "data") == key
    mode = stat.S_IMODE((tmp_path / "data" / "login-cookie.key").stat().st_mode)
    assert mode == 0o600


@pytest.mark.parametrize(
    ("cookie", "expected"), [("valid", "admin"), ("tampered", None), ("expired", None)]
)
def test_a_new_session_with_the_cookie_is_logged_in(gate, monkeypatch, tmp_path, cookie, expected):
    """A reload is a new session: the signed cookie, and only a valid one, restores the role."""
    now = time.time()
    signer = AccessPolicy.from_secrets(
        {"access": {"password_hash": USER_HASH, "admin_password_hash": ADMIN_HASH}}
    ).cookie_signer(cookie_secret_file(tmp_path / "data"))
    token = signer.issue("admin", now - (13 * 3600 if cookie == "expired" else 0))
    if cookie == "tampered":
        token = token.replace("admin.", "user.", 1)
    monkeypatch.setattr(ContextProxy, "cookies", property(lambda self: {COOKIE_NAME: token}))
    at = gate(PASSWORDS)
    assert not at.exception, at.exception
    if expected is None:
        assert at.text_input(key="access_password")
    else:
        assert any(f"Logged in ({expected})" in c.value for c in at.sidebar.caption)
        at.sidebar.button(key="access_logout").click()
        at = gate.run(at)  # the request's cookie is stale now: it must not log back in
        assert at.text_input(key="access_password")
        assert signer.role(token, time.time()) is None


# --- OpenID Connect --------------------------------------------------------------------------


def _oidc(**access_keys) -> AccessPolicy:
    import tomllib

    return AccessPolicy.from_secrets({**tomllib.loads(AUTH), "access": access_keys})


def test_oidc_allow_list_and_verified_email() -> None:
    policy = _oidc(
        allowed_emails=["Bob@Partner.org"], allowed_domains=["@example.org"], admins=["ada@x.org"]
    )
    assert policy.role_for_account("ada@x.org", True) == "admin"
    assert policy.role_for_account("bob@partner.org", True) == "user"
    assert policy.role_for_account("carol@example.org", "true") == "user"
    for stranger in ["eve@partner.org", "eve@evil-example.org", "eve@example.org.evil.com",
                     "eve@sub.example.org", "eve@x.org"]:  # fmt: skip
        with pytest.raises(AccountNotAllowed, match="not allowed"):
            policy.role_for_account(stranger, True)
    for unverified in [False, None, "false", 0]:
        with pytest.raises(AccountNotAllowed, match="not verified"):
            policy.role_for_account("ada@x.org", unverified)
    with pytest.raises(AccountNotAllowed, match="no e-mail"):
        policy.role_for_account(None, True)


def test_oidc_login_choice_and_providers() -> None:
    import tomllib

    assert _oidc(allowed_domains=["x.org"]).oidc_providers == ("",)
    secrets = tomllib.loads(PASSWORDS + 'allowed_domains = ["x.org"]\n' + AUTH)
    secrets["access"]["login"] = "password"
    assert AccessPolicy.from_secrets(secrets).mode == "password"
    secrets["access"]["login"] = "oidc"
    assert AccessPolicy.from_secrets(secrets).mode == "oidc"
    with pytest.raises(AccessConfigError, match=r"needs an \[auth\] section"):
        AccessPolicy.from_secrets({"access": secrets["access"]})
    named = {"auth": {"redirect_uri": "r", "cookie_secret": "c",
                      "google": {"client_id": "i", "client_secret": "s",
                                 "server_metadata_url": "u"}},
             "access": {"allowed_domains": ["x.org"]}}  # fmt: skip
    assert AccessPolicy.from_secrets(named).oidc_providers == ("google",)


OIDC_FILE = AUTH + '[access]\nallowed_domains = ["example.org"]\nadmins = ["ada@example.org"]\n'


@pytest.mark.parametrize(
    ("user", "shown"),
    [
        ({"is_logged_in": True, "email": "ada@example.org", "email_verified": True}, "admin"),
        ({"is_logged_in": True, "email": "bob@example.org", "email_verified": True}, "user"),
        ({"is_logged_in": True, "email": "ada@example.org", "email_verified": False}, None),
        ({"is_logged_in": True, "email": "ada@example.org"}, None),
        ({"is_logged_in": True, "email": "eve@elsewhere.org", "email_verified": True}, None),
    ],
    ids=["admin", "user", "unverified", "no-verified-claim", "not-on-allow-list"],
)
def test_oidc_gate(gate, user, shown) -> None:
    at = gate(OIDC_FILE, user=user)
    assert not at.exception, at.exception
    if shown is None:
        _served_nothing(at)
        assert "may not use this Vision Lab" in at.error[0].value
        assert at.button(key="access_logout")
    else:
        assert any(f"({shown})" in c.value for c in at.sidebar.caption)
        assert at.session_state["access_role"] == shown


def test_oidc_logged_out_sees_only_the_login_button(gate) -> None:
    at = gate(OIDC_FILE, user={"is_logged_in": False})
    _served_nothing(at)
    assert at.button(key="access_login_default")


# --- CLI -------------------------------------------------------------------------------------


def test_cli_hash_password_from_a_pipe(monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse\n"))
    assert cli.main(["hash-password", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert StoredPassword.parse("password_hash", doc["hash"]).matches("correct horse")
    monkeypatch.setattr(sys, "stdin", io.StringIO("boss\n"))
    assert cli.main(["hash-password", "--admin"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith('admin_password_hash = "scrypt$')
    import tomllib

    stored = tomllib.loads(line)["admin_password_hash"]
    assert StoredPassword.parse("admin_password_hash", stored).matches("boss")


def test_cli_hash_password_refuses_empty_and_mismatch(monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    assert cli.main(["hash-password"]) == 1
    assert capsys.readouterr().err == "error: the password is empty\n"

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter(["one", "two"])
    monkeypatch.setattr(sys, "stdin", Tty())
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    assert cli.main(["hash-password"]) == 1
    assert capsys.readouterr().err == "error: the two passwords differ\n"


# --- A real server and browser ---------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def chromium(browser):
    """The session's chromium (tests/browser_support.py): one Playwright per test run."""
    return browser


@contextmanager
def _context(chromium):
    context = chromium.new_context()
    try:
        yield context
    finally:
        context.close()


@pytest.mark.browser
def test_real_server_bad_file_then_password_login_survives_reload(chromium, tmp_path) -> None:
    """`streamlit run` with a real secrets file: a syntax error and an empty file serve only the
    error; once fixed (no restart), a password login survives a reload and logout ends it."""
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("[access]\npassword_hash = scrypt$\n")
    serving = streamlit_server(tmp_path / "data", "--secrets.files", str(secrets))
    with serving as url, _context(chromium) as context:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(url)
        page.get_by_text("is not valid TOML").wait_for()
        assert page.get_by_text("cannot be used, so nothing is served").is_visible()
        assert page.get_by_role("link", name="Home").count() == 0
        secrets.write_text("")
        page.reload()
        page.get_by_text("is empty").wait_for()

        secrets.write_text(PASSWORDS)
        page.reload()
        page.locator("input[type=password]").fill("visitor")
        page.get_by_role("button", name="Log in").click()
        page.get_by_text("Logged in (user)").wait_for()
        cookie = next(c for c in context.cookies() if c["name"] == COOKIE_NAME)
        assert cookie["sameSite"] == "Strict" and cookie["value"].startswith("user.")
        assert 11 * 3600 < cookie["expires"] - time.time() <= 12 * 3600 + 60

        page.reload()  # a new session: the cookie logs it in
        page.get_by_text("Logged in (user)").wait_for()
        page.get_by_role("button", name="Log out").click()
        page.locator("input[type=password]").wait_for()
        page.wait_for_function(f"!document.cookie.includes('{COOKIE_NAME}=')")
        page.reload()
        page.locator("input[type=password]").wait_for()
        assert page.get_by_text("Logged in").count() == 0


@pytest.mark.browser
def test_real_server_on_all_interfaces_without_login_refuses(chromium, tmp_path) -> None:
    serving = streamlit_server(
        tmp_path / "data",
        "--server.address", "0.0.0.0",
        "--secrets.files", str(tmp_path / "none.toml"),
    )  # fmt: skip
    with serving as url, _context(chromium) as context:
        page = context.new_page()
        page.goto(url)
        page.get_by_text("reachable from other machines").wait_for()
        page.get_by_text("--server.address 127.0.0.1").wait_for()
        code = "\n".join(page.locator("code").all_inner_texts())
        assert "[access]" in code and 'admin_password_hash = "…"' in code
        assert page.get_by_text("everyone can change the gallery").count() == 0
