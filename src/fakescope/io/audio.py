"""Audio input: the sound track of a video as 16 kHz mono float32 on the video's timeline.

``load_audio`` decodes the first audio stream with PyAV. Every decoded frame is placed by its
presentation timestamp (gaps left by damaged packets stay silent instead of shifting what
follows), then the whole track goes through one PyAV ``AudioResampler`` to ``SAMPLE_RATE``
mono. Time 0 is the video's time 0 as :class:`fakescope.io.video.VideoReader` sees it (the
video stream's ``start_time``), so ``AudioTrack.window(t, t + 1)`` is the sound heard while
the frame with timestamp ``t`` and the following second are shown.

Speech comes from silero VAD (its model ships inside the ``silero-vad`` package; it is loaded
once per process). Seed 001 cuts a video into 1-s segments of 5 frames at 5 FPS:
``segment_windows(track, times)`` gives the 1-s window that starts at each segment's first
frame.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av
import av.error
import numpy as np

from ..errors import AudioError, FakescopeError, MissingDependencyError
from .video import _ffmpeg_detail, _open

__all__ = [
    "SAMPLE_RATE",
    "AudioError",
    "AudioTrack",
    "leading_silence",
    "load_audio",
    "segment_windows",
    "speech_segments",
]

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
# more damaged packets than this share of the stream: the stream is broken, not blemished
MAX_DAMAGED_SHARE = 0.1
_CHUNK = 1 << 16  # samples per frame fed to the final resampler


@dataclass(frozen=True, eq=False)  # eq on an array field would be ambiguous: identity instead
class AudioTrack:
    """Mono float32 samples in [-1, 1] at ``sample_rate``; ``samples[0]`` plays at ``start``
    seconds on the video's timeline (negative when the sound starts before the picture)."""

    samples: np.ndarray
    sample_rate: int
    start: float
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def end(self) -> float:
        """Video time at which the sound ends."""
        return self.start + self.duration

    def _index(self, t: float) -> int:
        return round((t - self.start) * self.sample_rate)

    def _slice(self, i0: int, n: int) -> np.ndarray:
        """``n`` samples from index ``i0`` (may lie outside the track: zeros there)."""
        out = np.zeros(max(0, n), dtype=np.float32)
        lo, hi = max(i0, 0), min(i0 + n, len(self.samples))
        if hi > lo:
            out[lo - i0 : hi - i0] = self.samples[lo:hi]
        return out

    def window(self, t0: float, t1: float) -> np.ndarray:
        """The samples covering ``[t0, t1)`` of the video timeline, zero where there is no
        sound; ``round((t1 - t0) * sample_rate)`` samples."""
        return self._slice(self._index(t0), round((t1 - t0) * self.sample_rate))


def _video_start(container: av.container.InputContainer) -> float:
    """Time 0 of ``VideoReader``'s timestamps, in seconds of the container's clock."""
    if container.streams.video:
        v = container.streams.video[0]
        if v.start_time is not None and v.time_base is not None:
            return float(v.start_time * v.time_base)
    if container.start_time is not None:
        return container.start_time / 1_000_000
    return 0.0


def load_audio(path: str | os.PathLike[str], sample_rate: int = SAMPLE_RATE) -> AudioTrack | None:
    """Decode the first audio stream of ``path`` to mono float32 at ``sample_rate``.

    Returns None when the file has no audio stream. Raises :class:`AudioError` (one line)
    when the stream cannot be decoded: no decoder, nothing decodable, or more than
    ``MAX_DAMAGED_SHARE`` of its packets damaged. A few damaged packets leave silent gaps and
    a warning in ``AudioTrack.warnings``. Errors opening the file itself are the video
    reader's (:class:`fakescope.errors.InputError`).
    """
    path = os.fspath(path)
    container = _open(path)
    try:
        if not container.streams.audio:
            return None
        return _decode(container, path, sample_rate)
    finally:
        container.close()


def _decode(container: av.container.InputContainer, path: str, sample_rate: int) -> AudioTrack:
    stream = container.streams.audio[0]
    ctx = stream.codec_context
    if ctx is None or ctx.codec is None or not getattr(ctx.codec, "is_decoder", True):
        raise AudioError(path, "FFmpeg has no decoder for this audio stream")
    tb = stream.time_base
    native = int(stream.rate or ctx.sample_rate or 0)
    if native <= 0:
        raise AudioError(path, "the stream states no sample rate")
    notes: list[str] = []
    # pass 1: decode, downmix to mono float at the native rate, place each frame by its pts
    mono = av.AudioResampler(format="flt", layout="mono", rate=native)
    pieces: list[tuple[int, np.ndarray]] = []
    first_pts: int | None = None
    expected = 0  # where the next frame goes when it sits right after the previous one
    packets = damaged = 0
    detail = ""
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            packets += 1
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                damaged += 1
                detail = detail or _ffmpeg_detail(exc)
                continue
            for frame in frames:
                if frame.sample_rate and frame.sample_rate != native:
                    raise AudioError(path, "the sample rate changes within the stream")
                data = np.concatenate(
                    [f.to_ndarray().reshape(-1) for f in mono.resample(frame)]
                ).astype(np.float32, copy=False)
                if frame.pts is not None and tb is not None:
                    if first_pts is None:
                        first_pts = int(frame.pts)
                    pos = round(float((frame.pts - first_pts) * tb) * native)
                    if abs(pos - expected) <= 2:  # rounding of the timestamps: keep contiguous
                        pos = expected
                else:
                    pos = expected
                if pos < 0:
                    data, pos = data[-pos:], 0
                pieces.append((pos, data))
                expected = pos + len(data)
    except av.error.FFmpegError as exc:
        notes.append(f"audio demuxing stopped early: {_ffmpeg_detail(exc)}")
    except (NotImplementedError, ValueError) as exc:
        raise AudioError(path, str(exc)) from None
    if not pieces:
        raise AudioError(path, detail or "no audio frame could be decoded")
    if packets and damaged / packets > MAX_DAMAGED_SHARE:
        raise AudioError(path, f"{damaged} of {packets} packets damaged: {detail}")
    if damaged:
        notes.append(f"{damaged} of {packets} audio packets could not be decoded (silent)")
    total = max(p + len(d) for p, d in pieces)
    buf = np.zeros(total, dtype=np.float32)
    for pos, data in pieces:
        buf[pos : pos + len(data)] = data
    start_native = float(first_pts * tb) if first_pts is not None and tb is not None else 0.0
    start = start_native - _video_start(container)
    samples = _resample(buf, native, sample_rate)
    np.clip(samples, -1.0, 1.0, out=samples)
    for w in notes:
        log.warning("%s: %s", path, w)
    return AudioTrack(samples, sample_rate, round(start, 9), tuple(notes))


def _resample(mono: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Mono float32 at ``rate`` → ``target`` Hz with one PyAV resampler (FFmpeg's swr)."""
    if rate == target:
        return np.ascontiguousarray(mono, dtype=np.float32)
    rs = av.AudioResampler(format="flt", layout="mono", rate=target)
    out: list[np.ndarray] = []
    for i in range(0, len(mono), _CHUNK):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(mono[None, i : i + _CHUNK]), format="flt", layout="mono"
        )
        frame.sample_rate = rate
        frame.pts = i
        frame.time_base = Fraction(1, rate)
        out.extend(f.to_ndarray().reshape(-1) for f in rs.resample(frame))
    out.extend(f.to_ndarray().reshape(-1) for f in rs.resample(None))
    if not out:
        return np.zeros(0, np.float32)
    samples = np.concatenate(out).astype(np.float32, copy=False)
    n = round(len(mono) * target / rate)  # the flush may add a few samples of filter tail
    return np.ascontiguousarray(samples[:n])


# -- speech ----------------------------------------------------------------------------------
_VAD_LOCK = threading.Lock()
_VAD_MODEL: Any = None


def _silero() -> Any:
    """The ``silero_vad`` package, imported without its side effect on the process: its import
    runs ``torch.set_num_threads(1)`` (silero_vad/model.py), which left every later training,
    scan or evaluation in the same process on one core. PyTorch's thread count is put back."""
    import torch

    threads = torch.get_num_threads()
    try:
        import silero_vad
    except ImportError:
        raise MissingDependencyError("silero-vad", "audio", "speech detection") from None
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    return silero_vad


def _vad_model() -> Any:
    """silero VAD's TorchScript model, loaded once per process (it ships inside the package)."""
    global _VAD_MODEL
    if _VAD_MODEL is None:
        silero_vad = _silero()
        with warnings.catch_warnings():  # torch.jit.load / importlib.resources deprecations
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            _VAD_MODEL = silero_vad.load_silero_vad()
    return _VAD_MODEL


def speech_segments(track: AudioTrack, threshold: float = 0.5) -> list[tuple[float, float]]:
    """Speech as ``(start, end)`` seconds on the video timeline, from silero VAD with its
    default settings (250 ms shortest speech, 100 ms shortest pause, 30 ms padding)."""
    if track.sample_rate not in (8000, 16000):
        raise FakescopeError(
            f"silero VAD needs 8 or 16 kHz audio, got {track.sample_rate} Hz: "
            "load it with load_audio(path) (16 kHz)"
        )
    if len(track.samples) < 512:  # shorter than one VAD window
        return []
    import torch

    with _VAD_LOCK:  # the model keeps state between windows: one caller at a time
        model = _vad_model()
        with torch.no_grad():
            stamps = _silero().get_speech_timestamps(
                torch.from_numpy(np.ascontiguousarray(track.samples)),
                model,
                threshold=threshold,
                sampling_rate=track.sample_rate,
            )
    sr = track.sample_rate
    return [
        (round(track.start + s["start"] / sr, 6), round(track.start + s["end"] / sr, 6))
        for s in stamps
    ]


def segment_windows(track: AudioTrack, times: Sequence[float], length: float = 1.0) -> np.ndarray:
    """``(len(times), round(length * sample_rate))`` float32: the window of ``length`` seconds
    that starts at each video time in ``times`` (zeros where the track has no sound)."""
    n = round(length * track.sample_rate)
    out = np.zeros((len(times), n), dtype=np.float32)
    for k, t in enumerate(times):
        out[k] = track._slice(track._index(float(t)), n)
    return out


def leading_silence(track: AudioTrack | None) -> float:
    """Seconds from the start of the video (time 0) to the first speech silero VAD finds;
    where it finds none, the time the sound ends (its duration when it starts with the
    picture); nan without audio. Fakes in FakeAVCeleb and AV-Deepfake1M often start with
    silence: evaluate reports a classifier on this alone as a shortcut baseline."""
    if track is None:
        return math.nan
    # silero VAD is causal: on a prefix of the track it gives the same speech probabilities,
    # and get_speech_timestamps decides a segment's start from what comes before it. So the
    # first segment found in a prefix (closed inside it, or still open at its end and already
    # longer than the shortest speech, so kept on the whole track too) starts where the first
    # segment of the whole track does. Grow the prefix until it holds one.
    length = _FIRST_PREFIX
    while True:
        n = round(length * track.sample_rate)
        whole = n >= len(track.samples)
        part = track if whole else AudioTrack(track.samples[:n], track.sample_rate, track.start)
        segments = speech_segments(part)
        if whole or segments:
            break
        length *= 2
    first = segments[0][0] if segments else track.end
    return max(0.0, float(first))


_FIRST_PREFIX = 2.0  # seconds of sound leading_silence runs VAD on first
