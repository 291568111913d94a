from fakescope.demo import main, make_demo_clip
from fakescope.io import probe


def test_demo_clip_is_a_real_video_with_a_face(tmp_path):
    path = make_demo_clip(tmp_path / "demo.mp4", seconds=1.0)
    info = probe(path)
    assert info.codec == "h264" and info.frame_count == 25


def test_demo_scans_the_clip_with_the_shipped_model(tmp_path, capsys):
    assert main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "probability of fake" in out and "report.html" in out
    page = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in page and "default" in page


def test_demo_scans_a_users_video(tmp_path, capsys):
    clip = make_demo_clip(tmp_path / "mine.mp4", seconds=1.0)
    assert main(["--video", str(clip), "--out", str(tmp_path / "o")]) == 0
    assert "mine.mp4" in capsys.readouterr().out
