"""A new user's walkthrough of every page, in a real browser, on a desktop (1400×1000) and on a
phone (390×844): what issue 16 fixed stays fixed.

At both sizes: the Home demo path in three clicks; Enrol by camera (chromium's fake camera, which
shows no face) and by upload, the form clearing after "Enrol 1 face"; Verify against a claimed
person with no one chosen at first; Recognize with its open-set threshold, numbered faces and a
download; the Gallery's search and readable dates, then deleting everyone again; every other page
opened. On every page: nothing wider than the window (no sideways scrolling on a phone) and page
icons drawn from the Material font, not emoji. Each page's screenshot is saved as
``walkthrough-<size>-<n>-<page>.png`` in the screenshot folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.test_flows import (
    MODEL_LOAD,
    STEP,
    choose,
    click_until,
    open_page,
    save_png,
    upload,
)
from tests.browser_support import screenshot_dir
from tests.pages.face_app import two_faces

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = playwright_api.expect

SIZES = {"desktop": (1400, 1000), "phone": (390, 844)}

# Elements that stick out of the window's right edge, except inside a box that scrolls or clips
# sideways on its own (a wide table scrolls inside itself; the page does not).
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const pageScrollers = ['stMain', 'stAppViewContainer', 'stApp', 'stMainBlockContainer'];
  const insideScroller = (el) => {
    for (let p = el.parentElement; p && p.tagName !== 'BODY'; p = p.parentElement) {
      if (pageScrollers.includes(p.getAttribute('data-testid'))) return false;
      const overflow = getComputedStyle(p).overflowX;
      if (['auto', 'scroll', 'hidden', 'clip'].includes(overflow)
          && p.getBoundingClientRect().right <= width + 1) return true;
    }
    return false;
  };
  const wide = [];
  for (const el of document.querySelectorAll('[data-testid=stMain] *')) {
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 1 && !insideScroller(el)) {
      const name = `${el.tagName}.${String(el.className).slice(0, 40)}`;
      wide.push(`${name} ends at ${Math.round(box.right)} px`);
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, width, wide: wide.slice(0, 5)};
}"""


class Walk:
    """One browser page at one size: opens app pages, checks each one, keeps its screenshots."""

    def __init__(self, page, app_url: str, size: str) -> None:
        self.page, self.app_url, self.size = page, app_url, size
        self.shots: list[Path] = []

    def open(self, path: str, title: str) -> None:
        open_page(self.page, self.app_url, path, title)
        self.check_icons()

    def check_fits(self) -> None:
        fit = self.page.evaluate(OVERFLOW_JS)
        assert fit["scrollWidth"] <= fit["width"], fit
        assert not fit["wide"], f"wider than the {fit['width']} px window: {fit['wide']}"

    def check_icons(self) -> None:
        """The navigation's icons are Material icons; an emoji needs a font many machines lack."""
        if self.size == "desktop":  # a phone's navigation is folded away
            nav = self.page.get_by_test_id("stSidebarNav")
            home_icon = nav.get_by_test_id("stIconMaterial").filter(has_text=re.compile("^home$"))
            expect(home_icon).to_be_visible()
        expect(self.page.get_by_test_id("stIconEmoji")).to_have_count(0)

    def shoot(self, name: str) -> None:
        """Check the page fits, then save all of it: Streamlit scrolls inside its main box, so
        the window grows to the page's height for the picture and shrinks back."""
        self.check_fits()
        width, height = SIZES[self.size]
        full = self.page.evaluate(
            "() => document.querySelector('[data-testid=stMain]').scrollHeight"
        )
        self.page.set_viewport_size({"width": width, "height": min(max(full, height), 8000)})
        self.page.wait_for_function(  # every picture on the page has arrived, none is broken
            "() => [...document.querySelectorAll('[data-testid=stMain] img')]"
            ".every(i => i.complete && i.naturalWidth > 0)",
            timeout=STEP,
        )
        self.page.wait_for_timeout(500)  # plotly redraws its charts at the new size
        path = screenshot_dir() / f"walkthrough-{self.size}-{len(self.shots) + 1}-{name}.png"
        self.page.screenshot(path=str(path))
        self.page.set_viewport_size({"width": width, "height": height})
        self.shots.append(path)


@pytest.fixture(params=list(SIZES))
def walk(request, browser, app_url):
    width, height = SIZES[request.param]
    phone = request.param == "phone"
    context = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone
    )
    context.grant_permissions(["camera"], origin=app_url)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield Walk(page, app_url, request.param)
        failed = getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed
        if failed:
            page.screenshot(path=str(screenshot_dir() / f"walkthrough-{request.param}.failed.png"))
    finally:
        context.close()


def test_walkthrough(walk, tmp_path, astronaut, grace_hopper):
    page = walk.page
    grace = save_png(tmp_path / "grace.png", grace_hopper)
    photo = save_png(tmp_path / "astronaut.png", astronaut)
    group = save_png(tmp_path / "two_faces.png", two_faces(astronaut, grace_hopper))

    # Home: the demo path, three clicks on the photos that ship with the packages.
    walk.open("", "Vision Lab")
    page.get_by_role("button", name="1. Enrol the astronaut").click()
    expect(page.get_by_text("Enrolled the astronaut as Eileen Collins.")).to_be_visible(
        timeout=MODEL_LOAD
    )
    page.get_by_role("button", name="2. Verify her mirror image").click()
    expect(page.get_by_text(re.compile(r"^Same person: the astronaut"))).to_be_visible(timeout=STEP)
    page.get_by_role("button", name="3. Recognize her in a two-face photo").click()
    expect(
        page.get_by_text(re.compile(r"^2 faces found\. Face 1 \(left\): Eileen Collins"))
    ).to_be_visible(timeout=STEP)
    walk.shoot("home")

    # Enrol: the camera reaches the face finder (the fake camera shows no face) ...
    walk.open("enroll", "Enrol")
    page.get_by_text("Take a photo with the camera", exact=True).first.click()
    page.wait_for_function(  # the shot is blank until the camera's first frame has arrived
        "() => [...document.querySelectorAll('video')].some(v => v.readyState >= 2)",
        timeout=STEP,
    )
    page.get_by_role("button", name="Take Photo").click()
    expect(page.get_by_text(re.compile(r"^No face was found in camera photo\."))).to_be_visible(
        timeout=STEP
    )
    page.get_by_text("Take a photo with the camera", exact=True).first.click()
    # ... and an upload enrols; the form is empty again afterwards.
    upload(page, 0, grace)
    name_field = page.get_by_label("Name of the new person", exact=True)
    expect(name_field).to_be_visible(timeout=STEP)
    name_field.fill("Grace Hopper")
    name_field.press("Enter")
    expect(page.get_by_text("1 faces")).to_have_count(0)
    page.get_by_role("button", name="Enrol 1 face").click()
    expect(page.get_by_text("Enrolled grace.png as Grace Hopper.")).to_be_visible(timeout=STEP)
    expect(page.get_by_text("grace.png", exact=True)).to_have_count(0)
    expect(page.get_by_label("Name of the new person", exact=True)).to_have_count(0)
    walk.shoot("enrol")

    # Verify a claimed identity: nobody is chosen, so there is no verdict until the user picks.
    walk.open("verify", "Verify")
    page.get_by_text("A photo and an enrolled person", exact=True).click()
    upload(page, 0, photo)
    expect(page.get_by_text("Face 1", exact=True).first).to_be_visible(timeout=STEP)
    claimed = page.get_by_role("combobox", name=re.compile("Claimed identity"))
    expect(claimed).to_have_attribute("placeholder", "Choose a person")
    expect(page.get_by_text(re.compile("^(Same person|Different people)$"))).to_have_count(0)
    choose(page, claimed, "Eileen Collins (1 face)")
    expect(page.get_by_text("Same person", exact=True)).to_be_visible(timeout=STEP)
    expect(page.get_by_text("1 faces")).to_have_count(0)
    walk.shoot("verify")

    # Recognize: an open-set threshold for two people, faces numbered left to right.
    walk.open("recognize", "Recognize")
    expect(page.get_by_text(re.compile(r"strangers named, with 2 people enrolled"))).to_be_visible()
    upload(page, 0, group)
    expect(page.get_by_text("Face 1: Eileen Collins", exact=False).first).to_be_visible(
        timeout=STEP
    )
    expect(page.get_by_text("Face 2: Grace Hopper", exact=False).first).to_be_visible()
    expect(page.get_by_role("button", name="Download the annotated photo (PNG)")).to_be_visible()
    walk.shoot("recognize")

    # Gallery: search, readable dates; then delete everyone the walk enrolled.
    walk.open("gallery", "Gallery")
    search = page.get_by_label("Search by name", exact=True)
    search.fill("hopper")
    search.press("Enter")
    expect(page.get_by_text("1 of 2 people match.")).to_be_visible()
    walk.shoot("gallery")
    search.fill("")
    search.press("Enter")
    expect(page.get_by_text("1 of 2 people match.")).to_have_count(0)
    for name in ("Eileen Collins", "Grace Hopper"):
        delete = page.get_by_role("button", name=f"Delete {name}…")
        for _ in range(4):
            if delete.is_visible():
                break
            choose(
                page, page.get_by_role("combobox", name=re.compile("^Person")), f"{name} (1 face)"
            )
            try:
                expect(delete).to_be_visible(timeout=5_000)
            except AssertionError:
                continue
        click_until(
            page.get_by_role("button", name=f"Delete {name}…"),
            page.get_by_role("button", name="Yes, delete"),
        )
        page.get_by_role("button", name="Yes, delete").click()
        expect(page.get_by_text(f"Deleted {name}.")).to_be_visible(timeout=STEP)
    expect(page.get_by_text("The gallery is empty.")).to_be_visible()

    # The other pages open and fit.
    for path, title in [
        ("discover", "Discover"),
        ("threshold_lab", "Threshold lab"),
        ("train", "Train a Siamese embedding head"),
        ("neurons", "Neurons: what does a unit respond to?"),
        ("style", "Neural style transfer"),
        ("concepts", "Concepts"),
        ("privacy", "Privacy"),
    ]:
        walk.open(path, title)
        walk.shoot(path)
    assert all(shot.is_file() for shot in walk.shots)
