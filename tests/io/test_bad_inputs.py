"""The bad-input corpus: every file gets its documented result, never a traceback."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from fakescope import errors
from fakescope.cli.main import main
from fakescope.io import probe, read_frames
from tests.conftest import write_video


def _truncate(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=16000)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(
                (0.1 * np.sin(np.arange(1024) / 8)).astype(np.float32)[None],
                format="fltp",
                layout="mono",
            )
            frame.sample_rate = 16000
            frame.pts = i * 1024
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return path


def _unknown_codec(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    assert data.count(b"avc1") >= 1
    dst.write_bytes(data.replace(b"avc1", b"zzz9"))
    return dst


# name -> (expected exception from the library or None, expected extract status)
EXPECTED: dict[str, tuple[type[Exception] | None, str]] = {
    "empty.mp4": (errors.EmptyFileError, "failed"),
    "random.mp4": (errors.NotAVideoError, "failed"),
    "notes.txt": (errors.NotAVideoError, "failed"),
    "photo.png": (None, "ok"),  # a still image is a one-frame video
    "damaged.png": (errors.CorruptVideoError, "failed"),
    "missing.mp4": (errors.MissingFileError, "failed"),
    "truncated_faststart.mp4": (None, "ok"),
    "truncated_moov_at_end.mp4": (errors.CorruptVideoError, "failed"),
    "truncated.mkv": (None, "ok"),
    "audio_only.m4a": (errors.NoVideoStreamError, "failed"),
    "unknown_codec.mp4": (errors.UnsupportedCodecError, "failed"),
    "no_face.mp4": (None, "no_face"),
    "rotated90.mp4": (None, "ok"),
    "vfr.mkv": (None, "ok"),
    "short10.mp4": (None, "ok"),
    "uhd4k.mp4": (None, "ok"),
    "grayscale.mkv": (None, "ok"),
    "hevc.mp4": (None, "ok"),
    "vp9.webm": (None, "ok"),
}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(0)
    (d / "empty.mp4").write_bytes(b"")
    (d / "random.mp4").write_bytes(rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    (d / "notes.txt").write_text("this is not a video\n" * 100)
    import cv2

    from tests.conftest import face_photo

    cv2.imwrite(str(d / "photo.png"), face_photo()[:, :, ::-1])
    _truncate(d / "photo.png", d / "damaged.png", 0.2)
    src_fast = write_video(
        d / "src_fast.mov", n_frames=60, container_options={"movflags": "faststart"}
    )
    src_plain = write_video(d / "src_plain.mov", n_frames=60)
    src_mkv = write_video(d / "src.mkv.tmp.mkv", n_frames=60)
    _truncate(src_fast, d / "truncated_faststart.mp4")
    _truncate(src_plain, d / "truncated_moov_at_end.mp4")
    _truncate(src_mkv, d / "truncated.mkv")
    for p in (src_fast, src_plain, src_mkv):
        p.unlink()
    _audio_only(d / "audio_only.m4a")
    clean = write_video(d / "clean.tmp.mp4", n_frames=10)
    _unknown_codec(clean, d / "unknown_codec.mp4")
    clean.unlink()
    write_video(d / "no_face.mp4", n_frames=20, face=False)
    write_video(d / "rotated90.mp4", n_frames=20, rotation=90)
    tb = Fraction(1, 1000)
    pts = np.cumsum([0] + [40, 40, 120, 40, 400, 40, 40, 200, 40] * 3)[:25]
    write_video(d / "vfr.mkv", n_frames=len(pts), pts=pts, time_base=tb, options={"bf": "0"})
    write_video(d / "short10.mp4", n_frames=10)
    write_video(
        d / "uhd4k.mp4", n_frames=4, width=3840, height=2160, options={"preset": "ultrafast"}
    )
    write_video(d / "grayscale.mkv", n_frames=12, codec="ffv1", pix_fmt="gray")
    if "libx265" in av.codecs_available:
        write_video(
            d / "hevc.mp4", n_frames=12, codec="libx265", options={"x265-params": "log-level=error"}
        )
    if "libvpx-vp9" in av.codecs_available:
        write_video(d / "vp9.webm", n_frames=12, codec="libvpx-vp9")
    return d


def _path(corpus: Path, name: str) -> Path:
    path = corpus / name
    if not path.exists() and name != "missing.mp4":
        pytest.skip(f"{name}: this PyAV cannot encode it")
    return path


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_library_result(corpus, name):
    path = _path(corpus, name)
    exc_type, _ = EXPECTED[name]
    if exc_type is not None:
        with pytest.raises(exc_type) as info:
            read_frames(path)
        message = str(info.value)
        assert "\n" not in message and str(path) in message
        assert isinstance(info.value, errors.InputError)
        return
    sample = read_frames(path)
    assert sample.frames
    if name.startswith("truncated"):
        assert sample.warnings, "a truncated file must warn"
        assert len(sample.frames) < 60
    if name == "short10.mp4":
        assert len(sample.frames) == 10


def test_probe_of_truncated_file_reports_full_length(corpus):
    info = probe(corpus / "truncated_faststart.mp4")
    assert info.frame_count == 60 and info.frame_count_exact


@pytest.fixture(scope="session")
def extract_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict, Path]:
    out = tmp_path_factory.mktemp("extract_bad")
    names = sorted(n for n in EXPECTED if (corpus / n).exists() or n == "missing.mp4")
    code = main(["extract", *[str(corpus / n) for n in names], "--out", str(out), "-q"])
    summary = json.loads((out / "summary.json").read_text())
    return code, summary, corpus


def test_extract_batch_goes_on_and_exit_code_says_failure(extract_run):
    code, summary, _corpus = extract_run
    assert code == 1
    by_name = {Path(v["path"]).name: v for v in summary["videos"]}
    for name, (_, status) in EXPECTED.items():
        if name not in by_name:
            continue
        row = by_name[name]
        assert row["status"] == status, (name, row)
        if status == "failed":
            assert row["error"] and "\n" not in row["error"] and name in row["error"]
            assert "Traceback" not in row["error"]
        else:
            assert row["error"] is None
            assert row["frames_sampled"] > 0


def test_extract_statuses_carry_counts(extract_run):
    _, summary, _ = extract_run
    by_name = {Path(v["path"]).name: v for v in summary["videos"]}
    assert by_name["no_face.mp4"]["frames_with_face"] == 0 and by_name["no_face.mp4"]["tracks"] == 0
    assert by_name["short10.mp4"]["frames_sampled"] == 10
    for name in ("rotated90.mp4", "uhd4k.mp4", "grayscale.mkv", "vfr.mkv"):
        row = by_name[name]
        assert row["frames_with_face"] >= 0.9 * row["frames_sampled"], (name, row)
    assert by_name["truncated_faststart.mp4"]["warnings"]
