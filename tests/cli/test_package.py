"""The ``cli`` package itself: a lazy registry (``--help`` imports no command module, no torch),
one strict JSON writer for every ``--json``, and ``--data`` passed down, not put in the
environment."""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import cli
from cli.commands import COMMANDS, Command, CommandInfo
from cli.output import write_json

ROOT = Path(__file__).resolve().parents[2]


def _strict_loads(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_write_json_writes_non_finite_numbers_as_null() -> None:
    stream = io.StringIO()
    result = {"eer": math.nan, "d_prime": math.inf, "rows": [(1.5, -math.inf)], "ok": 0.25}
    write_json(result, stream)
    text = stream.getvalue()
    assert text.endswith("}\n") and text.count("\n") == 1
    assert _strict_loads(text) == {"eer": None, "d_prime": None, "rows": [[1.5, None]], "ok": 0.25}
    assert math.isnan(result["eer"])  # the caller's result is left as it was


class NotANumber(Command):
    """A command whose result holds NaN, as an evaluation with nothing to measure can."""

    def run(self, args: argparse.Namespace, context: Any) -> dict[str, Any]:
        return {"value": math.nan, "nested": {"values": [math.inf, 1.0]}}

    def show(self, result: dict[str, Any]) -> None:
        print(f"value {result['value']}")


def test_every_json_document_goes_through_the_strict_writer(monkeypatch, capsys) -> None:
    info = CommandInfo(__name__, NotANumber.__name__, "a result holding NaN")
    monkeypatch.setitem(COMMANDS, "not-a-number", info)
    assert cli.main(["not-a-number", "--json"]) == 0
    assert _strict_loads(capsys.readouterr().out) == {
        "value": None,
        "nested": {"values": [None, 1.0]},
    }
    assert cli.main(["not-a-number"]) == 0
    assert capsys.readouterr().out == "value nan\n"  # the text printer sees the result as is


def test_every_registered_command_loads() -> None:
    for name, info in COMMANDS.items():
        command = cli.load_command(name)
        assert isinstance(command, Command), name
        assert type(command).__module__ == info.module and info.summary, name


def _imports_after(*argv: str) -> set[str]:
    """The modules loaded after ``cli.main(argv)`` in a fresh interpreter."""
    code = (
        "import contextlib, io, json, sys\n"
        "import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    cli.main({list(argv)!r})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout))


def test_help_imports_no_command_module_and_no_torch() -> None:
    loaded = _imports_after("--help")
    assert "torch" not in loaded and "numpy" not in loaded
    assert not {info.module for info in COMMANDS.values()} & loaded


def test_a_command_imports_only_its_own_module() -> None:
    loaded = _imports_after("people", "--help")
    assert "cli.gallery" in loaded and "torch" not in loaded
    assert not {"cli.faces", "cli.style", "cli.train", "cli.neurons"} & loaded


def test_style_and_train_help_import_no_torch() -> None:
    """Their defaults and choices come from ``StyleOptions`` and ``TrainingOptions``, whose
    modules import no torch."""
    for command, module in (("stylize", "cli.style"), ("train", "cli.train")):
        loaded = _imports_after(command, "--help")
        assert module in loaded and "torch" not in loaded, command


def test_the_script_runs_the_package_from_any_folder(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: cli.py")
    for name in COMMANDS:
        assert f"    {name} " in done.stdout


def test_data_is_passed_down_not_put_in_the_environment(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("VISIONLAB_DATA", str(tmp_path / "from-environment"))
    data = tmp_path / "given"
    assert cli.main(["people", "--json", "--data", str(data)]) == 0
    assert json.loads(capsys.readouterr().out)["gallery"] == str(data / "gallery")
    assert os.environ["VISIONLAB_DATA"] == str(tmp_path / "from-environment")
    assert not (tmp_path / "from-environment").exists()


def test_a_command_that_needs_no_settings_ignores_a_bad_variable(monkeypatch, capsys) -> None:
    monkeypatch.setenv("VISIONLAB_MAX_PIXELS", "lots")
    monkeypatch.setattr(sys, "stdin", io.StringIO("secret\n"))
    assert cli.main(["hash-password", "--admin"]) == 0
    assert capsys.readouterr().out.startswith("# paste under [access]")
    assert cli.main(["people"]) == 1
    assert "VISIONLAB_MAX_PIXELS must be a number" in capsys.readouterr().err
