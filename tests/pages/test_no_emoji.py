"""No emoji in the app's text, and page icons as Streamlit Material icons.

A machine without an emoji font (a stock Debian server's browser, many corporate desktops) draws
emoji as empty boxes: the page icons and the quiz's tick and cross showed as boxes. Streamlit
ships the Material Symbols font with the app, so ``:material/…:`` icons render everywhere.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PICTOGRAPH = re.compile(
    "["
    "\U0001f000-\U0001faff"  # emoticons, pictographs, transport, supplemental symbols
    "\u2600-\u27bf"  # miscellaneous symbols and dingbats (✅ ❌ ✔ ⚠ ☀ ➕)
    "\u2b00-\u2bff"  # arrows and symbols drawn as emoji (⬆ ⭐ ⭕)
    "\u231a\u231b\u23e9-\u23fa"  # watch, hourglass, media controls
    "\ufe0f"  # the variation selector that asks for emoji presentation
    "]"
)
MATERIAL_ICON = re.compile(r":material/[a-z0-9_]+:")

UI_FILES = sorted(
    str(path.relative_to(ROOT))
    for path in [ROOT / "app.py", *(ROOT / "ui").rglob("*.py"), ROOT / "engine/concepts/quiz.py"]
)


def test_the_scan_sees_the_pages_and_the_quiz():
    assert {"app.py", "ui/pages/home.py", "ui/pages/concepts.py", "engine/concepts/quiz.py"} <= set(
        UI_FILES
    )
    assert PICTOGRAPH.search("behaves: ✅") and PICTOGRAPH.search("🗂️")
    assert not PICTOGRAPH.search("‖f(A) − f(P)‖² · α ≤ ⌊30⌋ → Eileen Collins, 150×150")


@pytest.mark.parametrize("name", UI_FILES)
def test_no_emoji_in_app_text(name):
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    found = [
        f"{name}:{n}: {line.strip()}" for n, line in enumerate(lines, 1) if PICTOGRAPH.search(line)
    ]
    assert not found, "emoji draw as empty boxes without an emoji font:\n" + "\n".join(found)


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_page_icons_are_material_icons():
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    icons = {}
    for call in calls:
        function = ast.unparse(call.func)
        if function == "st.Page":
            icons[ast.literal_eval(_keyword(call, "title"))] = _keyword(call, "icon")
        elif function == "st.set_page_config":
            icons["(browser tab)"] = _keyword(call, "page_icon")
    assert len(icons) >= 12, icons  # every page, and the tab
    for title, icon in icons.items():
        assert icon is not None, f"{title} has no icon"
        assert MATERIAL_ICON.fullmatch(ast.literal_eval(icon)), f"{title}: {ast.unparse(icon)}"
