"""User text is inert: names are normalised or refused by the store (``store.names``), pages
show names, notes and file names as literals (``ui.widgets.plain_text``), the CLI resolves
PERSON without letting a name stand for someone else, and a bad bulk folder is one skipped
item. Every assertion message names the hole it guards (see the hosting-security issue,
part 4: "User text is inert")."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from cli import main
from engine.enrollment import enroll_folder
from store import Gallery, InvalidName, NameTaken
from store.db import transaction
from store.gallery import DEFAULT_EMBEDDING_DIM, DEFAULT_MODEL_ID
from store.names import MAX_NAME_LENGTH, clean_name
from tests.pages.face_app import enroll_directly, png, start_page, upload
from ui.widgets import resources
from ui.widgets.plain_text import WORD_JOINER, download_name, md_literal, plotly_literal

REPO = Path(__file__).resolve().parents[2]
HEX_ID = "0123456789abcdef0123456789abcdef"

HOSTILE = {
    "image": "![pixel](https://tracker.example/p.png)",
    "link": "[click me](https://evil.example/x)",
    "html": '<img src="https://tracker.example/h.png"><a href="https://evil.example">a</a>',
    "latex": "$E=mc^2$ and $$x$$",
    "directives": ":red[alert] :smile: :material/home:",
    "url-only": "https://evil.example/login",
    "www": "www.evil.example",
    "email": "bob@evil.example",
    "emphasis": "**bold** _it_ ~~gone~~ `code`",
    "heading": "# Admin",
    "spoof": "Bob? Nothing is deleted. **Cancel is safe**",
}
"""Names the store keeps as typed (they are legal names) and every page must show literally."""

REFUSED = {
    "empty": "",
    "spaces": "   \t ",
    "zero-width only": "\u200b\u2060\ufeff",
    "201 characters": "x" * (MAX_NAME_LENGTH + 1),
    "10,000 characters": "y" * 10_000,
    "bidi override": "\u202eevil",
    "bidi isolate": "a\u2066b\u2069",
    "left-to-right mark": "Alice\u200e",
    "nul": "a\x00b",
    "terminal escape": "a\x1b[31mb",
    "soft hyphen": "Al\u00adice",
    "id-like": HEX_ID,
    "id-like upper case": HEX_ID.upper(),
    "id: prefix": f"id:{HEX_ID}",
}


@pytest.fixture
def gallery(tmp_path):
    with Gallery(tmp_path / "gallery") as g:
        yield g


# --- the store ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE.values(), ids=HOSTILE.keys())
def test_markup_in_a_name_is_kept_as_typed(gallery, name):
    person = gallery.add_person(name)
    assert person.name == name, "store: a legal name was altered on its way in"


@pytest.mark.parametrize("name", REFUSED.values(), ids=REFUSED.keys())
def test_bad_names_are_refused_with_a_sentence(gallery, name):
    with pytest.raises(InvalidName) as refused:
        gallery.add_person(name)
    message = str(refused.value)
    assert message.startswith("a person's name must"), "store: a refusal is not a sentence"
    assert len(message) < 200, "store: a refusal repeats a huge name"
    assert gallery.count_people() == 0, "store: a refused name was stored"


def test_names_that_look_alike_are_one_name(gallery):
    """Hole: "Alice" and "Al\\u200bice" were two people who look identical; "é" typed two ways
    too."""
    alice = gallery.add_person("Alice")
    with pytest.raises(NameTaken):
        gallery.add_person("Al\u200bice")
    with pytest.raises(NameTaken):
        gallery.add_person(" ALICE\ufeff ")
    assert gallery.find_person("al\u200bice") == alice, "store: zero-width name not matched"
    nfd = gallery.add_person("Rene\u0301e")
    assert nfd.name == "Renée", "store: a name is not stored in NFC"
    with pytest.raises(NameTaken):
        gallery.add_person("Renée")
    assert clean_name("  Ada \n Lovelace ") == "Ada Lovelace"


def test_a_name_cannot_be_another_persons_id(gallery):
    """Hole: a person renamed to another person's 32-hex id made delete, bulk enrol and the
    Enroll page's "existing person" act on that other person."""
    alice, bob = gallery.add_person("Alice"), gallery.add_person("Bob")
    for attempt in (lambda: gallery.rename(bob.id, alice.id), lambda: gallery.add_person(alice.id)):
        with pytest.raises(InvalidName, match="look like a person id"):
            attempt()
    assert gallery.get_person(bob.id).name == "Bob"
    assert gallery.count_people() == 2


# --- the helper --------------------------------------------------------------------------------


def _unescaped(literal: str) -> str:
    """The literal with its backslash escapes removed: what Markdown would treat as markup."""
    return re.sub(r"\\.", "", literal)


@pytest.mark.parametrize("name", HOSTILE.values(), ids=HOSTILE.keys())
def test_md_literal_leaves_no_markup(name):
    literal = md_literal(name)
    bare = _unescaped(literal)
    assert not set(re.sub(r"(?<=[^\W_])_(?=[^\W_])", "", bare)) & set("\\`*_~[]!<>&$|{}"), (
        f"md_literal left markup in {literal!r}"
    )
    assert not re.search(r"[:@](?=\S)", bare), f"a shortcode or address could start: {literal!r}"
    assert not re.match(r"\s*[#+\-=]", bare), "md_literal left a heading or list marker"
    lowered = literal.lower()
    assert "http:/" not in lowered and "https:/" not in lowered, "a URL could autolink"
    assert "www." not in lowered, "a www. address could autolink"
    assert not re.search(r"@\w", literal), "an e-mail address could autolink"
    assert not re.search(r":\w", literal), "an emoji or directive shortcode could render"
    assert literal.replace("\\", "").replace(WORD_JOINER, "") == name.replace("\\", "")


def test_plotly_and_download_literals():
    assert plotly_literal('<a href="https://evil.example">x</a><br>') == (
        "&lt;a href=&quot;https://evil.example&quot;&gt;x&lt;/a&gt;&lt;br&gt;"
    ), "plotly would render a link or a line break from a name"
    assert download_name("../../etc/passwd", ".csv") == "etc-passwd.csv"
    assert download_name("\u202e<>:*?", ".zip") == "download.zip"
    assert download_name("Ada Lovelace", ".zip") == "Ada Lovelace.zip"


# --- the pages (AppTest) -----------------------------------------------------------------------


def _rendered(at) -> list[str]:
    """Every text Streamlit renders as Markdown on this run: bodies and widget labels."""
    texts = [
        e.value
        for kind in ("title", "header", "subheader", "markdown", "caption")
        for e in getattr(at, kind)
    ]
    texts += [
        e.value for kind in ("success", "info", "warning", "error") for e in getattr(at, kind)
    ]
    labels = ("button", "selectbox", "text_input", "text_area", "radio", "checkbox", "metric")
    texts += [w.label for kind in labels for w in getattr(at, kind)]
    return texts


def _raw_in(at, name: str) -> list[str]:
    """Rendered texts holding ``name`` other than as a literal (at a line's start, or inside)."""
    literals = {md_literal(name), md_literal(f"x {name}")[2:]}
    found = []
    for text in _rendered(at):
        for literal in literals:
            text = text.replace(literal, "")
        if name in text:
            found.append(text)
    return found


def test_gallery_shows_hostile_names_literally(tmp_path, monkeypatch):
    """Hole: a name or note rendered as Markdown in Gallery (an image link fetched a tracking
    pixel, a link became clickable, LaTeX and :red[] rendered) and in the delete
    confirmation, whose text a name could reword."""
    at = start_page("ui/pages/gallery.py", tmp_path / "data", monkeypatch)
    people = {key: resources.gallery().add_person(name) for key, name in HOSTILE.items()}
    at.run()
    assert not at.exception, at.exception
    for key, person in people.items():
        at.selectbox(key="browse_person").set_value(person.id).run()
        assert not at.exception, at.exception
        shown = md_literal(person.name)
        assert f"{shown} has no faces of this model yet." in [c.value for c in at.caption], (
            f"Gallery: the {key} name is not shown as a literal"
        )
        assert not _raw_in(at, person.name), f"Gallery: the {key} name reaches Markdown raw"
        ask = at.button(key=f"ask_person_{person.id}")
        assert ask.label == md_literal(f"Delete {person.name}…"), f"delete button: {key} name"
        ask.click().run()
        question = at.warning[0].value
        assert question.startswith(md_literal(f"Delete {person.name}?")), (
            f"delete confirmation: the {key} name is not a literal: {question!r}"
        )
        assert not _raw_in(at, person.name), f"confirmation: the {key} name reaches Markdown"
        at.button(key=f"no_person_{person.id}").click().run()
    assert resources.gallery().count_people() == len(HOSTILE), "a cancelled delete deleted"


def test_recognize_shows_a_hostile_name_literally(tmp_path, monkeypatch, astronaut):
    """Hole: the recognised person's name rendered as Markdown in Recognize."""
    at = start_page("ui/pages/recognize.py", tmp_path / "data", monkeypatch)
    name = HOSTILE["image"]
    enroll_directly(name, astronaut, "astronaut")
    at.run()
    upload(at, "recognize", ("me.png", png(astronaut)))
    assert not at.exception, at.exception
    lines = [m.value for m in at.markdown if m.value.startswith("**Face ")]
    assert lines and lines[0].startswith(f"**Face 1: {md_literal(name)}**"), lines
    captions = [c for image in at.image for c in image.captions]
    assert any(c.startswith(md_literal(name)) for c in captions), captions
    assert not _raw_in(at, name) and not any(name in c for c in captions), (
        "Recognize: the name reaches Markdown raw (a tracking pixel for every viewer)"
    )


def test_enroll_page_refuses_bad_names_in_a_sentence(tmp_path, monkeypatch, astronaut):
    """Hole: a name over 200 characters crashed the Enroll page with a traceback showing
    server paths; a new name equal to someone's id enrolled the face into that person."""
    at = start_page("ui/pages/enroll.py", tmp_path / "data", monkeypatch)
    enroll_directly("Eileen Collins", astronaut, "first")
    eileen = resources.gallery().find_person("Eileen Collins")
    upload(at, "enroll", ("mirror.png", png(astronaut[:, ::-1])))
    for typed, reason in (
        (eileen.id, "look like a person id"),
        ("\u202eevil", "text-direction controls"),
        ("Al\x1bice", "control or invisible characters"),
    ):
        at.text_input(key="enroll_new_name").set_value(typed).run()
        next(b for b in at.button if b.label.startswith("Enrol ")).click().run()
        assert not at.exception, f"Enroll page crashed on a bad name: {at.exception}"
        errors = [e.value for e in at.error]
        assert errors and reason in errors[0], f"Enroll page: no plain refusal, got {errors}"
        assert str(REPO) not in errors[0] and "Traceback" not in errors[0]
    assert resources.gallery().get_person(eileen.id).face_count == 1, (
        "Enroll page: a name equal to an id enrolled the face into that person"
    )
    assert resources.gallery().count_people() == 1
    # The field takes at most 200 characters (the browser stops typing there; the store
    # refuses longer names whatever sends them): 10,000 is no crash.
    at.text_input(key="enroll_new_name").set_value("z" * 10_000).run()
    next(b for b in at.button if b.label.startswith("Enrol ")).click().run()
    assert not at.exception, f"Enroll page crashed on a 10,000-character name: {at.exception}"
    assert max(len(p.name) for p in resources.gallery().people()) <= MAX_NAME_LENGTH


# --- the CLI -----------------------------------------------------------------------------------


def _face(seed: int) -> object:
    from store import NewFace

    rng = np.random.default_rng(seed)
    return NewFace(
        embedding=rng.normal(0, 0.125, DEFAULT_EMBEDDING_DIM).astype(np.float32),
        chip=rng.integers(0, 256, (150, 150, 3), dtype=np.uint8),
        image_sha256=hashlib.sha256(str(seed).encode()).hexdigest(),
        box=(10.0, 10.0, 109.0, 109.0),
        landmarks=rng.uniform(0, 150, (5, 2)),
        score=1.0,
        model_id=DEFAULT_MODEL_ID,
    )


def _legacy_person(gallery: Gallery, person_id: str, name: str) -> None:
    """A row written before store.names (a raw name, its old key): only SQL can make one now."""
    with transaction(gallery) as db:
        db.execute(
            "INSERT INTO people(id, name, name_key, notes, created) VALUES (?, ?, ?, '', 'old')",
            (person_id, name, name.casefold()),
        )


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli_data(tmp_path, monkeypatch):
    monkeypatch.delenv("VISIONLAB_DATA", raising=False)
    data = tmp_path / "data"
    with Gallery(data / "gallery") as g:
        alice = g.enroll("Alice", _face(1)).person
        bob = g.enroll("Bob", _face(2)).person
        _legacy_person(g, "f" * 32, "Al\u200bice")  # looks like Alice
        _legacy_person(g, "e" * 32, bob.id)  # named like Bob's id
    return data, alice, bob


def test_cli_person_by_id_prefix_and_ambiguity(cli_data, capsys):
    """Hole: `delete NAME` took a name equal to another person's id as that id; look-alike
    names were silently one or the other."""
    data, alice, bob = cli_data
    common = ("--data", str(data))
    code, _, err = _cli(capsys, "delete", "Alice", *common)
    assert code == 1 and "could be 2 people" in err, "CLI: an ambiguous name was not refused"
    assert f"id:{alice.id}" in err and f"id:{'f' * 32}" in err, "CLI: ambiguity names no ids"
    code, _, err = _cli(capsys, "delete", bob.id, *common)
    assert code == 1 and f"id:{bob.id}" in err and f"id:{'e' * 32}" in err, (
        "CLI: a name equal to another person's id acted on one of them"
    )
    code, out, _ = _cli(capsys, "delete", f"id:{bob.id}", "--json", *common)
    assert code == 0 and json.loads(out)["deleted"]["id"] == bob.id, "CLI: id: did not resolve"
    code, out, _ = _cli(capsys, "rename", f"ID:{alice.id.upper()}", "Alicia", "--json", *common)
    assert code == 0 and json.loads(out)["person"]["name"] == "Alicia"
    code, _, err = _cli(capsys, "rename", "Alicia", "e" * 32, *common)
    assert code == 1 and "look like a person id" in err, "CLI: rename to an id was accepted"
    code, _, err = _cli(capsys, "merge", "Alicia", "id:nothex", *common)
    assert code == 1 and "is not a person id" in err
    code, _, err = _cli(capsys, "delete", "Nobody", *common)
    assert code == 1 and "no person named 'Nobody'" in err and "id:<id>" in err
    assert err.count("\n") == 1, "CLI: an error is more than one line"


# --- bulk enrolment ----------------------------------------------------------------------------


class _OneFacePipeline:
    """Every image holds one face (a random embedding): bulk enrolment without a model."""

    model_id = DEFAULT_MODEL_ID

    def analyze(self, data: bytes) -> list:
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(data).digest()[:4], "big"))
        box = SimpleNamespace(left=10.0, top=10.0, right=109.0, bottom=109.0)
        return [
            SimpleNamespace(
                embedding=rng.normal(0, 0.125, DEFAULT_EMBEDDING_DIM).astype(np.float32),
                chip=rng.integers(0, 256, (150, 150, 3), dtype=np.uint8),
                box=box,
                landmarks=rng.uniform(0, 150, (5, 2)),
                score=1.0,
            )
        ]


def test_a_bad_folder_name_is_one_skipped_item_and_the_job_goes_on(gallery, tmp_path):
    """Hole: a folder name over 200 characters, or named like an id, aborted a bulk job half
    way (a traceback in the CLI, not naming the folder); a folder named like someone's id
    enrolled into that person."""
    someone = gallery.add_person("Someone")
    folders = {
        "long": "n" * 300,
        "id-like": HEX_ID,
        "someone's id": someone.id,
        "bidi": "\u202eevil",
        "zero-width only": "\u200b\u200b",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i, folder in enumerate([*folders.values(), "Good_Person"]):
            pixels = np.full((8, 8, 3), i, np.uint8)
            image = io.BytesIO()
            Image.fromarray(pixels).save(image, format="PNG")
            archive.writestr(f"{folder}/{i}.png", image.getvalue())
    summary = enroll_folder(_OneFacePipeline(), gallery, buffer.getvalue())
    assert not summary.cancelled and summary.total == len(folders) + 1
    assert summary.enrolled == 1 and summary.people == ["Good Person"], (
        "bulk: the job did not go on past a bad folder name"
    )
    refused = [o for o in summary.outcomes if o.outcome == "bad_name"]
    assert len(refused) == len(folders), "bulk: a bad folder name was not a skipped item"
    for outcome in refused:
        assert outcome.reason.startswith("its folder's name is refused: a person's name must")
        assert len(outcome.reason) < 250 and str(tmp_path) not in outcome.reason
    assert gallery.get_person(someone.id).face_count == 0, (
        "bulk: a folder named like an id enrolled into that person"
    )
