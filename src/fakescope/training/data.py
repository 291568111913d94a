"""Training samples from a manifest and the face crops that ``fakescope extract`` cached.

Each video contributes ``frames_per_video`` crops (evenly spread over its first ``tracks``
face tracks). With SBI, every real crop also yields a self-blended pseudo-fake.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from ..cache import CacheEntry, CropCache
from ..datasets import read_manifest
from ..errors import DatasetError
from .windows import track_windows  # torch-free home (scans import it from there)

__all__ = [
    "ClipDataset",
    "ClipSample",
    "CropSample",
    "FeatureDataset",
    "FrameDataset",
    "load_clips",
    "load_samples",
    "track_windows",
]


@dataclass(frozen=True)
class CropSample:
    crop: str  # PNG path
    label: int
    video_id: str
    landmarks: tuple[tuple[float, float], ...] | None  # crop coordinates (68 or 5 points)


def _extract_rows(crops_dir: Path) -> tuple[dict[str, dict[str, Any]], Path]:
    """path -> summary row of a ``fakescope extract`` output folder, and its cache folder."""
    summary = crops_dir / "summary.json"
    rows: dict[str, dict[str, Any]] = {}
    cache: Path | None = None
    if summary.is_file():
        data = json.loads(summary.read_text())
        cache = Path(data["cache"])
        rows = {os.path.realpath(v["path"]): v for v in data["videos"]}
    elif (crops_dir / "results.jsonl").is_file():
        from ..engines import ResultLog

        rows = {
            os.path.realpath(k): v for k, v in ResultLog(crops_dir / "results.jsonl").done().items()
        }
        cache = crops_dir / "cache"
    if cache is None:
        raise DatasetError(f"{crops_dir}: no summary.json or results.jsonl of 'fakescope extract'")
    return rows, cache


def _split_rows(
    manifest_path: str, split: str, labels: tuple[int, ...], max_videos: int, seed: int
) -> tuple[Any, list[str]]:
    manifest = read_manifest(manifest_path)
    table = manifest.table
    if table["split"].isna().all():
        raise DatasetError(
            f"{manifest_path}: no split column values; run 'fakescope datasets split' first"
        )
    table = table[(table["split"] == split) & table["label"].isin(labels)]
    if max_videos and len(table) > max_videos:
        table = table.sample(n=max_videos, random_state=seed)
    return table, manifest.absolute_paths_of(table)


def _entries(
    manifest_path: str,
    crops_dir: str,
    split: str,
    labels: tuple[int, ...],
    max_videos: int,
    seed: int,
) -> Iterator[tuple[str, int, CacheEntry]]:
    """(video id, label, cache entry) of every extracted video of a split."""
    table, paths = _split_rows(manifest_path, split, labels, max_videos, seed)
    rows, cache_dir = _extract_rows(Path(crops_dir))
    cache = CropCache(cache_dir)
    for vid, path, label in zip(table["video_id"], paths, table["label"]):
        row = rows.get(os.path.realpath(path))
        entry = cache.get(row["cache_key"]) if row and row.get("cache_key") else None
        if entry is not None:
            yield str(vid), int(label), entry


def _read_crop(path: str, size: int | None = None) -> np.ndarray:
    """A cached crop as RGB uint8, resized to ``size`` when given."""
    import cv2

    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError(f"{path}: cannot read cached crop")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if size and rgb.shape[:2] != (size, size):
        rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
    return np.asarray(rgb)


def _normalise(images: np.ndarray, mean: np.ndarray, std: np.ndarray) -> Any:
    """(..., H, W, 3) uint8 -> float tensor (..., 3, H, W), normalised."""
    import torch

    x = (images.astype(np.float32) / 255.0 - mean) / std
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, -3)))


def load_samples(
    manifest_path: str,
    crops_dir: str,
    split: str,
    *,
    frames_per_video: int = 8,
    tracks: int = 1,
    labels: tuple[int, ...] = (0, 1),
    max_videos: int = 0,
    seed: int = 0,
) -> list[CropSample]:
    """The crops of one split: manifest rows joined to their cache entries."""
    samples: list[CropSample] = []
    found = 0
    for vid, label, entry in _entries(manifest_path, crops_dir, split, labels, max_videos, seed):
        found += 1
        picks: list[tuple[str, Any]] = []
        for track in entry.tracks[:tracks]:
            lms = (
                track.get("crop_landmarks")
                or track.get("crop_keypoints")
                or [None] * len(track["files"])
            )
            picks.extend(zip([str(entry.root / "crops" / f) for f in track["files"]], lms))
        if not picks:
            continue
        chosen = np.unique(
            np.linspace(0, len(picks) - 1, min(frames_per_video, len(picks))).round().astype(int)
        )
        for k in chosen:
            crop, lm = picks[k]
            samples.append(
                CropSample(crop, int(label), str(vid), tuple(map(tuple, lm)) if lm else None)
            )
    if not samples:
        raise DatasetError(
            f"no crops for split '{split}' ({found} videos extracted): run "
            f"'fakescope extract {manifest_path} --out {crops_dir}' with the same settings first"
        )
    return samples


class FrameDataset(Dataset):
    """A torch-style dataset of (image tensor, label, index) from crop samples.

    ``sbi=True`` doubles it: item ``i + n`` is a self-blended pseudo-fake of real crop ``i``.
    Randomness (augmentation, SBI) comes from a generator seeded by (seed, epoch, index), so an
    epoch is reproducible whatever the worker layout.
    """

    def __init__(
        self,
        samples: list[CropSample],
        *,
        input_size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        augment: Any = None,
        sbi: Any = None,
        seed: int = 0,
    ) -> None:
        self.samples = samples
        self.input_size = input_size
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.augment = augment
        self.sbi = sbi
        self.seed = seed
        self.epoch = 0
        self.n_real = len(samples)

    def __len__(self) -> int:
        return self.n_real * (2 if self.sbi is not None else 1)

    def labels(self) -> np.ndarray:
        base = np.array([s.label for s in self.samples], np.int64)
        return (
            np.concatenate([base, np.ones(self.n_real, np.int64)]) if self.sbi is not None else base
        )

    def video_ids(self) -> list[str]:
        ids = [s.video_id for s in self.samples]
        return ids + [f"{v}#sbi" for v in ids] if self.sbi is not None else ids

    def load(self, index: int) -> tuple[np.ndarray, int]:
        """The uint8 crop for an item (SBI applied, before augmentation) and its label."""
        sample = self.samples[index % self.n_real]
        image = _read_crop(sample.crop)
        if index < self.n_real:
            return image, sample.label
        from .sbi import self_blend

        if sample.landmarks is None:
            raise DatasetError(
                f"{sample.crop}: SBI needs landmarks or keypoints in the cache entry"
            )
        rng = np.random.default_rng([self.seed, self.epoch, index, 1])
        blended = self_blend(image, np.asarray(sample.landmarks, np.float32), rng, config=self.sbi)
        return blended.image, 1

    def __getitem__(self, index: int) -> tuple[Any, int, int]:
        import cv2

        image, label = self.load(index)
        if self.augment is not None:
            from .augment import augment_image

            rng = np.random.default_rng([self.seed, self.epoch, index, 2])
            image = augment_image(image, rng, self.augment)
        s = self.input_size
        if image.shape[:2] != (s, s):
            image = cv2.resize(image, (s, s), interpolation=cv2.INTER_AREA)
        return _normalise(image, self.mean, self.std), label, index


@dataclass(frozen=True)
class ClipSample:
    """``T`` consecutive sampled crops of one face track (for clip models); a track shorter
    than ``T`` is padded with its last crop (``padded``; ``frames`` counts the real ones)."""

    crops: tuple[str, ...]
    label: int
    video_id: str
    padded: bool = False
    frames: int = 0


def video_clips(
    per_track: list[list[str]], label: int, video_id: str, clip_frames: int, clips_per_video: int
) -> list[ClipSample]:
    """Up to ``clips_per_video`` clips of one video, spread evenly over the windows (stride 1)
    of its tracks' time-ordered files (crops, or flow images); a track shorter than
    ``clip_frames`` gives one padded clip."""
    windows = [
        ClipSample(tuple(files[k] for k in positions), label, video_id, padded,
                   min(len(files), clip_frames))
        for files in per_track
        for positions, padded in track_windows(len(files), clip_frames, 1)
    ]  # fmt: skip
    if not windows:
        return []
    n = min(clips_per_video, len(windows))
    picks = np.unique(np.linspace(0, len(windows) - 1, n).round().astype(int))
    return [windows[k] for k in picks]


def load_clips(
    manifest_path: str,
    crops_dir: str,
    split: str,
    *,
    clip_frames: int = 8,
    clips_per_video: int = 2,
    tracks: int = 1,
    labels: tuple[int, ...] = (0, 1),
    max_videos: int = 0,
    seed: int = 0,
) -> list[ClipSample]:
    """Clips of ``clip_frames`` consecutive sampled crops (in time order) of each track, up to
    ``clips_per_video`` per video spread evenly over its windows (stride 1). The same
    extraction serves every T: a 32-frame extraction gives 8-frame and 32-frame clips. A track
    shorter than T is padded with its last crop and flagged (seed 000's rule)."""
    if clip_frames < 2:
        raise DatasetError("clip_frames must be >= 2 (use load_samples for single frames)")
    from ..models.registry import min_track_frames

    shortest = min_track_frames(clip_frames)
    clips: list[ClipSample] = []
    found = 0
    for vid, label, entry in _entries(manifest_path, crops_dir, split, labels, max_videos, seed):
        found += 1
        per_track = [
            [str(entry.root / "crops" / f) for f in t["files"]] for t in entry.tracks[:tracks]
        ]
        # a track with too little time in it is skipped (scans skip it too)
        per_track = [files for files in per_track if len(files) >= shortest]
        clips += video_clips(per_track, int(label), str(vid), clip_frames, clips_per_video)
    if not clips:
        raise DatasetError(
            f"no clips for split '{split}' ({found} videos extracted): run "
            f"'fakescope extract {manifest_path} --out {crops_dir}' with the same settings first"
        )
    return clips


class ClipDataset(Dataset):
    """(clip tensor (T, 3, S, S), label, index) items; one augmentation draw for the whole clip."""

    def __init__(
        self,
        clips: list[ClipSample],
        *,
        input_size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        augment: Any = None,
        seed: int = 0,
    ) -> None:
        self.clips = clips
        self.input_size = input_size
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.clips)

    def labels(self) -> np.ndarray:
        return np.array([c.label for c in self.clips], np.int64)

    def video_ids(self) -> list[str]:
        return [c.video_id for c in self.clips]

    def __getitem__(self, index: int) -> tuple[Any, int, int]:
        clip = self.clips[index]
        frames = [_read_crop(path, self.input_size) for path in clip.crops]
        video = np.stack(frames)
        if self.augment is not None:
            from .augment import augment_clip

            video = augment_clip(
                video, np.random.default_rng([self.seed, self.epoch, index, 2]), self.augment
            )
        return _normalise(video, self.mean, self.std), clip.label, index


class FeatureDataset(Dataset):
    """(features, label, index) items over cached frame-encoder features: one row per crop
    (frame models) or a (T, C) stack per clip; ``rows[i]`` indexes ``features``."""

    def __init__(
        self, features: np.ndarray, rows: list[Any], labels: np.ndarray, videos: list[str]
    ):
        self.features = features
        self.rows = rows
        self._labels = labels
        self._videos = videos
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.rows)

    def labels(self) -> np.ndarray:
        return self._labels

    def video_ids(self) -> list[str]:
        return self._videos

    def __getitem__(self, index: int) -> tuple[Any, int, int]:
        import torch

        return torch.from_numpy(self.features[self.rows[index]]), int(self._labels[index]), index
