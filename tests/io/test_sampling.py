import numpy as np
import pytest

from fakescope.errors import ConfigError
from fakescope.io import Sampling, parse_sampling


def ts(n: int, fps: float = 25.0) -> np.ndarray:
    return np.arange(n) / fps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("uniform:32", Sampling("uniform", 32)),
        ("32", Sampling("uniform", 32)),
        (8, Sampling("uniform", 8)),
        (None, Sampling("uniform", 32)),
        ("fps:5", Sampling("fps", 5)),
        ("FPS:2.5", Sampling("fps", 2.5)),
        ("segments:2", Sampling("segments", 2)),
        ("segments:2:16", Sampling("segments", 2, 16)),
        ("all", Sampling("all")),
    ],
)
def test_parse(text, expected):
    assert parse_sampling(text) == expected
    assert parse_sampling(str(expected)) == expected  # round trip through the canonical text


@pytest.mark.parametrize(
    "bad",
    ["uniform:0", "uniform:2.5", "fps:0", "fps:-1", "segments", "every:3", "uniform:x", "all:3"],
)
def test_parse_rejects(bad):
    with pytest.raises(ConfigError, match="sampling"):
        parse_sampling(bad)


def test_uniform_spreads_over_whole_video():
    idx, seg = parse_sampling("uniform:4").select(ts(100))
    assert idx.tolist() == [12, 37, 62, 87]
    assert seg.tolist() == [0, 0, 0, 0]


def test_uniform_short_video_takes_every_frame():
    idx, _ = parse_sampling("uniform:32").select(ts(10))
    assert idx.tolist() == list(range(10))


def test_uniform_empty():
    idx, seg = parse_sampling("uniform:32").select(np.zeros(0))
    assert len(idx) == 0 and len(seg) == 0


def test_fps_uses_timestamps_for_variable_rate():
    # 0-1 s at 30 fps, then 1-3 s at 10 fps
    t = np.concatenate([np.arange(30) / 30, 1 + np.arange(20) / 10])
    idx, _ = parse_sampling("fps:2").select(t)
    assert np.allclose(t[idx], [0, 0.5, 1.0, 1.5, 2.0, 2.5], atol=1e-6)


def test_segments_every_frame_with_segment_ids():
    idx, seg = parse_sampling("segments:1").select(ts(60, fps=20))
    assert idx.tolist() == list(range(60))
    assert seg.tolist() == [0] * 20 + [1] * 20 + [2] * 20


def test_segments_first_n_consecutive_frames():
    idx, seg = parse_sampling("segments:1:4").select(ts(60, fps=20))
    assert idx.tolist() == [0, 1, 2, 3, 20, 21, 22, 23, 40, 41, 42, 43]
    assert seg.tolist() == [0] * 4 + [1] * 4 + [2] * 4


def test_all():
    idx, _ = parse_sampling("all").select(ts(7))
    assert idx.tolist() == list(range(7))
