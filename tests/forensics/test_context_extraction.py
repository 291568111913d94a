"""The opt-in context of the extraction: background windows and runs of consecutive frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fakescope.cache import settings_key
from fakescope.errors import ConfigError
from fakescope.extraction import ContextSettings, Extractor, ExtractSettings
from fakescope.forensics.signals import SIGNALS
from fakescope.forensics.video import main_track, video_signals
from fakescope.io import read_frames


def test_default_cache_key_is_unchanged():
    """Plain extractions keep the keys they had before the context option existed, so
    existing caches stay valid (hashes computed on the code before the change)."""
    plain = ExtractSettings()
    detector = plain.make_detector()
    assert "context" not in plain.key_dict(detector)
    assert settings_key("0" * 40, plain.key_dict(detector)) == (
        "d5d851c3a5aa188d48962b5664e97f85e9810378d4147a48a06b0d7a66925f55"
    )
    eight = ExtractSettings(sampling="uniform:8")
    assert settings_key("0" * 40, eight.key_dict(detector)) == (
        "b909e00c0028713d40f06f000f13ab6a8e8c16be320ed1e460b9b43bf70b9ac1"
    )
    with_context = ExtractSettings(context=ContextSettings())
    assert with_context.key_dict(detector)["context"] == {"margin": 2.0, "size": 224, "run": 3}
    other_run = ExtractSettings(context=ContextSettings(run=2))
    keys = {settings_key("0" * 40, s.key_dict(detector)) for s in (plain, with_context, other_run)}
    assert len(keys) == 3


@pytest.mark.parametrize("bad", [{"margin": 1.0}, {"size": 8}, {"run": 0}, {"run": 17}])
def test_bad_context_settings_are_config_errors(bad):
    with pytest.raises(ConfigError, match="context"):
        ContextSettings(**bad)


def _cut(frame: np.ndarray, x0: float, y0: float, side: float, size: int) -> np.ndarray:
    s, x, y = round(side), round(x0), round(y0)
    h, w = frame.shape[:2]
    window = np.zeros((s, s, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(0, x), max(0, y), min(w, x + s), min(h, y + s)
    window[sy0 - y : sy1 - y, sx0 - x : sx1 - x] = frame[sy0:sy1, sx0:sx1]
    interp = cv2.INTER_AREA if s > size else cv2.INTER_CUBIC
    return cv2.resize(window, (size, size), interpolation=interp)


def _read(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_context_keeps_windows_of_consecutive_frames(face_clip, tmp_path):
    plain = Extractor(ExtractSettings(sampling="uniform:8"), tmp_path / "c")(face_clip)
    ctx = ContextSettings(margin=2.0, size=160, run=3)
    r = Extractor(ExtractSettings(sampling="uniform:8", context=ctx), tmp_path / "c")(face_clip)
    assert r.status == "ok" and r.cache_key != plain.cache_key
    # the face crops and everything else are what a plain extraction gives
    assert np.array_equal(r.entry.load_crops(0), plain.entry.load_crops(0))
    assert r.entry.meta["frames"] == plain.entry.meta["frames"]
    track = r.entry.meta["tracks"][0]
    context = track["context"]
    assert len(context["files"]) == len(track["files"]) == 8
    all_frames = {f.index: f.image for f in read_frames(face_clip, "all").frames}
    for first, names, indices, window, box in zip(
        track["frame_indices"],
        context["files"],
        context["frame_indices"],
        context["windows"],
        context["boxes"],
    ):
        assert indices == [first, first + 1, first + 2]  # truly consecutive video frames
        images = [_read(r.entry.root / "context" / n) for n in names]
        for index, image in zip(indices, images):  # every frame of a run is cut at one window
            expected = _cut(all_frames[index], *window, size=160)
            assert np.abs(expected.astype(int) - image).mean() < 0.5
        assert not np.array_equal(images[0], images[2])  # the face moved within the run
        x1, y1, x2, y2 = box  # the face box fills the window's central half
        assert (x1 + x2) / 2 == pytest.approx(80, abs=1.5)
        assert max(x2 - x1, y2 - y1) == pytest.approx(80, abs=1.5)
    assert not list((r.entry.root / "context").glob("tmp_*"))


def test_runs_stop_at_the_end_of_the_video(make_video, tmp_path):
    path = make_video("short.mp4", n_frames=10)
    settings = ExtractSettings(sampling="uniform:10", context=ContextSettings(run=3))
    r = Extractor(settings, tmp_path / "c")(path)
    track = r.entry.meta["tracks"][0]
    runs = track["context"]["frame_indices"]
    assert track["frame_indices"] == list(range(10))  # every frame sampled and followed
    assert runs[0] == [0, 1, 2] and runs[-2] == [8, 9] and runs[-1] == [9]
    assert r.entry.meta["frames_with_face"] == 10


def test_video_signals_from_a_cache_entry(face_clip, tmp_path):
    settings = ExtractSettings(sampling="uniform:8", context=ContextSettings())
    entry = Extractor(settings, tmp_path / "c")(face_clip).entry
    assert main_track(entry) == 0
    values = video_signals(entry)
    assert values["frames"] == 8 and values["pairs"] == 16 and not values["notes"]
    assert all(np.isfinite(values[s]) for s in SIGNALS)
    # an entry without the context still gives the three signals of the face crops
    plain = Extractor(ExtractSettings(sampling="uniform:8"), tmp_path / "c")(face_clip).entry
    partial = video_signals(plain)
    assert all(np.isfinite(partial[s]) for s in SIGNALS[:3])
    assert np.isnan(partial["color_wasserstein"]) and np.isnan(partial["flow_boundary"])
    assert "ContextSettings" in partial["notes"][0]


def test_signals_are_computed_once_per_entry_and_settings(face_clip, tmp_path):
    from fakescope.forensics.signals import ForensicSettings
    from fakescope.forensics.video import cached_signals

    settings = ExtractSettings(sampling="uniform:8", context=ContextSettings())
    entry = Extractor(settings, tmp_path / "c")(face_clip).entry
    first, cached = cached_signals(entry)
    assert not cached and first["track"] == 0
    again, cached = cached_signals(entry)
    assert cached and again == first
    assert first["flicker_hll"] == pytest.approx(video_signals(entry)["flicker_hll"])
    # other signal settings are another file, computed afresh
    _other, cached = cached_signals(entry, ForensicSettings(bins=16))
    assert not cached and len(list((entry.root / "signals").glob("*.json"))) == 2
    # a damaged file is recomputed, not an error
    for f in (entry.root / "signals").glob("*.json"):
        f.write_text("{not json")
    assert cached_signals(entry) == (first, False)
