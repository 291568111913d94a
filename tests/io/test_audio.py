"""Audio input: decoding onto the video's timeline, windows, speech (silero VAD), bad streams."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import av
import numpy as np
import pytest

from fakescope.errors import AudioError, FakescopeError
from fakescope.io import read_frames
from fakescope.io.audio import (
    SAMPLE_RATE,
    AudioTrack,
    leading_silence,
    load_audio,
    segment_windows,
    speech_segments,
)
from fakescope.io.video import VideoReader
from tests.conftest import SHARED_DATA, write_av_clip

FPS = 25


def click_track(seconds: float, at: float, sample_rate: int) -> np.ndarray:
    """Silence with a 0.5-ms click at ``at`` seconds."""
    audio = np.zeros(round(seconds * sample_rate), np.float32)
    i = round(at * sample_rate)
    audio[i : i + max(1, sample_rate // 2000)] = 0.9
    return audio


def corrupt_audio_packets(path: Path, dest: Path, every: int = 1, seed: int = 0) -> int:
    """Copy ``path`` to ``dest`` with the payload of every ``every``-th audio packet replaced by
    random bytes (the container's index stays intact); returns how many were damaged."""
    with av.open(str(path)) as c:
        spans = [
            (int(p.pos), int(p.size))
            for p in c.demux(c.streams.audio[0])
            if p.size and p.pos is not None
        ]
    rng = np.random.default_rng(seed)
    data = bytearray(path.read_bytes())
    damaged = spans[::every]
    for pos, size in damaged:
        data[pos : pos + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    dest.write_bytes(bytes(data))
    return len(damaged)


@pytest.mark.parametrize(
    ("name", "codec", "rate", "delay"),
    [
        ("aac.mp4", "aac", 44100, 0.0),
        ("aac_late.mp4", "aac", 44100, 0.5),  # sound starts 0.5 s after the picture
        ("pcm.mkv", "pcm_s16le", 22050, 0.0),
        ("opus.mkv", "libopus", 48000, 0.3),
    ],
)
def test_click_lands_on_its_frame(tmp_path, name, codec, rate, delay):
    if codec not in av.codecs_available:
        pytest.skip(f"PyAV here cannot encode {codec}")
    frame = 30  # the click is heard when video frame 30 is shown
    at = frame / FPS - delay  # in the audio's own time
    path = write_av_clip(
        tmp_path / name,
        n_frames=50,
        fps=FPS,
        audio=click_track(1.8, at, rate),
        sample_rate=rate,
        audio_codec=codec,
        audio_delay=delay,
    )
    track = load_audio(path)
    assert track is not None
    assert track.sample_rate == SAMPLE_RATE and track.samples.dtype == np.float32
    assert track.samples.ndim == 1 and np.abs(track.samples).max() <= 1.0
    with VideoReader(path) as reader:
        t_frame = float(reader.timestamps()[frame])
    heard = track.start + int(np.argmax(np.abs(track.samples))) / track.sample_rate
    # within one sample of the source rate plus the resampler's smearing of the click: 2 ms,
    # far below an audio codec frame (21-23 ms) or a video frame (40 ms)
    assert abs(heard - t_frame) < 0.002, (heard, t_frame)
    # the window starting at the frame holds the click near its start
    window = track.window(t_frame - 0.01, t_frame + 0.99)
    assert len(window) == SAMPLE_RATE
    assert 150 <= int(np.argmax(np.abs(window))) <= 200
    if delay:
        assert track.start == pytest.approx(delay, abs=0.03)
        assert not np.any(track.window(0.0, delay - 0.03))  # zero-padded before the sound


def test_window_and_segment_windows_pad_with_zeros():
    samples = np.arange(1, 32001, dtype=np.float32) / 32000  # 2 s, never zero
    track = AudioTrack(samples, SAMPLE_RATE, start=-0.5)  # sound starts before the picture
    assert track.duration == 2.0 and track.end == 1.5
    w = track.window(0.0, 1.0)
    assert len(w) == SAMPLE_RATE and w[0] == samples[8000] and w[-1] == samples[23999]
    tail = track.window(1.0, 2.0)
    assert np.all(tail[:8000] > 0) and not np.any(tail[8000:])
    head = track.window(-1.0, 0.0)
    assert not np.any(head[:8000]) and head[8000] == samples[0]
    # seed 001: 1-s segments starting at every 5th frame of a 5-FPS sampling
    times = [0.0, 1.0, 2.0]
    seg = segment_windows(track, times)
    assert seg.shape == (3, SAMPLE_RATE) and seg.dtype == np.float32
    np.testing.assert_array_equal(seg[0], w)
    np.testing.assert_array_equal(seg[1], tail)
    assert not np.any(seg[2])
    assert segment_windows(track, [0.25], length=0.5).shape == (1, 8000)
    assert segment_windows(track, []).shape == (0, SAMPLE_RATE)


def test_other_sample_rates(tmp_path):
    path = write_av_clip(
        tmp_path / "c.mkv", audio=click_track(1.0, 0.4, 48000), audio_codec="pcm_s16le",
        sample_rate=48000,
    )  # fmt: skip
    track = load_audio(path, sample_rate=8000)
    assert track is not None and track.sample_rate == 8000
    assert len(track.samples) == pytest.approx(8000, abs=25)  # the writer pads its last frame
    assert int(np.argmax(track.samples)) == pytest.approx(3200, abs=2)


def test_no_audio_stream_gives_none(face_clip):
    assert load_audio(face_clip) is None
    assert math.isnan(leading_silence(None))


def test_silence_has_no_speech(tmp_path):
    path = write_av_clip(tmp_path / "quiet.mp4", audio=np.zeros(44100 * 2, np.float32))
    track = load_audio(path)
    assert track is not None
    assert speech_segments(track) == []
    assert leading_silence(track) == pytest.approx(track.end)


def test_broken_audio_stream_is_one_line_error_and_video_still_works(tmp_path):
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(44100 * 2) * 0.1).astype(np.float32)
    good = write_av_clip(tmp_path / "good.mp4", audio=noise)
    bad = tmp_path / "bad.mp4"
    corrupt_audio_packets(good, bad)
    with pytest.raises(AudioError) as err:
        load_audio(bad)
    assert isinstance(err.value, FakescopeError)
    assert "\n" not in str(err.value) and str(bad) in str(err.value)
    assert "audio stream cannot be decoded" in str(err.value)
    # the picture is untouched: the same frames as from the intact file
    frames_bad = read_frames(bad, "all")
    frames_good = read_frames(good, "all")
    assert len(frames_bad.frames) == len(frames_good.frames) == 50
    for a, b in zip(frames_bad.frames, frames_good.frames):
        np.testing.assert_array_equal(a.image, b.image)


def test_a_few_damaged_packets_leave_silent_gaps(tmp_path):
    # the raw PCM in Matroska cannot fail to decode, so damage is simulated as missing packets:
    # drop every 20th packet and check the rest stays in place (by timestamp, not shifted)
    rate = 16000
    t = np.arange(rate * 2) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    src = write_av_clip(
        tmp_path / "tone.mkv", audio=tone, audio_codec="pcm_s16le", sample_rate=rate
    )
    dst = tmp_path / "gappy.mkv"
    with av.open(str(src)) as cin, av.open(str(dst), "w") as cout:
        ain = cin.streams.audio[0]
        aout = cout.add_stream_from_template(ain)
        n = 0
        for packet in cin.demux(ain):
            if packet.dts is None:
                continue
            n += 1
            if n == 10:
                dropped = (float(packet.pts * ain.time_base), packet.duration * ain.time_base)
                continue
            packet.stream = aout
            cout.mux(packet)
    track = load_audio(dst)
    assert track is not None
    start, length = dropped[0], float(dropped[1])
    gap = track.window(start + 0.002, start + length - 0.002)
    assert np.abs(gap).max() < 0.05  # silent where the packet was
    after = track.window(start + length + 0.01, start + length + 0.11)
    expected = 0.5 * np.sin(2 * np.pi * 440 * (np.arange(1600) / rate + start + length + 0.01))
    assert np.abs(after - expected).max() < 0.02  # the rest is where it was, not pulled back


# -- real speech (the shared data; skipped when absent) ------------------------------------
def _speech_clip() -> Path:
    labels = SHARED_DATA / "wild" / "labels.csv"
    if not labels.is_file():
        pytest.skip(f"shared data not found in {SHARED_DATA} (set FAKESCOPE_SHARED_DATA)")
    with open(labels) as fh:
        for row in csv.DictReader(fh):
            if row["source"] == "grid" and row["has_audio"] == "1":
                return SHARED_DATA / "wild" / row["path"]
    pytest.skip("no GRID clip with audio in the shared data")


def test_speech_segments_and_leading_silence_on_the_video_timeline(tmp_path):
    src = _speech_clip()
    original = load_audio(src)
    assert original is not None
    segments = speech_segments(original)
    assert segments, "GRID clips are read sentences"
    assert all(0 <= a < b <= original.end + 0.05 for a, b in segments)
    first = leading_silence(original)
    assert first == pytest.approx(max(0.0, segments[0][0]))
    # the same speech heard 1 s later in a new clip: its speech moves 1 s along the timeline
    delayed = write_av_clip(
        tmp_path / "delayed.mp4",
        n_frames=FPS * 5,
        audio=np.concatenate([np.zeros(SAMPLE_RATE, np.float32), original.samples]),
        sample_rate=SAMPLE_RATE,
    )
    track = load_audio(delayed)
    assert track is not None
    assert leading_silence(track) == pytest.approx(first + 1.0, abs=0.05)


def test_leading_silence_on_a_prefix_equals_the_whole_track():
    # leading_silence runs VAD on a growing prefix (2 s, 4 s, ...): with 3 s of silence first,
    # the first prefix holds no speech and the second must give what the whole track gives
    original = load_audio(_speech_clip())
    assert original is not None
    for pad in (0.0, 3.0):
        samples = np.concatenate([np.zeros(round(pad * SAMPLE_RATE), np.float32), original.samples])
        track = AudioTrack(samples, SAMPLE_RATE, original.start)
        segments = speech_segments(track)
        assert leading_silence(track) == max(0.0, segments[0][0])
