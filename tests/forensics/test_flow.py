"""Seed 003's optical flow: Farneback between consecutive frames, flow images, the per-pair
motion anomaly and the flow cache (computed once, resumed after a kill)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from fakescope.cache import CacheEntry
from fakescope.errors import ConfigError
from fakescope.forensics import flow as flow_mod
from fakescope.forensics.flow import (
    FARNEBACK,
    FlowSettings,
    decode_flow_image,
    entry_flow,
    farneback_flow,
    flow_image,
    run_flows,
)
from fakescope.forensics.signals import ForensicSettings, flow_boundary

S = 96


def texture(seed: int = 0, size: int = S + 40) -> np.ndarray:
    """A smooth random RGB texture (Farneback needs texture to see motion)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (size, size, 3)).astype(np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2.0)


def shifted_run(dx: int, dy: int, frames: int = 3, seed: int = 0) -> np.ndarray:
    """``frames`` S x S views of one texture, each moved by (dx, dy) pixels from the last."""
    tex = texture(seed)
    views = [
        tex[20 - k * dy : 20 - k * dy + S, 20 - k * dx : 20 - k * dx + S] for k in range(frames)
    ]
    return np.stack(views)


def test_seed003_farneback_parameters():
    assert FARNEBACK == (0.5, 3, 15, 3, 5, 1.2, 0)
    assert FlowSettings().farneback == FARNEBACK
    assert ForensicSettings().farneback == FARNEBACK  # the flow signal uses the same call


@pytest.mark.parametrize(("dx", "dy"), [(2, 0), (0, -3), (2, 1)])
def test_flow_of_a_moving_pattern_has_its_direction_and_magnitude(dx, dy):
    run = shifted_run(dx, dy)
    flows = run_flows(run)
    assert len(flows) == 2  # R frames -> R - 1 pairs
    inner = (slice(16, S - 16), slice(16, S - 16))
    for flow in flows:
        assert np.median(flow[inner][..., 0]) == pytest.approx(dx, abs=0.25)
        assert np.median(flow[inner][..., 1]) == pytest.approx(dy, abs=0.25)
    image = flow_image(flows[0])
    assert image.shape == (S, S, 3) and image.dtype == np.uint8
    rel, angle = decode_flow_image(image)
    assert rel.max() == pytest.approx(1.0) and rel.min() == 0.0  # min-max per pair (seed 003)
    want = np.arctan2(dy, dx)
    got = np.angle(np.exp(1j * angle[inner])).ravel()
    assert np.abs(np.angle(np.exp(1j * (got - want)))).mean() < 0.1
    # a still pair: (almost) no flow; an exactly zero flow has no direction
    gray = cv2.cvtColor(run[0], cv2.COLOR_RGB2GRAY)
    assert np.abs(farneback_flow(gray, gray)).max() < 0.05
    assert (flow_image(np.zeros((8, 8, 2), np.float32))[..., 1:] == 128).all()


def _entry(root: Path, runs: list[np.ndarray], box: list[float], fps: float = 25.0) -> CacheEntry:
    """A crop-cache entry (``ROOT/v1/ab/KEY``) with one track whose context holds ``runs``."""
    key = "ab" + "0" * 62
    folder = root / "v1" / key[:2] / key
    (folder / "context").mkdir(parents=True)
    (folder / "crops").mkdir()
    files, indices = [], []
    for pos, run in enumerate(runs):
        first = 10 * pos
        names = [f"t000_f{first:06d}_r{k}.png" for k in range(len(run))]
        for name, img in zip(names, run):
            cv2.imwrite(str(folder / "context" / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        files.append(names)
        indices.append([first + k for k in range(len(run))])
        cv2.imwrite(str(folder / "crops" / f"t000_f{first:06d}.png"), run[0])
    track = {
        "track_id": 0,
        "frames": list(range(len(runs))),
        "frame_indices": [i[0] for i in indices],
        "timestamps": [i[0] / fps for i in indices],
        "files": [f"t000_f{i[0]:06d}.png" for i in indices],
        "context": {"margin": 2.0, "size": S, "run": 3, "files": files, "frame_indices": indices,
                    "windows": [[0.0, 0.0, float(S)]] * len(runs), "boxes": [box] * len(runs)},
    }  # fmt: skip
    meta = {"key": key, "video": {"fps": fps, "width": S, "height": S}, "tracks": [track]}
    (folder / "meta.json").write_text(json.dumps(meta))
    return CacheEntry(key, folder, meta)


def pasted_run(frames: int = 3, box: tuple[int, int, int, int] = (24, 24, 72, 72)) -> np.ndarray:
    """A still background with the face box's content moving 2 px right per frame."""
    still = texture(1)[20 : 20 + S, 20 : 20 + S]
    moving = shifted_run(2, 0, frames, seed=2)
    run = np.stack([still.copy() for _ in range(frames)])
    x1, y1, x2, y2 = box
    run[:, y1:y2, x1:x2] = moving[:, y1:y2, x1:x2]
    return run


def test_entry_flow_pairs_times_and_anomaly(tmp_path):
    box = [24.0, 24.0, 72.0, 72.0]
    pan = _entry(tmp_path / "pan", [shifted_run(2, 0), shifted_run(2, 0, seed=3)], box)
    pasted = _entry(tmp_path / "pasted", [pasted_run(), pasted_run()], box)
    flows = entry_flow(pan)
    assert list(flows) == [0]
    tf = flows[0]
    assert len(tf) == 4  # two runs of 3 consecutive frames -> 2 pairs each
    assert tf.anchor.tolist() == [0, 0, 1, 1] and tf.offset.tolist() == [0, 1, 0, 1]
    assert tf.frame_index.tolist() == [0, 1, 10, 11]
    assert tf.timestamp == pytest.approx([0.0, 0.04, 0.4, 0.44])
    assert tf.load().shape == (4, S, S, 3)
    assert np.nanmedian(tf.mean_magnitude) == pytest.approx(2.0, abs=0.3)
    moving_face = entry_flow(pasted)[0]
    # a face moving against a still background: a flow discontinuity at its boundary; a pan
    # moves everything together: none
    assert moving_face.anomaly.min() > 5 * tf.anomaly.max()
    # the per-pair anomaly is the flow_boundary signal's per-pair term
    runs = [pasted_run(), pasted_run()]
    assert flow_boundary(runs, [box, box]) == pytest.approx(moving_face.anomaly.mean(), rel=1e-4)


def test_flow_cache_is_computed_once_and_resumes(tmp_path, monkeypatch):
    box = [24.0, 24.0, 72.0, 72.0]
    entry = _entry(tmp_path / "cache", [shifted_run(1, 1), shifted_run(1, 1, seed=4)], box)
    root = tmp_path / "cache" / "flow"
    # a run killed while writing leaves only a temporary folder, never a visible entry
    (root / "tmp" / "dead.123").mkdir(parents=True)
    calls = []
    real = flow_mod._compute

    def counting(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(flow_mod, "_compute", counting)
    first = entry_flow(entry)[0]
    assert calls == [1] and first.files[0].is_relative_to(root)
    again = entry_flow(entry)[0]
    assert calls == [1]  # served from the cache
    assert [p.name for p in again.files] == [p.name for p in first.files]
    assert np.array_equal(again.load(), first.load())
    assert again.anomaly == pytest.approx(first.anomaly, nan_ok=True)
    other = entry_flow(entry, FlowSettings(farneback=(0.5, 3, 9, 3, 5, 1.2, 0)))[0]
    assert calls == [1, 1] and other.files[0].parent != first.files[0].parent
    assert not any(p.name.startswith("ab") for p in (root / "tmp").iterdir())


def test_entry_without_runs_has_no_flow(tmp_path):
    entry = _entry(tmp_path, [shifted_run(1, 0, frames=1)], [24.0, 24.0, 72.0, 72.0])
    flows = entry_flow(entry)  # runs of one frame (the video ended): a track with no pair
    assert list(flows) == [0] and len(flows[0]) == 0
    meta = {**entry.meta, "tracks": [{**entry.tracks[0], "context": None}]}
    plain = CacheEntry("cd" + "1" * 62, entry.root, meta)  # extracted without --context
    assert entry_flow(plain) == {}


@pytest.mark.parametrize(
    "bad",
    [
        {"farneback": [0.5, 3, 15]},
        {"farneback": [1.5, 3, 15, 3, 5, 1.2, 0]},
        {"farneback": [0.5, 3, 15, 3, 6, 1.2, 0]},
        {"ring": 0},
        {"window": 3},
    ],
)
def test_bad_flow_settings_are_config_errors(bad):
    with pytest.raises(ConfigError, match="flow"):
        FlowSettings.from_dict(bad)


def test_a_killed_flow_computation_leaves_nothing_and_the_next_run_completes(tmp_path, monkeypatch):
    entry = _entry(tmp_path / "cache", [shifted_run(1, 0), shifted_run(0, 1)], [24, 24, 72, 72])
    real = flow_mod._write_rgb
    written = []

    def dies_on_the_third(path, image):
        if len(written) == 2:
            raise OSError("disk full")
        written.append(path)
        real(path, image)

    monkeypatch.setattr(flow_mod, "_write_rgb", dies_on_the_third)
    with pytest.raises(OSError, match="disk full"):
        entry_flow(entry)
    root = tmp_path / "cache" / "flow"
    assert not list(root.rglob("meta.json")) and not any((root / "tmp").iterdir())
    monkeypatch.setattr(flow_mod, "_write_rgb", real)
    assert len(entry_flow(entry)[0]) == 4 and len(list(root.rglob("meta.json"))) == 1
