import shutil
import subprocess
from fractions import Fraction

import av
import numpy as np
import pytest

from fakescope.io import VideoReader, probe, read_frames
from tests.conftest import decode_all_rgb, write_video


def test_probe_reports_stream_facts(face_clip):
    info = probe(face_clip)
    assert (info.width, info.height) == (320, 240)
    assert info.codec == "h264"
    assert info.pix_fmt == "yuv420p"
    assert info.fps == pytest.approx(25.0)
    assert info.frame_count == 50 and info.frame_count_exact
    assert info.duration == pytest.approx(2.0, abs=0.05)
    assert info.rotation == 0
    assert info.has_audio is False
    assert info.size_bytes == face_clip.stat().st_size


def test_probe_estimates_frame_count_without_index(make_video):
    path = make_video("clip.webm", codec="libvpx-vp9", n_frames=20, width=128, height=96)
    info = probe(path)
    assert info.codec == "vp9"
    assert not info.frame_count_exact
    assert info.frame_count == pytest.approx(20, abs=1)


@pytest.mark.parametrize("spec", ["uniform:7", "uniform:32", "fps:3", "all", "segments:1:3"])
def test_sampled_frames_are_those_of_a_full_decode(face_clip, spec):
    reference = decode_all_rgb(face_clip)
    sample = read_frames(face_clip, spec)
    assert sample.frame_count == len(reference) == 50
    assert sample.frames, "no frame decoded"
    for frame in sample.frames:
        assert np.array_equal(frame.image, reference[frame.index]), f"frame {frame.index} differs"
    assert sample.warnings == []


def test_random_access_in_any_order_with_seeks(tmp_path):
    # many keyframes: reading late frames first forces seeks; results must still be exact
    path = write_video(tmp_path / "gop.mp4", n_frames=90, options={"g": "10", "bf": "3"})
    reference = decode_all_rgb(path)
    with VideoReader(path) as reader:
        assert len(reader.index.key_pts) == 9
        wanted = [85, 3, 47, 48, 11, 70]
        got = {f.index: f.image for f in reader.frames(wanted)}
    assert sorted(got) == sorted(wanted)
    for i, image in got.items():
        assert np.array_equal(image, reference[i])


def test_sampling_does_not_decode_skipped_gops(tmp_path, monkeypatch):
    path = write_video(tmp_path / "gop.mp4", n_frames=120, options={"g": "10", "bf": "0"})
    decoded = []
    original = av.packet.Packet.decode

    with VideoReader(path) as reader:
        reader.index  # noqa: B018 - build the index before counting
        real_decode_all = reader._decode_all

        def counting(wanted=None):
            for frame in real_decode_all(wanted):
                decoded.append(frame.pts)
                yield frame

        monkeypatch.setattr(reader, "_decode_all", counting)
        frames = list(reader.frames([5, 115]))
    assert [f.index for f in frames] == [5, 115]
    assert original is av.packet.Packet.decode
    # two GOPs of 10 frames at most (decoding stops at the wanted frame), not 120
    assert len(decoded) <= 20


def test_timestamps_follow_variable_frame_rate(tmp_path):
    tb = Fraction(1, 1000)
    pts = [0, 40, 80, 200, 240, 600, 640, 680, 1000, 1040]
    path = write_video(
        tmp_path / "vfr.mkv", n_frames=len(pts), pts=pts, time_base=tb, options={"bf": "0"}
    )
    with VideoReader(path) as reader:
        assert np.allclose(reader.timestamps(), np.array(pts) / 1000, atol=1e-3)
    sample = read_frames(path, "fps:2")  # targets 0, 0.5 s (-> 0.6), 1.0 s
    assert [f.index for f in sample.frames] == [0, 5, 8]
    reference = decode_all_rgb(path)
    for frame in sample.frames:
        assert np.array_equal(frame.image, reference[frame.index])


def test_rotation_metadata_is_applied(tmp_path):
    path = write_video(tmp_path / "rot.mp4", n_frames=5, width=320, height=240, rotation=90)
    info = probe(path)
    assert info.rotation == 90
    assert (info.width, info.height) == (320, 240)  # display size
    frame = read_frames(path, "uniform:1").frames[0]
    stored = decode_all_rgb(path)[frame.index]  # as stored: 320 rows x 240 columns
    assert stored.shape == (320, 240, 3)
    assert frame.image.shape == (240, 320, 3)
    # FFmpeg's display matrix rotates counter-clockwise, as np.rot90 does
    assert np.array_equal(frame.image, np.rot90(stored))
    if shutil.which("ffmpeg"):  # cross-check with the ffmpeg command's own autorotate
        raw = subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-i",
                str(path),
                "-frames:v",
                "1",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "gray",
                "-",
            ],
            capture_output=True,
            check=True,
        ).stdout
        gray = np.frombuffer(raw, np.uint8).reshape(240, 320)
        ours = read_frames(path, "all").frames[0].image.astype(float) @ [0.299, 0.587, 0.114]
        assert np.corrcoef(gray.ravel(), ours.ravel())[0, 1] > 0.95


def test_short_video_gives_every_frame(make_video):
    path = make_video("short.mp4", n_frames=9)
    sample = read_frames(path, "uniform:32")
    assert [f.index for f in sample.frames] == list(range(9))


@pytest.mark.parametrize(
    ("codec", "name", "pix_fmt"),
    [
        ("libx265", "clip.mp4", "yuv420p"),
        ("libvpx-vp9", "clip.webm", "yuv420p"),
        ("ffv1", "gray.mkv", "gray"),
    ],
)
def test_other_codecs_and_pixel_formats(make_video, codec, name, pix_fmt):
    if codec not in av.codecs_available:
        pytest.skip(f"PyAV here cannot encode {codec}")
    path = make_video(name, codec=codec, pix_fmt=pix_fmt, n_frames=12, width=160, height=120)
    sample = read_frames(path, "uniform:4")
    assert len(sample.frames) == 4
    assert sample.frames[0].image.shape == (120, 160, 3)
    reference = decode_all_rgb(path)
    for frame in sample.frames:
        assert np.array_equal(frame.image, reference[frame.index])
