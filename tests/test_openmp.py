"""Both entry points choose OpenMP's passive wait policy before torch loads, and keep an
operator's own choice."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("entry", ["app.py", "cli.py"])
def test_the_policy_is_set_before_anything_else_is_imported(entry):
    body = ast.parse((ROOT / entry).read_text()).body
    call = next(i for i, statement in enumerate(body) if _is_call(statement))
    imported_before = {
        statement.module if isinstance(statement, ast.ImportFrom) else statement.names[0].name
        for statement in body[:call]
        if isinstance(statement, ast.Import | ast.ImportFrom)
    }
    assert imported_before <= {"sys", "engine.openmp"}


def _is_call(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Call)
        and getattr(statement.value.func, "id", "") == "prefer_passive_waiting"
    )


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_the_cli_entry_sets_the_policy_unless_the_operator_chose_one(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    script = (
        "import os, runpy; runpy.run_path('cli.py', run_name='entry');"
        "import torch; print(os.environ['OMP_WAIT_POLICY'])"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == expected
