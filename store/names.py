"""People's names: the one normalisation every name goes through on its way into the gallery
(``Gallery.add_person``, ``rename``, ``enroll``, ``import_zip``, a bulk folder's name).

A name is a label people read, so two names that *look* the same must *be* the same, and no
name may pass for something else:

* Unicode NFC, so "é" typed as one code point or as "e" + accent is one name;
* zero-width characters (U+200B–U+200D, U+2060, U+FEFF) are **removed**: they are invisible and
  usually arrive by accident (pasted from a web page), and "Al\\u200bice" would otherwise be a
  second person who looks exactly like "Alice";
* bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C) are
  **refused**: they reorder what is shown ("Trojan Source"), so removing them silently would
  store a different name from the one the user saw. Hebrew and Arabic names display correctly
  without them (the Unicode bidi algorithm orders them);
* line breaks, tabs and runs of spaces become one space; other control and format characters
  (Unicode Cc, Cf, Cs — a terminal escape, a soft hyphen, a lone surrogate) are refused;
* 1 to ``MAX_NAME_LENGTH`` characters after trimming;
* a name that reads as a person id (32 hex digits, or ``id:`` and 32 hex digits) is refused:
  ``Gallery.enroll`` and ``cli.py`` take ids where they take names, so such a name could act
  on another person (today's or a future one).

Matching ignores case (``name_key``), as it always has.
"""

from __future__ import annotations

import re
import unicodedata

from store.errors import InvalidName

__all__ = ["MAX_NAME_LENGTH", "InvalidName", "clean_name", "looks_like_id", "name_key"]

MAX_NAME_LENGTH = 200

ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")
BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)
_ID_LIKE = re.compile(r"(?:id:\s*)?[0-9a-f]{32}", re.IGNORECASE)


def looks_like_id(text: str) -> bool:
    """True for 32 hex digits (a person or face id), bare or as ``id:…``."""
    return bool(_ID_LIKE.fullmatch(text.strip()))


def _visible(text: str) -> str:
    """NFC, zero-width characters removed, whitespace runs as one space, trimmed."""
    text = unicodedata.normalize("NFC", str(text))
    text = "".join(c for c in text if c not in ZERO_WIDTH)
    return " ".join(text.split())


def clean_name(name: str) -> str:
    """The name as stored, or ``InvalidName`` with a sentence saying what is wrong.

    The message never repeats the name: it may be 10,000 characters, or built to mislead."""
    cleaned = _visible(name)
    if not cleaned:
        raise InvalidName("a person's name must not be empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidName(
            f"a person's name must be at most {MAX_NAME_LENGTH} characters (this one has "
            f"{len(cleaned):,})"
        )
    if any(c in BIDI_CONTROLS for c in cleaned):
        raise InvalidName(
            "a person's name must not contain text-direction controls (they change the order "
            "in which it is shown)"
        )
    bad = sorted(
        {f"U+{ord(c):04X}" for c in cleaned if unicodedata.category(c) in ("Cc", "Cf", "Cs")}
    )
    if bad:
        raise InvalidName(
            "a person's name must not contain control or invisible characters "
            f"({', '.join(bad[:5])})"
        )
    if looks_like_id(cleaned):
        raise InvalidName(
            "a person's name must not look like a person id (32 hex digits): commands that take "
            "an id would act on someone else"
        )
    return cleaned


def name_key(name: str) -> str:
    """What two names must share to be the same person's: ``clean_name``'s form, ignoring case
    (never raises: it also looks up names typed with invisible characters)."""
    return _visible(name).casefold()
