"""Each verb's --help shows its own examples, not another verb's."""

import pytest

from fakescope.cli.main import main


def _help(capsys: pytest.CaptureFixture[str], verb: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main([verb, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_calibrate_help_shows_calibrate_examples_only(capsys: pytest.CaptureFixture[str]) -> None:
    out = _help(capsys, "calibrate")
    examples = out[out.index("examples:") :]
    assert "fakescope calibrate --model" in examples
    assert "evaluate --model" not in out
    assert "fakescope compare" not in examples


def test_compare_help_shows_compare_examples_only(capsys: pytest.CaptureFixture[str]) -> None:
    out = _help(capsys, "compare")
    examples = out[out.index("examples:") :]
    assert "fakescope compare" in examples
    assert "evaluate --model" not in out and "calibrate --model" not in out


def test_evaluate_help_keeps_its_examples(capsys: pytest.CaptureFixture[str]) -> None:
    out = _help(capsys, "evaluate")
    examples = out[out.index("examples:") :]
    assert "fakescope evaluate --model" in examples
    assert "fakescope calibrate" not in examples and "fakescope compare" not in examples


@pytest.mark.parametrize("verb", ["evaluate", "calibrate", "compare"])
def test_every_example_parses(capsys: pytest.CaptureFixture[str], verb: str) -> None:
    from fakescope.cli.main import build_parser

    out = _help(capsys, verb)
    lines = [ln.split() for ln in out.splitlines() if ln.strip().startswith("fakescope ")]
    assert lines and all(words[1] == verb for words in lines)
    parser = build_parser()
    for words in lines:
        assert parser.parse_args(words[1:]).command == verb
