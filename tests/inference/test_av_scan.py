"""Audio-visual scoring (inference.av), the ScanResult segments and the report's sound section.

Synthetic: a cache entry stand-in with crops at 5 FPS and an AudioTrack, scored by an untrained
avsync network (shapes, segment bookkeeping, no-audio and broken-audio answers). With
../shared: the shipped ``avsync`` model scans real clips end to end, and tells a clip it never
trained on from the same clip with its sound moved (skipped without it)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fakescope.errors import AudioError, ConfigError
from fakescope.inference.av import score_av, track_windows_av
from fakescope.inference.pipeline import aggregate, score_entry
from fakescope.io.audio import AudioTrack
from fakescope.models import ModelCard, create_model, get_config
from fakescope.models.av import AVDetector
from fakescope.models.checkpoint import audio_card
from fakescope.reporting.audio import audio_section

SR = 16000
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "wild"


@dataclass
class FakeEntry:
    """The parts of a CacheEntry the av scorer reads."""

    times: list[float]
    audio: AudioTrack | Exception | None
    crops: np.ndarray = field(default_factory=lambda: np.zeros(0))
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.times)
        rng = np.random.default_rng(0)
        self.crops = rng.integers(0, 255, (n, 64, 64, 3), dtype=np.uint8)

    @property
    def tracks(self) -> list[dict[str, Any]]:
        n = len(self.times)
        return [{"track_id": 0, "frames": list(range(n)), "frame_indices": [3 * i for i in range(n)],
                 "timestamps": self.times, "boxes": [[0, 0, 10, 10]] * n}]  # fmt: skip

    def load_crops(self, track_id: int) -> np.ndarray:
        return self.crops

    def crop_paths(self, track_id: int) -> list[Path]:
        return [Path(f"c{i}.png") for i in range(len(self.times))]

    def load_audio(self) -> AudioTrack | None:
        if isinstance(self.audio, Exception):
            raise self.audio
        return self.audio


def detector(fallback: bool = False) -> AVDetector:
    config = get_config("avsync", audio_fallback=fallback)
    model = create_model(config).eval()
    card = ModelCard("avsync-test", config.to_dict(), audio=audio_card(config))
    return AVDetector(model, card, "cpu")


def tone(seconds: float) -> AudioTrack:
    t = np.arange(int(seconds * SR)) / SR
    return AudioTrack((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SR, 0.0)


def test_windows_cover_each_run() -> None:
    times = np.r_[np.arange(20) * 0.2, 10 + np.arange(16) * 0.2]
    starts = track_windows_av(times, 3, 5)
    assert starts[:2] == [0, 5] and 5 in starts and 20 in starts and 21 in starts
    assert max(starts) + 15 == len(times)
    assert track_windows_av(np.arange(10) * 0.2, 3, 5) == []


def test_score_av_segments_and_faces() -> None:
    times = [round(i * 0.1, 3) for i in range(44)]  # 4.4 s at 10 FPS
    entry = FakeEntry(times, tone(4.4))
    scores = score_entry(entry, detector())  # type: ignore[arg-type]
    assert len(scores) == 44 and scores.segments is not None
    starts = [s["start"] for s in scores.segments]
    assert starts == sorted(starts) and starts[0] == 0.0
    assert {s["modality"] for s in scores.segments} == {"audio-visual"}
    assert all(abs(s["end"] - s["start"] - 1.0) < 1e-6 for s in scores.segments)
    # every crop's logit is the mean of the segments that cover it
    first = next(s["logit"] for s in scores.segments if s["start"] == 0.0)
    assert scores.logit[0] == pytest.approx(first)
    assert scores.audio is not None and scores.audio["status"] == "ok"
    assert len(scores.audio["envelope"]) == round(4.4 * 50)
    agg = aggregate(scores)
    assert 0 <= agg["probability"] <= 1


def test_no_audio_answers_with_a_reason_or_falls_back() -> None:
    times = [i * 0.1 for i in range(30)]
    scores = score_av(FakeEntry(times, None), FakeEntry(times, None).tracks, detector())  # type: ignore[arg-type]
    assert len(scores) == 0 and scores.reason and "no audio" in scores.reason
    assert scores.audio == {"status": "no_audio", "fallback": False}
    with pytest.raises(ConfigError, match="avsync"):  # avsync has no video-only head
        score_av(FakeEntry(times, None), FakeEntry(times, None).tracks, detector(fallback=True))  # type: ignore[arg-type]


def test_broken_audio_is_one_line() -> None:
    times = [i * 0.1 for i in range(30)]
    entry = FakeEntry(times, AudioError("x.mp4", "the audio stream cannot be decoded"))
    with pytest.raises(AudioError) as info:
        score_av(entry, entry.tracks, detector())  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def test_report_section_draws_wave_vad_and_segments() -> None:
    result = {
        "timeline": [{"time": 2.8}],
        "segments": [
            {
                "track_id": 0,
                "start": 0.0,
                "end": 1.0,
                "probability": 0.9,
                "modality": "audio-visual",
            }
        ],
        "audio": {
            "status": "ok",
            "fallback": False,
            "start": 0.0,
            "envelope_hz": 50,
            "envelope": [0.1] * 150,
            "speech": [[0.5, 2.0]],
        },
    }
    html = "".join(audio_section(result))
    assert "Sound and segments" in html and "speech 0.50-2.00s" in html
    assert "face 0, 0.00-1.00s (audio-visual): 0.900" in html
    silent = "".join(audio_section({"audio": {"status": "no_audio", "fallback": False}}))
    assert "no audio track" in silent


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/wild is not here")
def test_shipped_avsync_scans_real_clips(tmp_path: Path) -> None:
    import jsonschema

    from fakescope import scan
    from fakescope.reporting.html import render_report

    schema = json.loads(
        (
            Path(__file__).resolve().parents[2] / "src/fakescope/schemas/scan_result.schema.json"
        ).read_text()
    )
    speech = SHARED / "real/voxceleb2/misc__Pose_Source__00067.mp4"
    result = scan(str(speech), model="avsync", cache=tmp_path)
    data = result.to_dict()
    jsonschema.validate(data, schema)
    assert result.status == "ok" and data["model"]["family"] == "av"
    assert result.segments and {"start", "end", "probability", "modality"} <= set(
        result.segments[0]
    )
    assert result.audio and result.audio["speech"]
    assert "Sound and segments" in render_report(result)
    mead = SHARED / "real/mead/data__style_clip__video__M030_front_angry_level3_001.mp4"
    silent = scan(str(mead), model="avsync", cache=tmp_path)
    assert silent.status == "no_audio" and silent.reason and "no audio" in silent.reason
    jsonschema.validate(silent.to_dict(), schema)


def _moved_sound(src: Path, out: Path, seconds: float) -> Path:
    """``src`` with its picture copied and its sound ``seconds`` late (< 0: early)."""
    ms = round(abs(seconds) * 1000)
    shift = f"adelay={ms}:all=1" if seconds > 0 else f"atrim=start={-seconds},asetpts=PTS-STARTPTS"
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-map", "0:v", "-map", "0:a",
           "-c:v", "copy", "-af", shift, "-c:a", "aac", str(out)]  # fmt: skip
    subprocess.run(cmd, check=True)
    return out


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/wild is not here")
@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not here")
def test_shipped_avsync_tells_a_clip_from_its_moved_sound(tmp_path: Path) -> None:
    """A VoxCeleb2 interview the shipped weights never trained on (the test split of
    scripts/avsync_data.py) scores as more in sync with its own sound than with the same
    sound 0.5 s late or early (benchmarks/results/av_sync.md measures how often that holds)."""
    from fakescope import scan

    src = SHARED / "real/voxceleb2/misc__Audio_Source__00104.mp4"
    real = scan(str(src), model="avsync", cache=tmp_path / "cache")
    assert real.status == "ok" and real.probability is not None
    for seconds in (0.5, -0.5):
        moved = _moved_sound(src, tmp_path / f"moved{seconds:+}.mp4", seconds)
        out = scan(str(moved), model="avsync", cache=tmp_path / "cache")
        assert out.status == "ok" and out.probability is not None
        assert out.probability > real.probability + 0.1, (
            seconds,
            out.probability,
            real.probability,
        )
