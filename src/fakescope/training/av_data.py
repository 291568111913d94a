"""Audio-visual training samples (issue 13, seed 001): S consecutive 1-s segments of one face
track with the audio of each second, and pseudo-fakes made on the fly from real clips.

A *track clip* (``AVTrack``) is one face track of an extracted video (sampled at
``segment_frames`` FPS: ``fakescope extract --sampling fps:5`` for seed 001) held in memory:
its crops resized to the model's input size, their timestamps and the video's audio
(``CacheEntry.load_audio``). A sample starts at a crop whose next S*F crops are consecutive
(no gap longer than 1.5 sampling steps); segment ``s`` is crops ``s*F .. s*F+F-1`` and the 1-s
audio window starting at its first crop's timestamp (``io.audio.segment_windows``).

Pseudo-fakes from real clips (issue 13 §6; the audio-visual counterpart of SBI), labelled per
segment, each drawn with a seeded generator:

``shift``
    the whole sample's audio taken ``d`` seconds later or earlier, ``|d|`` uniform in
    ``shift_range`` (0.2–1.5 s), on the direction that stays inside the audio when one does,
    else rolled circularly within the sample: every segment is fake;
``swap``
    the audio of another identity's clip (a random S-second stretch): every segment fake;
``replace``
    one random segment's audio replaced by a 1-s window of another identity's clip: that
    segment is fake, the others real (the sample's label is fake).

Labelled videos (``fakes: labelled`` or ``mix``) keep their manifest label on every segment.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from ..errors import ConfigError, DatasetError, FakescopeError

__all__ = [
    "KINDS",
    "AVDataSettings",
    "AVDataset",
    "AVSampleSpec",
    "AVTrack",
    "entry_audio",
    "load_av_tracks",
    "make_sample",
    "track_starts",
]

log = logging.getLogger(__name__)

KINDS = ("real", "shift", "swap", "replace")
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class AVDataSettings:
    """The ``av:`` section of a training config (data side).

    ``fakes``: ``pseudo`` (real videos only, fakes made on the fly), ``labelled`` (the
    manifest's real and fake videos as they are) or ``mix`` (both). ``kinds`` weighs the
    pseudo-fake kinds (``real`` included: the share of unaltered samples); ``samples_per_epoch``
    training samples are drawn afresh each epoch (seeded by epoch); validation uses
    ``val_windows`` windows per track, each with every kind (fixed). Training crops get one
    augmentation draw per sample: ``flip``, brightness/contrast ``jitter`` and a shift of up
    to ``translate`` pixels. ``cache_video_features``: a network with fixed visual features
    (``avsync``: ``track_video_features`` / ``forward_features``) gets them computed once per
    track instead of crops (no crop augmentation then: its features do not learn)."""

    fakes: str = "pseudo"
    kinds: dict[str, float] = field(
        default_factory=lambda: {"real": 0.5, "shift": 1 / 6, "swap": 1 / 6, "replace": 1 / 6}
    )
    shift_range: tuple[float, float] = (0.2, 1.5)
    samples_per_epoch: int = 2048
    val_windows: int = 3
    flip: bool = True
    jitter: float = 0.2
    translate: int = 3
    cache_video_features: bool = False

    def __post_init__(self) -> None:
        if self.fakes not in ("pseudo", "labelled", "mix"):
            raise ConfigError("av.fakes must be pseudo, labelled or mix")
        bad = set(self.kinds) - set(KINDS)
        if bad or not self.kinds or min(self.kinds.values()) < 0 or sum(self.kinds.values()) <= 0:
            raise ConfigError(
                f"av.kinds: weights >= 0 (not all 0) of {', '.join(KINDS)}; got {self.kinds}"
            )
        lo, hi = (float(v) for v in self.shift_range)
        if not 0 < lo <= hi:
            raise ConfigError("av.shift_range must be two seconds 0 < low <= high")
        object.__setattr__(self, "shift_range", (lo, hi))
        if self.jitter < 0 or self.translate < 0:
            raise ConfigError("av.jitter and av.translate must be >= 0")
        if self.samples_per_epoch < 1 or self.val_windows < 1:
            raise ConfigError("av.samples_per_epoch and av.val_windows must be >= 1")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AVDataSettings:
        known = set(cls.__dataclass_fields__)
        bad = set(data) - known
        if bad:
            raise ConfigError(
                f"av: unknown key(s) {', '.join(sorted(bad))}; known: {', '.join(sorted(known))}"
            )
        values = dict(data)
        if "shift_range" in values:
            values["shift_range"] = tuple(values["shift_range"])
        return cls(**values)


@dataclass
class AVTrack:
    """One face track of a video with its audio, in memory."""

    video_id: str
    group: str
    label: int
    crops: np.ndarray  # (T, H, W, 3) uint8, resized to the model's input size
    times: np.ndarray  # (T,) seconds on the video's timeline
    audio: Any  # io.audio.AudioTrack
    starts: list[int]  # crop positions where a sample of S*F consecutive crops starts
    video_feats: np.ndarray | None = None  # (T, C) per-crop features (cache_video_features)


def entry_audio(entry: Any) -> Any:
    """The audio of a cache entry (``CacheEntry.load_audio``, stored beside the crops): an
    ``AudioTrack`` or None (no audio stream); ``AudioError`` for a broken stream."""
    return entry.load_audio()


def track_starts(times: np.ndarray, n: int, step: float) -> list[int]:
    """Positions p where crops p..p+n-1 are consecutive samples (every gap <= 1.5 steps)."""
    if len(times) < n:
        return []
    ok = np.diff(times) <= 1.5 * step
    out = []
    for p in range(len(times) - n + 1):
        if ok[p : p + n - 1].all():
            out.append(p)
    return out


def _resize(crops: np.ndarray, size: int) -> np.ndarray:
    import cv2

    if crops.shape[1:3] == (size, size):
        return crops
    return np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops])


def load_av_tracks(
    manifest_path: str,
    crops_dir: str,
    split: str,
    *,
    size: int,
    segments: int,
    segment_frames: int,
    labels: tuple[int, ...] = (0,),
    tracks: int = 1,
    max_videos: int = 0,
    seed: int = 0,
) -> list[AVTrack]:
    """Every track (first ``tracks`` per video) of the split's extracted videos that has audio
    and room for one sample of ``segments`` x ``segment_frames`` consecutive crops. Videos
    without an audio track are skipped (logged); a broken audio stream is skipped with its
    one-line error."""
    from .data import _entries, _split_rows

    table, _ = _split_rows(manifest_path, split, labels, max_videos, seed)
    groups = dict(zip(table["video_id"].astype(str), table["identity_group"].astype(str)))
    need, step = segments * segment_frames, 1.0 / segment_frames
    out: list[AVTrack] = []
    found = skipped = 0
    for vid, label, entry in _entries(manifest_path, crops_dir, split, labels, max_videos, seed):
        found += 1
        try:
            audio = entry_audio(entry)
        except FakescopeError as exc:
            log.warning("%s: audio skipped (%s)", vid, exc)
            skipped += 1
            continue
        if audio is None:
            skipped += 1
            continue
        for t in entry.tracks[:tracks]:
            times = np.asarray(t["timestamps"], np.float64)
            starts = track_starts(times, need, step)
            if not starts:
                continue
            crops = _resize(entry.load_crops(t["track_id"]), size)
            out.append(AVTrack(vid, groups.get(vid, vid), int(label), crops, times, audio, starts))
    if not out:
        raise DatasetError(
            f"no audio-visual samples for split '{split}' ({found} videos extracted, {skipped} "
            f"without usable audio): extract at {segment_frames} FPS with "
            f"'fakescope extract {manifest_path} --sampling fps:{segment_frames}' and keep "
            f"videos with sound of at least {segments} s"
        )
    return out


@dataclass(frozen=True)
class AVSampleSpec:
    """One sample to build: track, start position, kind, and the draw's seed."""

    track: int
    start: int
    kind: str
    seed: int


def _windows(audio: Any, times: Sequence[float]) -> np.ndarray:
    from ..io.audio import segment_windows

    return np.asarray(segment_windows(audio, list(times), 1.0), np.float32)


def _other(tracks: list[AVTrack], i: int, rng: np.random.Generator) -> int:
    """A track of another identity group (any other track when there is a single group)."""
    others = [j for j, t in enumerate(tracks) if t.group != tracks[i].group]
    if not others:
        others = [j for j in range(len(tracks)) if j != i] or [i]
    return int(others[rng.integers(len(others))])


def _random_audio(track: AVTrack, seconds: int, rng: np.random.Generator) -> np.ndarray:
    """``seconds`` 1-s windows of a random stretch of the track's audio (inside it if it can)."""
    audio = track.audio
    lo, hi = float(audio.start), float(audio.start + audio.duration - seconds)
    t0 = float(rng.uniform(lo, hi)) if hi > lo else lo
    return _windows(audio, [t0 + s for s in range(seconds)])


def make_sample(
    tracks: list[AVTrack],
    spec: AVSampleSpec,
    segments: int,
    segment_frames: int,
    shift_range: tuple[float, float] = (0.2, 1.5),
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(crops (S, F, H, W, 3) uint8, audio (S, 16000) float32, segment labels (S,), video label)
    of one sample; see the module docstring for the kinds."""
    rng = np.random.default_rng(spec.seed)
    tr = tracks[spec.track]
    s, f = segments, segment_frames
    pos = spec.start
    crops = tr.crops[pos : pos + s * f].reshape(s, f, *tr.crops.shape[1:])
    seg_times = [float(tr.times[pos + k * f]) for k in range(s)]
    seg_labels = np.full(s, tr.label, np.float32)
    if spec.kind == "real":
        audio = _windows(tr.audio, seg_times)
    elif spec.kind == "shift":
        d = float(rng.uniform(*shift_range))
        a0, a1 = float(tr.audio.start), float(tr.audio.start + tr.audio.duration)
        first, last = seg_times[0], seg_times[-1] + 1.0
        fits = [sign for sign in (1.0, -1.0) if a0 <= first + sign * d and last + sign * d <= a1]
        sign = fits[int(rng.integers(len(fits)))] if fits else float(rng.choice([1.0, -1.0]))
        if fits:
            audio = _windows(tr.audio, [t + sign * d for t in seg_times])
        else:  # too short to shift inside the audio: roll within the sample
            flat = _windows(tr.audio, seg_times).reshape(-1)
            audio = np.roll(flat, round(sign * d * SAMPLE_RATE)).reshape(s, -1)
        seg_labels[:] = 1.0
    elif spec.kind == "swap":
        audio = _random_audio(tracks[_other(tracks, spec.track, rng)], s, rng)
        seg_labels[:] = 1.0
    elif spec.kind == "replace":
        audio = _windows(tr.audio, seg_times)
        k = int(rng.integers(s))
        audio[k] = _random_audio(tracks[_other(tracks, spec.track, rng)], 1, rng)[0]
        seg_labels[k] = 1.0
    else:
        raise ConfigError(f"av sample kind '{spec.kind}': choose from {', '.join(KINDS)}")
    return crops, audio, seg_labels, int(seg_labels.max() > 0)


class AVDataset(Dataset):
    """Items ``(frames (S, F, 3, H, W) float, audio (S, 16000) float, segment_labels (S,),
    video_label, index)``; with ``features=True`` the first item is the tracks' precomputed
    per-crop features (S, F, C) instead (``AVTrack.video_feats``; a sample's first crop copies
    its second's, as a network computing them inside the sample does).

    ``train=True``: ``samples_per_epoch`` specs drawn afresh from (seed, epoch) (set
    ``epoch`` before each epoch): a random track (tracks weighted by their number of starts),
    start and kind (labelled fakes keep their label: kind ``real``). ``train=False``: a fixed
    list: ``val_windows`` starts spread over each track, each with every kind of
    ``kinds`` with a positive weight (labelled videos: ``real`` only)."""

    def __init__(
        self,
        tracks: list[AVTrack],
        settings: AVDataSettings,
        *,
        segments: int,
        segment_frames: int,
        mean: Sequence[float],
        std: Sequence[float],
        train: bool,
        seed: int = 0,
        features: bool = False,
    ) -> None:
        if features and any(t.video_feats is None for t in tracks):
            raise ConfigError("AVDataset(features=True) needs every track's video_feats")
        self.features = features
        self.tracks = tracks
        self.settings = settings
        self.segments, self.segment_frames = segments, segment_frames
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.train = train
        self.seed = seed
        self.epoch = 0
        self._specs: list[AVSampleSpec] = []
        self._specs_epoch: int | None = None

    def _pseudo(self, i: int) -> bool:
        return self.tracks[i].label == 0 and self.settings.fakes in ("pseudo", "mix")

    @property
    def specs(self) -> list[AVSampleSpec]:
        if self.train and self._specs_epoch != self.epoch:
            self._specs, self._specs_epoch = self._draw(self.epoch), self.epoch
        elif not self.train and self._specs_epoch is None:
            self._specs, self._specs_epoch = self._fixed(), -1
        return self._specs

    def _draw(self, epoch: int) -> list[AVSampleSpec]:
        rng = np.random.default_rng([self.seed, epoch, 7])
        # tracks weighted by sqrt(starts): a long video counts more, not overwhelmingly
        weights = np.sqrt(np.asarray([len(t.starts) for t in self.tracks], np.float64))
        names = [k for k in KINDS if self.settings.kinds.get(k, 0) > 0]
        p = np.asarray([self.settings.kinds[k] for k in names], np.float64)
        p /= p.sum()
        out = []
        for _ in range(self.settings.samples_per_epoch):
            i = int(rng.choice(len(self.tracks), p=weights / weights.sum()))
            start = int(self.tracks[i].starts[rng.integers(len(self.tracks[i].starts))])
            kind = str(rng.choice(names, p=p)) if self._pseudo(i) else "real"
            out.append(AVSampleSpec(i, start, kind, int(rng.integers(2**31))))
        return out

    def _fixed(self) -> list[AVSampleSpec]:
        rng = np.random.default_rng([self.seed, 11])
        names = [k for k in KINDS if self.settings.kinds.get(k, 0) > 0]
        out = []
        for i, t in enumerate(self.tracks):
            n = min(self.settings.val_windows, len(t.starts))
            picks = np.unique(np.linspace(0, len(t.starts) - 1, n).round().astype(int))
            for k in picks:
                for kind in names if self._pseudo(i) else ["real"]:
                    out.append(AVSampleSpec(i, int(t.starts[k]), kind, int(rng.integers(2**31))))
        return out

    def __len__(self) -> int:
        return len(self.specs)

    def kind(self, index: int) -> str:
        return self.specs[index].kind

    def video_ids(self) -> list[str]:
        """One id per item: the track's video plus the item's kind (a pseudo-fake is its own
        "video" for video-level metrics)."""
        return [f"{self.tracks[s.track].video_id}#{s.kind}" for s in self.specs]

    def _augment(self, x: np.ndarray, seed: int) -> np.ndarray:
        """The same draw for every crop of the sample (timing is untouched): a horizontal flip,
        brightness/contrast jitter (``jitter``) and a shift of up to ``translate`` pixels."""
        rng = np.random.default_rng([seed, 5])
        if self.settings.flip and rng.random() < 0.5:
            x = x[:, :, :, ::-1]
        j = self.settings.jitter
        if j > 0:
            x = (x - 0.5) * rng.uniform(1 - j, 1 + j) + 0.5 + rng.uniform(-j, j) / 2
        t = self.settings.translate
        if t > 0:
            dy, dx = (int(v) for v in rng.integers(-t, t + 1, 2))
            x = np.roll(x, (dy, dx), axis=(2, 3))
        return np.clip(x, 0.0, 1.0)

    def __getitem__(self, index: int) -> tuple[Any, Any, Any, int, int]:
        import torch

        spec = self.specs[index]
        crops, audio, seg, label = make_sample(
            self.tracks, spec, self.segments, self.segment_frames, self.settings.shift_range
        )
        if self.features:
            feats = self.tracks[spec.track].video_feats
            assert feats is not None
            n = self.segments * self.segment_frames
            vf = np.array(feats[spec.start : spec.start + n], np.float32)
            if n > 1:
                vf[0] = vf[1]  # no crop before the sample: as inside the network
            vf = vf.reshape(self.segments, self.segment_frames, -1)
            return (
                torch.from_numpy(vf),
                torch.from_numpy(audio),
                torch.from_numpy(seg),
                label,
                index,
            )
        x = crops.astype(np.float32) / 255.0
        if self.train:
            x = self._augment(x, spec.seed)
        x = (x - self.mean) / self.std
        frames = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, -3)))
        return frames, torch.from_numpy(audio), torch.from_numpy(seg), label, index


def describe_tracks(tracks: list[AVTrack]) -> dict[str, Any]:
    """Counts for the run's card: tracks, videos, identity groups, seconds of audio."""
    return {
        "tracks": len(tracks),
        "videos": len({t.video_id for t in tracks}),
        "identity_groups": len({t.group for t in tracks}),
        "starts": int(sum(len(t.starts) for t in tracks)),
    }
