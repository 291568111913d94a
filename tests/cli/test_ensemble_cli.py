"""`fakescope ensemble build`, then `scan` and `evaluate` with the ensemble like any detector."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

import fakescope
from fakescope.cli.main import build_parser, main
from tests.models.ensemble_members import build_manifest_file, build_members

SCHEMA = json.loads(
    (Path(fakescope.__file__).parent / "schemas" / "scan_result.schema.json").read_text()
)


@pytest.fixture(scope="module")
def ens(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("enscli")
    members = build_members(root)
    manifest = build_manifest_file(root)
    return {"root": root, "members": members, "manifest": manifest}


@pytest.fixture(scope="module")
def built(ens: dict) -> Path:
    root = ens["root"]
    args = ["ensemble", "build", *map(str, ens["members"].values()), "--manifest",
            str(ens["manifest"]), "--out", str(root / "ens"), "--cache", str(root / "cache"),
            "--name", "cli-ens", "-q"]  # fmt: skip
    assert main(args) == 0
    return root / "ens"


def _help(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*words, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_help_teaches_with_examples_that_parse(capsys: pytest.CaptureFixture[str]) -> None:
    for words in (("ensemble",), ("ensemble", "build")):
        out = _help(capsys, *words)
        examples = out[out.index("examples:") :]
        lines = [ln.split() for ln in examples.splitlines() if ln.strip().startswith("fakescope ")]
        assert lines and all(w[1:3] == ["ensemble", "build"] for w in lines)
        for w in lines:
            assert build_parser().parse_args(w[1:]).run.__name__ == "run_build"
        assert "left out" in out and "docs/ensemble.md" in out


def test_build_json_summary(ens: dict, built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["ensemble", "build", str(ens["members"]["frame"]), str(ens["members"]["longclip"]),
            "--manifest", str(ens["manifest"]), "--out", str(ens["root"] / "ens2"),
            "--cache", str(ens["root"] / "cache"), "--member-names", "a,b", "--json"]  # fmt: skip
    assert main(args) == 0
    s = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in s["members"]] == ["a", "b"]
    assert s["answered"] == {"a": 8, "b": 6} and s["videos"] == 8
    assert (ens["root"] / "ens2" / "members" / "b" / "card.json").is_file()


def test_build_errors_are_one_line(ens: dict, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ensemble", "build", str(ens["root"] / "nowhere"), "--manifest",
                 str(ens["manifest"]), "--out", str(ens["root"] / "bad")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "nowhere" in err
    assert main(["ensemble"]) == 2  # no action: usage


def test_scan_reports_members_in_json_and_html(
    built: Path, ens: dict, tmp_path: Path, capsys
) -> None:
    root = ens["root"]
    video = root / "data" / "fake" / "v5.mp4"  # 3 frames: longclip cannot score it
    report = tmp_path / "r.html"
    code = main(["scan", str(video), "--model", str(built), "--cache", str(root / "cache"),
                 "--json", "--report", str(report)])  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    data = data[0] if isinstance(data, list) else data
    jsonschema.validate(data, SCHEMA)
    assert data["status"] == "ok" and data["model"]["family"] == "ensemble"
    members = {m["name"]: m for m in data["members"]}
    assert members["frame"]["answered"] and members["clip"]["answered"]
    assert not members["longclip"]["answered"] and "at least 4" in members["longclip"]["reason"]
    page = report.read_text()
    assert "Ensemble members" in page and "2 of 3 members answered" in page
    assert re.search(r"data-member='longclip' data-answered='false'", page)
    assert re.search(r"data-member='frame' data-answered='true'", page)
    strongest = max(
        (m for m in data["members"] if m["answered"]), key=lambda m: abs(m["contribution"])
    )
    assert f"Strongest member: {strongest['name']} ({strongest['family']})" in page


def test_python_api_and_evaluate(built: Path, ens: dict, tmp_path: Path, capsys) -> None:
    root = ens["root"]
    result = fakescope.scan(str(root / "data" / "real" / "v0.mp4"), model=str(built),
                            cache=str(root / "cache"))  # fmt: skip
    assert result.status == "ok" and all(m["answered"] for m in result.members)
    assert result.verdict == ("fake" if result.probability >= result.threshold else "real")
    code = main(["evaluate", "--model", str(built), "--manifest", str(ens["manifest"]),
                 "--split", "test", "--out", str(tmp_path / "eval"), "--cache",
                 str(root / "cache"), "--bootstrap", "20", "--json"])  # fmt: skip
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["videos"]["scored"] == 2


@pytest.mark.integration
def test_scan_a_real_sample_video(built: Path, samples: Path, tmp_path: Path) -> None:
    video = next(iter(sorted((samples / "FaceForensics++").rglob("*.mp4"))))
    result = fakescope.scan(str(video), model=str(built), cache=str(tmp_path))
    data = result.to_dict()
    jsonschema.validate(data, SCHEMA)
    assert data["status"] == "ok" and 0 <= data["probability"] <= 1
    assert [m["name"] for m in data["members"]] == ["frame", "clip", "longclip"]
    assert all(m["answered"] for m in data["members"])  # 6 sampled frames, one face track


def test_calibrate_writes_an_ensemble_with_its_members(
    built: Path, ens: dict, tmp_path: Path, capsys
) -> None:
    from fakescope.models import load_detector

    out = tmp_path / "calibrated"
    code = main(["calibrate", "--model", str(built), "--manifest", str(ens["manifest"]),
                 "--split", "val", "--out", str(out), "--cache", str(ens["root"] / "cache"),
                 "--json"])  # fmt: skip
    assert code == 0
    fit = json.loads(capsys.readouterr().out)
    assert fit["units"] == 8
    det = load_detector(out)
    assert det.family == "ensemble" and det.card.calibration == fit["calibration"]
    assert [m.name for m in det.members] == ["frame", "clip", "longclip"]
