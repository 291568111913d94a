"""avsync's fixed sync features (models.avsync_features) and the network around them, on
synthetic talking heads: a mouth patch that changes as much as the sound is loud."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fakescope.models import create_model, get_config
from fakescope.models.avsync_features import (
    AUDIO_FEATURES,
    VIDEO_FEATURES,
    audio_sync_features,
    lk_flow,
    ncc_profiles,
    segment_weights,
    video_sync_features,
)

SR = 16000


def talking_clip(
    seconds: float, fps: int = 10, size: int = 64, seed: int = 0, lag_frames: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(crops (T, size, size, 3) uint8, audio (T * SR / fps,) float32): a grey face whose mouth
    patch jumps to a new brightness every frame, and a 600-Hz tone whose loudness around frame
    t is how far the mouth moved into frame t - ``lag_frames`` (the sound ``lag_frames`` late)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * fps)
    bright = rng.uniform(0.1, 0.9, n)
    move = np.abs(np.diff(bright, prepend=bright[0]))  # how much the mouth moves into frame t
    crops = np.full((n, size, size, 3), 128, np.uint8)
    crops[:, round(0.3 * size) : round(0.45 * size)] = 90  # eyes, still
    y0, y1, x0, x1 = (round(f * size) for f in (0.62, 0.82, 0.36, 0.64))
    crops[:, y0:y1, x0:x1] = (bright * 255).astype(np.uint8)[:, None, None, None]
    loud = np.roll(move, lag_frames)
    per = SR // fps
    env = np.repeat(loud, per)
    env = np.roll(env, -per // 2)  # frame t's loudness centred on its time t / fps
    t = np.arange(len(env)) / SR
    wave = (0.05 + env) * np.sin(2 * np.pi * 600 * t) + 0.001 * rng.standard_normal(len(env))
    return crops, wave.astype(np.float32)


def frames_tensor(crops: np.ndarray, segments: int, fps: int) -> torch.Tensor:
    x = (crops.astype(np.float32) / 255.0 - 0.5) / 0.5
    t = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, -3)))
    return t.reshape(1, segments, fps, *t.shape[1:])


def test_lk_flow_recovers_a_translation() -> None:
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(1, 1, 68, 68, generator=g)
    img = torch.nn.functional.avg_pool2d(noise, 5, 1)  # smooth texture, 64 x 64
    moved = torch.roll(img, shifts=(0, 1), dims=(2, 3))  # content one pixel to the right
    flow = lk_flow(img, moved)
    inner = flow[0, :, 10:-10, 10:-10]
    assert float(inner[0].median()) == pytest.approx(1.0, abs=0.15)
    assert float(inner[1].median()) == pytest.approx(0.0, abs=0.15)
    still = lk_flow(img, img)
    assert float(still.abs().max()) < 1e-4


def test_video_features_follow_the_mouth_not_the_head() -> None:
    crops, _ = talking_clip(3.0)
    grey = torch.from_numpy(crops[..., 0].astype(np.float32) / 255.0)[None]
    v = video_sync_features(grey)
    assert v.shape == (1, 30, len(VIDEO_FEATURES))
    bright = crops[:, 50, 32, 0].astype(np.float32) / 255.0
    move = np.abs(np.diff(bright, prepend=bright[0]))
    diff = v[0, 1:, VIDEO_FEATURES.index("diff_mouth")].numpy()
    assert np.corrcoef(diff, move[1:])[0, 1] > 0.99
    assert torch.equal(v[0, 0], v[0, 1])  # the first crop copies the second
    # a still face answers ~0 everywhere
    still = video_sync_features(grey[:, :1].repeat(1, 5, 1, 1))
    assert float(still.abs().max()) < 1e-3


def test_audio_features_find_a_burst_at_its_frame() -> None:
    wave = np.zeros(3 * SR, np.float32)
    t = np.arange(SR // 10) / SR
    start = 17 * SR // 10 - SR // 20  # frame 17 (1.7 s) +- 50 ms
    wave[start : start + len(t)] = 0.5 * np.sin(2 * np.pi * 1000 * t)
    a = audio_sync_features(torch.from_numpy(wave)[None], 30)
    assert a.shape == (1, 30, len(AUDIO_FEATURES))
    speech = a[0, :, AUDIO_FEATURES.index("speech")]
    assert int(speech.argmax()) == 17
    onset = a[0, :, AUDIO_FEATURES.index("onset")]
    assert int(onset.argmax()) in (16, 17)


def test_ncc_profiles_and_segment_weights() -> None:
    g = torch.Generator().manual_seed(3)
    v = torch.randn(2, 40, 1, generator=g)
    a = torch.roll(v, 4, dims=1)  # a_{t+4} = v_t: the sound 4 frames late
    prof = ncc_profiles(v, a, 6)
    assert prof.shape == (2, 1, 1, 1, 13)
    assert (prof[:, 0, 0, 0].argmax(-1) == 6 + 4).all()
    assert float(prof[:, 0, 0, 0, 10].min()) > 0.99
    const = ncc_profiles(v, torch.ones_like(v), 2)
    assert float(const.abs().max()) < 1e-3  # a constant feature correlates with nothing
    w = segment_weights(3, 10, 5.0)
    assert w.shape == (3, 30) and [int(r.argmax()) for r in w] in ([4, 14, 24], [5, 15, 25])
    local = ncc_profiles(v[:, :30], a[:, :30], 2, w)
    assert local.shape == (2, 3, 1, 1, 5)


@pytest.mark.parametrize("lag", [-3, 0, 2, 5])
def test_lag_profile_of_a_talking_clip_peaks_at_the_true_shift(lag: int) -> None:
    """The lips and the sound of a synthetic clip: the whole pipeline (crops and waveform in)
    peaks where the sound really is, for the mouth's grey change against the speech band."""
    model = create_model("avsync")
    crops, wave = talking_clip(3.0, seed=7, lag_frames=lag)
    frames = frames_tensor(crops, 3, 10)
    audio = torch.from_numpy(wave).reshape(1, 3, SR)
    with torch.no_grad():
        out = model(frames, audio)
    assert out.extras is not None
    prof = out.extras["profile"][0]  # (Cv, Ca, 2K+1)
    pair = prof[VIDEO_FEATURES.index("diff_mouth"), AUDIO_FEATURES.index("speech")]
    assert int(pair.argmax()) - model.max_lag == lag
    assert float(pair.max()) > 0.8


def test_cached_track_features_match_the_sample_path() -> None:
    """Training's precomputed per-track features (av.cache_video_features) are what the
    network computes inside a sample (but for the sample's first crop, which copies its
    second), so forward_features == forward."""
    model = create_model(get_config("avsync", input_size=64)).eval()
    crops, wave = talking_clip(5.0, seed=2)
    track = model.track_video_features(crops, chunk=16)  # chunk edges inside the track
    assert track.shape == (50, len(VIDEO_FEATURES))
    start = 13
    sample = crops[start : start + 30]
    frames = frames_tensor(sample, 3, 10)
    inside = model.video_features(frames)[0].numpy()
    np.testing.assert_allclose(inside[1:], track[start + 1 : start + 30], atol=1e-4)
    cached = track[start : start + 30].copy()
    cached[0] = cached[1]
    audio = torch.from_numpy(wave[start * 1600 : (start + 30) * 1600]).reshape(1, 3, SR)
    with torch.no_grad():
        a = model(frames, audio)
        b = model.forward_features(torch.from_numpy(cached).reshape(1, 3, 10, -1), audio)
    torch.testing.assert_close(a.segment_logits, b.segment_logits, atol=1e-4, rtol=1e-4)
