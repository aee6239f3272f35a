"""Real-browser fixtures: the app under ``streamlit run`` on 127.0.0.1 and Debian's chromium
driven by Playwright (Playwright's own browser download is not used). A pytest plugin, loaded by
tests/conftest.py, so every test folder shares one Playwright and one chromium.

Both are session-scoped: the server keeps its cached models (face pipeline, VGG16) between
tests, as it does for a real user. Every test gets a fresh browser page and leaves a screenshot
in ``bench/results/screenshots`` (or ``$VISIONLAB_SCREENSHOTS``), ``<test>.failed.png`` when it
failed.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # a camera for st.camera_input: a generated test pattern, allowed without a prompt
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
SERVER_START_TIMEOUT = 60.0


def screenshot_dir() -> Path:
    folder = Path(
        os.environ.get("VISIONLAB_SCREENSHOTS") or REPO / "bench" / "results" / "screenshots"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def streamlit_server(data: Path, *extra: str, log_path: Path | None = None) -> Iterator[str]:
    """``streamlit run app.py`` on a free port of 127.0.0.1 with its data in ``data``; yields
    the base URL and stops the server afterwards. ``extra``: more command-line options (later
    ones win, e.g. ``--server.address 0.0.0.0``, ``--secrets.files FILE``)."""
    log_path = log_path or data.parent / f"streamlit-{data.name}.log"
    port = _free_port()
    env = {**os.environ, "VISIONLAB_DATA": str(data)}
    env.pop("VISIONLAB_CACHE", None)  # the converted VGG16 weights in ~/.cache/vision-lab
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        *extra,
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT
            while not _healthy(url):
                if server.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_text(errors="replace")[-3000:]
                    pytest.fail(f"streamlit did not come up on {url}:\n{tail}")
                time.sleep(0.5)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)


@pytest.fixture(scope="session")
def app_url(browser, tmp_path_factory) -> Iterator[str]:
    """The app in local mode with its data in a fresh folder; the base URL. Asks for the
    browser first, so a machine without one skips before a server is started."""
    data = tmp_path_factory.mktemp("browser-data")
    with streamlit_server(data, log_path=data.parent / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium under Playwright; skips when either is missing."""
    if not CHROMIUM.is_file() and shutil.which("chromium") is None:
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright)")
    executable = str(CHROMIUM) if CHROMIUM.is_file() else shutil.which("chromium")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
    except Exception as exc:  # e.g. a chromium too old or too new for this Playwright
        playwright.stop()
        pytest.skip(f"chromium at {executable} does not start under Playwright: {exc}")
    try:
        yield browser
    finally:
        browser.close()
        playwright.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _shot_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


@pytest.fixture
def page(browser, request):
    """A fresh page (own session) at a tall viewport, so one screenshot shows the whole run.
    Its final state is saved as ``<test>.png`` (``<test>.failed.png`` on failure)."""
    context = browser.new_context(viewport={"width": 1400, "height": 2200})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    failed = getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed
    name = _shot_name(request.node.name) + (".failed" if failed else "")
    try:
        page.screenshot(path=str(screenshot_dir() / f"{name}.png"))
    finally:
        context.close()


@pytest.fixture
def shoot(page, request):
    """``shoot("step")`` saves ``<test>-step.png`` now: one picture per step of a flow."""

    def take(step: str) -> Path:
        path = screenshot_dir() / f"{_shot_name(request.node.name)}-{_shot_name(step)}.png"
        page.screenshot(path=str(path))
        return path

    return take
