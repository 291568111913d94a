import json

from fakescope.demo import main, make_demo_clip
from fakescope.io import probe


def test_demo_clip_is_a_real_video_with_a_face(tmp_path):
    path = make_demo_clip(tmp_path / "demo.mp4", seconds=1.0)
    info = probe(path)
    assert info.codec == "h264" and info.frame_count == 25


def test_demo_runs_end_to_end(tmp_path, capsys):
    assert main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "contact sheet" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    (row,) = summary["videos"]
    assert row["status"] == "ok" and row["frames_with_face"] == row["frames_sampled"] == 32
    assert list((tmp_path / "previews").glob("*.png"))
