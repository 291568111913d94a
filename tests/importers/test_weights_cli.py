"""`fakescope weights list` and its help."""

from __future__ import annotations

import json

import pytest

from fakescope.cli.main import main


def test_list_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["name", "architecture", "licence"]
    row = next(ln for ln in lines if ln.startswith("sbi_efficientnet_b4"))
    assert " yes " in row  # research only
    meso = next(ln for ln in lines if ln.startswith("mesonet4 "))
    assert "Apache-2.0" in meso and " no " in meso and "known" in meso
    assert main(["weights", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["deepfakebench_ucf"]["research_only"] is True
    assert rows["dfdc_winner_b7"]["licence"] == "MIT"
    assert rows["mesoinception4"]["checksum_known"] and not rows["dfdc_winner_b7"]["checksum_known"]
    assert all(set(r) >= {"name", "architecture", "source", "licence"} for r in rows.values())


@pytest.mark.parametrize("verb", [["weights"], ["weights", "list"], ["weights", "import"]])
def test_help_has_examples(capsys: pytest.CaptureFixture[str], verb: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*verb, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    examples = out[out.index("examples:") :]
    assert f"fakescope {' '.join(verb)}" in examples


def test_no_action_and_unknown_importer(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    assert main(["weights"]) == 2
    assert "name an action" in capsys.readouterr().err
    assert main(["weights", "import", "nope", str(tmp_path / "x"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no importer named 'nope'" in err and "\n" not in err
