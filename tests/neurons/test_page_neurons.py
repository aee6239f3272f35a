"""Neurons page: index a folder with the face network, browse channels, patches (cut to the
photo, or boxed on it), the mean map, first-layer filters, the shallow/deep side-by-side and
activation maximisation."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from ui.widgets import resources

PAGE = str(Path(__file__).resolve().parents[2] / "ui" / "pages" / "neurons.py")


def start_page(data_dir: Path, monkeypatch, server_root: Path | None = None) -> AppTest:
    """The page on its own (app.py's navigation is tested elsewhere), data in ``data_dir``, as
    an admin (what local mode is) allowed to read folders under ``server_root``."""
    monkeypatch.setenv("VISIONLAB_DATA", str(data_dir))
    monkeypatch.setenv("VISIONLAB_SERVER_ROOTS", str(server_root or data_dir.parent))
    resources.settings.clear()
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["access_role"] = "admin"
    return at.run()


def _images(at) -> list[list]:
    """Every st.image call's images (one list per call)."""
    return [list(element.proto.imgs) for element in at.get("image")]


def _top_patches(at) -> list:
    """The top-k patches' images: the row of images right after the "where" toggle."""
    children = list(at.main.children.values())
    row = children[next(i for i, c in enumerate(children) if c.type == "toggle") + 1]
    return [img for element in row.children.values() for img in element.proto.imgs], row


def _serve_log(monkeypatch) -> dict[str, bytes]:
    """The media files the page hands to the browser, by id."""
    served: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        served[file_id] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    return served


def _pixels(served: dict[str, bytes], image) -> np.ndarray:
    file_id = image.url.rsplit("/", 1)[1].split(".", 1)[0]
    return np.asarray(Image.open(io.BytesIO(served[file_id])).convert("RGB"))


def _pace_log(monkeypatch) -> list[tuple[int, int, str, str]]:
    """Every progress text the page asks ``pace_text`` for: (done, total, unit, text)."""
    from ui.widgets import pace

    calls, original = [], pace.pace_text

    def record(done: int, total: int, elapsed: float, unit: str = "images") -> str:
        text = original(done, total, elapsed, unit)
        calls.append((done, total, unit, text))
        return text

    monkeypatch.setattr(pace, "pace_text", record)
    return calls


def _build(at, folder, layers=("conv1", "res3c"), click: bool = True):
    at.selectbox(key="neurons_model").set_value("face")
    at.radio(key="neurons_source").set_value("Your images").run()
    at.radio(key="neurons_kind").set_value("A folder on this server").run()
    at.text_input(key="neurons_folder").set_value(str(folder))
    at.multiselect(key="neurons_layers_face").set_value(list(layers))
    at.number_input(key="neurons_k").set_value(3).run()
    return at.button(key="neurons_build").click().run() if click else at


def test_index_and_browse_a_folder(image_folder, tmp_path, monkeypatch) -> None:
    served = _serve_log(monkeypatch)
    paces = _pace_log(monkeypatch)
    at = start_page(tmp_path / "data", monkeypatch, server_root=image_folder)
    assert not at.exception, at.exception
    assert any("No index yet" in i.value for i in at.info)
    at = _build(at, image_folder)
    assert not at.exception, at.exception
    [folder] = (tmp_path / "data" / "neurons").glob("face-*")
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["complete"] and list(meta["layers"]) == ["conv1", "res3c"] and meta["k"] == 3
    # 12 images in one batch of 16: the bar's last text is the pace's "done in …".
    assert paces and paces[-1][:3] == (12, 12, "images") and paces[-1][3].startswith("done in")

    # channel sheet, 3 top-k patches, source image, filter tiles, shallow and deep sheets
    assert len(_images(at)) == 8
    patches, row = _top_patches(at)
    assert len(patches) == 3 and "img_" in patches[0].caption  # channel 0's top 3
    # A row that wraps, at most 6 patches of 128 px (and 16-px gaps) wide.
    assert row.proto.flex_container.wrap and row.proto.width_config.pixel_width == 6 * 144
    # conv1's 7-px field enlarged pixel by pixel (nearest) to 128 px, not blurred.
    first = _pixels(served, patches[0])
    assert first.shape == (128, 128, 3) and len(np.unique(first.reshape(-1, 3), axis=0)) <= 49
    mean_map = next(c for c in at.get("plotly_chart") if "neurons_mean_map" in c.proto.id)
    spec = json.loads(mean_map.proto.spec)
    z = spec["data"][0]["z"]
    # conv1's map on 150×150 chips (plotly ships it as typed-array bytes with its shape)
    shape = tuple(int(v) for v in z["shape"].split(",")) if isinstance(z, dict) else np.shape(z)
    assert shape == (72, 72)
    # The plot area a little narrower than tall: the square map spans its width, so the colour
    # bar, just right of the area, is right beside the map.
    layout = spec["layout"]
    margin = layout["margin"]
    area_w = layout["width"] - margin["l"] - margin["r"]
    area_h = layout["height"] - margin["t"] - margin["b"]
    assert area_w <= area_h < area_w + 20
    assert layout["xaxis"]["constraintoward"] == "right"
    assert layout["coloraxis"]["colorbar"]["x"] == 1.0
    assert any("First-layer filters" in h.value for h in at.subheader)

    at.selectbox(key="neurons_layer").set_value("res3c").run()
    at.number_input(key="neurons_channel").set_value(63).run()
    assert not at.exception, at.exception
    assert any("res3c · channel 63" in h.value for h in at.subheader)
    assert not any("First-layer filters" in h.value for h in at.subheader)
    assert any("receptive field 179×179" in c.value for c in at.caption)
    # res3c's 179-px field on a 150-px chip: the patch is the part inside the chip, no grey.
    patches, _ = _top_patches(at)
    for image in patches:
        pixels = _pixels(served, image)
        assert max(pixels.shape[:2]) == 128
        assert not (pixels == 128).all(axis=2).all(axis=1).any()  # no all-grey row
    # Where in the photo: each whole chip (150 → 128 px) with the field boxed in red.
    at.toggle(key="neurons_in_photo").set_value(True).run()
    assert not at.exception, at.exception
    patches, _ = _top_patches(at)
    assert len(patches) == 3
    for image in patches:
        pixels = _pixels(served, image).astype(int)
        assert pixels.shape == (128, 128, 3)
        red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
        assert red.sum() > 100

    at.number_input(key="neurons_max_steps").set_value(2)
    paces.clear()
    at = at.button(key="neurons_maximize").click().run()
    assert not at.exception, at.exception
    assert [(done, total, unit) for done, total, unit, _ in paces] == [
        (1, 2, "steps"),
        (2, 2, "steps"),
    ]
    assert any("activation" in img.caption for imgs in _images(at) for img in imgs)
    # The job is over: its progress bar and Stop button are gone.
    assert not at.get("progress")
    assert "neurons_maximize_stop" not in [b.key for b in at.button]


def test_missing_folder_is_a_plain_error(tmp_path, monkeypatch) -> None:
    at = start_page(tmp_path / "data", monkeypatch)
    at = _build(at, tmp_path / "nowhere", click=False)
    assert not at.exception, at.exception
    assert any("not an allowed folder" in e.value for e in at.error)
    assert at.button(key="neurons_build").disabled


def test_gallery_chips_are_a_source(tmp_path, monkeypatch, astronaut, grace_hopper) -> None:
    from PIL import Image

    data = tmp_path / "data"
    at = start_page(data, monkeypatch)
    at.radio(key="neurons_source").set_value("The enrolled gallery's face chips").run()
    assert any("Nobody is enrolled" in i.value for i in at.info)
    assert at.button(key="neurons_build").disabled
    for person, photo in (("p1", astronaut), ("p2", grace_hopper)):
        chip = data / "gallery" / "chips" / person / "f1.png"
        chip.parent.mkdir(parents=True)
        Image.fromarray(np.ascontiguousarray(photo[:150, 150:300])).save(chip)
    at.selectbox(key="neurons_model").set_value("face").run()
    at.multiselect(key="neurons_layers_face").set_value(["conv1"])
    at.number_input(key="neurons_k").set_value(2).run()
    at = at.button(key="neurons_build").click().run()
    assert not at.exception, at.exception
    patches, _ = _top_patches(at)
    assert {p.caption.split(" · ")[1] for p in patches} == {"p1/f1.png", "p2/f1.png"}
