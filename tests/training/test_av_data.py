"""Audio-visual samples and pseudo-fakes (training.av_data), on synthetic tracks in memory."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fakescope.errors import ConfigError
from fakescope.io.audio import AudioTrack
from fakescope.training.av_data import (
    AVDataset,
    AVDataSettings,
    AVSampleSpec,
    AVTrack,
    make_sample,
    track_starts,
)

SR = 16000


def synthetic_track(video_id: str, group: str, seconds: float = 6.0, seed: int = 0) -> AVTrack:
    """Crops at 5 FPS whose brightness follows a random 'speech' envelope, and that audio."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 5)
    times = np.arange(n) / 5.0
    env = rng.uniform(0, 1, n)
    crops = np.zeros((n, 16, 16, 3), np.uint8)
    crops[:, 8:] = (env * 255).astype(np.uint8)[:, None, None, None]
    t = np.arange(int(seconds * SR)) / SR
    samples = (np.repeat(env, SR // 5) * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    audio = AudioTrack(samples, SR, 0.0)
    return AVTrack(video_id, group, 0, crops, times, audio, track_starts(times, 15, 0.2))


@pytest.fixture
def tracks() -> list[AVTrack]:
    return [synthetic_track(f"v{i}", f"g{i % 3}", seed=i) for i in range(4)]


def test_track_starts_need_consecutive_crops() -> None:
    times = np.array([0, 0.2, 0.4, 0.6, 1.4, 1.6, 1.8, 2.0, 2.2])
    assert track_starts(times, 3, 0.2) == [0, 1, 4, 5, 6]
    assert track_starts(times, 10, 0.2) == []


def test_real_sample_is_aligned(tracks: list[AVTrack]) -> None:
    crops, audio, seg, label = make_sample(tracks, AVSampleSpec(0, 5, "real", 1), 3, 5)
    assert crops.shape == (3, 5, 16, 16, 3) and audio.shape == (3, SR)
    assert label == 0 and seg.tolist() == [0, 0, 0]
    t0 = tracks[0].times[5]
    np.testing.assert_array_equal(audio[1], tracks[0].audio.window(t0 + 1, t0 + 2))


def test_shift_moves_audio_by_the_drawn_offset(tracks: list[AVTrack]) -> None:
    spec = AVSampleSpec(0, 5, "shift", 3)
    _, audio, seg, label = make_sample(tracks, spec, 3, 5)
    assert label == 1 and seg.tolist() == [1, 1, 1]
    real = make_sample(tracks, AVSampleSpec(0, 5, "real", 3), 3, 5)[1]
    assert not np.allclose(audio, real)
    # the shifted audio is the track's own audio at t0 + d, 0.2 <= |d| <= 1.5
    offsets = _offsets(tracks[0], audio.ravel())
    t0 = tracks[0].times[5]
    assert len(offsets) == 1 and 0.2 - 1e-3 <= abs(offsets[0] - t0) <= 1.5 + 1e-3


def test_shift_rolls_when_the_clip_is_too_short() -> None:
    short = synthetic_track("s", "g", seconds=3.0)
    other = synthetic_track("o", "h", seconds=3.0, seed=5)
    _, audio, seg, _ = make_sample([short, other], AVSampleSpec(0, 0, "shift", 2), 3, 5)
    flat = short.audio.window(0, 3)
    doubled = AVTrack("d", "g", 0, short.crops, short.times,
                      AudioTrack(np.concatenate([flat, flat]), SR, 0.0), [])  # fmt: skip
    found = [round(k * SR) for k in _offsets(doubled, audio.ravel()) if k * SR < len(flat)]
    rolls = [min(k, len(flat) - k) for k in found]  # roll by -k == roll by len - k
    assert rolls and 0.2 * SR - 1 <= rolls[0] <= 1.5 * SR + 1 and seg.tolist() == [1, 1, 1]


def test_swap_uses_another_identity(tracks: list[AVTrack]) -> None:
    _, audio, seg, label = make_sample(tracks, AVSampleSpec(0, 5, "swap", 4), 3, 5)
    assert label == 1 and seg.tolist() == [1, 1, 1]
    own = tracks[0].audio.samples
    t0 = tracks[0].times[5]
    assert not np.allclose(audio.ravel(), own[round(t0 * SR) :][: 3 * SR])
    assert [tracks[j].group for j in _sources(tracks, audio.ravel())] != []
    assert all(tracks[j].group != tracks[0].group for j in _sources(tracks, audio.ravel()))


def _offsets(track: AVTrack, wave: np.ndarray) -> list[float]:
    """Times (s) where ``wave`` occurs verbatim in the track's audio."""
    from numpy.lib.stride_tricks import sliding_window_view

    heads = sliding_window_view(track.audio.samples, 64)
    return [
        k / SR
        for k in np.flatnonzero((heads == wave[:64]).all(1))
        if np.array_equal(track.audio.samples[k : k + len(wave)], wave)
    ]


def _sources(tracks: list[AVTrack], wave: np.ndarray) -> list[int]:
    """Tracks whose audio contains ``wave`` verbatim."""
    return [j for j, t in enumerate(tracks) if _offsets(t, wave)]


def test_replace_marks_one_segment(tracks: list[AVTrack]) -> None:
    spec = AVSampleSpec(1, 3, "replace", 9)
    _, audio, seg, label = make_sample(tracks, spec, 3, 5)
    real = make_sample(tracks, AVSampleSpec(1, 3, "real", 9), 3, 5)[1]
    changed = [k for k in range(3) if not np.array_equal(audio[k], real[k])]
    assert label == 1 and seg.sum() == 1 and changed == [int(np.argmax(seg))]


def test_dataset_draws_are_seeded_and_balanced(tracks: list[AVTrack]) -> None:
    settings = AVDataSettings(samples_per_epoch=400)
    kw: dict[str, Any] = {"segments": 3, "segment_frames": 5, "mean": (0.5,) * 3, "std": (0.5,) * 3}
    a = AVDataset(tracks, settings, train=True, seed=1, **kw)
    b = AVDataset(tracks, settings, train=True, seed=1, **kw)
    assert a.specs == b.specs
    a.epoch = 1
    assert a.specs != b.specs
    kinds = [a.kind(i) for i in range(len(a))]
    assert 0.4 < kinds.count("real") / len(kinds) < 0.6
    assert {"shift", "swap", "replace"} <= set(kinds)
    frames, audio, *_ = a[0]
    assert tuple(frames.shape) == (3, 5, 3, 16, 16) and tuple(audio.shape) == (3, SR)
    val = AVDataset(tracks, settings, train=False, **kw)
    assert len(val) == len(tracks) * settings.val_windows * 4
    assert sorted(set(val.video_ids()))[0].startswith("v0#")


def test_labelled_fakes_are_not_altered(tracks: list[AVTrack]) -> None:
    tracks[0].label = 1
    ds = AVDataset(
        tracks, AVDataSettings(fakes="labelled"), train=False,
        segments=3, segment_frames=5, mean=(0.5,) * 3, std=(0.5,) * 3,
    )  # fmt: skip
    assert {ds.kind(i) for i in range(len(ds))} == {"real"}
    assert {int(ds[i][3]) for i in range(len(ds))} == {0, 1}


def test_settings_validate() -> None:
    with pytest.raises(ConfigError, match="fakes"):
        AVDataSettings(fakes="some")
    with pytest.raises(ConfigError, match="kinds"):
        AVDataSettings(kinds={"dub": 1.0})
    with pytest.raises(ConfigError, match="unknown key"):
        AVDataSettings.from_dict({"bogus": 1})
    assert AVDataSettings.from_dict({"shift_range": [0.3, 1.0]}).shift_range == (0.3, 1.0)
