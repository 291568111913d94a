"""Perturbations for the robustness table: parsing, JPEG crops, H.264 re-encoding."""

from fractions import Fraction

import numpy as np
import pytest

from fakescope.errors import ConfigError, MissingFileError, NotAVideoError
from fakescope.evaluation.robustness import (
    DEFAULT_PERTURBATIONS,
    jpeg_crops,
    parse_perturbation,
    parse_perturbations,
    perturbed_video,
    reencode_video,
)
from fakescope.io import VideoReader, probe, read_frames
from tests.conftest import face_photo, write_video


def _timestamps(path):
    with VideoReader(path) as reader:
        return reader.timestamps()


def test_parse_perturbations():
    p = parse_perturbation("jpeg:75")
    assert (p.kind, p.quality, p.label) == ("crop", 75, "JPEG quality 75 (face crops)")
    p = parse_perturbation("h264:32:veryfast")
    assert (p.kind, p.crf, p.preset, p.short_side) == ("video", 32, "veryfast", 0)
    p = parse_perturbation("resize:480")
    assert (p.crf, p.short_side, p.label) == (18, 480, "downscaled to 480p (H.264 CRF 18)")
    assert [p.name for p in parse_perturbations("default")] == list(DEFAULT_PERTURBATIONS)
    assert [p.name for p in parse_perturbations("jpeg:50,jpeg:50,h264:23")] == [
        "jpeg:50",
        "h264:23",
    ]
    assert len(parse_perturbations("default,jpeg:10")) == len(DEFAULT_PERTURBATIONS) + 1


@pytest.mark.parametrize(
    "spec",
    ["jpeg:0", "jpeg:101", "jpeg:x", "h264:52", "h264:23:warp", "resize:480:99", "blur:3", "jpeg"],
)
def test_bad_perturbations_name_the_spec(spec):
    with pytest.raises(ConfigError, match=spec.split(":")[0]):
        parse_perturbation(spec)


def test_jpeg_crops_lose_more_at_lower_quality():
    crops = np.stack([face_photo()[100:356, 100:356], face_photo()[:256, :256]])
    errors = []
    for q in (100, 75, 30):
        out = jpeg_crops(crops, q)
        assert out.shape == crops.shape and out.dtype == np.uint8
        errors.append(np.abs(out.astype(int) - crops).mean())
    assert 0 < errors[0] < errors[1] < errors[2]
    # colour order is kept (a BGR/RGB swap would move the channel means apart)
    assert np.allclose(
        jpeg_crops(crops, 100).mean(axis=(0, 1, 2)), crops.mean(axis=(0, 1, 2)), atol=2
    )


def test_reencode_keeps_frames_timestamps_and_shrinks_with_crf(tmp_path):
    src = write_video(tmp_path / "src.mp4", n_frames=30, width=320, height=240, pix_fmt="yuv444p")
    lo = reencode_video(src, tmp_path / "lo.mp4", 18)
    hi = reencode_video(src, tmp_path / "hi.mp4", 45)
    a, b, c = probe(src), probe(lo), probe(hi)
    assert b.frame_count == c.frame_count == a.frame_count == 30
    assert (b.width, b.height, b.pix_fmt, b.codec) == (320, 240, "yuv420p", "h264")
    assert c.size_bytes < b.size_bytes
    assert np.allclose(_timestamps(lo), _timestamps(src))
    assert not list(tmp_path.glob(".*tmp*"))  # written to a temp file, then renamed


def test_resize_never_upscales_and_keeps_even_sizes(tmp_path):
    src = write_video(tmp_path / "src.mp4", n_frames=5, width=322, height=242)
    small = probe(reencode_video(src, tmp_path / "s.mp4", 23, short_side=120))
    assert (small.width, small.height) == (160, 120)  # 322 x 242 scaled to 120 rows, even
    same = probe(reencode_video(src, tmp_path / "same.mp4", 23, short_side=480))
    assert (same.width, same.height) == (322, 242)


def test_reencode_keeps_rotation_and_variable_frame_rate(tmp_path):
    rot = write_video(tmp_path / "rot.mp4", n_frames=5, width=320, height=240, rotation=90)
    out = probe(reencode_video(rot, tmp_path / "rot2.mp4", 23))
    assert (out.rotation, out.width, out.height) == (90, 320, 240)
    assert read_frames(tmp_path / "rot2.mp4", "uniform:1").frames[0].image.shape == (240, 320, 3)
    pts = [0, 1, 2, 5, 6, 10, 11, 12]
    tb = Fraction(1, 25)
    vfr = write_video(
        tmp_path / "vfr.mkv", n_frames=len(pts), pts=pts, time_base=tb, options={"bf": "0"}
    )
    again = reencode_video(vfr, tmp_path / "vfr2.mp4", 23)
    assert np.allclose(_timestamps(again), np.array(pts) / 25)


def test_reencode_of_a_broken_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(NotAVideoError, match=r"bad\.mp4: not a video file"):
        reencode_video(bad, tmp_path / "out.mp4", 23)
    with pytest.raises(MissingFileError, match=r"gone\.mp4"):
        reencode_video(tmp_path / "gone.mp4", tmp_path / "out.mp4", 23)
    assert not (tmp_path / "out.mp4").exists()
    assert not list(tmp_path.glob(".*tmp*"))


def test_perturbed_copies_are_made_once_per_content(tmp_path):
    src = write_video(tmp_path / "a.mp4", n_frames=5, width=160, height=120)
    twin = tmp_path / "b.mp4"
    twin.write_bytes(src.read_bytes())
    p = parse_perturbation("h264:40")
    first = perturbed_video(str(src), p, tmp_path / "work")
    mtime = first.stat().st_mtime_ns
    assert perturbed_video(str(twin), p, tmp_path / "work") == first  # same bytes, same copy
    assert first.stat().st_mtime_ns == mtime and first.parent.name == "h264-40"
