"""The cheaper scan paths of issue 14 give the same numbers as before.

- The five forensic signals of a synthetic cache entry equal golden values computed with the
  implementation before the change (at both window sizes: resized and as stored).
- ``flow_boundary`` read from the flow cache (the flow model's pairs, when an ensemble's flow
  member has computed them) equals the value computed from the frame runs, bit for bit, and the
  flow images (the flow model's input) are unchanged.
- On a real clip (shared data; skipped when absent) the signals with and without the flow
  cache are identical, and so are the flow images.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from fakescope.cache import CacheEntry
from fakescope.extraction import ContextSettings, Extractor, ExtractSettings
from fakescope.forensics.flow import FlowSettings, entry_flow, flow_image, run_flows
from fakescope.forensics.signals import SIGNALS, ForensicSettings
from fakescope.forensics.video import load_evidence, video_signals

pytest.importorskip("pywt")

S = 96

# computed with the implementation before the issue-14 speed work (fakescope at the commit
# before it), on ``golden_entry``; repr of each float
GOLDEN = {
    224: {
        "flicker_hll": 0.002907990710796078,
        "srm_sharpness": 1.8439083117276691,
        "noise_autocorr": 0.02840273608903272,
        "color_wasserstein": 0.0062191461205778654,
        "flow_boundary": 0.34137780136532253,
    },
    S: {
        "flicker_hll": 0.002912768180431366,
        "srm_sharpness": 1.9999881092483294,
        "noise_autocorr": 0.05992606666658077,
        "color_wasserstein": 0.00620783640364217,
        "flow_boundary": 0.6514917943212721,
    },
}
GOLDEN_FLOW_IMAGES = "bd3d2f062ecc4c31"  # sha256 of the 9 flow images, (9, 96, 96, 3) uint8
GOLDEN_MEAN_MAGNITUDE = [
    0.228508, 0.230674, 0.45324, 0.447687, 0.629719, 0.221539, 0.218308, 0.689413, 0.667494,
]  # fmt: skip


def _texture(seed: int, size: int = S + 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (size, size, 3)).astype(np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2.0)


def _run(seed: int, frames: int, dx: int) -> np.ndarray:
    """A still background whose face box moves ``dx`` px a frame and brightens a little."""
    still = _texture(seed)[20 : 20 + S, 20 : 20 + S]
    tex = _texture(seed + 50)
    run = np.stack([still.copy() for _ in range(frames)])
    for k in range(frames):
        run[k, 24:72, 24:72] = tex[20 : 20 + 48, 20 - k * dx : 20 - k * dx + 48]
        run[k] = np.clip(run[k].astype(np.int16) + 3 * k * (seed % 3), 0, 255).astype(np.uint8)
    return run


def golden_entry(root: Path) -> CacheEntry:
    """One track of 6 sampled frames: runs of 3, 3, 2, 3, 1 and 3 consecutive frames (cut
    short, as at a video's end), boxes that shift, windows partly outside a 90 x 96 frame."""
    key = "cd" + "1" * 62
    folder = root / "v1" / key[:2] / key
    (folder / "context").mkdir(parents=True)
    (folder / "crops").mkdir()
    lengths = [3, 3, 2, 3, 1, 3]
    files, indices, crops = [], [], []
    for pos, n in enumerate(lengths):
        run = _run(pos, n, 1 + pos % 3)
        first = 7 * pos
        names = [f"t000_f{first:06d}_r{k}.png" for k in range(n)]
        for name, img in zip(names, run):
            cv2.imwrite(str(folder / "context" / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        files.append(names)
        indices.append([first + k for k in range(n)])
        face = cv2.resize(
            np.ascontiguousarray(run[0, 16:80, 16:80]), (64, 64), interpolation=cv2.INTER_CUBIC
        )
        name = f"t000_f{first:06d}.png"
        cv2.imwrite(str(folder / "crops" / name), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
        crops.append(name)
    n = len(lengths)
    track = {
        "track_id": 0, "frames": list(range(n)),
        "frame_indices": [i[0] for i in indices], "timestamps": [i[0] / 25.0 for i in indices],
        "boxes": [[100.0 + p, 50.0, 148.0 + p, 98.0] for p in range(n)],
        "files": crops,
        "context": {"margin": 2.0, "size": S, "run": 3, "files": files, "frame_indices": indices,
                    "windows": [[-6.0 + p, 4.0, float(S)] for p in range(n)],
                    "boxes": [[24.0 + p % 2, 24.0, 72.0, 72.0 - p % 2] for p in range(n)]},
    }  # fmt: skip
    meta = {"key": key, "video": {"fps": 25.0, "width": 90, "height": 96}, "tracks": [track]}
    (folder / "meta.json").write_text(json.dumps(meta))
    return CacheEntry(key, folder, meta)


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path))
    assert bgr is not None, path
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _close(a: dict, b: dict) -> None:
    for k in SIGNALS:
        assert np.isclose(a[k], b[k], rtol=1e-9, atol=0.0), (k, a[k], b[k])


@pytest.mark.parametrize("size", [224, S])
def test_signals_equal_the_implementation_before(tmp_path, size):
    out = video_signals(golden_entry(tmp_path), ForensicSettings(size=size))
    _close(out, GOLDEN[size])
    assert (out["frames"], out["pairs"], out["notes"]) == (6, 9, [])


def test_flow_images_and_statistics_are_unchanged(tmp_path):
    entry = golden_entry(tmp_path)
    tf = entry_flow(entry)[0]
    assert tf.images is not None  # just computed: kept in memory
    assert hashlib.sha256(tf.load().tobytes()).hexdigest()[:16] == GOLDEN_FLOW_IMAGES
    assert tf.mean_magnitude.tolist() == GOLDEN_MEAN_MAGNITUDE
    again = entry_flow(entry)[0]  # from the cache: the PNGs hold the same images
    assert again.images is None and np.array_equal(again.load(), tf.load())
    assert np.array_equal(again.anomaly, tf.anomaly, equal_nan=True)


@pytest.mark.parametrize("size", [224, S])
def test_flow_boundary_from_the_flow_cache_is_the_computed_one(tmp_path, size):
    entry = golden_entry(tmp_path)
    settings = ForensicSettings(size=size)
    computed = video_signals(entry, settings)
    entry_flow(entry, FlowSettings(settings.farneback, settings.ring))  # a flow member ran
    reused = video_signals(entry, settings)
    assert {k: computed[k] for k in SIGNALS} == {k: reused[k] for k in SIGNALS}  # bit for bit
    assert computed["pairs"] == reused["pairs"]
    _close(reused, GOLDEN[size])


def test_the_flow_cache_of_other_settings_is_not_read(tmp_path):
    entry = golden_entry(tmp_path)
    entry_flow(entry, FlowSettings(ring=4))
    assert (
        video_signals(entry, ForensicSettings(size=S))["flow_boundary"]
        == GOLDEN[S]["flow_boundary"]
    )


def test_a_flow_cache_written_before_the_exact_anomaly_is_not_read(tmp_path):
    entry = golden_entry(tmp_path)
    entry_flow(entry)
    (meta_path,) = (tmp_path / "flow").rglob("meta.json")
    meta = json.loads(meta_path.read_text())
    for t in meta["tracks"]:
        for pair in t["pairs"]:
            assert pair["anomaly"] == round(pair["anomaly_exact"], 6)  # the rounded one stays
            del pair["anomaly_exact"]
            pair["anomaly"] = 123.0  # would show if it were read
    meta_path.write_text(json.dumps(meta))
    assert entry_flow(entry)[0].anomaly[0] == 123.0  # the old cache is still used as it is
    out = video_signals(entry, ForensicSettings(size=S))
    assert out["flow_boundary"] == GOLDEN[S]["flow_boundary"]  # computed, not read


def test_windows_alone_are_the_first_frames_of_the_runs(tmp_path):
    entry = golden_entry(tmp_path)
    full = load_evidence(entry, ForensicSettings(size=S))
    light = load_evidence(entry, ForensicSettings(size=S), runs=False)
    assert full is not None and light is not None
    assert full.windows is not None and light.windows is not None
    assert np.array_equal(full.windows, light.windows)
    assert light.runs == [] and len(full.runs) == 6


# -- a real clip ---------------------------------------------------------------------------


SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
REAL_CLIP = SHARED / "wild" / "real" / "liveportrait" / "assets__examples__driving__d0.mp4"


@pytest.mark.skipif(not REAL_CLIP.is_file(), reason="shared data not present")
def test_real_clip_signals_and_flow_are_the_same_through_either_path(tmp_path):
    res = Extractor(ExtractSettings(sampling="uniform:8", context=ContextSettings()), tmp_path)(
        REAL_CLIP
    )
    assert res.status == "ok" and res.entry is not None, res.error
    entry = res.entry
    settings = ForensicSettings()
    computed = video_signals(entry, settings)
    assert np.isfinite(computed["flow_boundary"])
    flows = entry_flow(entry, FlowSettings(settings.farneback, settings.ring))
    reused = video_signals(entry, settings)
    assert {k: computed[k] for k in SIGNALS} == {k: reused[k] for k in SIGNALS}
    # the flow images are the flow of the context runs as before (recomputed from the runs)
    track = next(t for t in entry.tracks if int(t["track_id"]) in flows)
    tf = flows[int(track["track_id"])]
    names = track["context"]["files"][int(tf.anchor[0])]
    run = np.stack([_read_rgb(entry.root / "context" / n) for n in names])
    assert np.array_equal(tf.load()[0], flow_image(run_flows(run)[0]))
