import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fakescope.cli.main import main
from tests.conftest import write_video


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    write_video(root / "a.mp4", n_frames=12)
    write_video(root / "sub" / "deeper" / "B.MP4", n_frames=12, variant=1)  # upper-case extension
    write_video(root / "sub" / "plain.MOV", n_frames=12, face=False)
    (root / "sub" / "readme.txt").write_text("not a video")
    return root


def run_cli(*args: str) -> tuple[int, dict]:
    code = main(["extract", *args])
    out = Path(args[args.index("--out") + 1])
    summary = (
        json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    )
    return code, summary


def test_folder_is_searched_recursively_case_insensitive(tree, tmp_path):
    code, summary = run_cli(str(tree), "--out", str(tmp_path), "--frames", "4", "-q")
    assert code == 0
    names = sorted(Path(v["path"]).name for v in summary["videos"])
    assert names == ["B.MP4", "a.mp4", "plain.MOV"]  # readme.txt is not a video name
    status = {Path(v["path"]).name: v["status"] for v in summary["videos"]}
    assert status == {"a.mp4": "ok", "B.MP4": "ok", "plain.MOV": "no_face"}
    for row in summary["videos"]:
        assert set(row) >= {
            "path",
            "status",
            "error",
            "frames_sampled",
            "frames_with_face",
            "tracks",
            "seconds",
            "cached",
        }
        assert row["frames_sampled"] == 4 and row["cached"] is False


def test_second_run_is_served_from_the_cache(tree, tmp_path, capsys):
    run_cli(str(tree / "a.mp4"), "--out", str(tmp_path), "--frames", "4", "-q")
    code = main(["extract", str(tree / "a.mp4"), "--out", str(tmp_path), "--frames", "4", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["videos"][0]["cached"] is True


def test_csv_input_with_relative_paths_and_a_missing_file(tree, tmp_path):
    csv = tree / "list.csv"
    csv.write_text("path,label\na.mp4,real\nsub/deeper/B.MP4,fake\nnot_there.mp4,real\n")
    code, summary = run_cli(str(csv), "--out", str(tmp_path), "--frames", "4", "-q")
    assert code == 1  # one input failed, the others were processed
    rows = {Path(v["path"]).name: v for v in summary["videos"]}
    assert rows["a.mp4"]["status"] == "ok" and rows["B.MP4"]["status"] == "ok"
    assert rows["not_there.mp4"]["status"] == "failed"
    assert rows["not_there.mp4"]["error"].endswith("no such file")


def test_preview_writes_a_contact_sheet(tree, tmp_path):
    import cv2

    code, summary = run_cli(
        str(tree / "a.mp4"), "--out", str(tmp_path), "--frames", "6", "--preview", "-q"
    )
    assert code == 0
    png = Path(summary["videos"][0]["preview"])
    image = cv2.imread(str(png))
    assert image is not None and image.shape[0] > 100 and image.shape[1] > 500


def test_workers_give_the_same_result(tree, tmp_path):
    _, one = run_cli(
        str(tree),
        "--out",
        str(tmp_path / "1"),
        "--frames",
        "4",
        "-q",
        "--cache",
        str(tmp_path / "c1"),
    )
    _, two = run_cli(
        str(tree),
        "--out",
        str(tmp_path / "2"),
        "--frames",
        "4",
        "-q",
        "--workers",
        "2",
        "--cache",
        str(tmp_path / "c2"),
    )

    def strip(s):
        return [
            (v["path"], v["status"], v["frames_with_face"], v["tracks"], v["cache_key"])
            for v in s["videos"]
        ]

    assert strip(one) == strip(two)
    metas = [json.loads(p.read_text()) for p in sorted((tmp_path / "c1").glob("v1/*/*/meta.json"))]
    metas2 = [json.loads(p.read_text()) for p in sorted((tmp_path / "c2").glob("v1/*/*/meta.json"))]
    assert [m["tracks"] for m in metas] == [m["tracks"] for m in metas2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frames", "0"], "--frames must be >= 1"),
        (["--sampling", "every:2"], "sampling"),
        (["--detector", "nope"], "unknown face detector"),
        (["--margin", "9"], "crop.margin"),
        (["--detector-opt", "novalue"], "KEY=VALUE"),
    ],
)
def test_usage_errors_exit_2_with_one_line(tree, tmp_path, capsys, args, message):
    code = main(["extract", str(tree / "a.mp4"), "--out", str(tmp_path), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1


def test_folder_without_videos_and_csv_without_path(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["extract", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "no video files found" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("file,label\nx.mp4,1\n")
    assert main(["extract", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "'path' column" in capsys.readouterr().err


def test_console_script_help_and_argparse_usage_error():
    exe = shutil.which("fakescope") or str(Path(sys.executable).with_name("fakescope"))
    help_text = subprocess.run(
        [exe, "extract", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "examples:" in help_text and "uniform:N" in help_text
    bad = subprocess.run([exe, "extract"], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage:" in bad.stderr
    top = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert top.stdout.startswith("fakescope ")


def test_import_does_no_heavy_work():
    code = "import sys, fakescope; print(sorted(m for m in ('torch', 'cv2', 'av', 'timm') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
