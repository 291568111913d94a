"""Video -> sampled frames -> faces -> tracks -> crops in the cache: one video at a time.

Decoding runs in a background thread while faces are detected in the caller's thread (PyAV and
OpenCV release the GIL), so the two overlap on a multi-core machine.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .cache import CacheEntry, CropCache, EntryWriter, file_fingerprint, settings_key
from .context import ContextCutter, ContextSettings
from .errors import ConfigError, CorruptVideoError, FakescopeError, MissingFileError, NotAVideoError
from .faces import (
    CropSettings,
    FaceCrop,
    FaceDetector,
    TrackingSettings,
    build_tracks,
    create_detector,
    crop_face,
    detector_config,
)
from .io import VideoReader, parse_sampling
from .types import FaceBox, SampledFrame

__all__ = ["ContextSettings", "ExtractResult", "ExtractSettings", "Extractor"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractSettings:
    """Everything that decides what ``extract`` produces (all of it is in the cache key)."""

    sampling: str = "uniform:32"
    detector: str = "yunet"
    detector_options: tuple[tuple[str, Any], ...] = ()
    crop: CropSettings = field(default_factory=CropSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    max_faces: int = 0  # keep at most this many faces per frame, largest first (0 = all)
    context: ContextSettings | None = None  # opt-in background windows and frame runs

    def __post_init__(self) -> None:
        object.__setattr__(self, "sampling", str(parse_sampling(self.sampling)))
        if self.max_faces < 0:
            raise ConfigError("max_faces must be >= 0")

    def make_detector(self) -> FaceDetector:
        return create_detector(self.detector, **dict(self.detector_options))

    def key_dict(self, detector: FaceDetector) -> dict[str, Any]:
        key: dict[str, Any] = {
            "sampling": self.sampling,
            "detector": detector_config(detector),
            "crop": self.crop.to_dict(),
            "tracking": self.tracking.to_dict(),
            "max_faces": self.max_faces,
        }
        if self.context is not None:  # only when asked: keys of plain extractions stay as they were
            key["context"] = self.context.to_dict()
        return key


@dataclass
class ExtractResult:
    """What happened to one input. ``status`` is ``ok``, ``no_face`` or ``failed``."""

    path: str
    status: str
    error: str | None = None
    frames_sampled: int = 0
    frames_with_face: int = 0
    tracks: int = 0
    seconds: float = 0.0
    cached: bool = False
    warnings: list[str] = field(default_factory=list)
    cache_key: str | None = None
    entry: CacheEntry | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "error": self.error,
            "frames_sampled": self.frames_sampled,
            "frames_with_face": self.frames_with_face,
            "tracks": self.tracks,
            "seconds": round(self.seconds, 3),
            "cached": self.cached,
            "warnings": self.warnings,
            "cache_key": self.cache_key,
        }


def _decode_in_background(
    reader: VideoReader, indices: list[int], segments: list[int]
) -> Iterator[SampledFrame]:
    """Run the decoder in a thread, hand frames over through a small queue."""
    q: queue.Queue[Any] = queue.Queue(maxsize=6)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for frame in reader.frames(indices, segments):
                while not stop.is_set():
                    try:
                        q.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=work, name="fakescope-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class Extractor:
    """Extract faces of videos into a crop cache with one detector instance (not thread-safe)."""

    def __init__(
        self, settings: ExtractSettings, cache: CropCache | str | os.PathLike[str]
    ) -> None:
        self.settings = settings
        self.cache = cache if isinstance(cache, CropCache) else CropCache(cache)
        self._detector: FaceDetector | None = None

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            self._detector = self.settings.make_detector()
        return self._detector

    def cache_key(self, path: str | os.PathLike[str]) -> str:
        return settings_key(file_fingerprint(path), self.settings.key_dict(self.detector))

    def __call__(self, path: str | os.PathLike[str]) -> ExtractResult:
        """Extract one video; failures on the input become ``status="failed"`` results."""
        start = time.perf_counter()
        spath = os.fspath(path)
        try:
            if not Path(spath).exists():
                raise MissingFileError(spath)
            if not Path(spath).is_file():
                raise NotAVideoError(spath, "not a regular file")
            key = self.cache_key(spath)
            entry = self.cache.get(key)
            cached = entry is not None
            if entry is None:
                entry = self._extract(spath, key)
            return self._result(spath, entry, cached, time.perf_counter() - start)
        except FakescopeError as exc:
            return ExtractResult(
                spath, "failed", error=str(exc), seconds=time.perf_counter() - start
            )
        except (OSError, MemoryError) as exc:
            msg = f"{spath}: {type(exc).__name__}: {' '.join(str(exc).split())}"
            return ExtractResult(spath, "failed", error=msg, seconds=time.perf_counter() - start)

    @staticmethod
    def _result(path: str, entry: CacheEntry, cached: bool, seconds: float) -> ExtractResult:
        meta = entry.meta
        return ExtractResult(
            path=path,
            status=meta["status"],
            frames_sampled=len(meta["frames"]),
            frames_with_face=int(meta["frames_with_face"]),
            tracks=len(meta["tracks"]),
            seconds=seconds,
            cached=cached,
            warnings=list(meta.get("warnings", [])),
            cache_key=entry.key,
            entry=entry,
        )

    def _extract(self, path: str, key: str) -> CacheEntry:
        s = self.settings
        spec = parse_sampling(s.sampling)
        detector = self.detector
        frames: list[dict[str, Any]] = []
        detections: list[list[FaceBox]] = []
        futures: dict[tuple[int, int], Future[FaceCrop]] = {}
        ctx = ContextCutter(s.context) if s.context is not None else None
        with ExitStack() as stack:
            stack.enter_context(_opencv_threads(1))
            reader = stack.enter_context(VideoReader(path))
            writer = stack.enter_context(self.cache.writer(key))
            # crops are cut and PNG-encoded on a worker thread while the next frame is decoded
            pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="fakescope-crop"))
            index = reader.index
            if not index.complete:
                reader.warnings.append(
                    f"only {len(index)} of {reader.info.frame_count} frames are readable "
                    "(truncated or damaged file); sampling those"
                )
            idx, seg = spec.select(index.timestamps)
            sampled = set(idx.tolist())
            want, want_seg = idx.tolist(), seg.tolist()
            if ctx is not None:  # the frames after each sampled one, for runs of the context
                want, want_seg = ctx.frames_to_decode(want, want_seg, len(index))
            for frame in _decode_in_background(reader, want, want_seg):
                if ctx is not None:
                    ctx.follow(frame, writer, pool)
                if frame.index not in sampled:
                    continue
                faces = detector.detect(frame.image)
                if s.max_faces:
                    faces = faces[: s.max_faces]
                pos = len(frames)
                frames.append(
                    {
                        "index": frame.index,
                        "timestamp": round(frame.timestamp, 6),
                        "segment": frame.segment,
                    }
                )
                detections.append(faces)
                for k, box in enumerate(faces):
                    futures[(pos, k)] = pool.submit(
                        _crop_and_write, writer, _tmp_name(pos, k), frame.image, box, s.crop
                    )
                if ctx is not None:
                    ctx.anchor(pos, frame, faces, writer, pool)
            crops = {pos_k: future.result() for pos_k, future in futures.items()}
            warnings = list(reader.warnings)
            info = reader.info
            if not frames:
                raise CorruptVideoError(path)
            for w in warnings:
                log.warning("%s: %s", path, w)
            tracks = build_tracks(detections, s.tracking)
            track_meta = []
            for track in tracks:
                files, kps, lms, ckps, clms = [], [], [], [], []
                for pos, box in zip(track.frames, track.boxes):
                    k = next(i for i, b in enumerate(detections[pos]) if b is box)
                    crop = crops.pop((pos, k))
                    name = f"t{track.track_id:03d}_f{frames[pos]['index']:06d}.png"
                    writer.rename_crop(_tmp_name(pos, k), name)
                    files.append(name)
                    kps.append(box.keypoints.round(2).tolist())
                    ckps.append(crop.keypoints.round(2).tolist())
                    if box.landmarks is not None and crop.landmarks is not None:
                        lms.append(box.landmarks.round(2).tolist())
                        clms.append(crop.landmarks.round(2).tolist())
                track_meta.append(
                    {
                        "track_id": track.track_id,
                        "frames": list(track.frames),
                        "frame_indices": [frames[p]["index"] for p in track.frames],
                        "timestamps": [frames[p]["timestamp"] for p in track.frames],
                        "boxes": [[round(float(v), 2) for v in b.as_array()] for b in track.boxes],
                        "scores": [round(b.score, 4) for b in track.boxes],
                        "keypoints": kps,
                        "landmarks": lms or None,
                        "crop_keypoints": ckps,
                        "crop_landmarks": clms or None,
                        "files": files,
                    }
                )
                if ctx is not None:
                    track_meta[-1]["context"] = ctx.track_meta(track, detections, frames, writer)
            for pos, k in crops:  # faces of tracks dropped by tracking.min_frames
                writer.remove_crop(_tmp_name(pos, k))
            if ctx is not None:
                ctx.remove_unused(writer)
            with_face = len({p for t in tracks for p in t.frames})
            meta = {
                "status": "ok" if tracks else "no_face",
                "reason": None if tracks else f"no face found in {len(frames)} sampled frames",
                "source": {"path": path, "name": Path(path).name, "still": reader.still},
                "video": info.to_dict(),
                "frame_count": len(index),
                "settings": s.key_dict(detector),
                "frames": frames,
                "frames_with_face": with_face,
                "tracks": track_meta,
                "warnings": warnings,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            return writer.commit(meta)


@contextmanager
def _opencv_threads(n: int) -> Iterator[None]:
    """Run OpenCV single-threaded while the decoder's threads use the other cores: on two
    cores this saves a third of the detector's CPU time (less contention, same output)."""
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def _tmp_name(pos: int, k: int) -> str:
    return f"tmp_{pos:06d}_{k:03d}.png"


def _crop_and_write(
    writer: EntryWriter, name: str, image: np.ndarray, box: FaceBox, settings: CropSettings
) -> FaceCrop:
    crop = crop_face(image, box, settings)
    writer.add_crop(name, crop.image)
    return crop
