"""Deep links on a fresh server in a real browser: the navigation lists the app's pages and
nothing else, and a helper module's name in the URL runs no helper as a page.

Hole guarded (before): the first deep link on a fresh server showed Streamlit's legacy
pages-folder navigation listing helper modules, and ``/face_widgets``, ``/resources``,
``/access``, ``/lab_charts``, ``/model_choice`` ran as blank pages without a login.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

PAGES = [
    "Home", "Concepts", "Privacy", "Enrol", "Verify", "Recognize", "Gallery", "Discover",
    "Threshold lab", "Train", "Neurons", "Style transfer",
]  # fmt: skip
HELPERS = ["face_widgets", "resources", "access", "lab_charts", "model_choice", "plain_text"]
LOAD = 120_000  # ms


def _nav_labels(page) -> list[str]:
    links = page.locator('[data-testid="stSidebarNav"] a')
    expect(links.first).to_be_visible(timeout=LOAD)
    return [text.split("\n")[-1].strip() for text in links.all_inner_texts()]  # after the icon


@pytest.mark.parametrize("helper", HELPERS)
def test_a_helper_name_in_the_url_is_no_page(page, app_url, helper) -> None:
    page.goto(f"{app_url}/{helper}")
    labels = _nav_labels(page)
    assert labels == PAGES, f"/{helper}: navigation shows {labels}"
    # Streamlit falls back to the default page (Home) for an unknown path.
    expect(page.get_by_role("heading", name="Vision Lab").first).to_be_visible(timeout=LOAD)
    body = page.locator("body").inner_text()
    assert helper not in body.lower().replace(" ", "_"), f"/{helper} shows the helper's name"
