import json
from pathlib import Path

import pytest

from fakescope.cli.main import main
from tests.conftest import write_video


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "mine"
    for i in range(6):
        write_video(root / "real" / f"r{i}.mp4", n_frames=6, width=96, height=96, variant=i)
        write_video(
            root / "fake" / "gen" / f"f{i}.mp4", n_frames=6, width=96, height=96, variant=10 + i
        )
    (root / "fake" / "gen" / "f5.mp4").write_bytes(b"broken")
    return root


def test_index_split_stats_check_round(folder, tmp_path, capsys):
    manifest = tmp_path / "m.parquet"
    assert (
        main(
            [
                "datasets",
                "index",
                str(folder),
                "--dataset",
                "generic",
                "--out",
                str(manifest),
                "--probe",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["videos"] == 12 and out["real"] == 6 and out["unreadable"] == 1

    split = tmp_path / "s.csv"
    assert (
        main(
            [
                "datasets",
                "split",
                str(manifest),
                "--out",
                str(split),
                "--ratios",
                "0.5,0.25,0.25",
                "--json",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["datasets", "stats", str(split), "--out", str(tmp_path / "stats"), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["videos"] == 12 and {r["split"] for r in stats["balance"]} == {
        "train",
        "val",
        "test",
    }
    assert (tmp_path / "stats" / "counts.csv").is_file() and (
        tmp_path / "stats" / "media.csv"
    ).is_file()

    report = tmp_path / "check.json"
    code = main(["datasets", "check", str(split), "--out", str(report), "--workers", "2", "-q"])
    assert code == 1  # one broken file
    audit = json.loads(report.read_text())
    assert audit["readable"] == 11 and len(audit["broken"]) == 1
    assert audit["broken"][0]["path"].endswith("f5.mp4") and "f5.mp4" in audit["broken"][0]["error"]
    # the audit streamed to a log and resumes: a second run re-reads nothing
    log = report.with_suffix(".jsonl")
    assert len(log.read_text().splitlines()) == 12
    assert main(["datasets", "check", str(split), "--out", str(report), "-q"]) == 1
    assert len(log.read_text().splitlines()) == 12

    # a manifest is an input for extract
    assert main(["extract", str(split), "--out", str(tmp_path / "x"), "--frames", "2", "-q"]) == 1
    rows = json.loads((tmp_path / "x" / "summary.json").read_text())["videos"]
    assert len(rows) == 12 and sum(r["status"] == "failed" for r in rows) == 1


def test_index_reports_problems_and_usage_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert (
        main(
            [
                "datasets",
                "index",
                str(tmp_path / "empty"),
                "--dataset",
                "generic",
                "--out",
                str(tmp_path / "m.parquet"),
            ]
        )
        == 2
    )
    assert "no generic videos found" in capsys.readouterr().err
    assert (
        main(
            [
                "datasets",
                "index",
                str(tmp_path / "nope"),
                "--dataset",
                "generic",
                "--out",
                str(tmp_path / "m.parquet"),
            ]
        )
        == 2
    )
    assert "no such dataset folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["datasets", "index", str(tmp_path), "--dataset", "imagenet", "--out", "m.parquet"])
    assert exc.value.code == 2


def test_engine_ray_without_ray_says_how_to_install(monkeypatch, folder, tmp_path, capsys):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("no ray")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    code = main(["extract", str(folder / "real"), "--out", str(tmp_path / "o"), "--engine", "ray"])
    assert code == 2
    assert "pip install 'fakescope[ray]'" in capsys.readouterr().err


def test_index_a_partial_known_layout_is_an_error_naming_what_is_missing(tmp_path, capsys):
    root = tmp_path / "FaceForensics++_C23"
    for rel_path in ("Deepfakes/000_003.mp4", "Deepfakes/000 (1).mp4", "FaceSwap/003_000.mp4"):
        (root / rel_path).parent.mkdir(parents=True, exist_ok=True)
        (root / rel_path).write_bytes(b"")
    out = tmp_path / "m.parquet"
    assert main(["datasets", "index", str(root), "--dataset", "ffpp", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "indexes only partly" in err and "no original/ with videos" in err
    assert "1 file(s) in Deepfakes/ not named <target>_<source>.mp4" in err
    assert "Deepfakes/000 (1).mp4" in err and not out.exists()
