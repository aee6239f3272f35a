"""Bounded work per click (hosting issue, part 6): every test names the hole it guards.

- style transfer took size 2048 × 3000 steps × 4 scales in one click;
- neuron indexing of uploads had no bound on the number of images;
- N users could start N heavy jobs at once (no queue);
- Enroll with more than 16 photos re-ran face detection on every widget change.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from engine.jobs import JobCancelled, JobLimiter
from engine.style import MAX_STYLE_WORK, StyleBudgetExceeded, StyleOptions, stylize
from tests.pages.face_app import png, start_page, upload
from ui.widgets import resources

APP = str(Path(__file__).resolve().parents[2] / "app.py")


# --- style transfer: a budget on size² × steps × scales ------------------------------------------


def test_style_work_counts_pixel_steps_over_every_scale() -> None:
    """Hole: nothing measured what a run costs, so nothing could bound it."""
    options = StyleOptions(size=128, steps=10, scales=2, coarse_steps=5)
    assert options.work((128, 128)) == 128 * 128 * 10 + 64 * 64 * 5
    assert options.work((256, 128)) == 128 * 64 * 10 + 64 * 32 * 5  # the output's real shape
    assert options.work() == 128 * 128 * 10 + 64 * 64 * 5  # unknown content: a square
    assert StyleOptions(size=5000, steps=1).work() == 1024 * 1024  # capped at max_side first


def test_style_transfer_over_budget_is_refused_before_any_work() -> None:
    """Hole: style transfer accepted size 2048 × 3000 steps × 4 scales (12,000 steps)."""
    content = np.zeros((512, 512, 3), np.uint8)
    options = StyleOptions(size=2048, steps=3000, scales=4, coarse_steps=3000)
    assert options.work((512, 512)) > 60 * MAX_STYLE_WORK
    started = time.monotonic()
    with pytest.raises(StyleBudgetExceeded, match=r"over this server's budget of 50,000,000"):
        stylize(content, content, options)  # no network given: refused before loading one
    assert time.monotonic() - started < 5


def test_cli_stylize_keeps_the_budget_and_says_so_in_one_line(tmp_path, capsys) -> None:
    """Hole: the CLI would run any size; now it keeps the budget unless --no-budget."""
    import cli

    image = tmp_path / "c.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(image)
    argv = ["stylize", "--content", str(image), "--style", str(image), "--out"]
    code = cli.main([*argv, str(tmp_path / "g.png"), "--size", "1024", "--steps", "3000"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith("error: This run would cost")
    assert not (tmp_path / "g.png").exists()


def test_style_page_states_the_budget_and_disables_start_over_it(tmp_path, monkeypatch) -> None:
    """Hole: the page offered 2048 px × 3000 steps × 4 scales with no word of a bound."""
    monkeypatch.setenv("VISIONLAB_DATA", str(tmp_path / "data"))
    resources.settings.clear()
    at = AppTest.from_file(APP, default_timeout=120).run()
    at = at.switch_page("ui/pages/style.py").run()
    assert not at.exception, at.exception
    assert any("of the 50,000,000 one run may use here" in c.value for c in at.caption)
    assert not at.button(key="style_start").disabled

    at.number_input(key="style_size").set_value(2048)
    at.number_input(key="style_steps").set_value(3000)
    at.number_input(key="style_scales").set_value(4).run()
    assert not at.exception, at.exception
    assert at.button(key="style_start").disabled
    [warning] = at.warning
    assert "one run may use here" in warning.value and "steps on one scale fit" in warning.value


# --- neuron indexing of uploads ----------------------------------------------------------------


def test_neuron_index_refuses_more_images_than_allowed(tmp_path, vgg_backbone) -> None:
    """Hole: indexing uploads had no bound on the number of images per index."""
    from engine.neurons.errors import TooManyImages
    from engine.neurons.index import build_index

    for i in range(3):
        Image.fromarray(np.full((32, 32, 3), i * 40, np.uint8)).save(tmp_path / f"{i}.png")
    with pytest.raises(TooManyImages, match="3 images is more than the 2 one index"):
        build_index(vgg_backbone, tmp_path, tmp_path / "index", ["relu1_1"], max_images=2)
    assert not (tmp_path / "index").exists()  # refused before any work
    index = build_index(vgg_backbone, tmp_path, tmp_path / "index", ["relu1_1"], max_images=3)
    assert index.complete and len(index.images) == 3


@pytest.fixture(scope="module")
def vgg_backbone():
    from engine.neurons.backbones import load_backbone

    return load_backbone("vgg16", input_size=64)


# --- at most N heavy jobs at once, the rest queued -----------------------------------------------


def _start(limiter: JobLimiter, name: str, log: list, release: threading.Event, **kw):
    """A thread that holds a slot of ``limiter`` until ``release`` is set."""

    def job() -> None:
        try:
            with limiter.slot(name, **kw):
                log.append(("start", name))
                release.wait(5)
            log.append(("end", name))
        except JobCancelled:
            log.append(("cancelled", name))

    thread = threading.Thread(target=job, daemon=True)
    thread.start()
    return thread


def _until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_jobs_beyond_the_limit_wait_in_order_and_see_how_many_are_ahead() -> None:
    """Hole: any number of heavy jobs ran at once on one server."""
    limiter = JobLimiter(2)
    log: list = []
    gates = {name: threading.Event() for name in "abcde"}
    seen: dict[str, list[int]] = {name: [] for name in "cde"}
    threads = [_start(limiter, n, log, gates[n]) for n in "ab"]
    _until(lambda: len(limiter.running) == 2)
    for name in "cde":  # queued one by one, so the order of arrival is known
        threads.append(
            _start(limiter, name, log, gates[name], on_wait=seen[name].append, poll_s=0.01)
        )
        _until(lambda name=name: name in limiter.waiting)
    assert limiter.waiting == ["c", "d", "e"]
    _until(lambda: seen["e"] and seen["e"][-1] == 2)
    assert seen["c"][-1] == 0 and seen["d"][-1] == 1  # "k jobs ahead"

    gates["b"].set()  # one slot frees: the first in line, not any waiter, gets it
    _until(lambda: ("start", "c") in log)
    assert sorted(limiter.running) == ["a", "c"] and limiter.waiting == ["d", "e"]
    _until(lambda: seen["e"][-1] == 1)
    gates["a"].set()
    _until(lambda: ("start", "d") in log)
    for gate in gates.values():
        gate.set()
    for thread in threads:
        thread.join(5)
    starts = [name for kind, name in log if kind == "start"]
    assert starts == ["a", "b", "c", "d", "e"]
    assert not limiter.running and not limiter.waiting


def test_a_waiting_job_can_be_cancelled_and_frees_its_place() -> None:
    """Hole: a user who gave up waiting would still hold a place (or run) later."""
    limiter = JobLimiter(1)
    log: list = []
    hold, never = threading.Event(), threading.Event()
    cancel = threading.Event()
    first = _start(limiter, "first", log, hold)
    _until(lambda: limiter.running == ["first"])
    waiter = _start(
        limiter, "waiter", log, never, on_wait=lambda ahead: cancel.is_set(), poll_s=0.01
    )
    third = _start(limiter, "third", log, hold, poll_s=0.01)
    _until(lambda: limiter.waiting == ["waiter", "third"])
    cancel.set()
    waiter.join(5)
    assert ("cancelled", "waiter") in log and limiter.waiting == ["third"]
    hold.set()
    first.join(5)
    third.join(5)
    assert [name for kind, name in log if kind == "start"] == ["first", "third"]


def test_an_exception_in_the_wait_callback_gives_up_the_place() -> None:
    """Hole: a page rerun (Streamlit raises inside the callback) must not leave a ghost ticket."""
    limiter = JobLimiter(1)
    hold = threading.Event()
    first = _start(limiter, "first", [], hold)
    _until(lambda: limiter.running == ["first"])

    def rerun(ahead: int) -> bool:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), limiter.slot("rerun", on_wait=rerun):
        pass
    assert limiter.waiting == []
    hold.set()
    first.join(5)
    with limiter.slot("later"), limiter.slot("nested, same thread"):
        assert limiter.running == ["later"]  # a nested slot is the same job


# --- Enroll never re-analyses a photo it analysed in the session ---------------------------------


def test_enroll_with_20_photos_analyses_each_once_across_reruns(
    tmp_path, monkeypatch, astronaut
) -> None:
    """Hole: with more than 16 photos, the 16-entry LRU evicted each before its next use, so
    every widget change re-ran face detection on all of them (9 s of CPU per keystroke)."""
    from engine.faces.pipeline import FacePipeline

    calls: list[int] = []
    real = FacePipeline.analyze

    def counted(self, image, *args, **kwargs):
        calls.append(1)
        return real(self, image, *args, **kwargs)

    monkeypatch.setattr(FacePipeline, "analyze", counted)
    at = start_page("ui/pages/enroll.py", tmp_path / "data", monkeypatch)
    rng = np.random.default_rng(0)
    photos = [("astronaut.png", png(astronaut))] + [
        (f"noise{i}.png", png(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8))) for i in range(19)
    ]
    upload(at, "enroll", *photos)
    assert not at.exception, at.exception
    assert len(calls) == 20
    at.text_input(key="enroll_new_name").input("Eileen").run()  # keystrokes: reruns
    at.text_input(key="enroll_new_name").input("Eileen Collins").run()
    at.run()
    assert not at.exception, at.exception
    assert len(calls) == 20  # nothing analysed twice
    assert at.button[0].label == "Enrol 1 face"
