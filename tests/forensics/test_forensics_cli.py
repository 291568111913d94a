"""``fakescope forensics`` end to end on synthetic videos: outputs, cache, failures, usage."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from fakescope.cli.main import build_parser, main
from fakescope.forensics.signals import SIGNALS
from tests.conftest import write_video


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """real/ and fake/Swap/ folders (generic layout), one face-free and one broken fake."""
    root = tmp_path_factory.mktemp("forensics") / "clips"
    for i in range(2):
        write_video(root / "real" / f"r{i}.mp4", n_frames=20, variant=i)
        write_video(root / "fake" / "Swap" / f"f{i}.mp4", n_frames=20, variant=i + 3)
    write_video(root / "fake" / "Swap" / "noface.mp4", n_frames=8, face=False)
    (root / "fake" / "Swap" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"x" * 64)
    return root


@pytest.fixture(scope="module")
def first_run(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path, dict]:
    out = tmp_path_factory.mktemp("out") / "run"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(
            [
                "forensics",
                "--dataset",
                "generic",
                str(dataset),
                "--out",
                str(out),
                "--frames",
                "6",
                "--json",
            ]
        )
    return code, out, json.loads(buf.getvalue())


def test_writes_every_output_and_records_failures(first_run, dataset):
    code, out, result = first_run
    assert code == 1  # one video failed; the batch went on
    table = pd.read_csv(out / "signals.csv")
    parquet = pd.read_parquet(out / "signals.parquet")
    assert list(parquet["path"]) == list(table["path"])
    pd.testing.assert_frame_equal(parquet[list(SIGNALS)], table[list(SIGNALS)])
    assert {"path", "label", "method", *SIGNALS, "status", "error"} <= set(table.columns)
    assert len(table) == 6
    by_path = table.set_index("path")
    assert by_path.loc["fake/Swap/broken.mp4", "status"] == "failed"
    assert by_path.loc["fake/Swap/broken.mp4", "error"].startswith("fake/Swap/broken.mp4: ")
    assert by_path.loc["fake/Swap/noface.mp4", "status"] == "no_face"
    ok = table[table["status"] == "ok"]
    assert len(ok) == 4 and ok[list(SIGNALS)].notna().all().all()
    assert set(ok["label"]) == {0, 1} and set(ok["method"]) == {"original", "Swap"}
    stats = json.loads((out / "stats.json").read_text())
    assert stats["counts"] == {"ok": 4, "no_face": 1, "failed": 1}
    (group,) = stats["groups"]
    (method,) = group["methods"]
    assert method["method"] == "Swap" and [t["signal"] for t in method["tests"]] == list(SIGNALS)
    assert all(t["verdict"] in ("SEPARATES", "FAILS") for t in method["tests"])
    assert result["groups"] == stats["groups"]
    assert "## Answer" in (out / "stats.md").read_text()
    assert (out / "boxplots.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("signals.csv", "stats.json", "stats.md"):  # nothing of this machine's paths
        assert str(dataset) not in (out / name).read_text()


def test_a_rerun_reads_the_signals_from_the_cache(first_run, dataset, capsys):
    _code, out, result = first_run
    assert result["from_cache"] == 0
    assert (
        main(
            [
                "forensics",
                "--dataset",
                "generic",
                str(dataset),
                "--out",
                str(out),
                "--frames",
                "6",
                "--json",
            ]
        )
        == 1
    )
    again = json.loads(capsys.readouterr().out)
    assert again["from_cache"] == 4
    assert again["groups"] == result["groups"]


def test_a_manifest_is_an_input(first_run, dataset, tmp_path, capsys):
    from fakescope.datasets import index_dataset, write_manifest

    table, _, root = index_dataset(dataset, "generic")
    manifest = write_manifest(
        table[~table["path"].str.contains("broken")], tmp_path / "m.parquet", root
    )
    _, out, _ = first_run
    code = main(
        [
            "forensics",
            str(manifest),
            "--out",
            str(tmp_path / "o"),
            "--cache",
            str(out / "cache"),
            "--frames",
            "6",
            "-q",
        ]
    )
    assert code == 0 and capsys.readouterr().out == ""
    assert len(pd.read_csv(tmp_path / "o" / "signals.csv")) == 5


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--out", "o"], "give a MANIFEST or --dataset"),
        (["m.parquet", "--dataset", "generic", ".", "--out", "o"], "give a MANIFEST or --dataset"),
        (["missing.parquet", "--out", "o"], "no such manifest"),
        (["--dataset", "generic", "nowhere/", "--out", "o"], "no such dataset folder"),
        (["m.parquet", "--out", "o", "--frames", "1"], "--frames must be >= 2"),
        (["m.parquet", "--out", "o", "--run", "0"], "--run must be within 1..16"),
    ],
)
def test_bad_input_is_one_line(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["forensics", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and err.startswith("fakescope forensics: error:")


def test_help_examples_parse(capsys):
    with pytest.raises(SystemExit):
        main(["forensics", "--help"])
    out = capsys.readouterr().out
    examples = [ln.split() for ln in out.splitlines() if ln.strip().startswith("fakescope ")]
    assert len(examples) >= 3
    parser = build_parser()
    for words in examples:
        assert words[1] == "forensics"
        assert parser.parse_args(words[1:]).command == "forensics"


@pytest.mark.slow
def test_ray_engine_gives_the_local_numbers(first_run, dataset, tmp_path):
    pytest.importorskip("ray")
    import ray

    _, out, _ = first_run
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=str(Path("/tmp") / f"fsray{tmp_path.name[-6:]}"),
    )
    try:
        code = main(
            [
                "forensics",
                "--dataset",
                "generic",
                str(dataset),
                "--out",
                str(tmp_path / "ray"),
                "--engine",
                "ray",
                "--workers",
                "2",
                "--frames",
                "6",
                "-q",
            ]
        )
    finally:
        ray.shutdown()
    assert code == 1
    local = pd.read_csv(out / "signals.csv")
    remote = pd.read_csv(tmp_path / "ray" / "signals.csv")
    pd.testing.assert_frame_equal(local, remote)


@pytest.mark.integration
def test_signals_on_sample_videos(samples, tmp_path):
    """Real FF++ c40 clips (720p, H.264 CRF 40): every signal is defined and the runs of
    consecutive frames are complete."""
    from fakescope.datasets import index_dataset, write_manifest

    table, _, root = index_dataset(samples / "FaceForensics++", "ffpp")
    pick = table[
        table["path"].isin(
            [
                "original_sequences/youtube/c40/videos/183.mp4",
                "manipulated_sequences/Deepfakes/c40/videos/183_253.mp4",
            ]
        )
    ]
    manifest = write_manifest(pick, tmp_path / "m.parquet", root)
    out = tmp_path / "out"
    assert main(["forensics", str(manifest), "--out", str(out), "--frames", "8", "-q"]) == 0
    rows = pd.read_csv(out / "signals.csv")
    assert list(rows["status"]) == ["ok", "ok"]
    assert rows[list(SIGNALS)].notna().all().all()
    assert list(rows["flow_pairs"]) == [16, 16]
    assert str(samples) not in (out / "signals.csv").read_text()


def test_an_empty_manifest_is_a_usage_error(tmp_path, capsys):
    from fakescope.datasets import COLUMNS, write_manifest

    manifest = write_manifest(pd.DataFrame(columns=COLUMNS), tmp_path / "e.parquet", tmp_path)
    assert main(["forensics", str(manifest), "--out", str(tmp_path / "o")]) == 2
    assert "lists no videos" in capsys.readouterr().err
