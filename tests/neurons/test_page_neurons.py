"""Neurons page: index a folder with the face network, browse channels, patches, the mean map,
first-layer filters, the shallow/deep side-by-side and activation maximisation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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


def _build(at, folder, layers=("conv1", "res3c"), click: bool = True):
    at.selectbox(key="neurons_model").set_value("face")
    at.radio(key="neurons_source").set_value("Your images").run()
    at.radio(key="neurons_kind").set_value("A folder on this server").run()
    at.text_input(key="neurons_folder").set_value(str(folder))
    at.multiselect(key="neurons_layers_face").set_value(list(layers))
    at.number_input(key="neurons_k").set_value(3).run()
    return at.button(key="neurons_build").click().run() if click else at


def test_index_and_browse_a_folder(image_folder, tmp_path, monkeypatch) -> None:
    at = start_page(tmp_path / "data", monkeypatch, server_root=image_folder)
    assert not at.exception, at.exception
    assert any("No index yet" in i.value for i in at.info)
    at = _build(at, image_folder)
    assert not at.exception, at.exception
    [folder] = (tmp_path / "data" / "neurons").glob("face-*")
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["complete"] and list(meta["layers"]) == ["conv1", "res3c"] and meta["k"] == 3

    images = _images(at)
    # channel sheet, top-k patches, source image, filter tiles, shallow and deep sheets
    assert len(images) == 6
    assert len(images[1]) == 3  # channel 0's top 3 patches
    assert "img_" in images[1][0].caption
    mean_map = next(c for c in at.get("plotly_chart") if "neurons_mean_map" in c.proto.id)
    z = json.loads(mean_map.proto.spec)["data"][0]["z"]
    # conv1's map on 150×150 chips (plotly ships it as typed-array bytes with its shape)
    shape = tuple(int(v) for v in z["shape"].split(",")) if isinstance(z, dict) else np.shape(z)
    assert shape == (72, 72)
    assert any("First-layer filters" in h.value for h in at.subheader)

    at.selectbox(key="neurons_layer").set_value("res3c").run()
    at.number_input(key="neurons_channel").set_value(63).run()
    assert not at.exception, at.exception
    assert any("res3c · channel 63" in h.value for h in at.subheader)
    assert not any("First-layer filters" in h.value for h in at.subheader)
    assert any("receptive field 179×179" in c.value for c in at.caption)

    at.number_input(key="neurons_max_steps").set_value(2)
    at = at.button(key="neurons_maximize").click().run()
    assert not at.exception, at.exception
    assert any("activation" in img.caption for imgs in _images(at) for img in imgs)


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
    patches = _images(at)[1]
    assert {p.caption.split(" · ")[1] for p in patches} == {"p1/f1.png", "p2/f1.png"}
