"""Hostile names in a real browser: Gallery (with a delete confirmation), Recognize and Verify
show them as text — no link, no image, no KaTeX, no coloured text — and the browser sends no
request to the tracking host.

Hole guarded (before): a person's name or note rendered as Markdown: an image link in a name
made every viewer's browser fetch that URL (a tracking pixel), a link became clickable, LaTeX
and ``:red[…]`` rendered, and a confirmation's text could be reworded by a name.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlparse

import pytest

from tests.browser_support import streamlit_server
from tests.pages.face_app import png

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

TRACKER, EVIL = "tracker.example", "evil.example"
NAME = (
    f"![pixel](https://{TRACKER}/p.png) [click](https://{EVIL}/x) www.{EVIL} bob@{EVIL} "
    "$E=mc^2$ :red[alert] :smile: <b>bold</b> **strong**"
)
SECOND = "# Admin <img src=x> _it_"
LOAD = 120_000  # ms


@pytest.fixture(scope="module")
def hostile_app(browser, tmp_path_factory, astronaut, grace_hopper):
    """``streamlit run app.py`` on a data folder whose gallery holds people with hostile names,
    enrolled through the store before the server starts."""
    from tests.pages.face_app import enroll_directly
    from ui.widgets import resources

    data = tmp_path_factory.mktemp("hostile-data")
    previous = os.environ.get("VISIONLAB_DATA")
    os.environ["VISIONLAB_DATA"] = str(data)
    resources.settings.clear()
    resources.gallery_for.clear()
    try:
        enroll_directly(NAME, astronaut, "astronaut")
        enroll_directly(SECOND, grace_hopper, "grace")
        resources.gallery().close()
    finally:
        resources.gallery_for.clear()
        resources.settings.clear()
        if previous is None:
            os.environ.pop("VISIONLAB_DATA", None)
        else:
            os.environ["VISIONLAB_DATA"] = previous
    with streamlit_server(data) as url:
        yield url


def _guard_requests(page) -> list[str]:
    """Every request for a host other than the app's is recorded and aborted."""
    outside: list[str] = []

    def handle(route) -> None:
        host = urlparse(route.request.url).hostname or ""
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", handle)
    return outside


def _assert_inert(page, where: str) -> None:
    markup = page.evaluate(
        """() => ({
            links: [...document.querySelectorAll('a[href]')].map(a => a.href)
                .filter(h => !h.startsWith(location.origin)),
            images: [...document.querySelectorAll('img[src]')].map(i => i.src)
                .filter(s => !s.startsWith(location.origin) && !s.startsWith('data:')
                             && !s.startsWith('blob:')),
            katex: document.querySelectorAll('.katex').length,
            bold: [...document.querySelectorAll('b, strong, em, i')].map(e => e.textContent)
                .filter(t => ['bold', 'strong', 'it'].includes(t.trim())),
            headings: [...document.querySelectorAll('h1, h2, h3')].map(e => e.textContent)
                .filter(t => t.trim().startsWith('Admin')),
        })"""
    )
    hostile = [u for u in markup["links"] if TRACKER in u or EVIL in u]
    assert not hostile, f"{where}: a name became a link: {hostile}"
    assert not markup["images"], f"{where}: a name became an external image: {markup['images']}"
    assert markup["katex"] == 0, f"{where}: LaTeX in a name rendered with KaTeX"
    assert not markup["bold"], f"{where}: emphasis or <b> in a name rendered: {markup['bold']}"
    assert not markup["headings"], f"{where}: '# Admin' in a name became a heading"
    text = page.locator("body").inner_text().replace("\u2060", "")
    assert "alert" not in text or ":red[alert]" in text, f"{where}: :red[…] rendered as colour"
    assert "😄" not in text, f"{where}: :smile: rendered as an emoji"


def test_hostile_names_stay_text_in_the_browser(page, hostile_app, astronaut) -> None:
    outside = _guard_requests(page)

    page.goto(f"{hostile_app}/gallery")
    expect(page.get_by_text("has no faces").or_(page.get_by_role("button", name=re.compile(
        "^Delete "))).first).to_be_visible(timeout=LOAD)  # fmt: skip
    body = page.locator("body").inner_text().replace("\u2060", "")
    assert NAME in body, "Gallery: the name is not shown as typed"
    _assert_inert(page, "Gallery")
    page.get_by_role("button", name=re.compile("^Delete ")).first.click()
    expect(page.get_by_text("This cannot be undone").first).to_be_visible(timeout=LOAD)
    question = page.locator('[data-testid="stAlertContentWarning"]').first.inner_text()
    assert question.replace("\u2060", "").startswith(f"Delete {NAME}?"), (
        f"delete confirmation: the name changed its text: {question!r}"
    )
    _assert_inert(page, "delete confirmation")
    page.get_by_role("button", name="Cancel").click()

    page.goto(f"{hostile_app}/recognize")
    uploader = page.locator('[data-testid="stFileUploader"] input[type=file]').first
    uploader.set_input_files(
        files=[
            {
                "name": "[file](https:evil.example) $x$ :red[f].png",
                "mimeType": "image/png",
                "buffer": png(astronaut),
            }
        ]
    )
    expect(page.get_by_text(re.compile(r"^Face 1:")).first).to_be_visible(timeout=LOAD)
    body = page.locator("body").inner_text().replace("\u2060", "")
    assert f"Face 1: {NAME}" in body, "Recognize: the recognised name is not shown as typed"
    _assert_inert(page, "Recognize")

    page.goto(f"{hostile_app}/verify")
    page.get_by_text("A photo and an enrolled person").click()
    select = page.locator('[data-testid="stSelectbox"]').filter(has_text="Claimed identity")
    expect(select).to_be_visible(timeout=LOAD)
    select.locator("div[role=combobox], input").first.click()
    expect(page.get_by_role("option").first).to_be_visible(timeout=LOAD)
    options = page.get_by_role("option").all_inner_texts()
    assert any(NAME in o for o in options), f"Verify: options do not show the name: {options}"
    _assert_inert(page, "Verify (claimed identity options)")

    assert not [u for u in outside if TRACKER in u or EVIL in u], (
        f"the browser fetched the tracking host: {outside}"
    )
