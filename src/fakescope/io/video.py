"""Probe and decode videos with PyAV: frame-accurate sampling without decoding what is not needed.

Frame ``i`` is the i-th frame in presentation order, i.e. what a full sequential decode yields
at position ``i``. The reader builds that index from packet timestamps (a demux pass reads the
file but decodes nothing), then for each wanted frame either decodes forward from where it is or
seeks to the last keyframe before it, whichever decodes less. Only wanted frames are converted to
RGB; conversion costs more than decoding on H.264 4:4:4 material.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import av.error
import numpy as np

from ..errors import (
    CorruptVideoError,
    EmptyFileError,
    InputError,
    MissingFileError,
    NotAVideoError,
    NoVideoStreamError,
    UnsupportedCodecError,
)
from ..types import SampledFrame, VideoInfo
from .sampling import Sampling, parse_sampling

__all__ = ["IMAGE_EXTENSIONS", "MEDIA_EXTENSIONS", "VideoReader", "probe", "read_frames"]

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".avi",
        ".mkv",
        ".webm",
        ".mpg",
        ".mpeg",
        ".flv",
        ".wmv",
        ".ts",
        ".3gp",
        ".gif",  # PyAV decodes a GIF as a video: every frame, with its timestamps
    }
)
# still images: read as a one-frame video (one frame, its faces, no tracking)
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | IMAGE_EXTENSIONS


def _open(path: str | os.PathLike[str]) -> av.container.InputContainer:
    p = Path(path)
    if not p.exists():
        raise MissingFileError(p)
    if p.is_dir():
        raise NotAVideoError(p, "it is a directory")
    if p.stat().st_size == 0:
        raise EmptyFileError(p)
    try:
        container = av.open(str(p), mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        kind = _sniff(p)
        if kind == "mp4":
            raise CorruptVideoError(
                p, "MP4/MOV without a readable index (moov atom): truncated or incomplete file"
            ) from None
        if kind:
            raise CorruptVideoError(
                p, f"{kind} header cannot be parsed: {_ffmpeg_detail(exc)}"
            ) from None
        raise NotAVideoError(p, _ffmpeg_detail(exc)) from None
    except (OSError, ValueError) as exc:
        raise InputError(p, str(exc)) from None
    fmt = str(container.format.name)
    if fmt in _NOT_VIDEO_FORMATS:
        container.close()
        raise NotAVideoError(p, _NOT_VIDEO_FORMATS[fmt])
    return container


# FFmpeg demuxers that open files which are not videos
_NOT_VIDEO_FORMATS = {"tty": "a text file"}


def _is_still(container: av.container.InputContainer) -> bool:
    """A still image: FFmpeg's image demuxers (``image2``, ``png_pipe``, ``jpeg_pipe``...)."""
    fmt = str(container.format.name)
    return fmt == "image2" or fmt.endswith("_pipe")


# EXIF orientation -> the display rotation it implies (counter-clockwise degrees, as reported)
_EXIF_ROTATION = {3: 180, 5: 270, 6: 270, 7: 90, 8: 90}


def _exif_orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation tag (1-8) to an RGB image, as image viewers do."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: np.rot90(a, 2),
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(image)) if op else image


def _exif_orientation(path: str) -> int:
    """The EXIF orientation tag of an image file (1 when absent or unreadable)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            value = im.getexif().get(0x0112, 1)
    except (OSError, UnidentifiedImageError, ValueError):
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def _sniff(path: Path) -> str | None:
    """Recognise a video container by its first bytes (to tell damaged videos from non-videos)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "Matroska/WebM"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "AVI"
    return None


def _ffmpeg_detail(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split())[:200]


def _video_stream(container: av.container.InputContainer, path: str) -> av.video.stream.VideoStream:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams})
        detail = "audio-only file" if "audio" in kinds else f"streams: {', '.join(kinds) or 'none'}"
        raise NoVideoStreamError(path, detail)
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if ctx is None or ctx.codec is None or not getattr(ctx.codec, "is_decoder", True):
        raise UnsupportedCodecError(path, "FFmpeg has no decoder for this video stream")
    return stream


def _rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply display rotation (counter-clockwise degrees, as FFmpeg's autorotate does)."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


@dataclass(frozen=True)
class FrameIndex:
    """Presentation timestamps (stream time base) of every frame, and the keyframes among them."""

    pts: np.ndarray  # sorted, unique, int64
    key_pts: np.ndarray  # sorted, int64
    time_base: float
    start: int
    complete: bool  # False when demuxing stopped early (damaged file)

    def __len__(self) -> int:
        return len(self.pts)

    @property
    def timestamps(self) -> np.ndarray:
        return (self.pts - self.start).astype(np.float64) * self.time_base


class VideoReader:
    """Random access to the frames of one video, by presentation index.

    A still image (PNG, JPEG, BMP, WebP, TIFF) reads as a one-frame video (``still`` is True):
    frame 0 at time 0, EXIF orientation applied. A GIF is a video.

    >>> with VideoReader("clip.mp4") as reader:
    ...     frames = list(reader.frames([0, 10, 20]))
    """

    def __init__(self, path: str | os.PathLike[str], *, threads: bool = True) -> None:
        self.path = os.fspath(path)
        self.warnings: list[str] = []
        self._threads = threads
        self._container = _open(self.path)
        self.still = _is_still(self._container)
        self._still_image: np.ndarray | None = None
        try:
            self._stream = _video_stream(self._container, self.path)
            self._rotation = self._probe_rotation()
            self.info = self._make_info()
        except BaseException:
            self._container.close()
            raise
        self._index: FrameIndex | None = None

    # -- probing ---------------------------------------------------------------------------
    def _probe_rotation(self) -> int:
        """Decode the first frame: proves the stream decodes and gives the display rotation."""
        stream = self._stream
        try:
            for packet in self._container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:
                    continue
                for frame in frames:
                    if self.still:
                        orientation = _exif_orientation(self.path)
                        image = frame.to_ndarray(format="rgb24")
                        self._still_image = _exif_orient(image, orientation)
                        return _EXIF_ROTATION.get(orientation, 0)
                    return round(getattr(frame, "rotation", 0) or 0) % 360
        except av.error.FFmpegError as exc:
            raise CorruptVideoError(self.path, _ffmpeg_detail(exc)) from None
        except (NotImplementedError, ValueError) as exc:
            raise UnsupportedCodecError(self.path, str(exc)) from None
        raise CorruptVideoError(self.path)

    def _make_info(self) -> VideoInfo:
        c, s = self._container, self._stream
        ctx = s.codec_context
        if self._still_image is not None:
            h, w = self._still_image.shape[:2]
            return VideoInfo(
                path=self.path, size_bytes=os.path.getsize(self.path), container=str(c.format.name),
                codec=str(ctx.name), pix_fmt=str(ctx.pix_fmt) if ctx.pix_fmt else None,
                width=w, height=h, rotation=self._rotation, fps=0.0, duration=0.0,
                frame_count=1, frame_count_exact=True, bit_rate=None, has_audio=False,
            )  # fmt: skip
        rate = s.average_rate or s.guessed_rate or s.base_rate
        fps = float(rate) if rate else 0.0
        duration: float | None = None
        if s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif c.duration is not None:
            duration = c.duration / 1_000_000
        exact = bool(s.frames and s.frames > 0)
        if exact:
            count = int(s.frames)
        elif duration is not None and fps > 0:
            count = round(duration * fps)
        else:
            count = 0
        if not fps and duration and exact:
            fps = count / duration
        w, h = int(ctx.width), int(ctx.height)
        if self._rotation in (90, 270):
            w, h = h, w
        return VideoInfo(
            path=self.path,
            size_bytes=os.path.getsize(self.path),
            container=str(c.format.name),
            codec=str(ctx.name),
            pix_fmt=str(ctx.pix_fmt) if ctx.pix_fmt else None,
            width=w,
            height=h,
            rotation=self._rotation,
            fps=round(fps, 6),
            duration=None if duration is None else round(duration, 6),
            frame_count=count,
            frame_count_exact=exact,
            bit_rate=int(c.bit_rate) if c.bit_rate else None,
            has_audio=bool(c.streams.audio),
        )

    # -- index -----------------------------------------------------------------------------
    @property
    def index(self) -> FrameIndex:
        if self._index is None:
            self._index = self._build_index()
        return self._index

    def _build_index(self) -> FrameIndex:
        if self._still_image is not None:
            one = np.zeros(1, np.int64)
            return FrameIndex(one, one.copy(), 1.0, 0, True)
        self._reopen()
        s = self._stream
        pts: list[int] = []
        keys: list[int] = []
        complete = True
        try:
            for packet in self._container.demux(s):
                if packet.size == 0 or packet.is_discard:
                    continue
                if packet.pts is None or packet.is_corrupt:
                    if packet.pts is None:
                        pts.clear()
                        break
                    continue
                pts.append(int(packet.pts))
                if packet.is_keyframe:
                    keys.append(int(packet.pts))
        except av.error.FFmpegError as exc:
            complete = False
            self.warnings.append(f"demuxing stopped early: {_ffmpeg_detail(exc)}")
        arr = np.asarray(pts, dtype=np.int64)
        if len(arr) == 0 or len(np.unique(arr)) != len(arr):
            # no usable timestamps: fall back to the order of a sequential decode
            return self._index_by_decoding()
        arr.sort()
        start = int(s.start_time) if s.start_time is not None else int(arr[0])
        info = self.info
        if info.frame_count_exact and len(arr) < info.frame_count:
            complete = False
        elif not info.frame_count_exact and info.duration and info.fps:
            # no exact count (e.g. Matroska): compare the last timestamp with the stated duration
            covered = float(arr[-1] - start) * float(s.time_base or 1) + 1.0 / info.fps
            if info.duration - covered > max(0.5, 0.05 * info.duration):
                complete = False
        return FrameIndex(
            arr, np.asarray(sorted(keys), np.int64), float(s.time_base or 1), start, complete
        )

    def _index_by_decoding(self) -> FrameIndex:
        self._reopen()
        pts: list[int] = []
        for i, frame in enumerate(self._decode_all()):
            pts.append(int(frame.pts) if frame.pts is not None else i)
        arr = np.asarray(pts, np.int64)
        if len(np.unique(arr)) != len(arr):
            arr = np.arange(len(arr), dtype=np.int64)
        self._sequential_only = True
        tb = float(self._stream.time_base or 1)
        return FrameIndex(arr, arr[:1].copy(), tb, int(arr[0]) if len(arr) else 0, True)

    # -- decoding --------------------------------------------------------------------------
    _sequential_only = False

    def _reopen(self) -> None:
        self._container.close()
        self._container = _open(self.path)
        self._stream = self._container.streams.video[0]
        if self._threads:
            self._stream.thread_type = "AUTO"

    def _decode_from(
        self, seek_pts: int | None, wanted: frozenset[int] | None = None
    ) -> Iterator[av.VideoFrame]:
        """Decode frames forward, after seeking to ``seek_pts`` (a keyframe) when given."""
        if seek_pts is not None:
            self._container.seek(seek_pts, stream=self._stream, backward=True, any_frame=False)
        yield from self._decode_all(wanted)

    def _decode_all(self, wanted: frozenset[int] | None = None) -> Iterator[av.VideoFrame]:
        """Decode every packet; with ``wanted``, skip non-reference frames not in it.

        A frame that no other frame references can be left undecoded when it is not wanted:
        the wanted frames come out bit-identical and H.264 decoding does 20-35% less work.
        """
        damaged = 0
        ctx = self._stream.codec_context
        skipping = False
        try:
            for packet in self._container.demux(self._stream):
                if wanted is not None:
                    skip = packet.pts is not None and packet.pts not in wanted
                    if skip != skipping:
                        ctx.skip_frame = "NONREF" if skip else "DEFAULT"
                        skipping = skip
                try:
                    yield from packet.decode()
                except av.error.FFmpegError:
                    damaged += 1
                    if damaged == 1:
                        self.warnings.append("some packets could not be decoded and were skipped")
        except av.error.FFmpegError as exc:
            self.warnings.append(f"decoding stopped early: {_ffmpeg_detail(exc)}")

    def timestamps(self) -> np.ndarray:
        """Presentation time in seconds of every frame, relative to the stream start."""
        return self.index.timestamps

    def frames(
        self, indices: Sequence[int], segments: Sequence[int] | None = None
    ) -> Iterator[SampledFrame]:
        """Yield the frames at ``indices`` (presentation order), RGB with rotation applied.

        Indices past the decodable end are skipped with a warning.
        """
        index = self.index
        order = np.unique(np.asarray(indices, dtype=np.int64))
        if len(order) and (order[0] < 0):
            raise ValueError("frame indices must be >= 0")
        seg_of = dict(zip(np.asarray(indices).tolist(), segments)) if segments is not None else {}
        valid = order[order < len(index)]
        if len(valid) < len(order):
            self.warnings.append(
                f"{len(order) - len(valid)} requested frames lie past the last decodable frame"
            )
        if not len(valid):
            return
        if self._still_image is not None:  # one frame, decoded when the file was opened
            yield SampledFrame(0, 0.0, self._still_image, int(seg_of.get(0, 0)))
            return
        target_pts = index.pts[valid]
        ts = index.timestamps
        self._reopen()
        wanted = frozenset(int(p) for p in target_pts)
        decoder = self._decode_from(None, wanted)
        current: int | None = None  # pts of the last decoded frame
        pending: av.VideoFrame | None = None  # a decoded frame not consumed yet
        seeked = False
        missing = 0
        for i, tp in zip(valid.tolist(), target_pts.tolist()):
            if not self._sequential_only:
                k = int(np.searchsorted(index.key_pts, tp, side="right")) - 1
                key = int(index.key_pts[k]) if k >= 0 else None
                if (
                    key is not None
                    and key > int(index.pts[0])
                    and (current is None or key > current)
                ):
                    decoder = self._decode_from(key, wanted)
                    pending = None
                    seeked = True
            while True:
                frame = pending if pending is not None else next(decoder, None)
                pending = None
                if seeked and frame is not None and frame.pts is not None and int(frame.pts) > tp:
                    # the container seeks imprecisely (e.g. MPEG program streams have no
                    # index): decode this file from the start, without seeking, from now on
                    self._sequential_only = True
                    self._reopen()
                    decoder = self._decode_from(None, wanted)
                    frame = next(decoder, None)
                seeked = False
                if frame is None:
                    rest = len(valid) - valid.tolist().index(i)
                    self.warnings.append(
                        f"decoding ended before {rest} requested frame(s); the file looks truncated"
                    )
                    return
                if frame.pts is None:
                    continue
                current = int(frame.pts)
                if current < tp:
                    continue
                if current == tp:
                    image = _rotate(frame.to_ndarray(format="rgb24"), self._rotation)
                    yield SampledFrame(i, float(ts[i]), image, int(seg_of.get(i, 0)))
                else:  # the decoder skipped this frame (damaged data): keep what came instead
                    pending = frame
                    missing += 1
                break
        if missing:
            self.warnings.append(f"{missing} requested frame(s) could not be decoded")

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a video's metadata (and decode its first frame to prove it is readable)."""
    with VideoReader(path, threads=False) as reader:
        return reader.info


@dataclass(frozen=True)
class FrameSample:
    info: VideoInfo
    frames: list[SampledFrame]
    frame_count: int  # frames in the decodable index
    warnings: list[str]


def read_frames(
    path: str | os.PathLike[str], sampling: str | int | Sampling | None = None
) -> FrameSample:
    """Decode the frames that ``sampling`` selects (default ``uniform:32``)."""
    spec = parse_sampling(sampling)
    with VideoReader(path) as reader:
        index = reader.index
        if not index.complete:
            reader.warnings.append(
                f"only {len(index)} of {reader.info.frame_count} frames are readable "
                "(truncated or damaged file); sampling those"
            )
        idx, seg = spec.select(index.timestamps)
        frames = list(reader.frames(idx.tolist(), seg.tolist()))
        if not frames:
            raise CorruptVideoError(path)
        for w in reader.warnings:
            log.warning("%s: %s", reader.path, w)
        return FrameSample(reader.info, frames, len(index), list(reader.warnings))
