"""User text (people's names, notes, file names) shown as text, never as Markdown or HTML.

Streamlit renders Markdown in far more places than ``st.markdown``: titles, captions, every
``st.success``/``st.error``, widget labels, radio options, image captions, progress and spinner
text, buttons, tabs and expanders. Its Markdown is GitHub-flavoured plus LaTeX (``$…$``), colour
and other directives (``:red[…]``), and emoji / Material shortcodes (``:smile:``,
``:material/x:``). A name like ``![](https://tracker.example/p.png)`` would make every viewer's
browser fetch that URL; ``www.example.com`` alone becomes a link.

Backslash-escaping Markdown's characters is not enough: GFM's bare-URL links and the emoji
shortcodes are found by regular expressions run over the *parsed* text, after the escapes are
gone (``mdast-util-gfm-autolink-literal``, ``remark-emoji``). So :func:`md_literal` does both:

* it backslash-escapes (CommonMark allows ``\\`` before any ASCII punctuation) every character
  with a meaning inside a line — ``\\ ` * _ ~ [ ] ! < > & $ : | { } @`` — and those that mean
  something only at the start of a line (``# + - = >``, ``1.``, ``1)``) when the text starts
  with them. The rest (``. , ; ? ' " / % ( ) ^``) mean nothing to Markdown on one line and stay
  as they are, so "Eileen M. Collins" and "../evil.png" read the same in the Markdown source;
* it puts an invisible WORD JOINER (U+2060) where a pattern matched after parsing would start:
  after ``:`` (``http:``, ``:smile:``, ``:material/x:``), after ``@`` (e-mail addresses) and
  between ``www`` and ``.``. A ``:`` or ``@`` before a space or at the end starts nothing
  and, like an ``_`` inside a word (``zero_bytes.jpg``: never emphasis), is left as it is.
  The joiner is one of the zero-width characters ``store.names`` removes from names, so a
  copied name pastes back clean.

Line breaks become spaces: the literal is one line, to be embedded in one line of Markdown.

Where user text stands alone, :func:`show_plain` draws it with ``st.text`` (no Markdown at all).
Plotly renders a little HTML in trace names, titles and hover text (``<a href>``, ``<b>``,
``<br>``): :func:`plotly_literal` escapes it. :func:`download_name` makes a file name safe to
offer for download. Selectbox options (``format_func``) and dataframe cells are plain text in
Streamlit 1.67 and need nothing (checked in ``tests/security/test_markup_browser.py``).
"""

from __future__ import annotations

import html
import re
import unicodedata

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from store.names import BIDI_CONTROLS, ZERO_WIDTH

__all__ = ["download_name", "md_literal", "plotly_literal", "show_plain"]

WORD_JOINER = "\u2060"
_INLINE_MARKUP = frozenset("\\`*_~[]!<>&$:|{}@")
_LINE_START_MARKUP = re.compile(r"^(\s*)(?:([#+\-=])|(\d{1,9})([.)]))")
_WWW_DOT = re.compile(r"(?<=www)(?=\.)", re.IGNORECASE)
_UNSAFE_FILE_CHARACTERS = re.compile(r"[^\w.\- ]+")


def _displayable(text: object) -> str:
    """One line of the text as it should look: NFC, without the invisible and direction
    controls a stored name may still hold (rows written before ``store.names``), with line
    breaks and other control characters as spaces."""
    text = unicodedata.normalize("NFC", str(text))
    kept = []
    for c in text:
        if c in ZERO_WIDTH or c in BIDI_CONTROLS:
            continue
        kept.append(" " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") else c)
    return "".join(kept)


def _escape_line_start(match: re.Match[str]) -> str:
    """``# x`` → ``\\# x``; ``1. x`` → ``1\\. x``: a heading or list marker made plain."""
    space, marker, digits, delimiter = match.groups()
    return f"{space}\\{marker}" if marker else f"{space}{digits}\\{delimiter}"


def md_literal(text: object) -> str:
    """``text`` as a Markdown fragment that renders as exactly those characters: no link, image,
    emphasis, LaTeX, colour, emoji or HTML. For embedding user text in any Markdown string:
    ``st.success(f"Enrolled {md_literal(name)}.")``, widget labels, captions."""
    shown = _displayable(text)
    parts = []
    for i, c in enumerate(shown):
        before, after = shown[i - 1 : i], shown[i + 1 : i + 2]
        if c == "_" and before.isalnum() and after.isalnum():
            parts.append(c)  # snake_case: an underscore inside a word is never emphasis
        elif c in ":@" and (not after or after.isspace()):
            parts.append(c)  # "faces: all": nothing starts at a colon or @ before a space
        elif c in ":@":
            parts.append(f"\\{c}{WORD_JOINER}")
        elif c in _INLINE_MARKUP:
            parts.append(f"\\{c}")
        else:
            parts.append(c)
    escaped = _LINE_START_MARKUP.sub(_escape_line_start, "".join(parts))
    return _WWW_DOT.sub(WORD_JOINER, escaped)


def show_plain(text: object, container: DeltaGenerator | None = None) -> None:
    """User text on its own, drawn with ``st.text``: never parsed as Markdown."""
    (container or st).text(_displayable(text))


def plotly_literal(text: object) -> str:
    """``text`` for a plotly trace name, title, annotation or hover text: its HTML escaped, so
    ``<a href>``, ``<img>`` or ``<br>`` in a name shows as those characters."""
    return html.escape(_displayable(text), quote=True)


def download_name(text: object, suffix: str, fallback: str = "download") -> str:
    """A file name for ``st.download_button`` built from user text: letters, digits, ``.``,
    ``-``, ``_`` and spaces only, no leading dots, at most 100 characters, then ``suffix``."""
    stem = _UNSAFE_FILE_CHARACTERS.sub("-", _displayable(text)).strip(" .-")[:100].strip(" .-")
    return f"{stem or fallback}{suffix}"
