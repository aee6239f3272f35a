"""Real user flows in a real browser: chromium under Playwright against
``streamlit run app.py`` on 127.0.0.1, waiting on what Streamlit renders.

1. Enrol the astronaut as Eileen Collins → verify her against her mirror image → recognize her
   in a two-face photo → delete her on the Gallery page.
2. The Threshold lab on a tiny LFW-format pairs set → EER and ROC.
3. A 10-step style transfer at 64 px → the stylized image and final costs.
4. A neuron index (face ResNet) over four small images → the channel sheet.
5. Discover on a zip of four photos → two people; a face taken out; a group named and enrolled.

Tests share one server (the face models load once) and run in file order; each opens its pages
by URL, in a session of its own.
"""

from __future__ import annotations

import io
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.lfw_like import make_lfw_like
from tests.pages.face_app import two_faces

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = playwright_api.expect

MODEL_LOAD = 180_000  # ms: the first face-model or VGG16 load, on a busy CPU
STEP = 120_000  # ms: one detection / embedding / optimisation after the models are loaded
GROUP_BOX = "xpath=ancestor::div[@data-testid='stVerticalBlock'][1]"  # a text's bordered box


def save_png(path: Path, image: np.ndarray) -> Path:
    Image.fromarray(np.ascontiguousarray(image)).save(path)
    return path


def open_page(page, app_url: str, path: str, title: str) -> None:
    """Open ``/path`` and wait until the page's own title has rendered."""
    page.goto(f"{app_url}/{path}")
    expect(page.get_by_role("heading", name=title).first).to_be_visible(timeout=STEP)


def commit_text(page, label: str, value: str) -> None:
    """Type into a Streamlit text or number input and press Enter, which commits it (a rerun)."""
    field = page.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Enter")
    expect(field).to_have_value(value)


def upload(page, index: int, path: Path) -> None:
    """Choose ``path`` in the page's ``index``-th file uploader and wait until it lists the file.

    A rerun that is still drawing the page can replace the input under Playwright, and the
    choice is then lost; setting it again once the page is settled is what a user would do.
    """
    listed = page.get_by_text(path.name, exact=True)
    for _ in range(3):
        page.locator('input[type="file"]').nth(index).set_input_files(str(path))
        try:
            expect(listed.first).to_be_visible(timeout=15_000)
            return
        except AssertionError:
            continue
    expect(listed.first).to_be_visible(timeout=STEP)


def choose(page, box, option: str) -> None:
    """Pick ``option`` in a Streamlit select box. A rerun that redraws the box closes its list,
    so the box is opened again, as a user would, until the option shows."""
    wanted = page.get_by_role("option", name=option)
    for _ in range(5):
        box.click()
        try:
            expect(wanted).to_be_visible(timeout=3_000)
            break
        except AssertionError:
            page.keyboard.press("Escape")
    try:
        wanted.click(timeout=5_000)
    except playwright_api.Error:  # a phone's list can sit outside the viewport: the keyboard
        expect(wanted).to_have_attribute("data-focused", "true")  # the one the keys pick
        page.keyboard.press("Enter")


def click_until(button, shown) -> None:
    """Click ``button`` until ``shown`` appears: a click that lands while a rerun redraws the
    page is lost, and a user would click again."""
    for _ in range(4):
        button.click()
        try:
            expect(shown).to_be_visible(timeout=5_000)
            return
        except AssertionError:
            continue
    expect(shown).to_be_visible(timeout=STEP)


def test_enrol_verify_recognize_delete(page, shoot, app_url, tmp_path, astronaut, grace_hopper):
    photo = save_png(tmp_path / "astronaut.png", astronaut)
    mirror = save_png(tmp_path / "astronaut_mirror.png", astronaut[:, ::-1])
    group = save_png(tmp_path / "two_faces.png", two_faces(astronaut, grace_hopper))

    # Enrol: one photo, one face, a new person.
    open_page(page, app_url, "enroll", "Enrol")
    upload(page, 0, photo)
    name_field = page.get_by_label("Name of the new person", exact=True)
    expect(name_field).to_be_visible(timeout=MODEL_LOAD)  # shown once the face is found
    commit_text(page, "Name of the new person", "Eileen Collins")
    page.get_by_role("button", name="Enrol 1 face").click()
    expect(page.get_by_text("Enrolled astronaut.png as Eileen Collins.")).to_be_visible(
        timeout=STEP
    )
    shoot("1-enroll")

    # Verify: the photo against its mirror image is the same person.
    open_page(page, app_url, "verify", "Verify")
    upload(page, 0, photo)
    expect(page.get_by_text("Face 1", exact=True).first).to_be_visible(timeout=STEP)
    upload(page, 1, mirror)
    expect(page.get_by_text("Same person", exact=True)).to_be_visible(timeout=STEP)
    expect(page.get_by_text("Different people", exact=True)).to_have_count(0)
    shoot("2-verify")

    # Recognize: Eileen Collins named on the left, Grace Hopper (not enrolled) unknown.
    open_page(page, app_url, "recognize", "Recognize")
    upload(page, 0, group)
    expect(page.get_by_text(re.compile(r"^Face \d: Eileen Collins$"))).to_be_visible(timeout=STEP)
    expect(page.get_by_text(re.compile(r"^Face \d: unknown$"))).to_be_visible()
    shoot("3-recognize")

    # Gallery: delete her, confirming in the dialog; the gallery is empty again.
    open_page(page, app_url, "gallery", "Gallery")
    expect(page.get_by_text("1 person, 1 face")).to_be_visible()
    page.get_by_role("button", name="Delete Eileen Collins…").click()
    expect(page.get_by_text("Delete Eileen Collins? Every embedding")).to_be_visible()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page.get_by_text("Deleted Eileen Collins.")).to_be_visible(timeout=STEP)
    expect(page.get_by_text("0 people, 0 faces")).to_be_visible()
    expect(page.get_by_text("The gallery is empty.")).to_be_visible()


def test_threshold_lab_on_pairs_file(page, app_url, tmp_path, astronaut, grace_hopper):
    pairs = make_lfw_like(tmp_path / "lfw", astronaut, grace_hopper)
    archive = shutil.make_archive(str(tmp_path / "lfw_like"), "zip", pairs.parent)
    open_page(page, app_url, "threshold_lab", "Threshold lab")
    # An upload, as an analyst of a hosted app has it: people and pairs.txt in one zip.
    page.locator("input[type=file]").first.set_input_files(archive)
    expect(page.get_by_text("5 images unpacked.")).to_be_visible(timeout=STEP)
    page.get_by_role("button", name="Embed and evaluate").click()

    eer = page.get_by_test_id("stMetric").filter(has_text=re.compile(r"^EER"))
    expect(eer).to_be_visible(timeout=MODEL_LOAD)
    expect(eer.get_by_test_id("stMetricValue")).to_have_text(re.compile(r"^\d+\.\d\d%$"))
    expect(page.get_by_test_id("stMetric").filter(has_text="ROC AUC")).to_be_visible()
    roc = page.locator(".js-plotly-plot").filter(has_text="ROC")
    expect(roc.first).to_be_visible(timeout=STEP)
    expect(page.get_by_text("TAR at fixed false accept rates")).to_be_visible()


def test_style_transfer_ten_steps(page, app_url):
    open_page(page, app_url, "style", "Neural style transfer")
    # Defaults: the astronaut as content, the Hubble deep field as style, L-BFGS.
    commit_text(page, "Output size (long side, px)", "64")
    commit_text(page, "Steps", "10")
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_text(re.compile(r"^Final J = "))).to_be_visible(timeout=MODEL_LOAD)
    expect(page.get_by_text(re.compile(r"^G: \d+ steps in [\d.]+ s$"))).to_be_visible()
    size_and_format = re.compile(r"64×64 px · VGG passes in b?float(16|32)$")
    expect(page.get_by_text(size_and_format)).to_be_visible()
    expect(page.get_by_role("button", name="Download G (PNG)")).to_be_visible()
    # A bare string in the page script is rendered by Streamlit's "magic" (it was, above the
    # title, until it became a comment).
    expect(page.get_by_text("β as a multiple of the size's default")).to_have_count(0)


def test_neuron_index_on_a_few_images(page, app_url, tmp_path, astronaut, grace_hopper):
    folder = tmp_path / "images"
    folder.mkdir()
    for name, image in {
        "astronaut": astronaut,
        "astronaut_mirror": astronaut[:, ::-1],
        "grace": grace_hopper,
        "grace_mirror": grace_hopper[:, ::-1],
    }.items():
        small = Image.fromarray(np.ascontiguousarray(image))
        small.thumbnail((160, 160))
        small.save(folder / f"{name}.png")

    open_page(page, app_url, "neurons", "Neurons: what does a unit respond to?")
    # Defaults: the face ResNet, your images (uploaded), layers conv1 / res3c / down1.
    page.locator("input[type=file]").first.set_input_files(sorted(folder.glob("*.png")))
    expect(page.get_by_text("4 images unpacked.")).to_be_visible(timeout=STEP)
    page.get_by_role("button", name="Build index").click()
    expect(page.get_by_text("each channel's best patch", exact=True)).to_be_visible(
        timeout=MODEL_LOAD
    )
    expect(page.get_by_text(re.compile(r"4 images from .* \(complete\)"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"^conv1 · channel 0: top \d+ patches$"))).to_be_visible()
    mean_map = page.locator(".js-plotly-plot").filter(has_text="mean activation map")
    expect(mean_map).to_be_visible(timeout=STEP)
    expect(page.get_by_role("heading", name="First-layer filters as RGB tiles")).to_be_visible()


def test_discover_groups_a_zip_then_fixes_and_enrols_a_group(
    page, shoot, app_url, tmp_path, astronaut, grace_hopper
):
    """A zip of five photos, one with a file name built to look like markup: two people found;
    that face taken out of its group; a group enrolled under a name that is also markup, both
    shown as the plain text they are."""
    hostile = "**bold** <i>x</i>.png"
    archive = tmp_path / "holiday.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name, image in {
            "trip/astronaut.png": astronaut,
            "trip/astronaut_crop.png": astronaut[20:, 30:],
            f"trip/{hostile}": astronaut[:, ::-1],
            "trip/grace.png": grace_hopper,
            "trip/grace_mirror.png": grace_hopper[:, ::-1],
        }.items():
            buffer = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
            zipped.writestr(name, buffer.getvalue())

    open_page(page, app_url, "discover", "Discover")
    upload(page, 0, archive)
    page.get_by_role("button", name="Find people").click()
    summary = page.get_by_text("5 photos, 5 faces: 2 groups of 2 or more faces, 0 faces on")
    expect(summary).to_be_visible(timeout=MODEL_LOAD)
    expect(page.get_by_text("Group 1 · 3 faces", exact=True)).to_be_visible()  # largest first
    expect(page.get_by_text("Group 2 · 2 faces", exact=True)).to_be_visible()
    expect(page.locator('[data-testid="stImage"] img')).to_have_count(5)
    shoot("1-found")

    # Take the mirrored astronaut out of her group: the list names the file as it is.
    group = page.get_by_text("Group 1 · 3 faces", exact=True).locator(GROUP_BOX)
    group.get_by_text("Name, merge or fix this group").click()
    box = group.get_by_role("combobox", name="Faces to take out (by number)")
    only = page.get_by_role("option", name=hostile)
    chosen = group.get_by_text(hostile)  # the chosen face, named as it is
    for _ in range(4):  # a rerun that redraws the box empties it: choose again, as a user would
        box.click()
        box.press_sequentially("bold")  # filters the list to the one face
        try:
            expect(only).to_have_count(1, timeout=3_000)
            expect(page.get_by_role("option")).to_have_count(1, timeout=3_000)
            box.press("ArrowDown")
            box.press("Enter")
            page.keyboard.press("Escape")
            expect(chosen).to_be_visible(timeout=3_000)
            break
        except AssertionError:
            box.fill("")
            page.keyboard.press("Escape")
    expect(chosen).to_be_visible()
    regrouped = page.get_by_text("2 groups of 2 or more faces, 1 face on its own")
    click_until(group.get_by_role("button", name="Not this person"), regrouped)
    expect(page.get_by_text(re.compile(r"^Group \d · 2 faces$"))).to_have_count(2)

    # Name a group and enrol it; the name is shown as typed.
    group = page.get_by_text("Group 1 · 2 faces", exact=True).locator(GROUP_BOX)
    if group.locator("details[open]").count() == 0:  # it may be the box opened above
        group.get_by_text("Name, merge or fix this group").click()
    name = "Eve *Doe* <b>ED</b>"
    field = group.get_by_role("textbox", name="Name of the new person")  # the one shown
    field.fill(name)
    field.press("Enter")
    enrolled = page.get_by_text(f"Enrolled 2 faces as {name}.")
    click_until(group.get_by_role("button", name="Enrol 2 faces"), enrolled)
    looks_like = page.get_by_text(f"Group 1 · 2 faces · looks like {name}", exact=True)
    expect(looks_like).to_be_visible(timeout=STEP)
    expect(looks_like.locator(GROUP_BOX).locator('[data-testid="stImage"] img')).to_have_count(2)
    shoot("2-enrolled")

    # The later flows share this server's gallery: delete her, her name plain in the dialog too.
    open_page(page, app_url, "gallery", "Gallery")
    expect(page.get_by_text("1 person, 2 faces")).to_be_visible()
    page.get_by_role("button", name=f"Delete {name}…").click()
    expect(page.get_by_text(f"Delete {name}? Every embedding")).to_be_visible()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page.get_by_text(f"Deleted {name}.")).to_be_visible(timeout=STEP)
    expect(page.get_by_text("The gallery is empty.")).to_be_visible()
