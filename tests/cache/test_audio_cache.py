"""The sound track stored beside the crops: lossless, lazy, atomic, keys unchanged."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import fakescope.io.audio as audio_mod
from fakescope.cache import CropCache, file_fingerprint, settings_key
from fakescope.cli.main import main
from fakescope.errors import AudioError, InputError
from fakescope.extraction import Extractor, ExtractSettings
from tests.conftest import write_av_clip
from tests.io.test_audio import corrupt_audio_packets


@pytest.fixture(scope="module")
def av_clip(tmp_path_factory):
    rng = np.random.default_rng(1)
    noise = (rng.standard_normal(44100 * 2) * 0.2).astype(np.float32)
    return write_av_clip(
        tmp_path_factory.mktemp("av") / "talk.mp4",
        n_frames=40,
        width=320,
        height=240,
        audio=noise,
        face=True,
    )


def test_audio_is_decoded_once_and_stored_losslessly(av_clip, tmp_path, monkeypatch):
    settings = ExtractSettings(sampling="uniform:4")
    ex = Extractor(settings, tmp_path / "cache")
    r = ex(av_clip)
    assert r.status == "ok" and r.entry is not None
    entry = r.entry
    # the key is what it always was: the audio is no part of it
    assert r.cache_key == settings_key(file_fingerprint(av_clip), settings.key_dict(ex.detector))
    assert not entry.audio_path().exists()  # lazy: nothing until first use
    direct = audio_mod.load_audio(av_clip)
    assert direct is not None
    track = entry.load_audio()
    assert track is not None and entry.audio_path().is_file()
    assert track.samples.dtype == np.float32
    np.testing.assert_array_equal(track.samples, direct.samples)  # bit-exact
    assert track.start == direct.start and track.sample_rate == direct.sample_rate
    assert not list((entry.root).glob(".*.tmp"))  # written atomically, no leftovers

    # later reads come from the stored file, not from the video
    def no_decode(*a: object, **k: object) -> None:
        raise AssertionError("decoded again")

    monkeypatch.setattr(audio_mod, "load_audio", no_decode)
    again = CropCache(tmp_path / "cache").get(r.cache_key)
    assert again is not None
    stored = again.load_audio()
    assert stored is not None
    np.testing.assert_array_equal(stored.samples, direct.samples)
    # the entry still answers the same key after the audio was added
    assert ex(av_clip).cached


def test_no_audio_is_remembered(face_clip, tmp_path):
    r = Extractor(ExtractSettings(sampling="uniform:2"), tmp_path)(face_clip)
    assert r.entry is not None
    assert r.entry.load_audio() is None
    assert r.entry.audio_path().is_file()
    assert r.entry.load_audio() is None


def test_broken_audio_keeps_faces_and_raises_the_same_error(av_clip, tmp_path):
    bad = tmp_path / "bad.mp4"
    corrupt_audio_packets(av_clip, bad)
    r = Extractor(ExtractSettings(sampling="uniform:4"), tmp_path / "cache")(bad)
    assert r.status == "ok" and r.tracks == 1  # the video branch is unaffected
    assert r.entry is not None
    for _ in range(2):  # the second error comes from the stored file
        with pytest.raises(AudioError, match="audio stream cannot be decoded"):
            r.entry.load_audio()


def test_changed_source_is_refused(av_clip, tmp_path):
    moved = tmp_path / "clip.mp4"
    shutil.copy(av_clip, moved)
    r = Extractor(ExtractSettings(sampling="uniform:2"), tmp_path / "cache")(moved)
    assert r.entry is not None
    with open(moved, "ab") as fh:
        fh.write(b"\0" * 10)
    with pytest.raises(InputError, match="not the video of cache entry"):
        r.entry.load_audio()
    assert r.entry.load_audio(source=av_clip) is not None  # the same video elsewhere


def test_extract_audio_flag(av_clip, face_clip, tmp_path):
    bad = tmp_path / "bad.mp4"
    corrupt_audio_packets(av_clip, bad)
    out = tmp_path / "out"
    inputs = [str(av_clip), str(face_clip), str(bad)]
    code = main(["extract", *inputs, "--out", str(out), "--frames", "2", "--audio", "-q"])
    assert code == 0  # a broken sound track fails no video
    rows = {row["path"]: row for row in json.loads((out / "summary.json").read_text())["videos"]}
    assert [rows[p]["audio"] for p in inputs] == ["ok", "none", "broken"]
    assert any("audio stream cannot be decoded" in w for w in rows[str(bad)]["warnings"])
    cache = CropCache(out / "cache")
    entry = cache.get(rows[str(av_clip)]["cache_key"])
    assert entry is not None and entry.audio_path().is_file()
