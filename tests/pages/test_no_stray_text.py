"""A bare string in a page script is drawn on the page by Streamlit ("magic"): only the module
docstring may be one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PAGES = Path(__file__).resolve().parents[2] / "ui" / "pages"
RUN_AS_PAGES = sorted(
    p
    for p in PAGES.glob("*.py")
    if "st.title(" in p.read_text(encoding="utf-8")  # the page scripts, not their helpers
)


@pytest.mark.parametrize("page", RUN_AS_PAGES, ids=lambda p: p.name)
def test_no_bare_strings_at_the_top_level(page: Path) -> None:
    body = ast.parse(page.read_text(encoding="utf-8")).body
    stray = [
        node.lineno
        for node in body[1:]
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ]
    assert not stray, f"{page.name}: bare strings at lines {stray} would show on the page"
