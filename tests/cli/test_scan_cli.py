"""`fakescope scan` and `fakescope.scan` with a small checkpoint built by the test."""

import json
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import numpy as np
import pytest

import fakescope
from fakescope.cli.main import main
from fakescope.models import ModelCard, create_model, save_checkpoint
from tests.conftest import write_video

SCHEMA = json.loads(
    (Path(fakescope.__file__).parent / "schemas" / "scan_result.schema.json").read_text()
)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    root = tmp_path_factory.mktemp("scan")
    torch.manual_seed(0)
    model = create_model("efficientnet_b0", pretrained="none", input_size=64).eval()
    save_checkpoint(
        root / "ckpt",
        model,
        ModelCard(name="tiny", model=model.config.to_dict(), frames_per_video=6, temperature=1.5),
    )
    return root / "ckpt"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("scanclips")
    write_video(d / "face.mp4", n_frames=20, width=200, height=200)
    write_video(d / "plain.mp4", n_frames=10, face=False)
    (d / "broken.mp4").write_bytes(b"not a video")
    return d


def test_python_api_result_follows_the_schema(ckpt, clips, tmp_path):
    result = fakescope.scan(str(clips / "face.mp4"), model=str(ckpt), cache=str(tmp_path))
    data = result.to_dict()
    jsonschema.validate(data, SCHEMA)
    assert data["status"] == "ok" and 0 < data["probability"] < 1
    assert data["verdict"] == ("fake" if data["probability"] >= 0.5 else "real")
    assert len(data["timeline"]) == 6 and data["tracks"][0]["frames"] == 6
    assert data["model"]["temperature"] == 1.5 and data["settings"]["sampling"] == "uniform:6"
    again = fakescope.scan(str(clips / "face.mp4"), model=str(ckpt), cache=str(tmp_path))
    assert again.timing["cached"] is True and again.probability == pytest.approx(result.probability)


def test_no_face_is_a_result_not_a_guess(ckpt, clips, tmp_path):
    data = fakescope.scan(str(clips / "plain.mp4"), model=str(ckpt), cache=str(tmp_path)).to_dict()
    jsonschema.validate(data, SCHEMA)
    assert data["status"] == "no_face" and data["probability"] is None and data["verdict"] is None
    assert "no face" in data["reason"]


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.h2: list[str] = []
        self.srcs: list[str] = []
        self.links: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "h2":
            self._in_h2 = True
        if tag in ("img", "script") and "src" in a:
            self.srcs.append(a["src"])
        if tag == "link":
            self.links.append(a.get("href", ""))

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2:
            self.h2.append(data)


def test_html_report_is_self_contained(ckpt, clips, tmp_path, capsys):
    report = tmp_path / "r.html"
    code = main(
        [
            "scan",
            str(clips / "face.mp4"),
            "--model",
            str(ckpt),
            "--report",
            str(report),
            "--cache",
            str(tmp_path / "c"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "probability of fake" in out and str(report) in out
    page = _Collect()
    page.feed(report.read_text())
    assert page.h2 == [
        "Timeline",
        "Most suspicious faces",
        "Faces (tracks)",
        "Video",
        "Model and settings",
    ]
    assert len(page.srcs) == 12  # 6 crops + 6 heatmaps
    assert all(s.startswith("data:image/png;base64,") for s in page.srcs)
    assert page.links == [] and "<svg" in report.read_text()


def test_batch_rows_exit_code_and_files(ckpt, clips, tmp_path, capsys):
    out = tmp_path / "batch"
    code = main(
        [
            "scan",
            str(clips),
            "--model",
            str(ckpt),
            "--out",
            str(out),
            "--reports",
            "--json",
            "--cache",
            str(tmp_path / "c"),
        ]
    )
    assert code == 1  # broken.mp4 failed; the others were scanned
    rows = json.loads(capsys.readouterr().out)
    status = {Path(r["path"]).name: r["status"] for r in rows}
    assert status == {"broken.mp4": "failed", "face.mp4": "ok", "plain.mp4": "no_face"}
    broken = next(r for r in rows if r["status"] == "failed")
    assert "broken.mp4" in broken["error"] and "\n" not in broken["error"]
    assert len((out / "results.jsonl").read_text().splitlines()) == 3
    assert (out / "results.csv").read_text().count("\n") == 4
    assert len(list((out / "reports").glob("*.html"))) == 3


def test_usage_errors(ckpt, clips, capsys):
    assert main(["scan", str(clips), "--model", str(ckpt), "--report", "x.html"]) == 2
    assert "--reports --out" in capsys.readouterr().err
    assert main(["scan", str(clips / "face.mp4"), "--model", "no/such/model"]) == 2
    assert "not a checkpoint" in capsys.readouterr().err


def test_scan_many_overlaps_stages_and_equals_one_by_one(ckpt, clips, tmp_path):
    from fakescope.inference.scan import Scanner

    paths = [str(clips / n) for n in ("face.mp4", "plain.mp4", "broken.mp4", "face.mp4")]
    one = Scanner(str(ckpt), cache=str(tmp_path / "a"))
    expected = [one(p).to_dict() for p in paths]
    many = Scanner(str(ckpt), cache=str(tmp_path / "b"))
    got = [r.to_dict() for r in many.scan_many(paths)]
    assert [r["path"] for r in got] == paths  # input order
    assert [r["status"] for r in got] == ["ok", "no_face", "failed", "ok"]
    assert got[0]["probability"] == pytest.approx(expected[0]["probability"])
    assert got[3]["timing"]["cached"] is True  # the second copy is served from the cache
    assert got[2]["error"] == expected[2]["error"]
    for r in got:
        jsonschema.validate(r, SCHEMA)


def test_cpu_scan_on_onnx_runtime_imports_nothing_heavy(tmp_path):
    # torch, scikit-learn and scipy.optimize cost seconds of start-up in a one-video command
    import subprocess
    import sys

    clip = write_video(tmp_path / "face.mp4", n_frames=8, width=200, height=200)
    code = (
        "import sys; from fakescope.cli.main import main; "
        f"rc = main(['scan', {str(clip)!r}, '--cache', {str(tmp_path / 'c')!r}, '--device', 'cpu', '-q']); "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert 'sklearn' not in sys.modules, 'sklearn imported'; "
        "assert 'scipy.optimize' not in sys.modules, 'scipy.optimize imported'; sys.exit(rc)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr


def test_still_images_are_scanned_and_a_gif_is_a_video(ckpt, tmp_path, capsys):
    import cv2
    from PIL import Image

    from tests.conftest import face_photo

    photo = face_photo()
    cv2.imwrite(str(tmp_path / "photo.jpg"), photo[:, :, ::-1])
    assert main(["scan", str(tmp_path / "photo.jpg"), "--model", str(ckpt), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    jsonschema.validate(result, SCHEMA)
    assert result["status"] == "ok" and 0.0 <= result["probability"] <= 1.0
    assert len(result["tracks"]) == 1 and result["tracks"][0]["frames"] == 1
    assert [t["frame_index"] for t in result["timeline"]] == [0]
    assert result["video"]["frame_count"] == 1
    api = fakescope.scan(str(tmp_path / "photo.jpg"), model=str(ckpt))  # the Python API too
    assert api.status == "ok" and api.probability == pytest.approx(result["probability"])

    frames = [Image.fromarray(np.roll(photo, 6 * i, axis=1)) for i in range(4)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=80)
    out = tmp_path / "batch"
    assert main(["scan", str(tmp_path), "--model", str(ckpt), "--out", str(out), "-q"]) == 0
    lines = (out / "results.jsonl").read_text().splitlines()
    rows = {Path(r["path"]).name: r for r in map(json.loads, lines)}
    assert set(rows) == {"photo.jpg", "anim.gif"}
    assert all(r["status"] == "ok" for r in rows.values())
    assert len(rows["anim.gif"]["timeline"]) == 4 and len(rows["photo.jpg"]["timeline"]) == 1


def test_frames_on_an_av_model_is_said_to_be_ignored(ckpt, clips, tmp_path, capsys):
    from fakescope.cli.scan import frames_ignored
    from fakescope.models.checkpoint import read_card

    av, frame = read_card("avsync"), read_card(ckpt)
    assert frames_ignored(frame, 8) is None and frames_ignored(av, None) is None
    args = ["scan", str(clips / "face.mp4"), "--model", "avsync", "--frames", "8"]
    main([*args, "--cache", str(tmp_path), "--json"])  # no audio track: exit code aside
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    jsonschema.validate(result, SCHEMA)
    note = "--frames 8 ignored: avsync is an audio-visual model and samples frames at its card's"
    assert any(w.startswith(note) for w in result["warnings"])
    assert f"WARNING: {note}" in captured.err  # logged once, on one line
    assert sum("--frames" in line for line in captured.err.splitlines()) == 1
