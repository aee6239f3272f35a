"""Concepts page: each quiz answer gets the right feedback, the calculator agrees with torch, the
face and VGG16 demos run when switched on."""

from __future__ import annotations

import json

import pytest

from engine.concepts.conv_shapes import ConvSpec, conv_shapes
from engine.concepts.quiz import QUESTIONS
from tests.pages.face_app import start_page

PAGE = "ui/pages/concepts.py"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """One app session for the module (the app starts in seconds; each test sets its widgets)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield start_page(PAGE, tmp_path_factory.mktemp("data"), monkeypatch)


def _answer(at, pick):
    """Answer every question with ``pick(question)`` (a list of choices) in one rerun."""
    for question in QUESTIONS:
        chosen = pick(question)
        if question.multiple:
            at.multiselect(key=f"quiz_{question.number}").set_value(chosen)
        else:
            at.radio(key=f"quiz_{question.number}").set_value(chosen[0])
    return at.run()


def _feedback(at) -> tuple[list[str], list[str]]:
    """The quiz's feedback: right answers (st.success) and wrong ones (st.error)."""
    right = [s.value for s in at.success if s.value.startswith("Correct.")]
    wrong = [e.value for e in at.error if e.value.startswith("Not quite")]
    return right, wrong


def _metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_page_opens_without_loading_models(page):
    assert not page.exception, page.exception
    assert page.title[0].value == "Concepts"
    assert _metric(page, "Score") == "0 / 10"
    assert _feedback(page) == ([], [])


def test_right_answers_get_correct_and_the_explanation(page):
    at = _answer(page, lambda q: q.answer)
    assert not at.exception, at.exception
    feedback, wrong = _feedback(at)
    assert len(feedback) == 10 and not wrong
    for question, text in zip(QUESTIONS, feedback, strict=True):
        assert text == f"Correct. {question.explanation}"
    assert _metric(at, "Score") == "10 / 10"
    assert any("30×30×30×32" in c.value and "nn.Conv3d" in c.value for c in at.caption)
    assert any("conv1_1 unit sees 3×3 pixels, a conv4_3 unit 92×92" in c.value for c in at.caption)


def test_wrong_answers_get_the_answer_and_the_explanation(page):
    def wrong(question):
        return [next(c for i, c in enumerate(question.choices) if i not in question.correct)]

    at = _answer(page, wrong)
    assert not at.exception, at.exception
    right, errors = _feedback(at)
    assert len(errors) == 10 and not right
    for question, text in zip(QUESTIONS, errors, strict=True):
        assert " + ".join(question.answer) in text and question.explanation in text
    assert _metric(at, "Score") == "0 / 10"


@pytest.mark.parametrize(
    ("dims", "settings"),
    [
        (1, {"size": 100, "kernel": 7, "stride": 3, "padding": 2, "dilation": 1}),
        (2, {"size": 28, "kernel": 5, "stride": 2, "padding": 1, "dilation": 2}),
        (3, {"size": 32, "kernel": 3, "stride": 1, "padding": 0, "dilation": 1}),
    ],
)
def test_calculator_shows_formula_and_torch_agreeing(page, dims, settings):
    page.radio(key="conv_dims").set_value(dims)
    page.number_input(key="conv_in_channels").set_value(16)
    page.number_input(key="conv_filters").set_value(32)
    for name, value in settings.items():
        page.number_input(key=f"conv_{name}").set_value(value)
    at = page.run()
    assert not at.exception, at.exception
    spec = ConvSpec.of(dims, in_channels=16, filters=32, **settings)
    expected = conv_shapes(spec).course_notation()
    assert _metric(at, "By the formula") == expected
    assert _metric(at, f"By torch nn.Conv{dims}d") == expected
    assert any(s.value.startswith("Formula and torch agree") for s in at.success)


def test_calculator_explains_an_impossible_layer(page):
    page.radio(key="conv_dims").set_value(2)
    for name, value in {"size": 4, "kernel": 9, "padding": 0, "dilation": 1}.items():
        page.number_input(key=f"conv_{name}").set_value(value)
    at = page.run()
    assert not at.exception, at.exception
    assert any("No output: the kernel reaches 9" in e.value for e in at.error)


def test_face_demos_and_question_4_on_real_embeddings(page):
    page.toggle(key="concepts_faces").set_value(True)
    at = _answer(page, lambda q: q.answer)
    assert not at.exception, at.exception
    verification = at.dataframe[0].value
    assert list(verification["verification"]) == ["same person", "different"]
    assert any("→ **Eileen Collins**" in m.value for m in at.markdown)
    candidates = next(d for d in at.dataframe if "candidate" in d.value.columns).value
    assert list(candidates["behaves"]) == ["yes", "no", "no", "no"]  # plain text, no emoji
    assert list(candidates["all embeddings equal"]) == [0.2, 0.2, 0.0, 0.0]


def test_gram_heatmap_of_a_real_layer(page):
    page.toggle(key="concepts_vgg").set_value(True)
    at = page.run()
    assert not at.exception, at.exception
    chart = next(c for c in at.get("plotly_chart") if "gram_heatmap" in c.proto.id)
    heatmap = json.loads(chart.proto.spec)["data"][0]
    assert heatmap["type"] == "heatmap"
    assert heatmap["z"]["shape"] == "64, 64"  # plotly's binary encoding of a (64, 64) array
    assert _metric(at, "J_content(C, C)") == "0"


def test_triplet_toy_follows_the_sliders(page):
    page.slider(key="toy_N_x").set_value(0.0)
    page.slider(key="toy_N_y").set_value(0.3)
    page.slider(key="toy_alpha").set_value(0.2)
    at = page.run()
    assert not at.exception, at.exception
    # A = (0, 0), P = (0.8, 0.3): d(A,P) = 0.73, d(A,N) = 0.09 → 0.73 − 0.09 + 0.2
    assert _metric(at, "‖f(A) − f(P)‖²") == "0.730"
    assert _metric(at, "‖f(A) − f(N)‖²") == "0.090"
    assert _metric(at, "Loss") == "0.840"
    assert any("A **hard** triplet" in m.value for m in at.markdown)
    assert any("With α = 0 its loss is 0.0" in m.value for m in at.markdown)


def test_the_links_to_the_network_pages_are_there(page) -> None:
    """The page links to the Neurons page when it ships (the pages moved to ui/pages: a wrong
    root hid every link)."""
    page.run()
    assert "neurons" in [element.proto.page for element in page.get("page_link")]
