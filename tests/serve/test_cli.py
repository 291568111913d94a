"""``fakescope serve`` on bad input: one line on stderr, exit code 2, no server started."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakescope.cli.main import main
from fakescope.serve import ServeSettings
from fakescope.serve.guard import lock_data_folder


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fakescope serve: error:") and "\n" not in err
    return err


def test_bad_arguments_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "data")
    assert "no such file" in _error(capsys, ["--data", data, "--token-file", "nope.txt"])
    assert "--runs" in _error(capsys, ["--data", data, "--runs", str(tmp_path / "nope")])
    assert "workers" in _error(capsys, ["--data", data, "--workers", "-1"])
    empty = tmp_path / "empty-token"
    empty.write_text("\n")
    assert "empty" in _error(capsys, ["--data", data, "--token-file", str(empty)])
    assert "job store" in _error(capsys, ["--data", data, "--db", "nosuchdb://x/y"])


def test_a_second_server_on_one_data_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = ServeSettings(data=tmp_path / "data")
    settings.make_dirs()
    held = lock_data_folder(settings)  # as a running server holds it
    try:
        err = _error(capsys, ["--data", str(settings.data), "--port", "1"])
        assert "another fakescope serve" in err
    finally:
        held.close()


def test_every_example_of_the_help_parses() -> None:
    import shlex

    from fakescope.cli.main import build_parser
    from fakescope.cli.serve import EXAMPLES

    lines = [ln.split("#")[0].strip() for ln in EXAMPLES.splitlines()]
    commands = [ln for ln in lines if ln.startswith("fakescope serve")]
    assert len(commands) >= 4
    for line in commands:
        args = build_parser().parse_args(shlex.split(line)[1:])
        assert args.command == "serve", line
